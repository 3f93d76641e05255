using EdgeActors.Storage;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Resilience;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Actors.Sync;

/// <summary>
/// Limits of one sink: batches beyond them are rejected before anything is decoded. <c>MaxRecordsPerBatch</c> counts
/// wire records (a batch record is one); it is at least the senders' batch-records (readings per batch, so also the
/// most records a batch can hold), or a backlog of single-reading records or frames could never be synced.
/// </summary>
public sealed record SyncSinkSettings(int MaxRecordsPerBatch = 20_000, int MaxRawBytes = 64 * 1024 * 1024)
{
    /// <summary>Batches waiting for the store beyond this many are rejected ("sink busy"); the edge resends after backoff.</summary>
    public int MaxQueuedBatches { get; init; } = 64;

    /// <summary>The store unavailable: first delay before it is checked again (doubling up to <see cref="StoreRetryMax"/>).</summary>
    public TimeSpan StoreRetryMin { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest delay between two checks of an unavailable store.</summary>
    public TimeSpan StoreRetryMax { get; init; } = TimeSpan.FromSeconds(10);

    public static SyncSinkSettings Default { get; } = new();
}

/// <summary>
/// Datacenter end of edge sync: receives <see cref="SyncBatch"/> (through the pub-sub mediator at
/// <see cref="Path"/>), checks sizes at once, decodes (one batch ahead) and stores batches one at a time off the mailbox and answers the
/// original sender with <see cref="SyncAck"/> or <see cref="SyncRejected"/>. A bad batch is rejected alone; the ones
/// behind it are stored normally.
/// <para>
/// The store unreachable (PostgreSQL down or failing over: <see cref="StoreUnavailableException"/>, or a store that
/// cannot be opened): the batch is refused with a reason starting <see cref="StoreUnavailable"/>, and so are the ones
/// queued behind it and every batch that arrives until a check of the store (<see cref="IDataStore.CheckAsync"/>,
/// after <see cref="SyncSinkSettings.StoreRetryMin"/> doubling up to <see cref="SyncSinkSettings.StoreRetryMax"/>)
/// succeeds: nothing waits on a dead server, the edges keep the records in their outboxes and resend after their
/// backoff. <see cref="GetSinkHealth"/> says whether the store is available (the node's readiness).
/// </para>
/// </summary>
public sealed class SyncSink : ReceiveActor, IWithTimers
{
    public const string Name = SyncSinkPaths.Name;
    public const string Path = SyncSinkPaths.Path;

    /// <summary>How the reason of a batch refused because the store could not be reached starts.</summary>
    public const string StoreUnavailable = "store unavailable";

    private enum StoreState
    {
        /// <summary>Not checked yet: batches are tried.</summary>
        Unknown,
        Available,
        /// <summary>Batches are refused at once until a check succeeds.</summary>
        Unavailable,
    }

    private sealed record CheckStore : INoSerializationVerificationNeeded
    {
        public static readonly CheckStore Instance = new();
    }

    /// <summary>A check of the store ended: <c>Error</c> is null when it can take writes.</summary>
    private sealed record StoreChecked(string? Error) : INoSerializationVerificationNeeded;

    private sealed record Work(SyncBatch Batch, IActorRef ReplyTo)
    {
        /// <summary>The decoded records, or the reason they cannot be; started at most one batch ahead of the store.</summary>
        public Task<(IReadOnlyList<SyncRecord>? Records, string? Error)>? Decoding { get; set; }
    }

    private sealed record Done(Work Work, StoreResult Result, long NewestTimestampMs);

    /// <summary><c>Unavailable</c>: the store could not be reached (the reason is the store's).</summary>
    private sealed record Failed(Work Work, string Reason, bool Unavailable = false);

    /// <summary>Most sequences one <see cref="GetDeviceHistory"/> answer carries per kind (a device's sequence window).</summary>
    public const int MaxHistorySequences = 1 << 16;

    /// <summary>Largest part of a <see cref="DevicesHistory"/> answer, estimated at 10 bytes a sequence (the wire limit is 4 MiB).</summary>
    public const int HistoryPartBytes = 1 << 20;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Func<IDataStore>? _open;
    private IDataStore? _store;
    private readonly bool _ownsStore;
    private readonly SyncSinkSettings _settings;
    private readonly string _sinkName;
    private readonly Queue<Work> _queue = new();
    private readonly Backoff _retry;
    private Task? _running;
    private StoreState _state = StoreState.Unknown;
    private string _why = "not checked yet";
    private long _unavailableSinceMs;
    private bool _checking;
    private long _refused, _refusedThisOutage;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Over a store the caller owns (and disposes): it outlives restarts of this actor.</summary>
    public SyncSink(IDataStore store, SyncSinkSettings settings, string sinkName)
        : this(store, null, settings, sinkName)
    {
    }

    /// <summary>
    /// Over a store it opens with <paramref name="open"/> (every incarnation) and disposes when it stops or restarts. When
    /// <paramref name="open"/> throws, the sink starts anyway: it refuses batches as <see cref="StoreUnavailable"/> and
    /// opens the store again with each check until that works.
    /// </summary>
    public SyncSink(Func<IDataStore> open, SyncSinkSettings settings, string sinkName)
        : this(null, open, settings, sinkName)
    {
    }

    private SyncSink(IDataStore? store, Func<IDataStore>? open, SyncSinkSettings settings, string sinkName)
    {
        _store = store;
        _open = open;
        _ownsStore = open is not null;
        _settings = settings;
        _sinkName = sinkName;
        _retry = new Backoff(settings.StoreRetryMin, settings.StoreRetryMax, jitter: 0.2);
        Receive<SyncBatch>(HandleBatch);
        Receive<CheckStore>(_ => CheckStoreNow());
        Receive<StoreChecked>(c =>
        {
            _checking = false;
            if (c.Error is null) Available();
            else Unavailable(c.Error);
        });
        Receive<GetSinkHealth>(_ => Sender.Tell(new SinkHealth(_state == StoreState.Available, _state switch
        {
            StoreState.Available => $"the data store ({_store?.Kind}) takes writes",
            StoreState.Unavailable => $"{StoreUnavailable} for {(NowMs() - _unavailableSinceMs) / 1000.0:0.0} s: {_why}",
            _ => $"the data store ({_store?.Kind}) was not checked yet",
        }, _refused)));
        Receive<GetStoreStatus>(_ =>
        {
            // read-only queries; both stores are safe to query while a batch is being stored
            var replyTo = Sender;
            if (_store is not { } store)
            {
                replyTo.Tell(new Status.Failure(new StoreUnavailableException($"{StoreUnavailable}: {_why}")));
                return;
            }
            var name = _sinkName;
            Task.Run(() => store.StatusAsync()) // off the mailbox: a SQLite store answers synchronously
                .PipeTo(replyTo, success: s => new StoreStatus(name, store.Kind, s.Telemetry, s.Frames, s.Duplicates,
                    s.Lag.Select(l => new EdgeStoreLag(l.Edge, l.LastStoredAtMs, l.LastBatchLagMs, l.Records)).ToArray()),
                    failure: ex => new Status.Failure(ex));
        });
        Receive<GetDeviceHistory>(q =>
        {
            // a device entity restoring its state when it starts (read-only, off the mailbox, like GetStoreStatus)
            var replyTo = Sender;
            var max = Math.Clamp(q.MaxSequences, 0, MaxHistorySequences);
            var name = _sinkName;
            if (_store is not { } store)
            {
                replyTo.Tell(new DeviceHistory(q.DeviceId, KindHistory.Empty, KindHistory.Empty, name, $"{StoreUnavailable}: {_why}"));
                return;
            }
            Task.Run(async () => new DeviceHistory(q.DeviceId, await store.SequencesAsync(q.DeviceId, RecordKind.Telemetry, max).ConfigureAwait(false),
                    await store.SequencesAsync(q.DeviceId, RecordKind.Frame, max).ConfigureAwait(false), name))
                .PipeTo(replyTo, failure: ex => new DeviceHistory(q.DeviceId, KindHistory.Empty, KindHistory.Empty, name, ex.GetBaseException().Message));
        });
        Receive<GetDevicesHistory>(q =>
        {
            // a device restorer's batch of starting entities: ONE store query for all of them, off the mailbox; the answer
            // is split into parts of at most HistoryPartBytes (worst case 10 bytes a sequence) to stay under the wire limit
            var replyTo = Sender;
            var name = _sinkName;
            if (q.Devices is null || q.Devices.Length > GetDevicesHistory.MaxDevices)
            {
                replyTo.Tell(new DevicesHistory(q.BatchId, [], name, $"a batch names {q.Devices?.Length ?? 0} devices; at most {GetDevicesHistory.MaxDevices} are answered"));
                return;
            }
            if (_store is not { } store)
            {
                replyTo.Tell(new DevicesHistory(q.BatchId, [], name, $"{StoreUnavailable}: {_why}"));
                return;
            }
            var max = Math.Clamp(q.MaxSequences, 0, MaxHistorySequences);
            Task.Run(async () =>
            {
                var found = await store.SequencesOfAsync(q.Devices, max).ConfigureAwait(false);
                var part = new List<DeviceHistory>();
                long bytes = 0;
                foreach (var d in q.Devices)
                {
                    var (t, f) = found.TryGetValue(d, out var h) ? h : (KindHistory.Empty, KindHistory.Empty);
                    var size = 64 + (d.Value?.Length ?? 0) * 3 + 10L * (t.Sequences.Length + f.Sequences.Length);
                    if (part.Count > 0 && bytes + size > HistoryPartBytes)
                    {
                        replyTo.Tell(new DevicesHistory(q.BatchId, part.ToArray(), name));
                        part.Clear();
                        bytes = 0;
                    }
                    part.Add(new DeviceHistory(d, t, f, name));
                    bytes += size;
                }
                return new DevicesHistory(q.BatchId, part.ToArray(), name);
            }).PipeTo(replyTo, failure: ex => new DevicesHistory(q.BatchId, [], name, ex.GetBaseException().Message));
        });
        Receive<Done>(d =>
        {
            _running = null;
            if (_state != StoreState.Available) Available(); // a stored batch proves it
            Observability.SyncMetrics.Stored(d.Work.Batch.Edge, d.NewestTimestampMs);
            _log.Debug("Sync sink: batch {0} of {1}: {2} stored, {3} duplicates", d.Work.Batch.BatchId, d.Work.Batch.Edge, d.Result.Stored, d.Result.Duplicates);
            d.Work.ReplyTo.Tell(new SyncAck(d.Work.Batch.Edge, d.Work.Batch.BatchId, d.Result.Stored, d.Result.Duplicates, _sinkName));
            StartNext();
        });
        Receive<Failed>(f =>
        {
            _running = null;
            if (f.Unavailable)
            {
                Refuse(f.Work.ReplyTo, f.Work.Batch, f.Reason);
                Unavailable(f.Reason);
            }
            else Reject(f.Work.ReplyTo, f.Work.Batch, f.Reason, "invalid");
            StartNext();
        });
    }

    protected override void PreStart()
    {
        base.PreStart();
        if (_open is not null) TryOpen(); // here, not in the constructor: a failure schedules a retry (timers)
        Self.Tell(CheckStore.Instance); // readiness: the store is checked at once, not only when the first batch comes
    }

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Opens the store (the sink's own, <see cref="_open"/>) when it is not open; false, marked unavailable, when that throws.</summary>
    private bool TryOpen()
    {
        if (_store is not null) return true;
        try
        {
            _store = _open!();
            return true;
        }
        catch (Exception ex)
        {
            _log.Warning("Sync sink: cannot open the data store: {0}", ex.GetBaseException().Message);
            Unavailable($"cannot open the data store: {ex.GetBaseException().Message}");
            return false;
        }
    }

    /// <summary>Checks the store off the mailbox (one check at a time); the answer is <see cref="StoreChecked"/>.</summary>
    private void CheckStoreNow()
    {
        if (_checking) return;
        if (_store is null && !TryOpen()) return; // Unavailable scheduled the next try
        _checking = true;
        var store = _store!;
        Task.Run(() => store.CheckAsync())
            .PipeTo(Self, success: () => new StoreChecked(null), failure: ex => new StoreChecked(ex.GetBaseException() is StoreUnavailableException u ? u.Message : ex.GetBaseException().Message));
    }

    private void Available()
    {
        Timers.Cancel("check");
        _retry.Reset();
        if (_state == StoreState.Unavailable)
            _log.Info("Sync sink: the data store is available again after {0:0.0} s; {1} batch(es) refused meanwhile", (NowMs() - _unavailableSinceMs) / 1000.0, _refusedThisOutage);
        _state = StoreState.Available;
        _why = "";
    }

    /// <summary>
    /// The store cannot be reached: refuse what waits (it would fail the same way) and everything until a check
    /// succeeds; the next check after the backoff's next delay.
    /// </summary>
    private void Unavailable(string why)
    {
        if (_state != StoreState.Unavailable)
        {
            _log.Warning("Sync sink: {0}: {1}; refusing batches until a check succeeds", StoreUnavailable, why);
            _unavailableSinceMs = NowMs();
            _refusedThisOutage = 0;
        }
        _state = StoreState.Unavailable;
        _why = why;
        while (_queue.TryDequeue(out var w)) Refuse(w.ReplyTo, w.Batch, why);
        if (!_checking && !Timers.IsTimerActive("check")) Timers.StartSingleTimer("check", CheckStore.Instance, _retry.Next());
    }

    /// <summary>A batch refused because the store is unavailable (counted; the edge keeps it and resends).</summary>
    private void Refuse(IActorRef replyTo, SyncBatch b, string why)
    {
        _refused++;
        _refusedThisOutage++;
        var reason = why.StartsWith(StoreUnavailable, StringComparison.Ordinal) ? why : $"{StoreUnavailable}: {why}";
        Reject(replyTo, b, reason, "store_unavailable");
    }

    /// <summary>A sink over <paramref name="store"/>, which the caller disposes (whoever opens a store disposes it).</summary>
    public static Props Props(IDataStore store, SyncSinkSettings settings, string sinkName) =>
        Akka.Actor.Props.Create(() => new SyncSink(store, settings, sinkName));

    /// <summary>A sink that opens its store with <paramref name="open"/> and disposes it when it stops.</summary>
    public static Props Props(Func<IDataStore> open, SyncSinkSettings settings, string sinkName) =>
        Akka.Actor.Props.Create(() => new SyncSink(open, settings, sinkName));

    protected override void PostStop()
    {
        if (!_ownsStore)
        {
            base.PostStop(); // the caller's store: it outlives this incarnation
            return;
        }
        try
        {
            _running?.Wait(TimeSpan.FromSeconds(10)); // do not pull the store from under a running transaction
        }
        catch (Exception)
        {
            // its failure was (or would have been) reported as a rejection
        }
        _store?.Dispose();
        base.PostStop();
    }

    /// <summary>The newest reading or frame timestamp in <paramref name="records"/> (0 when empty): the store lag metric's input.</summary>
    internal static long NewestTimestamp(IReadOnlyList<SyncRecord> records)
    {
        long newest = 0;
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.Timestamps is { } ts)
                foreach (var t in ts) newest = Math.Max(newest, t);
            else newest = Math.Max(newest, r.Timestamp);
        }
        return newest;
    }

    /// <summary>Why <paramref name="b"/> cannot be accepted, from its header alone; null when it may be decoded.</summary>
    internal static string? Check(SyncBatch b, SyncSinkSettings s)
    {
        if (string.IsNullOrEmpty(b.Edge)) return "edge name is empty";
        if (b.Count < 0) return $"negative record count {b.Count}";
        if (b.Count > s.MaxRecordsPerBatch) return $"{b.Count} records exceed the limit of {s.MaxRecordsPerBatch} per batch";
        if (b.RawBytes < 0) return $"negative raw size {b.RawBytes}";
        if (b.RawBytes > s.MaxRawBytes) return $"raw size {b.RawBytes} bytes exceeds the limit of {s.MaxRawBytes} bytes";
        if ((long)b.Count * SyncCodec.MinRecordBytes > b.RawBytes) return $"{b.Count} records cannot fit in {b.RawBytes} raw bytes";
        if (b.Payload is null || b.Payload.Length == 0) return "payload is empty";
        // Brotli never expands incompressible data by more than a few bytes per 64 KiB block
        if (b.Payload.Length > (long)b.RawBytes + b.RawBytes / 1024 + 1024)
            return $"payload of {b.Payload.Length} bytes is larger than {b.RawBytes} raw bytes can compress to";
        return null;
    }

    private void HandleBatch(SyncBatch b)
    {
        var problem = Check(b, _settings);
        if (problem is not null)
        {
            Reject(Sender, b, problem, "invalid");
            return;
        }
        if (_state == StoreState.Unavailable)
        {
            Refuse(Sender, b, _why);
            return;
        }
        if (_queue.Count >= _settings.MaxQueuedBatches)
        {
            Reject(Sender, b, $"sink busy: {_queue.Count} batches waiting for the store", "busy");
            return;
        }
        _queue.Enqueue(new Work(b, Sender));
        StartNext();
        if (_running is not null && _queue.Count > 0) StartDecode(_queue.Peek()); // decode the next while the store works
    }

    private void Reject(IActorRef replyTo, SyncBatch b, string reason, string metricReason)
    {
        Observability.SyncMetrics.RefusedTotal.Add(1, new KeyValuePair<string, object?>("reason", metricReason));
        _log.Warning("Sync sink: rejected batch {0} of {1} ({2} records, {3} bytes): {4}", b.BatchId, b.Edge, b.Count, b.Payload?.Length ?? 0, reason);
        replyTo.Tell(new SyncRejected(b.Edge ?? "", b.BatchId, reason, _sinkName));
    }

    /// <summary>Decodes off the mailbox; only the running batch and the one after it are ever decoded (memory bound).</summary>
    private void StartDecode(Work work)
    {
        if (work.Decoding is not null) return;
        var max = _settings.MaxRawBytes;
        work.Decoding = Task.Run<(IReadOnlyList<SyncRecord>?, string?)>(() =>
        {
            try
            {
                return (SyncCodec.Decode(work.Batch.Payload, work.Batch.Count, work.Batch.RawBytes, max), null);
            }
            catch (SerializationException ex)
            {
                return (null, $"malformed payload: {ex.Message}");
            }
        });
    }

    /// <summary>
    /// One batch at a time: the store sees at most one Store call, in arrival order. The next batch is decoded while
    /// the store works on this one.
    /// </summary>
    private void StartNext()
    {
        if (_running is not null || _queue.Count == 0) return;
        if (_store is not { } store)
        {
            Unavailable(_why); // refuses what waits
            return;
        }
        var work = _queue.Dequeue();
        StartDecode(work);
        if (_queue.Count > 0) StartDecode(_queue.Peek());
        var decoding = work.Decoding!;
        var task = Task.Run(async () =>
        {
            var (records, error) = await decoding.ConfigureAwait(false);
            if (records is null) return (object)new Failed(work, error ?? "malformed payload");
            try
            {
                var result = await store.StoreAsync(work.Batch.Edge, records, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).ConfigureAwait(false);
                return new Done(work, result, NewestTimestamp(records));
            }
            catch (StoreUnavailableException ex)
            {
                return new Failed(work, ex.Message, Unavailable: true);
            }
            catch (Exception ex)
            {
                return new Failed(work, $"store failure: {ex.GetType().Name}: {ex.Message}");
            }
        });
        _running = task;
        task.PipeTo(Self, failure: ex => new Failed(work, $"sink failure: {ex.GetBaseException().Message}"));
    }
}

public static class SyncSinkRegistration
{
    /// <summary>
    /// Starts the sync sink at <see cref="SyncSink.Path"/> on a datacenter node over the store <paramref name="open"/>
    /// returns, and registers it with the DistributedPubSub mediator (Put), so edges reach it with
    /// <c>Send(SyncSink.Path)</c> or <c>SendToAll(SyncSink.Path)</c>. Its name in acks is the node's cluster address.
    /// </summary>
    public static AkkaConfigurationBuilder AddSyncSink(this AkkaConfigurationBuilder builder, Func<IDataStore> open, SyncSinkSettings settings) =>
        builder.WithActors((system, registry) =>
        {
            var sinkName = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
            var sink = system.ActorOf(SyncSink.Props(open, settings, sinkName), SyncSink.Name);
            registry.Register<SyncSinkKey>(sink);
            DistributedPubSub.Get(system).Mediator.Tell(new Put(sink));
        });
}
