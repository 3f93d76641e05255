using EdgeActors.Storage;
using Akka.Actor;
using EdgeActors.Resilience;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using W = EdgeActors.Actors.Sync.OutboxWriter;

namespace EdgeActors.Actors.Sync;

public enum SyncMode
{
    /// <summary>Every <see cref="SyncSenderSettings.Interval"/>, and at once on <see cref="SyncNow"/>.</summary>
    Periodic,
    /// <summary>Only on <see cref="SyncNow"/> (anomalies, hard examples, backlog threshold), draining the backlog.</summary>
    EventTriggered,
}

public sealed record SyncSenderSettings
{
    public SyncMode Mode { get; init; } = SyncMode.Periodic;
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Readings per <see cref="SyncBatch"/> at most (whole outbox records; a batch record counts its readings).</summary>
    public int BatchRecords { get; init; } = 20_000;
    /// <summary>N sinks a batch goes to (N &gt; 1: SendToAll), W distinct acks make it done.</summary>
    public int Replicas { get; init; } = 1;
    public int WriteQuorum { get; init; } = 1;
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(3);
    public TimeSpan BackoffMin { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(10);
    public int MaxInFlightBatches { get; init; } = 2;
    /// <summary>Payload bytes per second on the uplink (token bucket of one second); 0 = unlimited.</summary>
    public long BandwidthBytesPerSecond { get; init; }
    public TimeSpan TtlCheckInterval { get; init; } = TimeSpan.FromSeconds(10);
    public string SinkPath { get; init; } = SyncSink.Path;
    /// <summary>Event-triggered mode: the outbox is checked every <see cref="Interval"/> and a sync starts when this many records wait (0 = off).</summary>
    public long BacklogTrigger { get; init; } = 10_000;

    public static SyncSenderSettings Default { get; } = new();

    public void Validate()
    {
        if (BatchRecords <= 0) throw new ArgumentException($"BatchRecords must be > 0, got {BatchRecords}");
        if (Replicas <= 0) throw new ArgumentException($"Replicas must be > 0, got {Replicas}");
        if (WriteQuorum <= 0 || WriteQuorum > Replicas) throw new ArgumentException($"WriteQuorum must be in 1..{Replicas}, got {WriteQuorum}");
        if (MaxInFlightBatches <= 0) throw new ArgumentException($"MaxInFlightBatches must be > 0, got {MaxInFlightBatches}");
        if (AckTimeout <= TimeSpan.Zero) throw new ArgumentException("AckTimeout must be positive");
        if (BackoffMin <= TimeSpan.Zero || BackoffMax < BackoffMin) throw new ArgumentException("need 0 < BackoffMin <= BackoffMax");
        if (BandwidthBytesPerSecond < 0) throw new ArgumentException("BandwidthBytesPerSecond must be >= 0");
    }
}

/// <summary>
/// Edge end of store-and-forward sync. Peeks batches from the outbox through the OutboxWriter actor, encodes and
/// compresses them off the mailbox, sends them through the pub-sub mediator to the sink(s), resends after
/// <see cref="SyncSenderSettings.AckTimeout"/> with exponential backoff and removes the records only once W distinct
/// sinks acknowledged the batch. A rejected batch keeps its records; they are retried after backoff.
/// </summary>
public sealed class SyncSender : ReceiveActor, IWithTimers
{
    private sealed record Tick : INoSerializationVerificationNeeded
    {
        public static readonly Tick Instance = new();
    }

    /// <summary>Every <see cref="MetricsInterval"/>: refresh the backlog gauges.</summary>
    private sealed record MetricsTick : INoSerializationVerificationNeeded
    {
        public static readonly MetricsTick Instance = new();
    }

    private static readonly TimeSpan MetricsInterval = TimeSpan.FromSeconds(2);

    private sealed record BacklogWatch : INoSerializationVerificationNeeded
    {
        public static readonly BacklogWatch Instance = new();
    }

    private sealed record TtlTick : INoSerializationVerificationNeeded
    {
        public static readonly TtlTick Instance = new();
    }

    private sealed record PumpSends : INoSerializationVerificationNeeded
    {
        public static readonly PumpSends Instance = new();
    }

    private sealed record StatusTimeout : INoSerializationVerificationNeeded
    {
        public static readonly StatusTimeout Instance = new();
    }

    private sealed record Encoded(long BatchId, byte[] Payload, int RawBytes) : INoSerializationVerificationNeeded;

    private sealed record EncodeFailed(long BatchId, string Reason) : INoSerializationVerificationNeeded;

    private sealed record AckTimedOut(long BatchId, int Attempt) : INoSerializationVerificationNeeded;

    private sealed record Resend(long BatchId) : INoSerializationVerificationNeeded;

    private sealed record Release(long BatchId) : INoSerializationVerificationNeeded;

    private sealed class Batch(long id, long[] ids, long oldestCreatedAtMs)
    {
        public long Id { get; } = id;
        public long[] Ids { get; } = ids;
        public long OldestCreatedAtMs { get; } = oldestCreatedAtMs;
        public SyncBatch? Message { get; set; }
        public int Attempts { get; set; }
        public HashSet<string> AckedBy { get; } = [];
        public HashSet<string> RejectedBy { get; } = [];
        public bool Done { get; set; }
    }

    private sealed class Progress(string sink)
    {
        public string Sink { get; } = sink;
        public long LastAckedBatch { get; set; } = -1;
        public long LastAckAtMs { get; set; }
        public long Acked { get; set; }
        public long Failures { get; set; }
        public SinkProgress ToWire() => new(Sink, LastAckedBatch, LastAckAtMs, Acked, Failures);
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _outbox;
    private readonly IActorRef _mediator;
    private readonly SyncSenderSettings _settings;
    private readonly string _edge;
    private readonly Dictionary<long, Batch> _inFlight = new();
    private readonly Queue<Batch> _sendQueue = new();
    private readonly Dictionary<string, Progress> _sinks = new(StringComparer.Ordinal);
    private readonly List<IActorRef> _statusWaiters = [];
    private long _nextBatchId = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000; // not reused after a restart

    // batches are encoded concurrently but sent in the order they were peeked (per-device order on the wire)
    private readonly SortedDictionary<long, Batch?> _encoded = new();
    private long _nextToSend;
    private bool _peekPending;
    private bool _syncRequested;
    private bool _moreWaiting; // the last peek was full: keep draining
    /// <summary>Resend delay per attempt of a batch (BackoffMin doubling up to BackoffMax).</summary>
    private readonly Backoff _resendBackoff;
    /// <summary>Release delay after consecutive rejections; reset by an acknowledged batch.</summary>
    private readonly Backoff _rejectionBackoff;
    private double _tokens;
    private long _tokensAtMs;
    private bool _pumpScheduled;
    private long _rejected, _timeouts, _synced;
    private OutboxStats? _lastStats;

    public ITimerScheduler Timers { get; set; } = null!;

    public SyncSender(IActorRef outboxWriter, IActorRef mediator, SyncSenderSettings settings, string edgeName)
    {
        settings.Validate();
        _outbox = outboxWriter;
        _mediator = mediator;
        _settings = settings;
        _edge = edgeName;
        _resendBackoff = new Backoff(settings.BackoffMin, settings.BackoffMax);
        _rejectionBackoff = new Backoff(settings.BackoffMin, settings.BackoffMax);
        _tokens = settings.BandwidthBytesPerSecond;
        _tokensAtMs = NowMs();

        Receive<Tick>(_ => TrySync());
        Receive<SyncNow>(_ =>
        {
            _syncRequested = true;
            TrySync();
        });
        Receive<TtlTick>(_ => _outbox.Tell(W.Expire.Instance));
        Receive<BacklogWatch>(_ => _outbox.Tell(W.GetStats.Instance));
        Receive<MetricsTick>(_ => _outbox.Tell(W.GetStats.Instance));
        Receive<W.Peeked>(HandlePeeked);
        Receive<Encoded>(HandleEncoded);
        Receive<EncodeFailed>(f =>
        {
            _log.Error("Sync: cannot encode batch {0}: {1}", f.BatchId, f.Reason);
            ReleaseLater(f.BatchId);
            _encoded[f.BatchId] = null; // nothing to send; later batches must not wait for it
            SendEncodedInOrder();
        });
        Receive<PumpSends>(_ =>
        {
            _pumpScheduled = false;
            Pump();
        });
        Receive<SyncAck>(HandleAck);
        Receive<SyncRejected>(HandleRejected);
        Receive<AckTimedOut>(HandleTimeout);
        Receive<Resend>(r =>
        {
            if (_inFlight.TryGetValue(r.BatchId, out var b) && !b.Done && b.Message is not null) Enqueue(b);
        });
        Receive<Release>(r =>
        {
            if (_inFlight.Remove(r.BatchId)) TrySync();
        });
        Receive<W.Removed>(r =>
        {
            _synced += r.Count;
            Observability.SyncMetrics.SyncedTotal.Add(r.Count);
            TrySync();
        });
        Receive<W.Expired>(e =>
        {
            if (e.Count > 0) _log.Warning("Sync: {0} records expired (TTL) before they could be synced", e.Count);
            if (e.Count > 0) Observability.SyncMetrics.ExpiredTotal.Add(e.Count);
        });
        Receive<GetSyncStatus>(_ =>
        {
            _statusWaiters.Add(Sender);
            if (_statusWaiters.Count == 1)
            {
                _outbox.Tell(W.GetStats.Instance);
                Timers.StartSingleTimer("status", StatusTimeout.Instance, TimeSpan.FromSeconds(3));
            }
        });
        Receive<OutboxStats>(s =>
        {
            _lastStats = s;
            Observability.SyncMetrics.Backlog(s.BacklogRecords >= 0 ? s.BacklogRecords : s.Backlog, s.BacklogBytes, s.OldestCreatedAtMs, s.Overwritten);
            if (_statusWaiters.Count > 0) AnswerStatus();
            if (_settings.Mode == SyncMode.EventTriggered && _settings.BacklogTrigger > 0 && s.Backlog >= _settings.BacklogTrigger)
            {
                _syncRequested = true; // buffer threshold reached: an event like any other
                TrySync();
            }
        });
        Receive<StatusTimeout>(_ => AnswerStatus());
    }

    public static Props Props(IActorRef outboxWriter, IActorRef mediator, SyncSenderSettings settings, string edgeName) =>
        Akka.Actor.Props.Create(() => new SyncSender(outboxWriter, mediator, settings, edgeName));

    protected override void PreStart()
    {
        if (_settings.Mode == SyncMode.Periodic) Timers.StartPeriodicTimer("tick", Tick.Instance, _settings.Interval);
        else if (_settings.BacklogTrigger > 0) Timers.StartPeriodicTimer("backlog", BacklogWatch.Instance, _settings.Interval);
        if (_settings.TtlCheckInterval > TimeSpan.Zero) Timers.StartPeriodicTimer("ttl", TtlTick.Instance, _settings.TtlCheckInterval);
        // the backlog gauges (docs/metrics.md) read the outbox's figures as of the latest stats
        Timers.StartPeriodicTimer("metrics", MetricsTick.Instance, MetricsInterval);
        base.PreStart();
    }

    private void TrySync()
    {
        if (_peekPending || _inFlight.Count >= _settings.MaxInFlightBatches) return;
        if (_settings.Mode == SyncMode.EventTriggered && !_syncRequested && !_moreWaiting) return;
        _syncRequested = false;
        _peekPending = true;
        var reserved = new HashSet<long>();
        foreach (var b in _inFlight.Values) reserved.UnionWith(b.Ids);
        _outbox.Tell(new W.Peek(_settings.BatchRecords, reserved));
    }

    private void HandlePeeked(W.Peeked p)
    {
        _peekPending = false;
        // a peek is at most BatchRecords readings of whole records: it was full (keep draining) when not even another
        // record as large as its largest would have fitted
        long readings = 0;
        var largest = 0;
        foreach (var e in p.Entries)
        {
            readings += e.Record.Count;
            largest = Math.Max(largest, e.Record.Count);
        }
        _moreWaiting = p.Entries.Count > 0 && readings + largest > _settings.BatchRecords;
        if (p.Entries.Count == 0) return;
        var id = ++_nextBatchId;
        if (_nextToSend == 0) _nextToSend = id;
        var ids = new long[p.Entries.Count];
        var records = new SyncRecord[p.Entries.Count];
        var oldest = long.MaxValue;
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = p.Entries[i].Id;
            records[i] = p.Entries[i].Record;
            oldest = Math.Min(oldest, p.Entries[i].CreatedAtMs);
        }
        _inFlight[id] = new Batch(id, ids, oldest);
        Task.Run(() =>
        {
            var payload = SyncCodec.Encode(records, out var raw);
            return new Encoded(id, payload, raw);
        }).PipeTo(Self, failure: ex => new EncodeFailed(id, ex.GetBaseException().Message));
        TrySync(); // pipeline up to MaxInFlightBatches
    }

    private void HandleEncoded(Encoded e)
    {
        _inFlight.TryGetValue(e.BatchId, out var b);
        if (b is not null) b.Message = new SyncBatch(_edge, b.Id, b.Ids.Length, e.RawBytes, e.Payload);
        _encoded[e.BatchId] = b;
        SendEncodedInOrder();
    }

    private void SendEncodedInOrder()
    {
        while (_encoded.Remove(_nextToSend, out var b))
        {
            _nextToSend++;
            if (b is not null) Enqueue(b);
        }
    }

    private void Enqueue(Batch b)
    {
        _sendQueue.Enqueue(b);
        Pump();
    }

    /// <summary>Sends queued batches while the token bucket allows; otherwise waits until it has refilled enough.</summary>
    private void Pump()
    {
        var rate = _settings.BandwidthBytesPerSecond;
        while (_sendQueue.Count > 0)
        {
            var b = _sendQueue.Peek();
            if (b.Done || !_inFlight.ContainsKey(b.Id))
            {
                _sendQueue.Dequeue();
                continue;
            }
            var size = b.Message!.Payload.Length;
            if (rate > 0)
            {
                var now = NowMs();
                _tokens = Math.Min(rate, _tokens + Math.Max(0, now - _tokensAtMs) * rate / 1000.0);
                _tokensAtMs = now;
                var need = Math.Min(size, rate); // a batch bigger than one second's budget goes when the bucket is full
                if (_tokens < need)
                {
                    if (!_pumpScheduled)
                    {
                        _pumpScheduled = true;
                        var wait = TimeSpan.FromMilliseconds(Math.Ceiling((need - _tokens) * 1000.0 / rate) + 1);
                        Timers.StartSingleTimer("pump", PumpSends.Instance, wait);
                    }
                    return;
                }
                _tokens -= size;
            }
            _sendQueue.Dequeue();
            Send(b);
        }
    }

    /// <summary>
    /// The token bucket's clock: the scheduler's, so the refill follows the same time as the pump timer (and a test's
    /// virtual time). It is wall-clock time; a backward jump refills nothing, a forward jump at most fills the bucket.
    /// </summary>
    private static long NowMs() => Context.System.Scheduler.Now.ToUnixTimeMilliseconds();

    private void Send(Batch b)
    {
        b.Attempts++;
        Observability.SyncMetrics.Sent(b.Message!.RawBytes, b.Message.Payload.Length);
        object envelope = _settings.Replicas > 1
            ? new SendToAll(_settings.SinkPath, b.Message!, excludeSelf: false)
            : new Send(_settings.SinkPath, b.Message!, localAffinity: false);
        _mediator.Tell(envelope, Self);
        Timers.StartSingleTimer(("ack", b.Id), new AckTimedOut(b.Id, b.Attempts), _settings.AckTimeout);
    }

    private Progress SinkOf(string sink)
    {
        if (!_sinks.TryGetValue(sink, out var p)) _sinks[sink] = p = new Progress(sink);
        return p;
    }

    private void HandleAck(SyncAck a)
    {
        if (a.Edge != _edge) return;
        var p = SinkOf(a.Sink);
        p.Acked++;
        p.LastAckedBatch = a.BatchId;
        p.LastAckAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (!_inFlight.TryGetValue(a.BatchId, out var b) || b.Done) return; // late ack of a finished batch
        b.AckedBy.Add(a.Sink);
        if (b.AckedBy.Count < _settings.WriteQuorum) return;
        b.Done = true;
        _rejectionBackoff.Reset();
        Timers.Cancel(("ack", b.Id));
        Timers.Cancel(("resend", b.Id));
        _inFlight.Remove(b.Id);
        // the writer handles Remove before any later Peek from us, so the ids cannot be peeked again
        _outbox.Tell(new W.Remove(b.Ids));
        TrySync();
    }

    private void HandleRejected(SyncRejected r)
    {
        if (r.Edge != _edge) return;
        _rejected++;
        SinkOf(r.Sink).Failures++;
        _log.Warning("Sync: sink {0} rejected batch {1}: {2}", r.Sink, r.BatchId, r.Reason);
        if (!_inFlight.TryGetValue(r.BatchId, out var b) || b.Done) return;
        b.RejectedBy.Add(r.Sink);
        if (b.RejectedBy.Count <= _settings.Replicas - _settings.WriteQuorum) return; // others may still make the quorum
        b.Done = true; // not sent again; its records stay in the outbox and are peeked afresh after backoff
        Timers.Cancel(("ack", b.Id));
        Timers.Cancel(("resend", b.Id));
        ReleaseLater(b.Id);
    }

    private void ReleaseLater(long batchId)
    {
        Timers.StartSingleTimer(("release", batchId), new Release(batchId), _rejectionBackoff.Next());
    }

    private void HandleTimeout(AckTimedOut t)
    {
        if (!_inFlight.TryGetValue(t.BatchId, out var b) || b.Done || b.Attempts != t.Attempt) return;
        _timeouts++;
        var wait = _resendBackoff.Delay(b.Attempts);
        _log.Warning("Sync: batch {0} ({1} records) not acknowledged by {2} sink(s) after {3} s (attempt {4}); resending in {5} ms",
            b.Id, b.Ids.Length, _settings.WriteQuorum - b.AckedBy.Count, _settings.AckTimeout.TotalSeconds, b.Attempts, wait.TotalMilliseconds);
        Timers.StartSingleTimer(("resend", b.Id), new Resend(b.Id), wait);
    }

    private void AnswerStatus()
    {
        Timers.Cancel("status");
        // no answer from the outbox yet: say "unknown" (-1), never a reassuring 0
        var s = _lastStats ?? new OutboxStats(-1, -1, 0, _synced, 0, 0, 0);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var oldest = s.Backlog > 0 && s.OldestCreatedAtMs > 0 ? Math.Max(0, now - s.OldestCreatedAtMs) : 0;
        var status = new SyncStatus(_edge, s.Backlog, s.BacklogBytes, oldest, s.Synced, s.ExpiredByTtl, s.Overwritten, s.Refused,
            _sinks.Values.OrderBy(p => p.Sink, StringComparer.Ordinal).Select(p => p.ToWire()).ToArray()) { BacklogRecords = s.BacklogRecords };
        foreach (var w in _statusWaiters) w.Tell(status);
        _statusWaiters.Clear();
    }

    /// <summary>Rejections and ack timeouts since start (for logs and tests).</summary>
    internal (long Rejected, long Timeouts) Failures => (_rejected, _timeouts);
}

public static class SyncSenderRegistration
{
    /// <summary>
    /// Starts the sync sender on an edge node (after the OutboxWriter is registered in the ActorRegistry under
    /// <typeparamref name="TOutboxWriter"/>). Batches go through the DistributedPubSub mediator to the sinks.
    /// </summary>
    public static AkkaConfigurationBuilder AddSyncSender<TOutboxWriter>(this AkkaConfigurationBuilder builder, SyncSenderSettings settings) =>
        builder.WithActors((system, registry) =>
        {
            var edge = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
            var mediator = DistributedPubSub.Get(system).Mediator;
            var sender = system.ActorOf(SyncSender.Props(registry.Require<TOutboxWriter>("AddSyncSender", "AddOutbox"), mediator, settings, edge), "sync-sender");
            registry.Register<SyncSenderKey>(sender);
        });
}
