namespace EdgeActors.Storage;

/// <summary>
/// The edge outbox, bound from <c>edgeactors.outbox</c> (by OutboxConfig in EdgeActors.Actors.Sync):
/// <code>
/// outbox {
///   path = "outbox.db"
///   max-bytes = 256MiB              # disk bound on the records waiting (sum of their stored sizes)
///   full-policy = overwrite-oldest  # or reject-new
///   telemetry-ttl = 7d
///   frame-ttl = 30d
///   synchronous-full = off          # off: WAL + synchronous=NORMAL (survives kill -9); on: synchronous=FULL (also power loss)
///   writer { max-batch = 2000, max-delay = 0ms }   # group commit of the OutboxWriter (0: commit at once when idle; writes that arrive during a commit form the next)
/// }
/// </code>
/// </summary>
public sealed record OutboxSettings
{
    public const string Section = "edgeactors.outbox";
    public static readonly TimeSpan MaxAllowedWriterDelay = TimeSpan.FromMinutes(1);

    public string Path { get; init; } = "outbox.db";
    public long MaxBytes { get; init; } = 256L * 1024 * 1024;
    public OutboxFullPolicy Policy { get; init; } = OutboxFullPolicy.OverwriteOldest;
    public TimeSpan TelemetryTtl { get; init; } = TimeSpan.FromDays(7);
    public TimeSpan FrameTtl { get; init; } = TimeSpan.FromDays(30);

    /// <summary>false: WAL + synchronous=NORMAL (a committed append survives a process kill); true: synchronous=FULL (also power loss).</summary>
    public bool SynchronousFull { get; init; }

    /// <summary>The OutboxWriter commits at the latest when this many records are pending.</summary>
    public int WriterMaxBatch { get; init; } = 2000;

    /// <summary>
    /// The OutboxWriter commits at the latest this long after the first pending write arrived. 0 (the default): a write to an
    /// idle writer commits at once and the writes that arrive during that commit form the next one, so groups grow with
    /// the load and no write waits for a timer (the 2 ms of earlier releases added 2 ms to every ack of a lightly loaded edge).
    /// </summary>
    public TimeSpan WriterMaxDelay { get; init; } = TimeSpan.Zero;

    public static OutboxSettings Default { get; } = new();

    /// <summary>Checks every value, naming the HOCON key of a bad one. SqliteOutbox and OutboxWriter call it too.</summary>
    public OutboxSettings Validate()
    {
        if (string.IsNullOrWhiteSpace(Path)) throw Bad("path", "must not be empty");
        if (MaxBytes < 1) throw Bad("max-bytes", $"must be >= 1, got {MaxBytes}");
        if (!Enum.IsDefined(Policy)) throw Bad("full-policy", $"is not a known policy: {Policy}");
        if (TelemetryTtl <= TimeSpan.Zero) throw Bad("telemetry-ttl", $"must be > 0, got {TelemetryTtl}");
        if (FrameTtl <= TimeSpan.Zero) throw Bad("frame-ttl", $"must be > 0, got {FrameTtl}");
        if (WriterMaxBatch < 1) throw Bad("writer.max-batch", $"must be >= 1, got {WriterMaxBatch}");
        if (WriterMaxDelay < TimeSpan.Zero || WriterMaxDelay > MaxAllowedWriterDelay)
            throw Bad("writer.max-delay", $"must be between 0 and {MaxAllowedWriterDelay}, got {WriterMaxDelay}");
        return this;
    }

    public TimeSpan TtlFor(EdgeActors.Messages.RecordKind kind) =>
        kind == EdgeActors.Messages.RecordKind.Frame ? FrameTtl : TelemetryTtl;

    internal static ArgumentException Bad(string key, string what) => new($"{Section}.{key} {what}");
}
