using EdgeActors.Messages;

namespace EdgeActors.Actors.Sync;

// ---------------------------------------------------------------- edge outbox

public enum OutboxFullPolicy
{
    /// <summary>New records are refused (the device tells its client) until sync frees space.</summary>
    RejectNew,
    /// <summary>The oldest routine records are deleted to make room (counted and reported).</summary>
    OverwriteOldest,
}

/// <summary>
/// Result of one durable append, in readings (a batch record counts its readings): appended (the first records),
/// refused (a tail of whole records: outbox full) and overwritten (older records deleted to make room).
/// </summary>
public sealed record AppendResult(int Appended, int Refused, int Overwritten);

/// <summary>A record waiting in the outbox, with its row id (used to remove it once a sink has acknowledged it).</summary>
public readonly record struct OutboxEntry(long Id, SyncRecord Record, int Bytes, long CreatedAtMs);

/// <summary>
/// Outbox figures, in readings (a batch record counts its readings; a frame is one): <c>Backlog</c> readings waiting,
/// and the synced / expired / overwritten / refused counters. <see cref="BacklogRecords"/> is the rows waiting
/// (batch records, frames), -1 when unknown.
/// </summary>
public sealed record OutboxStats(long Backlog, long BacklogBytes, long OldestCreatedAtMs, long Synced, long ExpiredByTtl, long Overwritten, long Refused)
{
    public long BacklogRecords { get; init; } = -1;
}

/// <summary>
/// The edge's durable store-and-forward queue. <see cref="Append"/> returns only once the records are durable (one
/// transaction). Not thread-safe unless an implementation says so: one writer actor owns it.
/// </summary>
public interface IOutbox : IDisposable
{
    AppendResult Append(IReadOnlyList<SyncRecord> records, long nowMs);

    /// <summary>
    /// Up to <paramref name="max"/> waiting readings (whole records, at least one) in sync order, skipping ids in <paramref name="inFlight"/>: streams
    /// (device, kind) ordered by their highest waiting priority, each stream in append order, so per-device order holds.
    /// </summary>
    IReadOnlyList<OutboxEntry> Peek(int max, IReadOnlySet<long> inFlight);

    /// <summary>Deletes acknowledged records (their readings counted as synced).</summary>
    void Remove(IReadOnlyCollection<long> ids);

    /// <summary>Deletes records older than their kind's TTL; returns how many readings they held.</summary>
    int ExpireTtl(long nowMs);

    OutboxStats Stats();

    /// <summary>
    /// One device's records of a kind still waiting here (not yet acknowledged by a sink): count and the latest
    /// <paramref name="max"/> sequences, ascending. A device entity restores from it (with the datacenter store) when it starts.
    /// </summary>
    KindHistory Waiting(DeviceId device, RecordKind kind, int max) => KindHistory.Empty;
}

// ---------------------------------------------------------------- datacenter store

/// <summary>What one stored batch did: new rows and rows that were already there (resends).</summary>
public sealed record StoreResult(int Stored, int Duplicates);

/// <summary>Per edge: the last time a batch of it was stored, and how far behind the data was then.</summary>
public sealed record EdgeLag(string Edge, long LastStoredAtMs, long LastBatchLagMs, long Records);

/// <summary>
/// The datacenter's data store (SQLite file or PostgreSQL server, same schema). Idempotent on
/// (device, kind, sequence): storing the same record twice keeps one row and counts a duplicate.
/// </summary>
public interface IDataStore : IDisposable
{
    string Kind { get; }

    /// <summary>Stores a batch in one transaction.</summary>
    StoreResult Store(string edge, IReadOnlyList<SyncRecord> records, long nowMs);

    /// <summary>One device's records of a kind in sequence order (the latest <paramref name="max"/>).</summary>
    IReadOnlyList<SyncRecord> History(DeviceId device, RecordKind kind, int max);

    long Count(RecordKind? kind = null);

    /// <summary>
    /// What the store holds of one device's records of a kind: the row count and the latest <paramref name="max"/>
    /// stored sequences, ascending (a device entity restores its sequence state from it when it starts).
    /// </summary>
    KindHistory Sequences(DeviceId device, RecordKind kind, int max);

    /// <summary>Distinct (device, kind, sequence) keys stored: equals <see cref="Count"/> unless a reading is stored twice.</summary>
    long DistinctKeys();

    /// <summary>Duplicate deliveries seen since the store was created (persisted).</summary>
    long Duplicates();

    IReadOnlyList<EdgeLag> Lag();
}
