namespace EdgeActors.Actors.Sync;

/// <summary>
/// The edge outbox, bound from <c>edgeactors.outbox</c>:
/// <code>
/// outbox {
///   path = "outbox.db"
///   max-bytes = 256MiB              # disk bound on the records waiting (sum of their stored sizes)
///   full-policy = overwrite-oldest  # or reject-new
///   telemetry-ttl = 7d
///   frame-ttl = 30d
///   synchronous-full = off          # off: WAL + synchronous=NORMAL (survives kill -9); on: synchronous=FULL (also power loss)
///   writer { max-batch = 2000, max-delay = 2ms }   # group commit of the OutboxWriter
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

    /// <summary>The OutboxWriter commits at the latest this long after the first pending write arrived.</summary>
    public TimeSpan WriterMaxDelay { get; init; } = TimeSpan.FromMilliseconds(2);

    public static OutboxSettings Default { get; } = new();

    public static OutboxSettings FromConfig(Akka.Configuration.Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var d = Default;
        var s = new OutboxSettings
        {
            Path = Read("path", () => section.GetString("path", d.Path)),
            MaxBytes = Read("max-bytes", () => section.GetByteSize("max-bytes", d.MaxBytes) ?? d.MaxBytes),
            Policy = Read("full-policy", () => ParsePolicy(section.GetString("full-policy", "overwrite-oldest"))),
            TelemetryTtl = Read("telemetry-ttl", () => section.GetTimeSpan("telemetry-ttl", d.TelemetryTtl)),
            FrameTtl = Read("frame-ttl", () => section.GetTimeSpan("frame-ttl", d.FrameTtl)),
            SynchronousFull = Read("synchronous-full", () => section.GetBoolean("synchronous-full", d.SynchronousFull)),
            WriterMaxBatch = Read("writer.max-batch", () => section.GetInt("writer.max-batch", d.WriterMaxBatch)),
            WriterMaxDelay = Read("writer.max-delay", () => section.GetTimeSpan("writer.max-delay", d.WriterMaxDelay)),
        };
        return s.Validate();
    }

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

    private static OutboxFullPolicy ParsePolicy(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "overwrite-oldest" => OutboxFullPolicy.OverwriteOldest,
        "reject-new" => OutboxFullPolicy.RejectNew,
        _ => throw Bad("full-policy", $"must be overwrite-oldest or reject-new, got '{value}'"),
    };

    private static ArgumentException Bad(string key, string what) => new($"{Section}.{key} {what}");

    private static T Read<T>(string key, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (ArgumentException ex) when (ex.Message.StartsWith(Section, StringComparison.Ordinal))
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new ArgumentException($"{Section}.{key} cannot be read: {ex.Message}", ex);
        }
    }
}
