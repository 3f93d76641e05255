using EdgeActors.Inference.Runtime;

namespace EdgeActors.Actors.Inference;

/// <summary>
/// Dynamic batching of one model's inference actor, bound from <c>edgeactors.inference.batching</c>:
/// <code>
/// batching {
///   max-batch-size = 32            # samples per ONNX call on CPU
///   max-batch-size-cuda = 256      # ... on CUDA (GPUs want big batches)
///   max-batches-in-flight = 2      # one batch runs while the next is packed and queued behind it
///   max-queue-delay-us = 2000      # the oldest queued request waits at most this long for company
///   preferred-batch-sizes = []     # e.g. [8, 16, 32]
///   max-queue-length = 1024        # requests waiting (both priorities); more are answered Overloaded at once
/// }
/// </code>
/// </summary>
public sealed record BatchingSettings
{
    public const string Section = "edgeactors.inference.batching";

    /// <summary>Upper bound on the configurable queue delay (the scheduler needs a finite delay).</summary>
    public static readonly TimeSpan MaxAllowedQueueDelay = TimeSpan.FromMinutes(10);

    /// <summary>Samples per ONNX call (also capped by the loaded model's own maximum batch).</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Samples per ONNX call when the model runs on CUDA (<c>max-batch-size-cuda</c>); 0: <see cref="MaxBatchSize"/>. 256 as base.conf.</summary>
    public int MaxBatchSizeCuda { get; init; } = 256;

    /// <summary>
    /// Batches handed to the model's runner thread at once (<c>max-batches-in-flight</c>): with 2 the next batch is
    /// packed and queued while one runs, so the device never waits for the actor; 1 is strictly one at a time.
    /// </summary>
    public int MaxBatchesInFlight { get; init; } = 2;

    /// <summary>The maximum batch for a model served by <paramref name="provider"/> ("CUDA" or "CPU").</summary>
    public int MaxBatchSizeFor(string provider) =>
        provider == ExecutionProvider.Cuda && MaxBatchSizeCuda > 0 ? MaxBatchSizeCuda : MaxBatchSize;

    /// <summary>How long the oldest queued request may wait for a fuller batch (HOCON <c>max-queue-delay-us</c>, microseconds).</summary>
    public TimeSpan MaxQueueDelay { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Batch sizes the runtime prefers (e.g. [8, 16, 32]); empty: any size up to <see cref="MaxBatchSize"/>.</summary>
    public int[] PreferredBatchSizes { get; init; } = [];

    /// <summary>Requests waiting, both priorities together; one more is answered Overloaded at once.</summary>
    public int MaxQueueLength { get; init; } = 1024;

    /// <summary>
    /// The clock of the queue delay: when a request was queued, how long it has waited, and the flush timer. The system
    /// clock in production (not configurable); tests give a manual one so the delay passes only when they move it.
    /// </summary>
    internal TimeProvider Time { get; init; } = TimeProvider.System;

    public static BatchingSettings Default { get; } = new();

    public static BatchingSettings FromConfig(Akka.Configuration.Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var d = Default;
        var s = new BatchingSettings
        {
            MaxBatchSize = Read("max-batch-size", () => section.GetInt("max-batch-size", d.MaxBatchSize)),
            MaxBatchSizeCuda = Read("max-batch-size-cuda", () => section.GetInt("max-batch-size-cuda", d.MaxBatchSizeCuda)),
            MaxBatchesInFlight = Read("max-batches-in-flight", () => section.GetInt("max-batches-in-flight", d.MaxBatchesInFlight)),
            MaxQueueDelay = TimeSpan.FromMicroseconds(Read("max-queue-delay-us",
                () => section.GetLong("max-queue-delay-us", (long)d.MaxQueueDelay.TotalMicroseconds))),
            PreferredBatchSizes = Read("preferred-batch-sizes", () => section.HasPath("preferred-batch-sizes")
                ? section.GetIntList("preferred-batch-sizes").ToArray()
                : d.PreferredBatchSizes),
            MaxQueueLength = Read("max-queue-length", () => section.GetInt("max-queue-length", d.MaxQueueLength)),
        };
        return s.Validate();
    }

    /// <summary>
    /// Checks every value (naming the HOCON key of a bad one) and returns a copy with the preferred sizes sorted and
    /// distinct. <see cref="InferenceActor.Props"/> calls it too, so settings built in code are held to the same rules.
    /// </summary>
    public BatchingSettings Validate()
    {
        if (MaxBatchSize < 1) throw Bad("max-batch-size", $"must be >= 1, got {MaxBatchSize}");
        if (MaxBatchSizeCuda < 0) throw Bad("max-batch-size-cuda", $"must be >= 0 (0: max-batch-size), got {MaxBatchSizeCuda}");
        if (MaxBatchesInFlight is < 1 or > 8) throw Bad("max-batches-in-flight", $"must be in 1..8, got {MaxBatchesInFlight}");
        if (MaxQueueDelay < TimeSpan.Zero || MaxQueueDelay > MaxAllowedQueueDelay)
            throw Bad("max-queue-delay-us", $"must be between 0 and {(long)MaxAllowedQueueDelay.TotalMicroseconds}, got {(long)MaxQueueDelay.TotalMicroseconds}");
        if (MaxQueueLength < 1) throw Bad("max-queue-length", $"must be >= 1, got {MaxQueueLength}");
        var preferred = PreferredBatchSizes ?? [];
        var largest = Math.Max(MaxBatchSize, MaxBatchSizeCuda);
        foreach (var p in preferred)
        {
            if (p < 1 || p > largest)
                throw Bad("preferred-batch-sizes", $"every size must be in 1..max-batch-size ({largest}), got {p}");
        }
        return this with { PreferredBatchSizes = preferred.Distinct().Order().ToArray() };
    }

    private static ArgumentException Bad(string key, string what) => new($"{Section}.{key} {what}");

    private static T Read<T>(string key, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception ex)
        {
            throw new ArgumentException($"{Section}.{key} cannot be read: {ex.Message}", ex);
        }
    }
}
