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
/// </summary>
public sealed record SyncRecord(
    DeviceId DeviceId, RecordKind Kind, long Sequence, long Timestamp, SyncPriority Priority,
    float[] Values, byte[] Pixels, int Label, Prediction? Prediction);

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
/// One edge's outbox and sync: records waiting (and their bytes), the age of the oldest waiting record (lag),
/// what was dropped by TTL or overwritten by the disk bound, what new data was refused (reject policy), per-sink progress.
/// <c>Backlog</c> and <c>BacklogBytes</c> are -1 when the outbox has not answered (unknown, never reported as empty).
/// </summary>
public sealed record SyncStatus(
    string Edge, long Backlog, long BacklogBytes, long OldestWaitingMs, long Synced, long ExpiredByTtl, long Overwritten,
    long RefusedFull, SinkProgress[] Sinks) : ISyncMessage;

/// <summary>Asks a datacenter sink about its store: row counts, duplicates absorbed, lag per edge.</summary>
public sealed record GetStoreStatus(string Node = "") : ISyncMessage, INodeQuery
{
    public static readonly GetStoreStatus Instance = new();
}

/// <summary>Per edge, as seen by the store: when its last batch was stored and how old that batch's data was then.</summary>
public sealed record EdgeStoreLag(string Edge, long LastStoredAtMs, long LastBatchLagMs, long Records);

public sealed record StoreStatus(string Sink, string StoreKind, long Telemetry, long Frames, long DuplicatesAbsorbed, EdgeStoreLag[] Edges) : ISyncMessage;
