using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>Registry key of the node's <see cref="DeviceRestorer"/>.</summary>
public sealed class DeviceRestorerKey;

/// <summary>
/// Restores starting device entities in bulk, one per edge node. An entity sends <see cref="Restore"/> when it starts
/// (first message, or moved here by a failover/rebalance) and stashes its commands; the restorer collects requests for
/// <see cref="LocalitySettings.RestoreCollect"/> (or until <see cref="LocalitySettings.RestoreBatch"/> are waiting),
/// then asks for the whole batch at once: ONE <see cref="Sync.ReadOutboxDevices"/> to the edge's outbox writer
/// (one SQL query) and ONE <see cref="GetDevicesHistory"/> to the datacenter's sync sink (one store query). At most
/// <see cref="LocalitySettings.RestoreInFlight"/> batches are in flight; the rest wait here in arrival order, so
/// 100,000 entities starting together cost 100,000 / batch queries, never 100,000 concurrent ones.
/// <para>
/// Each batch's sources get <see cref="LocalitySettings.RestoreTimeout"/> from when the batch is SENT (queueing here
/// never turns into timeouts); when it passes, every entity of the batch gets a <see cref="Restored"/> with what did
/// answer and the names of the sources that did not. A datacenter store that timed out is "suspect": later batches still
/// ask it (a late answer clears the suspicion) but do not wait for it, so a hung store costs one timeout, not one per batch.
/// No datacenter member, or no outbox: that source counts as answered empty.
/// </para>
/// </summary>
public sealed class DeviceRestorer : ReceiveActor, IWithTimers
{
    /// <summary>A starting entity (the sender) asks for its stored state; answered with <see cref="Restored"/>.</summary>
    public sealed record Restore(DeviceId Device, int MaxSequences) : INoSerializationVerificationNeeded;

    /// <summary>
    /// An entity's stored state: from the datacenter store (synced records) and this edge's outbox (records not yet synced);
    /// <c>Missing</c> names the sources that did not answer in time or failed ("" when both answered).
    /// </summary>
    public sealed record Restored(DeviceId Device, DeviceHistory Store, Sync.OutboxDeviceWaiting Outbox, string Missing)
        : INoSerializationVerificationNeeded;

    /// <summary>Replies <see cref="RestorerStats"/>.</summary>
    public sealed record GetStats : INoSerializationVerificationNeeded
    {
        public static readonly GetStats Instance = new();
    }

    /// <summary>Requests received, batches sent, entities answered, and of those answered without a source (timeouts or failures).</summary>
    public sealed record RestorerStats(long Requests, long Batches, long Answered, long Incomplete, int Queued, int InFlight, int MaxInFlightSeen)
        : INoSerializationVerificationNeeded;

    /// <summary>Sends a store query to every datacenter store; returns how many were asked (0: no datacenter member is reachable).</summary>
    public delegate int StoreQuery(GetDevicesHistory query, IActorRef replyTo);

    private sealed record CollectDue;

    private sealed record BatchTimedOut(long BatchId);

    private sealed class Batch(long id, List<(DeviceId Device, IActorRef Entity)> entries)
    {
        public long Id { get; } = id;
        public List<(DeviceId Device, IActorRef Entity)> Entries { get; } = entries;
        public Dictionary<DeviceId, DeviceHistory> Store { get; } = new();
        public string? StoreError { get; set; }
        public bool StoreDone { get; set; }
        /// <summary>Stores asked; per answering store (its sink's name) the devices it answered for so far.</summary>
        public int StoresAsked { get; set; }
        public Dictionary<string, HashSet<DeviceId>> Answers { get; } = new();
        public int StoresComplete { get; set; }
        public bool StoreWaived { get; set; } // suspect store: not waited for
        public Dictionary<DeviceId, Sync.OutboxDeviceWaiting>? Outbox { get; set; }
        public string? OutboxError { get; set; }
        public HashSet<DeviceId> Devices { get; } = entries.Select(e => e.Device).ToHashSet();
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LocalitySettings _settings;
    private readonly IActorRef? _outbox;
    private readonly StoreQuery _store;
    private readonly Queue<(DeviceId Device, IActorRef Entity, int Max)> _queue = new();
    private readonly Dictionary<long, Batch> _inFlight = new();
    private bool _collectArmed;
    private bool _collectDue;
    private bool _storeSuspect;
    private long _nextBatch;
    private long _requests;
    private long _batches;
    private long _answered;
    private long _incomplete;
    private int _maxInFlightSeen;

    public ITimerScheduler Timers { get; set; } = null!;

    public DeviceRestorer(LocalitySettings settings, IActorRef? outbox, StoreQuery store)
    {
        _settings = settings;
        _outbox = outbox;
        _store = store;
        Receive<Restore>(r =>
        {
            _requests++;
            _queue.Enqueue((r.Device, Sender, r.MaxSequences));
            if (_queue.Count >= _settings.RestoreBatch) _collectDue = true;
            else if (!_collectArmed)
            {
                _collectArmed = true;
                Timers.StartSingleTimer(nameof(CollectDue), new CollectDue(), _settings.RestoreCollect);
            }
            TrySend();
        });
        Receive<CollectDue>(_ =>
        {
            _collectArmed = false;
            _collectDue = true;
            TrySend();
        });
        Receive<Sync.OutboxDevicesWaiting>(OnOutbox);
        Receive<DevicesHistory>(OnStore);
        Receive<BatchTimedOut>(t =>
        {
            if (!_inFlight.TryGetValue(t.BatchId, out var b)) return;
            if (!b.StoreDone && !b.StoreWaived)
            {
                _storeSuspect = true;
                _log.Warning("Device restore batch {0} ({1} devices): the datacenter store did not answer within {2}; these devices continue " +
                             "without it, and later batches do not wait for it until it answers again", b.Id, b.Entries.Count, _settings.RestoreTimeout);
            }
            if (b.Outbox is null)
                _log.Warning("Device restore batch {0} ({1} devices): the outbox did not answer within {2}; these devices continue without it",
                    b.Id, b.Entries.Count, _settings.RestoreTimeout);
            Finish(b);
        });
        Receive<GetStats>(_ => Sender.Tell(new RestorerStats(_requests, _batches, _answered, _incomplete, _queue.Count, _inFlight.Count, _maxInFlightSeen)));
    }

    public static Props Props(LocalitySettings settings, IActorRef? outbox, StoreQuery store) =>
        Akka.Actor.Props.Create(() => new DeviceRestorer(settings, outbox, store));

    /// <summary>
    /// Asks the sync sink (<see cref="Sync.SyncSinkPaths.Path"/>) of EVERY reachable Up datacenter member, addressed directly
    /// from the cluster membership (a just-joined edge knows the members before pub-sub registrations reach it): with one
    /// data store per datacenter node a device's records are wherever the sink that took each batch stored them, so the
    /// answers are merged (with one shared PostgreSQL database every store answers the same, and the merge counts each
    /// record once).
    /// </summary>
    public static StoreQuery FromDatacenter(ActorSystem system)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        return (query, replyTo) =>
        {
            var asked = 0;
            foreach (var sink in Sinks(system, cluster))
            {
                sink.Tell(query, replyTo);
                asked++;
            }
            return asked;
        };
    }

    /// <summary>The sync sinks of every reachable Up datacenter member.</summary>
    internal static IEnumerable<ActorSelection> Sinks(ActorSystem system, Akka.Cluster.Cluster cluster)
    {
        var state = cluster.State;
        foreach (var m in state.Members)
            if (m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(Roles.Datacenter) && !state.Unreachable.Contains(m))
                yield return system.ActorSelection(new RootActorPath(m.Address) / "user" / Sync.SyncSinkPaths.Name);
    }

    /// <summary>Asks these actors (tests).</summary>
    public static StoreQuery To(params IActorRef[] sinks) => (query, replyTo) =>
    {
        foreach (var sink in sinks) sink.Tell(query, replyTo);
        return sinks.Length;
    };

    private void TrySend()
    {
        while (_queue.Count > 0 && _inFlight.Count < _settings.RestoreInFlight && (_collectDue || _queue.Count >= _settings.RestoreBatch))
        {
            var entries = new List<(DeviceId, IActorRef)>(Math.Min(_queue.Count, _settings.RestoreBatch));
            var max = 0;
            while (entries.Count < _settings.RestoreBatch && _queue.TryDequeue(out var e))
            {
                entries.Add((e.Device, e.Entity));
                max = Math.Max(max, e.Max);
            }
            Send(new Batch(++_nextBatch, entries), max);
        }
        if (_queue.Count == 0) _collectDue = false;
        else if (!_collectDue && !_collectArmed)
        {
            _collectArmed = true;
            Timers.StartSingleTimer(nameof(CollectDue), new CollectDue(), _settings.RestoreCollect);
        }
    }

    private void Send(Batch b, int max)
    {
        _batches++;
        _inFlight[b.Id] = b;
        _maxInFlightSeen = Math.Max(_maxInFlightSeen, _inFlight.Count);
        var devices = b.Devices.ToArray();
        b.StoresAsked = _store(new GetDevicesHistory(b.Id, devices, max), Self);
        if (b.StoresAsked == 0)
        {
            b.StoreDone = true; // no datacenter member: nothing to wait for
            b.StoreError = "";
        }
        else if (_storeSuspect) b.StoreWaived = true;
        if (_outbox is null) b.Outbox = new Dictionary<DeviceId, Sync.OutboxDeviceWaiting>();
        else _outbox.Tell(new Sync.ReadOutboxDevices(b.Id, devices, max));
        Timers.StartSingleTimer(b.Id, new BatchTimedOut(b.Id), _settings.RestoreTimeout);
        TryFinish(b);
    }

    private void OnOutbox(Sync.OutboxDevicesWaiting w)
    {
        if (!_inFlight.TryGetValue(w.BatchId, out var b) || b.Outbox is not null) return;
        if (w.Error.Length > 0)
        {
            _log.Warning("Device restore batch {0} ({1} devices): the outbox could not be read ({2}); these devices continue without it",
                b.Id, b.Entries.Count, w.Error);
            b.OutboxError = w.Error;
        }
        b.Outbox = w.Devices.ToDictionary(d => d.Device);
        TryFinish(b);
    }

    private void OnStore(DevicesHistory h)
    {
        _storeSuspect = false; // it answers (possibly late)
        if (!_inFlight.TryGetValue(h.BatchId, out var b) || b.StoreDone) return;
        if (!b.Answers.TryGetValue(h.Source, out var answered))
        {
            answered = new HashSet<DeviceId>();
            b.Answers[h.Source] = answered;
        }
        else if (answered.Count >= b.Devices.Count) return; // this store already answered in full
        if (h.Error.Length > 0)
        {
            _log.Warning("Device restore batch {0} ({1} devices): the store at {2} could not be read ({3}); these devices continue without it",
                b.Id, b.Entries.Count, h.Source, h.Error);
            b.StoreError = b.StoreError is { Length: > 0 } e ? e + "; " + h.Source + ": " + h.Error : h.Error;
            answered.UnionWith(b.Devices);
        }
        else
        {
            foreach (var d in h.Devices)
                if (b.Devices.Contains(d.DeviceId) && answered.Add(d.DeviceId))
                    b.Store[d.DeviceId] = b.Store.TryGetValue(d.DeviceId, out var earlier) ? HistoryMerge.Union(earlier, d) : d;
        }
        if (answered.Count >= b.Devices.Count) b.StoresComplete++;
        b.StoreDone = b.StoresComplete >= b.StoresAsked;
        TryFinish(b);
    }

    private void TryFinish(Batch b)
    {
        if ((b.StoreDone || b.StoreWaived) && b.Outbox is not null) Finish(b);
    }

    /// <summary>Answers every entity of the batch with what arrived; the next batches go out.</summary>
    private void Finish(Batch b)
    {
        if (!_inFlight.Remove(b.Id)) return;
        Timers.Cancel(b.Id);
        foreach (var (device, entity) in b.Entries)
        {
            var missing = new List<string>(2);
            var store = b.Store.TryGetValue(device, out var h) && h.Error.Length == 0 ? h : new DeviceHistory(device, KindHistory.Empty, KindHistory.Empty, "");
            // every store asked must have answered for this device, or the restore is partial (naming what failed or was silent)
            var silent = b.StoresAsked - b.Answers.Count(a => a.Value.Contains(device));
            if (b.StoreError is { Length: > 0 } storeError) missing.Add("the datacenter store (" + storeError + ")");
            else if (silent > 0 && !(b.StoreDone && b.StoreError == ""))
                missing.Add(b.StoresAsked > 1 ? $"{silent} of {b.StoresAsked} datacenter stores" : "the datacenter store");
            Sync.OutboxDeviceWaiting outbox;
            if (b.Outbox is not null && b.Outbox.TryGetValue(device, out var w)) outbox = w;
            else
            {
                outbox = new Sync.OutboxDeviceWaiting(device, KindHistory.Empty, KindHistory.Empty);
                if (b.Outbox is null || b.OutboxError is not null) missing.Add(b.OutboxError is { } e ? "the outbox (" + e + ")" : "the outbox");
            }
            _answered++;
            if (missing.Count > 0) _incomplete++;
            entity.Tell(new Restored(device, store, outbox, string.Join(" and ", missing)));
        }
        TrySend();
    }
}

public static class DeviceRestorerRegistration
{
    /// <summary>
    /// Starts the node's <see cref="DeviceRestorer"/> (call after the outbox writer is registered and before
    /// AddDeviceSharding, whose entities then restore through it instead of querying per entity).
    /// </summary>
    public static AkkaConfigurationBuilder AddDeviceRestorer(this AkkaConfigurationBuilder builder, LocalitySettings locality) =>
        builder.WithActors((system, registry) =>
        {
            // role-optional: an edge without an outbox restores from the datacenter only
            var outbox = registry.TryGet<Sync.OutboxWriterKey>(out var o) ? o : null;
            var restorer = system.ActorOf(DeviceRestorer.Props(locality, outbox, DeviceRestorer.FromDatacenter(system)), "device-restorer");
            registry.Register<DeviceRestorerKey>(restorer);
        });
}
