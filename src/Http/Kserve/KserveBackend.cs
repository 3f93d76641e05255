using System.Globalization;
using Akka.Actor;
using EdgeActors.Messages;

namespace EdgeActors.Http.Kserve;

/// <summary>
/// What the KServe v2 endpoints (REST and gRPC) need from the node: the models it serves with their registry metadata
/// (a snapshot refreshed at most once a second: the registry's <see cref="ListModels"/> and the model host's
/// <see cref="GetInferenceStatus"/>) and inference through the node's model host (its inference actors batch dynamically).
/// </summary>
/// <remarks>
/// A request of more samples than <paramref name="maxCount"/> (the inference actor's largest batch,
/// <c>edgeactors.inference.batching.max-batch-size</c>) is sent as several requests of at most that many, answered together.
/// </remarks>
public sealed class KserveBackend(IActorRef modelHost, IActorRef registry, TimeSpan timeout, int maxCount = 32)
{
    /// <summary>A loaded model of this node and its registry metadata.</summary>
    public sealed record Served(ModelSignature Signature, bool Loaded);

    private sealed record Snapshot(DateTime At, IReadOnlyDictionary<string, Served> Models);

    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);
    private Task<Snapshot>? _snapshot;
    private readonly Lock _gate = new();
    private long _nextRequest;

    public TimeSpan Timeout { get; } = timeout;

    /// <summary>This node's served models (loaded or not yet), by name.</summary>
    public async Task<IReadOnlyDictionary<string, Served>> ModelsAsync()
    {
        Task<Snapshot> task;
        lock (_gate)
        {
            if (_snapshot is null || (_snapshot.IsCompleted && (_snapshot.IsFaulted || DateTime.UtcNow - _snapshot.Result.At > Fresh)))
                _snapshot = LoadAsync();
            task = _snapshot;
        }
        return (await task).Models;
    }

    private async Task<Snapshot> LoadAsync()
    {
        var statusTask = modelHost.Ask<InferenceStatus>(GetInferenceStatus.Instance, Timeout);
        var listTask = registry.Ask<ModelList>(ListModels.Instance, Timeout);
        InferenceStatus status;
        ModelList list;
        try
        {
            status = await statusTask;
            list = await listTask;
        }
        catch (AskTimeoutException)
        {
            throw HttpProblem.Unavailable($"the model registry or this node's model host did not answer within {Timeout.TotalSeconds:0.#}s");
        }
        var models = new Dictionary<string, Served>(StringComparer.Ordinal);
        foreach (var m in status.Models)
        {
            var versions = list.Models.Where(i => i.Name == m.Name).OrderBy(i => i.Version).ToArray();
            if (versions.Length == 0) continue; // served here but never published
            var numbers = versions.Select(v => v.Version).ToArray();
            var info = versions.FirstOrDefault(v => v.Version == m.Version) ?? versions[^1];
            models[m.Name] = new Served(ModelSignature.From(info, numbers), m.Version > 0 && info.Version == m.Version);
        }
        return new Snapshot(DateTime.UtcNow, models);
    }

    /// <summary>
    /// The model <paramref name="name"/> (at <paramref name="version"/> when given) as this node serves it, or 404 naming
    /// what is served.
    /// </summary>
    public async Task<Served> ModelAsync(string name, string? version)
    {
        var models = await ModelsAsync();
        if (!models.TryGetValue(name, out var served))
            throw HttpProblem.NotFound($"model '{name}' is not served on this node; served: [{string.Join(", ", models.Keys.Order(StringComparer.Ordinal))}]");
        if (string.IsNullOrEmpty(version)) return served;
        if (!int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1)
            throw HttpProblem.NotFound($"model version '{version}' is not a version number");
        if (!served.Signature.Versions.Contains(v))
            throw HttpProblem.NotFound($"model '{name}' has no version {v} in the registry; versions: [{string.Join(", ", served.Signature.Versions)}]");
        if (v != served.Signature.Version)
            throw HttpProblem.NotFound($"model '{name}' version {v} is not the one this node serves (v{served.Signature.Version}, the registry's active version)");
        return served;
    }

    /// <summary>
    /// Runs <paramref name="batch"/> through the node's model host. Overloaded → 503, no model → 404, bad input → 400,
    /// runtime failure → 500, no answer → 504.
    /// </summary>
    public async Task<InferResult> InferAsync(ModelSignature model, TensorBatch batch, CancellationToken ct)
    {
        if (batch.Count <= maxCount) return await InferOneAsync(model, batch.ToInfer(model.Name, Interlocked.Increment(ref _nextRequest)), ct);
        var size = model.SampleSize;
        var parts = new List<Task<InferResult>>();
        for (var start = 0; start < batch.Count; start += maxCount)
        {
            var n = Math.Min(maxCount, batch.Count - start);
            var id = Interlocked.Increment(ref _nextRequest);
            var infer = batch.Bytes is not null
                ? Infer.Bytes(model.Name, id, n, batch.Bytes.AsSpan(start * size, n * size).ToArray(), batch.Priority)
                : new Infer(model.Name, id, n, batch.Floats!.AsSpan(start * size, n * size).ToArray(), batch.Priority);
            parts.Add(InferOneAsync(model, infer, ct));
        }
        var results = await Task.WhenAll(parts);
        var first = results[0];
        return first with { Count = batch.Count, Output = results.SelectMany(r => r.Output.Take(r.Count * r.OutputSize)).ToArray() };
    }

    private async Task<InferResult> InferOneAsync(ModelSignature model, Infer request, CancellationToken ct)
    {
        object reply;
        try
        {
            reply = await modelHost.Ask<object>(request, Timeout, ct);
        }
        catch (AskTimeoutException)
        {
            throw HttpProblem.Timeout($"{model.Describe()} did not answer within {Timeout.TotalSeconds:0.#}s");
        }
        return reply switch
        {
            InferResult r => r,
            InferRejected { Reason: InferRejectReason.Overloaded } rej => throw HttpProblem.Unavailable($"overloaded: {rej.Detail}"),
            InferRejected { Reason: InferRejectReason.NoModel } rej => throw HttpProblem.NotFound(rej.Detail),
            InferRejected { Reason: InferRejectReason.BadInput } rej => throw HttpProblem.BadRequest(rej.Detail),
            InferRejected rej => throw new HttpProblem(500, $"inference failed: {rej.Detail}"),
            _ => throw new HttpProblem(500, $"unexpected answer {reply.GetType().Name}"),
        };
    }
}
