namespace EdgeActors.Messages;

/// <summary>Edge → datacenter data sync (store-and-forward). Everything here crosses the wire.</summary>
public interface ISyncMessage : IEdgeMessage;

public enum RecordKind : byte
{
    Telemetry = 1,
    Frame = 2,
}

/// <summary>Sync order: higher goes first. Hard examples (low-confidence frames) and anomalies before routine data.</summary>
public enum SyncPriority : byte
{
    Routine = 0,
    Anomaly = 1,
    HardExample = 2,
}

/// <summary>
/// One accepted, preprocessed reading or frame as kept in the edge outbox and stored in the datacenter.
/// Telemetry: <c>Values</c> are the denoised channel values, <c>Pixels</c> empty, <c>Label</c> -1.
/// Frame: <c>Pixels</c> the 28×28 bytes, <c>Values</c> empty, <c>Label</c> the known class or -1, with its prediction.
/// The datacenter store is idempotent on (DeviceId, Kind, Sequence).
/// <para>
/// A telemetry record may also carry a whole run of readings of one device (a <em>batch record</em>: one per accepted
/// <see cref="TelemetryBatch"/> and priority, see <see cref="Readings"/>): then <see cref="Sequences"/> and
/// <see cref="Timestamps"/> list its readings in the order they were accepted, <c>Sequence</c>/<c>Timestamp</c> are
/// those of the first one, and <c>Values</c> holds <c>Count × channels</c> denoised values, row-major. It is one row in
/// the edge outbox and one entry on the wire, and becomes <see cref="Count"/> rows (one per reading) in the datacenter
/// store, which stays idempotent per reading.
/// </para>
/// </summary>
public sealed record SyncRecord(
    DeviceId DeviceId, RecordKind Kind, long Sequence, long Timestamp, SyncPriority Priority,
    float[] Values, byte[] Pixels, int Label, Prediction? Prediction)
{
    /// <summary>The readings of a batch record (null: this record is one reading or one frame).</summary>
    public long[]? Sequences { get; init; }

    /// <summary>The readings' timestamps of a batch record, parallel to <see cref="Sequences"/> (null otherwise).</summary>
    public long[]? Timestamps { get; init; }

    /// <summary>How many readings (or frames) this record carries: 1 unless it is a batch record.</summary>
    public int Count => Sequences?.Length ?? 1;

    /// <summary>True for a batch record (<see cref="Sequences"/> set).</summary>
    public bool IsBatch => Sequences is not null;

    /// <summary>Channel values per reading.</summary>
    public int Channels => Count == 0 ? 0 : (Values?.Length ?? 0) / Count;

    /// <summary>
    /// A batch record of <paramref name="sequences"/>.Length telemetry readings of one device with one priority;
    /// <paramref name="values"/> holds <c>sequences.Length × channels</c> denoised values, row-major.
    /// </summary>
    public static SyncRecord Readings(DeviceId device, SyncPriority priority, long[] sequences, long[] timestamps, float[] values)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(timestamps);
        ArgumentNullException.ThrowIfNull(values);
        if (sequences.Length == 0) throw new ArgumentException("a batch record holds at least one reading", nameof(sequences));
        if (timestamps.Length != sequences.Length) throw new ArgumentException("timestamps and sequences differ in length", nameof(timestamps));
        if (values.Length % sequences.Length != 0) throw new ArgumentException("values is not readings × channels", nameof(values));
        return new SyncRecord(device, RecordKind.Telemetry, sequences[0], timestamps[0], priority, values, [], -1, null)
        {
            Sequences = sequences,
            Timestamps = timestamps,
        };
    }

    /// <summary>The sequence of reading <paramref name="i"/> (0 ≤ i &lt; <see cref="Count"/>).</summary>
    public long SequenceAt(int i) => Sequences is { } s ? s[i] : Sequence;

    /// <summary>The timestamp of reading <paramref name="i"/>.</summary>
    public long TimestampAt(int i) => Timestamps is { } t ? t[i] : Timestamp;

    /// <summary>The channel values of reading <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> ValuesAt(int i)
    {
        if (Sequences is null) return Values ?? [];
        var c = Channels;
        return Values.AsSpan(i * c, c);
    }

    /// <summary>This record as one record per reading (itself when it is not a batch record).</summary>
    public IEnumerable<SyncRecord> Expand()
    {
        if (Sequences is null)
        {
            yield return this;
            yield break;
        }
        for (var i = 0; i < Sequences.Length; i++)
            yield return new SyncRecord(DeviceId, Kind, Sequences[i], TimestampAt(i), Priority, ValuesAt(i).ToArray(), Pixels ?? [], Label, Prediction);
    }
}

/// <summary>
/// A batch of records from one edge. <c>Payload</c> is the records in EdgeSerializer's record encoding, compressed
/// (<see cref="SyncCompression"/>); <c>Count</c> and <c>RawBytes</c> let the sink check it before decoding.
/// </summary>
public sealed record SyncBatch(string Edge, long BatchId, int Count, int RawBytes, byte[] Payload) : ISyncMessage;

/// <summary>The sink stored the batch: <c>Stored</c> new rows, <c>Duplicates</c> rows it already had (a resend).</summary>
public sealed record SyncAck(string Edge, long BatchId, int Stored, int Duplicates, string Sink) : ISyncMessage;

/// <summary>The sink refused the batch (malformed, truncated, too large); nothing of it was stored.</summary>
public sealed record SyncRejected(string Edge, long BatchId, string Reason, string Sink) : ISyncMessage;

/// <summary>Outbox and sync status of one edge (<c>Node</c>, a full address; empty = the node that receives it).</summary>
public sealed record GetSyncStatus(string Node = "") : ISyncMessage, INodeQuery
{
    public static readonly GetSyncStatus Instance = new();
}

public sealed record SinkProgress(string Sink, long LastAckedBatch, long LastAckAtMs, long Acked, long Failures);

/// <summary>
/// One edge's outbox and sync: readings waiting (and their bytes), the age of the oldest waiting record (lag),
/// the readings dropped by TTL or overwritten by the disk bound, the new readings refused (reject policy), per-sink
/// progress. Every count is in readings (a frame counts one); <see cref="BacklogRecords"/> is the outbox rows waiting
/// (a batch record per accepted telemetry batch and priority, a frame each). <c>Backlog</c>, <c>BacklogBytes</c> and
/// <c>BacklogRecords</c> are -1 when the outbox has not answered (unknown, never reported as empty).
/// </summary>
public sealed record SyncStatus(
    string Edge, long Backlog, long BacklogBytes, long OldestWaitingMs, long Synced, long ExpiredByTtl, long Overwritten,
    long RefusedFull, SinkProgress[] Sinks) : ISyncMessage
{
    public long BacklogRecords { get; init; } = -1;
}

/// <summary>Asks a datacenter sink about its store: row counts, duplicates absorbed, lag per edge.</summary>
public sealed record GetStoreStatus(string Node = "") : ISyncMessage, INodeQuery
{
    public static readonly GetStoreStatus Instance = new();
}

/// <summary>Per edge, as seen by the store: when its last batch was stored and how old that batch's data was then.</summary>
public sealed record EdgeStoreLag(string Edge, long LastStoredAtMs, long LastBatchLagMs, long Records);

public sealed record StoreStatus(string Sink, string StoreKind, long Telemetry, long Frames, long DuplicatesAbsorbed, EdgeStoreLag[] Edges) : ISyncMessage;
