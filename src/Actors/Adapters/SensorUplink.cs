using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using EdgeActors.Messages;
using EdgeActors.Storage;

namespace EdgeActors.Actors.Adapters;

/// <summary>
/// The stable side of one attached sensor: it owns what must survive the adapter's restarts. It starts the
/// <see cref="SensorAdapter"/> under a BackoffSupervisor (Backoff.OnFailure: min/max backoff, random factor, reset after
/// stable running), numbers every reading the adapter produces with the device's next sequence number (so sequences
/// continue across restarts with no gap and no reuse), and sends them in <see cref="TelemetryBatch"/>es, one batch in
/// flight, to the device entity through the device region (the entity may live on another edge). A batch not
/// acknowledged within the ack timeout is sent again with the same sequence numbers (the entity answers Duplicate for
/// what it already has), so nothing produced is lost. It reports <see cref="SensorHealth"/> to the entity on every
/// transition and every report interval.
/// <para>Start: the device entity is asked for its state, and the edge's durable counter (<see cref="ISequenceStore"/>,
/// <c>edgeactors.adapters.state-path</c>) is read, before anything is produced; numbering continues after the highest of
/// the entity's last sequence, the adapter's last sequence it reported, and the persisted counter. The entity alone is not
/// enough: readings a killed edge accepted into its own outbox may not be visible to the entity's restore yet.</para>
/// <para>Write-ahead: a batch is sent only when the highest sequence in it is persisted. When the next batch to send is
/// not, the highest sequence assigned so far is written (off the mailbox, at most one write per batch sent) and sending
/// waits for it; a failed write is retried every ack-timeout, holding the readings (same numbers) meanwhile.</para>
/// </summary>
public sealed class SensorUplink : ReceiveActor, IWithTimers
{
    /// <summary>Stop reading, send what is pending (until the drain timeout), then stop.</summary>
    public sealed record Drain
    {
        public static readonly Drain Instance = new();
    }

    private sealed record Reading(long Sequence, SensorSample Sample);
    private sealed record AskState;
    private sealed record Flush;
    private sealed record AckOverdue(long Batch);
    private sealed record ReportNow;
    private sealed record DrainOver;
    private sealed record Loaded(long LastSequence);
    private sealed record LoadFailed(string Cause);
    private sealed record Persisted(long LastSequence);
    private sealed record PersistFailed(long LastSequence, string Cause);
    private sealed record RetryPersist;

    private const string AckKey = "ack";
    private const string FlushKey = "flush";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DeviceId _device;
    private readonly ISensorHardware _hardware;
    private readonly AdapterSettings _settings;
    private readonly IActorRef _region;
    private readonly ISequenceStore? _store;
    private readonly string _node;
    private readonly List<Reading> _pending = new();
    private readonly long[] _faults = new long[(int)SensorFault.Silent + 1];
    private IActorRef? _supervisor;
    private long _nextSequence = 1;
    private long _durable = long.MaxValue; // the highest sequence persisted (MaxValue = no store: nothing to wait for)
    private bool _persisting; // a write in flight
    private bool _persistRetry; // a failed write waits for its retry timer
    private long _produced;
    private long _dropped;
    private long _restarts;
    private long _batchNo;
    private int _inFlight; // readings of _pending (from its start) in the batch in flight; 0 = none
    private DeviceHealth _health = DeviceHealth.Ok;
    private string _reason = "";
    private int _clean;
    private bool _finished;
    private bool _draining;

    public ITimerScheduler Timers { get; set; } = null!;

    public SensorUplink(DeviceId device, ISensorHardware hardware, AdapterSettings settings, IActorRef region, ISequenceStore? store = null)
    {
        _device = device;
        _hardware = hardware;
        _settings = settings;
        _region = region;
        _store = store;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();
        Recovering();
    }

    /// <param name="store">The edge's durable sequence counters; null: none (numbering follows the entity only).</param>
    public static Props Props(DeviceId device, ISensorHardware hardware, AdapterSettings settings, IActorRef region, ISequenceStore? store = null) =>
        Akka.Actor.Props.Create(() => new SensorUplink(device, hardware, settings, region, store));

    /// <summary>Asks the device entity for its highest sequence, and reads the persisted counter, before producing anything.</summary>
    private void Recovering()
    {
        var asked = 0;
        long? persisted = _store is null ? 0 : null;
        DeviceState? state = null;
        void StartIfReady()
        {
            if (persisted is not { } p || state is not { } s) return;
            var fromEntity = Math.Max(s.LastSequence, s.Sensor?.AdapterLastSequence ?? 0);
            _nextSequence = Math.Max(fromEntity, p) + 1;
            // only numbers from here on are assigned by this uplink: what is below needs no write
            if (_store is not null) _durable = _nextSequence - 1;
            _log.Info("Sensor {0}: attached (entity on {1}, its last sequence {2}, {3}); numbering from {4}",
                _device, s.Node, fromEntity, _store is null ? "no persisted sequence" : $"persisted {p}", _nextSequence);
            Become(Running);
            StartAdapter();
        }
        Receive<Loaded>(l =>
        {
            persisted = l.LastSequence;
            StartIfReady();
        });
        Receive<LoadFailed>(f =>
        {
            _log.Warning("Sensor {0}: cannot read its persisted sequence from {1} ({2}); trying again in {3} (nothing is read meanwhile)",
                _device, _settings.StatePath, f.Cause, _settings.AckTimeout);
            Timers.StartSingleTimer(nameof(Loaded), new RetryPersist(), _settings.AckTimeout);
        });
        Receive<RetryPersist>(_ => Load());
        Receive<AskState>(_ =>
        {
            if (asked++ > 0)
                _log.Warning("Sensor {0}: its device entity has not answered for {1} s; asking again (nothing is read meanwhile)",
                    _device, (int)(asked * _settings.AckTimeout.TotalSeconds));
            _region.Tell(new GetDeviceState(_device));
            Timers.StartSingleTimer(nameof(AskState), new AskState(), _settings.AckTimeout);
        });
        Receive<DeviceState>(s => s.DeviceId == _device, s =>
        {
            Timers.Cancel(nameof(AskState));
            state ??= s;
            StartIfReady();
        });
        Receive<Drain>(_ => Context.Stop(Self));
        Self.Tell(new AskState());
        if (_store is not null) Load();
    }

    private void Load()
    {
        var store = _store!;
        var device = _device.Value;
        Task.Run(() => store.Load(device)).PipeTo(Self, success: v => new Loaded(v), failure: ex => new LoadFailed(Reason(ex)));
    }

    private static string Reason(Exception ex) => (ex is AggregateException { InnerException: { } inner } ? inner : ex).Message;

    /// <summary>Writes the highest sequence assigned so far (covers every pending reading), off the mailbox.</summary>
    private void Persist()
    {
        if (_persisting || _persistRetry) return;
        _persisting = true;
        var store = _store!;
        var device = _device.Value;
        var last = _nextSequence - 1;
        Task.Run(() => store.Save(device, last)).PipeTo(Self, success: () => new Persisted(last), failure: ex => new PersistFailed(last, Reason(ex)));
    }

    private void StartAdapter()
    {
        var b = _settings.Backoff;
        var childProps = SensorAdapter.Props(_device, _hardware, _settings, Self);
        var options = Backoff.OnFailure(childProps, "adapter", b.Min, b.Max, b.RandomFactor, -1)
            .WithAutoReset(b.ResetAfter)
            .WithSupervisorStrategy(new OneForOneStrategy(-1, -1, _ => Directive.Restart, loggingEnabled: false));
        _supervisor = Context.ActorOf(BackoffSupervisor.Props(options), "backoff");
        Timers.StartPeriodicTimer(nameof(ReportNow), new ReportNow(), _settings.ReportInterval);
        Timers.StartPeriodicTimer(FlushKey, new Flush(), _settings.MaxBatchDelay);
        Report();
    }

    private void Running()
    {
        Receive<SensorAdapter.Sampled>(s => OnSample(s.Sample));
        Receive<SensorAdapter.Connected>(_ =>
        {
            // reachable again, but not Ok before recover-after clean readings
            if (_health == DeviceHealth.Offline) SetHealth(DeviceHealth.Degraded, $"reconnected; Ok after {_settings.RecoverAfter} clean readings");
        });
        Receive<SensorAdapter.Failed>(f =>
        {
            _faults[(int)f.Kind]++;
            _restarts++;
            _clean = 0;
            SetHealth(f.Kind == SensorFault.Disconnect ? DeviceHealth.Offline : DeviceHealth.Degraded, $"{f.Kind}: {f.Reason}");
        });
        Receive<IngestAck>(OnAck);
        Receive<Persisted>(p =>
        {
            _persisting = false;
            _durable = Math.Max(_durable, p.LastSequence);
            TrySend(force: true); // a batch was ready when this write started
        });
        Receive<PersistFailed>(f =>
        {
            _persisting = false;
            _persistRetry = true;
            _log.Warning("Sensor {0}: cannot persist its sequence {1} to {2} ({3}); holding {4} reading(s), trying again in {5}",
                _device, f.LastSequence, _settings.StatePath, f.Cause, _pending.Count - _inFlight, _settings.AckTimeout);
            Timers.StartSingleTimer(nameof(RetryPersist), new RetryPersist(), _settings.AckTimeout);
        });
        Receive<RetryPersist>(_ =>
        {
            _persistRetry = false;
            TrySend(force: true);
        });
        Receive<DeviceState>(_ => { }); // late answers to the start-up query
        Receive<Flush>(_ => TrySend(force: true));
        Receive<AckOverdue>(o => o.Batch == _batchNo && _inFlight > 0, _ =>
        {
            _log.Info("Sensor {0}: batch {1}..{2} not acknowledged within {3}; sending it again", _device,
                _pending[0].Sequence, _pending[_inFlight - 1].Sequence, _settings.AckTimeout);
            Send();
        });
        Receive<AckOverdue>(_ => { });
        Receive<ReportNow>(_ => Report());
        Receive<Drain>(_ =>
        {
            _draining = true;
            StopAdapter();
            TrySend(force: true);
            Timers.StartSingleTimer(nameof(DrainOver), new DrainOver(), _settings.DrainTimeout);
            StopIfDrained();
        });
        Receive<DrainOver>(_ =>
        {
            if (_pending.Count > 0) _log.Warning("Sensor {0}: stopping with {1} reading(s) not acknowledged", _device, _pending.Count);
            Context.Stop(Self);
        });
    }

    private void StopAdapter()
    {
        if (_supervisor is null) return;
        Context.Stop(_supervisor);
        _supervisor = null;
    }

    private void OnSample(SensorSample sample)
    {
        if (_finished || _draining) return;
        _pending.Add(new Reading(_nextSequence++, sample));
        _produced++;
        if (_health != DeviceHealth.Ok && ++_clean >= _settings.RecoverAfter)
            SetHealth(DeviceHealth.Ok, $"recovered after {_clean} clean readings");
        if (_pending.Count > _settings.MaxPending)
        {
            // never the readings of the batch in flight: their sequences are on the wire
            var drop = Math.Min(_pending.Count - _settings.MaxPending, _pending.Count - _inFlight);
            _pending.RemoveRange(_inFlight, drop);
            _dropped += drop;
            _log.Warning("Sensor {0}: {1} reading(s) dropped, more than max-pending {2} waiting for acknowledgement", _device, drop, _settings.MaxPending);
        }
        if (_settings.MaxReadings > 0 && _produced >= _settings.MaxReadings)
        {
            _finished = true;
            StopAdapter();
            _log.Info("Sensor {0}: produced max-readings {1}; adapter stopped", _device, _produced);
            Report();
        }
        TrySend(force: false);
    }

    private void TrySend(bool force)
    {
        if (_inFlight > 0 || _pending.Count == 0) return;
        if (!force && !_finished && _pending.Count < _settings.BatchSize) return;
        // write-ahead: only readings whose numbers are persisted go on the wire
        // (pending is in sequence order, not always contiguous: max-pending drops from its middle)
        var ready = 0;
        while (ready < _pending.Count && ready < _settings.BatchSize && _pending[ready].Sequence <= _durable) ready++;
        if (ready < Math.Min(_settings.BatchSize, _pending.Count))
        {
            Persist();
            if (ready == 0) return;
        }
        _inFlight = Math.Min(_settings.BatchSize, ready);
        _batchNo++;
        Send();
    }

    private void Send()
    {
        var n = _inFlight;
        var channels = _hardware.Channels;
        var sequences = new long[n];
        var timestamps = new long[n];
        var values = new float[n * channels];
        for (var i = 0; i < n; i++)
        {
            var r = _pending[i];
            sequences[i] = r.Sequence;
            timestamps[i] = r.Sample.TimestampMs;
            Array.Copy(r.Sample.Values, 0, values, i * channels, Math.Min(channels, r.Sample.Values.Length));
        }
        _region.Tell(new TelemetryBatch(_device, channels, sequences, timestamps, values));
        Timers.StartSingleTimer(AckKey, new AckOverdue(_batchNo), _settings.AckTimeout);
    }

    private void OnAck(IngestAck ack)
    {
        if (_inFlight == 0 || ack.DeviceId != _device) return;
        var first = _pending[0].Sequence;
        var last = _pending[_inFlight - 1].Sequence;
        if (ack.Rejected.Any(r => r.Reason == RejectReason.OutboxFull && r.Sequence >= first && r.Sequence <= last))
            return; // not kept: the ack timer sends the batch again
        if (ack.Rejected.Any(r => r.Reason == RejectReason.Malformed && r.Sequence < 0))
        {
            _log.Error("Sensor {0}: batch {1}..{2} refused as a whole: {3}", _device, first, last, ack.Rejected[0].Detail);
        }
        else if (ack.HighestContiguous < last && !AnswersWholeBatch(ack, first, last))
        {
            return; // an answer to an earlier batch, or this one is not fully answered: wait (the timer resends)
        }
        Timers.Cancel(AckKey);
        _pending.RemoveRange(0, _inFlight);
        _inFlight = 0;
        TrySend(force: _finished || _draining);
        StopIfDrained();
    }

    /// <summary>
    /// True when the acknowledgement answers every reading of the batch in flight (accepted, or rejected with one of its
    /// sequences) and nothing else. Needed when numbering continued after the persisted counter: the sequences between
    /// the entity's restored last one and ours (readings a killed edge still holds in its outbox) never reach this entity,
    /// so its HighestContiguous stays below them. Acknowledgements come back in order, one batch in flight, so an answer
    /// to an earlier batch does not arrive after this one was sent.
    /// </summary>
    private bool AnswersWholeBatch(IngestAck ack, long first, long last)
    {
        var inBatch = ack.Rejected.Count(r => r.Sequence >= first && r.Sequence <= last);
        return inBatch == ack.Rejected.Length && ack.Accepted + inBatch == _inFlight;
    }

    private void StopIfDrained()
    {
        if (_draining && _pending.Count == 0)
        {
            Report();
            Context.Stop(Self);
        }
    }

    private void SetHealth(DeviceHealth health, string reason)
    {
        var changed = health != _health;
        _health = health;
        _reason = reason;
        if (changed) _log.Info("Sensor {0}: {1} ({2})", _device, health, reason);
        Report(); // every fault too: its counters
    }

    private void Report()
    {
        var faults = new List<FaultCount>();
        for (var k = (int)SensorFault.Exception; k <= (int)SensorFault.Disconnect; k++)
            if (_faults[k] > 0) faults.Add(new FaultCount((SensorFault)k, _faults[k]));
        var done = _finished || _draining;
        _region.Tell(new SensorHealth(_device, _health, done ? $"adapter stopped after {_produced} readings" : _reason, _node,
            done ? 0 : (int)_settings.OfflineAfter.TotalMilliseconds,
            (int)_settings.ClockJumpThreshold.TotalMilliseconds,
            _settings.RecoverAfter,
            _produced,
            _nextSequence - 1,
            _pending.Count,
            _dropped,
            _restarts,
            faults.ToArray()));
    }
}
