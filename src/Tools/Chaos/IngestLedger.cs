using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeActors.Client;
using EdgeActors.Messages;
using EdgeActors.Storage;

namespace EdgeActors.Tools.Chaos;

/// <summary>
/// The client's own account of a streaming run (chaos, rolling restart): every reading the cluster accepted, by device,
/// kind and sequence, and when and by which node each device's requests were accepted. At the end it is held against the
/// datacenter stores: lost (accepted but not stored), duplicates (stored twice, or accepted twice).
/// </summary>
public sealed class IngestLedger(Stopwatch clock)
{
    private readonly ConcurrentDictionary<(string Device, RecordKind Kind, long Seq), int> _accepted = new();
    private readonly ConcurrentDictionary<string, List<(double At, string Node)>> _accepts = new();
    private long _notDurable;

    /// <summary>Distinct readings accepted.</summary>
    public int Accepted => _accepted.Count;

    /// <summary>Readings the cluster accepted more than once (a retry that was not answered as a duplicate).</summary>
    public int DoubleAccepted => _accepted.Values.Count(n => n > 1);

    /// <summary>Readings acknowledged below <see cref="AckLevel.DurableOnEdge"/>.</summary>
    public long NotDurable => Interlocked.Read(ref _notDurable);

    /// <summary>Each device's accepted requests: seconds on the run's clock and the node that answered, in reply order.</summary>
    public IEnumerable<(string Device, (double At, string Node)[] Accepts)> Accepts
    {
        get
        {
            foreach (var (device, list) in _accepts)
                lock (list) yield return (device, list.ToArray());
        }
    }

    /// <summary>Records one answered simulator request (the simulator's observer).</summary>
    public void Observe(IDeviceCommand request, Reply<IngestAck> reply)
    {
        var ack = reply.Value;
        var (kind, sequences) = request switch
        {
            TelemetryBatch t => (RecordKind.Telemetry, t.Sequences),
            CameraFrame f => (RecordKind.Frame, new[] { f.Sequence }),
            _ => (RecordKind.Telemetry, Array.Empty<long>()),
        };
        // refused readings (bad values) are not accepted; a Duplicate on a retry was accepted by an earlier attempt
        var refused = ack.Rejected.Where(r => !(r.Reason == RejectReason.Duplicate && reply.Attempts > 1)).Select(r => r.Sequence).ToHashSet();
        var any = false;
        foreach (var s in sequences)
        {
            if (refused.Contains(s)) continue;
            any = true;
            _accepted.AddOrUpdate((request.DeviceId.Value, kind, s), 1, (_, n) => n + 1);
        }
        if (!any) return;
        if (ack.Level != AckLevel.DurableOnEdge) Interlocked.Add(ref _notDurable, sequences.Length - refused.Count);
        var list = _accepts.GetOrAdd(request.DeviceId.Value, _ => new List<(double, string)>());
        lock (list) list.Add((clock.Elapsed.TotalSeconds, ack.Node));
    }

    /// <summary>
    /// Accepted readings the stores hold, rows a store holds more than once, accepted readings no store holds, and
    /// accepted readings held by more than one store (per-node SQLite stores: a batch redelivered to another
    /// datacenter's sink after a failover; a device's restore merges them, so they are reported, not counted as duplicates).
    /// </summary>
    public (long Stored, long Duplicates, long Missing, long HeldTwice) CountStores(IReadOnlyList<IDataStore> stores)
    {
        var held = new Dictionary<(string, RecordKind, long), int>();
        long duplicates = 0;
        foreach (var store in stores)
        {
            duplicates += store.Count() - store.DistinctKeys();
            foreach (var device in _accepted.Keys.Select(k => (k.Device, k.Kind)).Distinct())
                foreach (var r in store.History(new DeviceId(device.Device), device.Kind, 1_000_000))
                    held[(device.Device, device.Kind, r.Sequence)] = held.GetValueOrDefault((device.Device, device.Kind, r.Sequence)) + 1;
        }
        var missing = _accepted.Keys.Count(k => !held.ContainsKey(k));
        var twice = _accepted.Keys.Count(k => held.GetValueOrDefault(k) > 1);
        return (_accepted.Count - missing, duplicates, missing, twice);
    }

    /// <summary><see cref="CountStores"/> over one SQLite store file (none yet: everything accepted is missing).</summary>
    public (long Stored, long Duplicates, long Missing) CountSqlite(string path)
    {
        if (!File.Exists(path)) return (0, 0, _accepted.Count);
        using var store = new SqliteDataStore(path);
        var (stored, duplicates, missing, _) = CountStores([store]);
        return (stored, duplicates, missing);
    }
}
