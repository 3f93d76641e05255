using EdgeActors.Messages;

namespace EdgeActors.Storage;

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

    /// <summary>
    /// <see cref="Waiting"/> for many devices at once, both kinds (the device restorer's bulk read for a batch of starting
    /// entities): an implementation answers it with one query. Devices with nothing waiting may be absent.
    /// </summary>
    IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> WaitingOf(IReadOnlyCollection<DeviceId> devices, int max) =>
        devices.Distinct().ToDictionary(d => d, d => (Waiting(d, RecordKind.Telemetry, max), Waiting(d, RecordKind.Frame, max)));
}

// ---------------------------------------------------------------- datacenter store

/// <summary>What one stored batch did: new rows and rows that were already there (resends).</summary>
public sealed record StoreResult(int Stored, int Duplicates);

/// <summary>Per edge: the last time a batch of it was stored, and how far behind the data was then.</summary>
public sealed record EdgeLag(string Edge, long LastStoredAtMs, long LastBatchLagMs, long Records);

/// <summary>
/// The store's server cannot be reached or cannot take writes now (connection refused or broken, shutting down, a
/// read-only standby): nothing of the call was applied, and the same call may succeed later. Other failures (bad data,
/// a bug) are thrown as they are.
/// </summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The datacenter's data store (SQLite file or PostgreSQL server, same schema). Idempotent on
/// (device, kind, sequence): storing the same record twice keeps one row and counts a duplicate.
/// The <c>…Async</c> members are what actors call (off their mailboxes); a store over a server implements them with
/// asynchronous I/O, the others run the synchronous member.
/// </summary>
public interface IDataStore : IDisposable
{
    string Kind { get; }

    /// <summary>
    /// Succeeds when the store can take writes now (PostgreSQL: schema migrations applied, a connection opened, the
    /// server not in recovery); throws <see cref="StoreUnavailableException"/> naming the reason when it cannot.
    /// </summary>
    Task CheckAsync(CancellationToken ct = default) => Task.CompletedTask;

    /// <summary><see cref="Store"/>, asynchronously.</summary>
    Task<StoreResult> StoreAsync(string edge, IReadOnlyList<SyncRecord> records, long nowMs, CancellationToken ct = default) =>
        Task.FromResult(Store(edge, records, nowMs));

    /// <summary><see cref="Sequences"/>, asynchronously.</summary>
    Task<KindHistory> SequencesAsync(DeviceId device, RecordKind kind, int max, CancellationToken ct = default) =>
        Task.FromResult(Sequences(device, kind, max));

    /// <summary><see cref="SequencesOf"/>, asynchronously.</summary>
    Task<IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)>> SequencesOfAsync(IReadOnlyCollection<DeviceId> devices, int max,
        CancellationToken ct = default) => Task.FromResult(SequencesOf(devices, max));

    /// <summary>The figures of <see cref="Count"/> (telemetry, frames), <see cref="Duplicates"/> and <see cref="Lag"/> at once, asynchronously.</summary>
    Task<(long Telemetry, long Frames, long Duplicates, IReadOnlyList<EdgeLag> Lag)> StatusAsync(CancellationToken ct = default) =>
        Task.FromResult((Count(RecordKind.Telemetry), Count(RecordKind.Frame), Duplicates(), Lag()));

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

    /// <summary>
    /// <see cref="Sequences"/> for many devices at once, both kinds (the answer to a restore batch): an implementation
    /// answers it with one query. Devices the store holds nothing of may be absent.
    /// </summary>
    IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> SequencesOf(IReadOnlyCollection<DeviceId> devices, int max) =>
        devices.Distinct().ToDictionary(d => d, d => (Sequences(d, RecordKind.Telemetry, max), Sequences(d, RecordKind.Frame, max)));

    /// <summary>Distinct (device, kind, sequence) keys stored: equals <see cref="Count"/> unless a reading is stored twice.</summary>
    long DistinctKeys();

    /// <summary>Duplicate deliveries seen since the store was created (persisted).</summary>
    long Duplicates();

    IReadOnlyList<EdgeLag> Lag();
}

/// <summary>Builds the bulk history answers (<see cref="IDataStore.SequencesOf"/>, <see cref="IOutbox.WaitingOf"/>) from rows of (device, kind, seq, rows of that device and kind).</summary>
internal sealed class BulkHistoryBuilder
{
    private readonly Dictionary<(string Device, int Kind), (long Count, List<long> Sequences)> _streams = new();

    /// <summary>One row; rows of one stream come in descending sequence order (at most max distinct ones).</summary>
    public void Add(string device, int kind, long seq, long count)
    {
        if (!_streams.TryGetValue((device, kind), out var stream))
            _streams[(device, kind)] = stream = (count, new List<long>());
        if (stream.Sequences.Count == 0 || stream.Sequences[^1] != seq) stream.Sequences.Add(seq);
    }

    public IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> Build()
    {
        var result = new Dictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)>();
        foreach (var ((device, kind), (count, sequences)) in _streams)
        {
            var id = new DeviceId(device);
            sequences.Reverse();
            var history = new KindHistory(count, sequences.ToArray());
            var (t, f) = result.TryGetValue(id, out var both) ? both : (KindHistory.Empty, KindHistory.Empty);
            result[id] = kind == (int)RecordKind.Telemetry ? (history, f) : kind == (int)RecordKind.Frame ? (t, history) : (t, f);
        }
        return result;
    }
}
