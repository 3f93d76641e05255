using Akka.Actor;
using Akka.Event;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>Where a device entity hands its accepted data (each optional), and when data is urgent.</summary>
public sealed record DeviceServices(IActorRef? Classifier = null, IActorRef? Outbox = null, IActorRef? SyncTrigger = null)
{
    public static readonly DeviceServices None = new();

    /// <summary>A reading with a channel this many standard deviations from its running mean is an anomaly.</summary>
    public double AnomalyZ { get; init; } = 4.0;

    /// <summary>Frames classified below this confidence (or escalated / not classified) are hard examples.</summary>
    public float HardExampleConfidence { get; init; } = 0.6f;

    /// <summary>The node's store of labelled frames and behaviour summaries for federated learning (none: refused).</summary>
    public Federated.LocalTrainingSet? Training { get; init; }

    /// <summary>Where a starting entity asks for its stored state itself, one query per entity (none: it starts empty, or uses <see cref="Restorer"/>).</summary>
    public DeviceRestore? Restore { get; init; }

    /// <summary>
    /// The node's <see cref="DeviceRestorer"/>: a starting entity asks it instead of querying itself (it answers many
    /// entities with one query per source); takes precedence over <see cref="Restore"/>.
    /// </summary>
    public IActorRef? Restorer { get; init; }

    /// <summary>With a <see cref="Restorer"/>: the longest an entity waits for it in all (queueing included) before serving without stored state.</summary>
    public TimeSpan RestoreBackstop { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The twin store and twin limits (none: twin and command requests are answered with an error).</summary>
    public TwinServices? Twins { get; init; }
}

/// <summary>
/// How a starting device entity asks for its stored state: <c>Query</c> sends a <see cref="GetDeviceHistory"/> (the
/// answer, a <see cref="DeviceHistory"/>, goes to the given actor) and says whether it could (false: no store is
/// reachable, the entity does not wait for one); the entity waits at most <c>Timeout</c>.
/// </summary>
public sealed record DeviceRestore(Func<GetDeviceHistory, IActorRef, bool> Query, TimeSpan Timeout)
{
    /// <summary>Asks one actor (tests).</summary>
    public static DeviceRestore To(IActorRef target, TimeSpan timeout) => new((q, replyTo) =>
    {
        target.Tell(q, replyTo);
        return true;
    }, timeout);
}

/// <summary>
/// One device (sensor or camera): preprocesses what it sends and keeps a bounded buffer of accepted data.
/// Every batch and frame gets an <see cref="IngestAck"/>. Bad input is answered with rejections; the entity
/// never throws on it, so previously accepted state is never lost to a restart.
/// With a frame classifier (<see cref="ClassifyFrame"/>), an accepted camera frame is classified before it is acknowledged: the
/// prediction is kept with the buffered frame and returned in the <see cref="IngestAck"/>.
/// With an outbox (<see cref="Sync.OutboxWrite"/>), accepted readings and frames are written to the edge's durable
/// outbox before the acknowledgement, which then says <see cref="AckLevel.DurableOnEdge"/>; anomalies and hard
/// examples go out with a higher sync priority and trigger a sync at once.
/// </summary>
public sealed partial class DeviceActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    private sealed record Overdue(long Id);
    private sealed record SensorSilent;

    private sealed record RestoreTimedOut;
    /// <summary>A training batch was added (and written to disk) off the mailbox; answered from here.</summary>
    private sealed record TrainingAdded(TrainingFramesAck Ack, long FirstSequence, IActorRef ReplyTo);

    private const string RestoreTimer = "restore";

    private enum Stage
    {
        Classifying,
        Writing,
    }

    /// <summary>
    /// An ack waiting for the classifier or the outbox. <c>Sequences</c>: every sequence it accepted; <c>Records</c>:
    /// what was written to the outbox (refusals are whole records from the end of this list).
    /// </summary>
    private sealed record Pending(IActorRef ReplyTo, IngestAck Ack, long[] Sequences, RecordKind Kind, Stage Stage, CameraFrame? Frame,
        IReadOnlyList<SyncRecord>? Records = null, long Started = 0);

    /// <summary>When the message being handled reached this entity (<see cref="System.Diagnostics.Stopwatch"/> ticks): the ack latency's start.</summary>
    private long _received;

    /// <summary>Backstop only: the classifier and the outbox writer answer every request themselves.</summary>
    private static readonly TimeSpan Backstop = TimeSpan.FromSeconds(10);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DeviceId _id;
    private readonly string _node;
    private readonly TelemetryPreprocessor _telemetry;
    private readonly FramePreprocessor _frames;
    private readonly DeviceServices _services;
    private readonly Dictionary<long, Pending> _pending = new();
    private long _nextId;
    private bool _stopRequested;
    private SensorMonitor? _sensor;
    /// <summary>This device's training batches run one after the other off the mailbox (the training set writes them to disk).</summary>
    private Task _trainingTail = Task.CompletedTask;
    private DeviceHistory? _fromStore;
    private Sync.OutboxDeviceWaiting? _fromOutbox;
    private RestoreOutcome _outcome;

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    public DeviceActor(DeviceId id, IngestionSettings settings, DeviceServices services)
    {
        _id = id;
        _services = services;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();
        _telemetry = new TelemetryPreprocessor(settings);
        _frames = new FramePreprocessor(settings);
        if (services.Restore is null && services.Restorer is null) Ready();
        else Restoring();
    }

    protected override void PreStart()
    {
        base.PreStart();
        Observability.IngestMetrics.EntityStarted();
        if (_services.Restorer is { } restorer)
        {
            // only when the entity starts; the restorer answers with one Restored (its batches have their own timeout),
            // the backstop covers a restorer that never answers
            restorer.Tell(new DeviceRestorer.Restore(_id, _telemetry.Sequences.Window));
            Timers.StartSingleTimer(RestoreTimer, new RestoreTimedOut(), _services.RestoreBackstop);
            return;
        }
        if (_services.Restore is not { } restore) return;
        // only when the entity starts (first message, re-creation on another edge, moving back home)
        var window = _telemetry.Sequences.Window;
        var query = new GetDeviceHistory(_id, window);
        if (!restore.Query(query, Self))
        {
            _log.Info("Device {0}: no datacenter store is reachable; restoring from this edge's outbox only", _id);
            _fromStore = new DeviceHistory(_id, KindHistory.Empty, KindHistory.Empty, "");
        }
        if (_services.Outbox is not null) _services.Outbox.Tell(new Sync.ReadOutboxDevice(_id, window));
        else _fromOutbox = new Sync.OutboxDeviceWaiting(_id, KindHistory.Empty, KindHistory.Empty);
        Timers.StartSingleTimer(RestoreTimer, new RestoreTimedOut(), restore.Timeout);
        TryFinishRestore(timedOut: false); // nothing to wait for (no store reachable, no outbox)
    }

    /// <summary>
    /// Waiting for the stored state, from the datacenter store (synced records) and this edge's outbox (records not yet
    /// synced, when the device lived here before): every command is stashed until both have answered or the timeout passes.
    /// </summary>
    private void Restoring()
    {
        Receive<DeviceHistory>(h => h.DeviceId == _id, h =>
        {
            if (h.Error.Length > 0)
            {
                _log.Warning("Device {0}: the store at {1} could not be read ({2}); restoring without it", _id, h.Source, h.Error);
                h = h with { Telemetry = KindHistory.Empty, Frames = KindHistory.Empty };
            }
            _fromStore = h;
            TryFinishRestore(timedOut: false);
        });
        Receive<Sync.OutboxDeviceWaiting>(w => w.Device == _id, w =>
        {
            _fromOutbox = w;
            TryFinishRestore(timedOut: false);
        });
        Receive<Status.Failure>(f =>
        {
            _log.Warning("Device {0}: the outbox could not be read ({1}); restoring without it", _id, f.Cause?.Message);
            _fromOutbox = new Sync.OutboxDeviceWaiting(_id, KindHistory.Empty, KindHistory.Empty);
            TryFinishRestore(timedOut: false);
        });
        Receive<DeviceRestorer.Restored>(r => r.Device == _id, r =>
        {
            if (r.Missing.Length > 0)
            {
                _outcome = RestoreOutcome.Partial;
                _log.Debug("Device {0}: restored without {1}", _id, r.Missing);
            }
            _fromStore = r.Store;
            _fromOutbox = r.Outbox;
            TryFinishRestore(timedOut: false);
        });
        Receive<RestoreTimedOut>(_ => TryFinishRestore(timedOut: true));
        ReceiveAny(_ => Stash.Stash());
    }

    private void TryFinishRestore(bool timedOut)
    {
        if (!timedOut && (_fromStore is null || _fromOutbox is null)) return;
        Timers.Cancel(RestoreTimer);
        if (timedOut)
        {
            _outcome = _fromStore is null && _fromOutbox is null ? RestoreOutcome.TimedOut : RestoreOutcome.Partial;
            _log.Warning("Device {0}: {1} did not answer within {2} (unreachable?); continuing without it", _id,
                _services.Restorer is not null ? "the device restorer" : _fromStore is null ? "the datacenter store" : "the outbox",
                _services.Restorer is not null ? _services.RestoreBackstop : _services.Restore!.Timeout);
        }
        else if (_outcome == RestoreOutcome.None) _outcome = RestoreOutcome.Restored;
        var telemetry = Merge(_fromStore?.Telemetry, _fromOutbox?.Telemetry);
        var frames = Merge(_fromStore?.Frames, _fromOutbox?.Frames);
        _telemetry.Restore(telemetry);
        _frames.Restore(frames);
        if (telemetry.Count + frames.Count > 0)
            _log.Info("Device {0}: restored from {1}: telemetry up to {2} ({3} readings), frames up to {4} ({5})", _id,
                (_fromStore is null ? "outbox only" : "store " + _fromStore.Source) + (_fromOutbox is null ? "" : " and outbox"),
                _telemetry.Sequences.Last, telemetry.Count, _frames.Sequences.Last, frames.Count);
        _fromStore = null;
        _fromOutbox = null;
        BecomeReady();
    }

    /// <summary>Union of synced (store) and waiting (outbox) sequences; a record in both (in flight) counts once.</summary>
    private static KindHistory Merge(KindHistory? store, KindHistory? outbox) => HistoryMerge.Union(store, outbox);

    private void BecomeReady()
    {
        Become(Ready);
        Stash.UnstashAll();
    }

    private void Ready()
    {
        Receive<DeviceHistory>(_ => { }); // a late answer after the timeout
        Receive<Sync.OutboxDeviceWaiting>(_ => { });
        Receive<DeviceRestorer.Restored>(_ => { });
        Receive<RestoreTimedOut>(_ => { });
        Receive<Status.Failure>(f => _log.Debug("Device {0}: late failure ignored: {1}", _id, f.Cause?.Message));
        Receive<TelemetryBatch>(OnTelemetry);
        TwinReceives();
        Receive<CameraFrame>(OnFrame);
        Receive<TrainingFrames>(OnTrainingFrames);
        Receive<TrainingAdded>(t =>
        {
            if (t.Ack.Error.Length > 0) _log.Warning("Device {0}: training frames from {1} refused: {2}", _id, t.FirstSequence, t.Ack.Error);
            t.ReplyTo.Tell(t.Ack);
        });
        Receive<GetDeviceState>(_ => Sender.Tell(State()));
        Receive<SensorHealth>(OnSensorHealth);
        Receive<SensorSilent>(_ =>
        {
            var before = _sensor?.Health;
            _sensor?.Silent(NowMs());
            HealthMetric(before);
        });
        Receive<FrameClassified>(OnClassified);
        Receive<Sync.OutboxWritten>(OnWritten);
        Receive<Sync.OutboxWriteFailed>(f =>
        {
            if (!_pending.Remove(f.Token, out var p)) return;
            Timers.Cancel(f.Token);
            // not durable: take the acceptance back so a resend is accepted (and written) again
            _log.Warning("Device {0}: outbox write failed ({1}); {2} reading(s) refused", _id, f.Reason, p.Sequences.Length);
            TellAck(p.ReplyTo, Refuse(p, p.Sequences, $"the edge's outbox could not write: {f.Reason}; resend later") with { Level = AckLevel.DurableOnEdge }, p.Started, p.Kind == RecordKind.Frame);
            StopIfRequested();
        });
        Receive<Overdue>(o =>
        {
            if (!_pending.Remove(o.Id, out var p)) return;
            _log.Warning("Device {0}: {1} of {2} not done within {3}", _id, p.Stage, p.Kind, Backstop);
            var ack = p.Stage == Stage.Classifying
                ? p.Ack with { Prediction = new Prediction(-1, 0, "", 0, _node, false, PredictionNote.NotClassified) }
                : p.Ack;
            TellAck(p.ReplyTo, ack with { Level = AckLevel.Received }, p.Started, p.Kind == RecordKind.Frame);
            StopIfRequested();
        });
        Receive<StopDevice>(_ =>
        {
            // hand-off / passivation: finish what is being classified or written so every sender gets its ack; sync what
            // is waiting now, so that where the device starts next restores it from the datacenter store
            _stopRequested = true;
            _services.SyncTrigger?.Tell(Sync.SyncNow.Instance);
            StopIfRequested();
        });
    }

    public DeviceActor(DeviceId id, IngestionSettings settings, IActorRef? classifier = null)
        : this(id, settings, new DeviceServices(classifier))
    {
    }

    public static Props Props(DeviceId id, IngestionSettings settings, IActorRef? classifier = null) =>
        Akka.Actor.Props.Create(() => new DeviceActor(id, settings, new DeviceServices(classifier, null, null)));

    public static Props Props(DeviceId id, IngestionSettings settings, DeviceServices services) =>
        Akka.Actor.Props.Create(() => new DeviceActor(id, settings, services));

    private void StopIfRequested()
    {
        if (_stopRequested && _pending.Count == 0 && !TwinBusy) Context.Stop(Self);
    }

    private void Track(long id, Pending p)
    {
        _pending[id] = p;
        Timers.StartSingleTimer(id, new Overdue(id), Backstop);
    }

    private void Write(long id, Pending p, IReadOnlyList<SyncRecord> records)
    {
        Track(id, p with { Stage = Stage.Writing, Records = records });
        _services.Outbox!.Tell(new Sync.OutboxWrite(records, id));
    }

    private void OnClassified(FrameClassified c)
    {
        if (!_pending.Remove(c.RequestId, out var p) || p.Stage != Stage.Classifying) return;
        Timers.Cancel(c.RequestId);
        _frames.Buffer.SetPrediction(p.Sequences[0], c.Prediction);
        var ack = p.Ack with { Prediction = c.Prediction };
        if (_services.Outbox is not null && p.Frame is not null)
        {
            Write(c.RequestId, p with { Ack = ack }, [FrameRecord(p.Frame, c.Prediction)]);
            return;
        }
        TellAck(p.ReplyTo, ack, p.Started, p.Kind == RecordKind.Frame);
        StopIfRequested();
    }

    private void OnWritten(Sync.OutboxWritten w)
    {
        if (!_pending.Remove(w.Token, out var p)) return;
        Timers.Cancel(w.Token);
        var ack = p.Ack with { Level = AckLevel.DurableOnEdge };
        if (w.Refused > 0)
        {
            // the outbox was full (reject-new policy): the last records of this write were not kept (whole records,
            // so the refused readings are exactly those of the last records whose counts add up to w.Refused)
            ack = Refuse(p with { Ack = ack }, RefusedSequences(p, w.Refused), "the edge's durable outbox is full; resend later");
        }
        TellAck(p.ReplyTo, ack, p.Started, p.Kind == RecordKind.Frame);
        StopIfRequested();
    }

    private static long[] RefusedSequences(Pending p, int refused)
    {
        if (p.Records is not { } records) return p.Sequences[^Math.Min(refused, p.Sequences.Length)..];
        var result = new List<long>(refused);
        for (var r = records.Count - 1; r >= 0 && result.Count < refused; r--)
        {
            var record = records[r];
            for (var i = record.Count - 1; i >= 0 && result.Count < refused; i--) result.Add(record.SequenceAt(i));
        }
        result.Reverse();
        return result.ToArray();
    }

    /// <summary>Readings that could not be made durable: acceptance taken back, answered as OutboxFull.</summary>
    private IngestAck Refuse(Pending p, long[] refused, string detail)
    {
        var tracker = p.Kind == RecordKind.Telemetry ? _telemetry.Sequences : _frames.Sequences;
        foreach (var seq in refused) tracker.Unaccept(seq);
        var rejections = refused.Select(seq => new Rejection(seq, RejectReason.OutboxFull, detail));
        return p.Ack with { Accepted = p.Ack.Accepted - refused.Length, Rejected = [.. p.Ack.Rejected, .. rejections] };
    }

    private SyncRecord FrameRecord(CameraFrame frame, Prediction? prediction)
    {
        var hard = prediction is not null &&
                   (prediction.Escalated || prediction.Note != PredictionNote.None || prediction.Confidence < _services.HardExampleConfidence);
        if (hard) _services.SyncTrigger?.Tell(Sync.SyncNow.Instance);
        return new SyncRecord(_id, RecordKind.Frame, frame.Sequence, frame.Timestamp, hard ? SyncPriority.HardExample : SyncPriority.Routine,
            [], frame.Pixels, frame.Label, prediction);
    }

    private void OnTelemetry(TelemetryBatch batch)
    {
        if (batch.DeviceId != _id)
        {
            Sender.Tell(WrongDevice(batch.DeviceId, batch.Sequences));
            return;
        }
        _received = System.Diagnostics.Stopwatch.GetTimestamp();
        IngestOutcome outcome;
        var lastBefore = _telemetry.Sequences.HasAny ? _telemetry.Sequences.Last : long.MinValue;
        var collect = _services.Outbox is not null;
        _run.Reset();
        try
        {
            outcome = !collect
                ? _telemetry.Process(batch)
                : _telemetry.Process(batch, _collectReading ??= CollectReading);
        }
        catch (Exception ex)
        {
            // Preprocessing validates its input; reaching this is a bug. Answer, keep state, keep running.
            _log.Error(ex, "Device {0}: telemetry batch could not be processed", _id);
            Sender.Tell(new IngestAck(_id, _telemetry.Sequences.HighestContiguous, 0,
                [new Rejection(-1, RejectReason.Malformed, "internal error: " + ex.Message)], _node));
            return;
        }
        var ack = new IngestAck(_id, outcome.HighestContiguous, outcome.Accepted, outcome.Rejected?.ToArray() ?? [], _node);
        if (outcome.Accepted > 0) UpdateBehaviour();
        if (_sensor is not null)
        {
            var before = _sensor.Health;
            WatchSensor(batch, lastBefore, outcome);
            HealthMetric(before);
        }
        if (collect && _run.Count > 0)
        {
            var records = _run.ToRecords(_id, out var all);
            Write(++_nextId, new Pending(Sender, ack, all, RecordKind.Telemetry, Stage.Writing, null, Started: _received), records);
            if (_run.Anomalies > 0)
            {
                Observability.IngestMetrics.AnomaliesTotal.Add(_run.Anomalies);
                _services.SyncTrigger?.Tell(Sync.SyncNow.Instance);
            }
            return;
        }
        // nothing new to write: with an outbox, every reading this device holds as accepted is durable (a Duplicate too)
        TellAck(Sender, _services.Outbox is null ? ack : ack with { Level = AckLevel.DurableOnEdge }, _received, frame: false);
    }

    private Ingestion.AcceptedReading? _collectReading;
    private readonly ReadingRun _run = new();

    private void CollectReading(long seq, long ts, ReadOnlySpan<float> denoised, ReadOnlySpan<float> normalised)
    {
        var isAnomaly = false;
        foreach (var z in normalised) isAnomaly |= Math.Abs(z) >= _services.AnomalyZ;
        _run.Add(seq, ts, denoised, isAnomaly);
        if (isAnomaly && _followers > 0) Alert(seq, ts, AnomalyDetail(normalised));
    }

    private string AnomalyDetail(ReadOnlySpan<float> normalised)
    {
        var worst = 0;
        for (var c = 1; c < normalised.Length; c++)
            if (Math.Abs(normalised[c]) > Math.Abs(normalised[worst])) worst = c;
        return $"channel {worst}: {normalised[worst]:0.0} standard deviations from its running mean (threshold {_services.AnomalyZ})";
    }

    private void OnFrame(CameraFrame frame)
    {
        if (frame.DeviceId != _id)
        {
            Sender.Tell(WrongDevice(frame.DeviceId, [frame.Sequence]));
            return;
        }
        _received = System.Diagnostics.Stopwatch.GetTimestamp();
        IngestOutcome outcome;
        try
        {
            outcome = _frames.Process(frame);
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Device {0}: frame {1} could not be processed", _id, frame.Sequence);
            Sender.Tell(new IngestAck(_id, _frames.Sequences.HighestContiguous, 0,
                [new Rejection(frame.Sequence, RejectReason.Malformed, "internal error: " + ex.Message)], _node));
            return;
        }
        var ack = new IngestAck(_id, outcome.HighestContiguous, outcome.Accepted, outcome.Rejected?.ToArray() ?? [], _node);
        if (outcome.Accepted == 1 && _services.Classifier is not null)
        {
            var id = ++_nextId;
            Track(id, new Pending(Sender, ack, [frame.Sequence], RecordKind.Frame, Stage.Classifying, frame, Started: _received));
            _services.Classifier.Tell(new ClassifyFrame(id, frame.Pixels)); // bytes: the model normalises them
            return;
        }
        if (outcome.Accepted == 1 && _services.Outbox is not null)
        {
            Write(++_nextId, new Pending(Sender, ack, [frame.Sequence], RecordKind.Frame, Stage.Writing, frame, Started: _received), [FrameRecord(frame, null)]);
            return;
        }
        TellAck(Sender, _services.Outbox is null ? ack : ack with { Level = AckLevel.DurableOnEdge }, _received, frame: true);
    }

    private void OnTrainingFrames(TrainingFrames batch)
    {
        if (batch.DeviceId != _id)
        {
            Sender.Tell(new TrainingFramesAck(batch.DeviceId, 0, 0, 0, 0, _node, $"message for device '{batch.DeviceId}' delivered to device '{_id}'"));
            return;
        }
        if (_services.Training is null)
        {
            Sender.Tell(new TrainingFramesAck(_id, 0, 0, 0, 0, _node, "this node keeps no training data (federated learning is off)"));
            return;
        }
        // the set writes accepted frames to disk before answering: off the mailbox, this device's batches in order
        var replyTo = Sender;
        var training = _services.Training;
        var node = _node;
        var id = _id;
        var added = _trainingTail.ContinueWith(_ => training.Add(batch, node), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        _trainingTail = added;
        added.PipeTo(Self, success: ack => new TrainingAdded(ack, batch.FirstSequence, replyTo),
            failure: ex => new TrainingAdded(new TrainingFramesAck(id, 0, 0, 0, 0, node, "training frames not stored: " + ex.GetBaseException().Message), batch.FirstSequence, replyTo));
    }

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private void OnSensorHealth(SensorHealth report)
    {
        if (report.DeviceId != _id) return;
        var watchdog = _sensor?.Watchdog;
        var before = _sensor?.Health;
        if (_sensor is null) _sensor = new SensorMonitor(report, NowMs());
        else _sensor.Report(report, NowMs());
        HealthMetric(before);
        // the watchdog measures the time since the last reading: a report (re)starts it only when it is not running
        if (watchdog != _sensor.Watchdog || !Timers.IsTimerActive(nameof(SensorSilent))) ArmWatchdog();
    }

    /// <summary>Moves this device between the health counts of the metrics (and the console's offline alerts).</summary>
    private void HealthMetric(DeviceHealth? before)
    {
        var now = _sensor?.Health;
        if (now == before) return;
        Observability.AdapterMetrics.HealthChanged(before, now);
        if (now == DeviceHealth.Offline) Observability.AdapterMetrics.WentOffline(_id.Value, _sensor!.Status().Reason);
    }

    /// <summary>Restarts the watchdog (none when the adapter said it stopped); it fires when no reading came in time.</summary>
    private void ArmWatchdog()
    {
        if (_sensor is { Watchdog.Ticks: > 0 }) Timers.StartSingleTimer(nameof(SensorSilent), new SensorSilent(), _sensor.Watchdog);
        else Timers.Cancel(nameof(SensorSilent));
    }

    /// <summary>Feeds the readings new to this entity (above its previous last sequence) to the sensor's health monitor.</summary>
    private void WatchSensor(TelemetryBatch batch, long lastBefore, IngestOutcome outcome)
    {
        if (batch.Sequences is null || batch.Timestamps is null || batch.Timestamps.Length != batch.Sequences.Length) return;
        HashSet<long>? garbage = null;
        if (outcome.Rejected is { } rejected)
            foreach (var r in rejected)
                if (r.Reason is RejectReason.NotANumber or RejectReason.OutOfRange && r.Sequence > lastBefore) (garbage ??= []).Add(r.Sequence);
        var start = 0;
        while (start < batch.Sequences.Length && batch.Sequences[start] <= lastBefore) start++;
        var end = start;
        while (end < batch.Sequences.Length && (end == start || batch.Sequences[end] > batch.Sequences[end - 1])) end++;
        if (end == start) return; // a resend of what this entity already has
        _sensor!.Readings(batch.Sequences.AsSpan(start, end - start), batch.Timestamps.AsSpan(start, end - start), garbage, NowMs());
        ArmWatchdog();
    }

    /// <summary>Per channel: mean and standard deviation of the accepted readings (what federated k-means clusters).</summary>
    private void UpdateBehaviour()
    {
        if (_services.Training is null) return;
        var stats = _telemetry.Statistics();
        var features = new float[stats.Length * 2];
        for (var c = 0; c < stats.Length; c++)
        {
            features[2 * c] = (float)stats[c].Mean;
            features[2 * c + 1] = (float)Math.Sqrt(Math.Max(0, stats[c].Variance));
        }
        _services.Training.UpdateBehaviour(_id, features);
    }

    private IngestAck WrongDevice(DeviceId got, long[]? sequences)
    {
        var detail = $"message for device '{got}' delivered to device '{_id}'";
        var rejected = sequences is { Length: > 0 }
            ? sequences.Select(s => new Rejection(s, RejectReason.Malformed, detail)).ToArray()
            : [new Rejection(-1, RejectReason.Malformed, detail)];
        return new IngestAck(got, -1, 0, rejected, _node);
    }

    private DeviceState State()
    {
        var reasons = new Dictionary<RejectReason, long>();
        foreach (var (reason, count) in _telemetry.RejectionCounts()) reasons[reason] = reasons.GetValueOrDefault(reason) + count;
        foreach (var (reason, count) in _frames.RejectionCounts()) reasons[reason] = reasons.GetValueOrDefault(reason) + count;
        return new DeviceState(
            _id,
            _node,
            _telemetry.Sequences.HasAny ? _telemetry.Sequences.Last : _frames.Sequences.HasAny ? _frames.Sequences.Last : 0,
            _telemetry.Sequences.HasAny ? _telemetry.Sequences.HighestContiguous : _frames.Sequences.HighestContiguous,
            _telemetry.AcceptedReadings,
            _frames.AcceptedFrames,
            reasons.Where(kv => kv.Value > 0).OrderBy(kv => kv.Key).Select(kv => new ReasonCount(kv.Key, kv.Value)).ToArray(),
            _telemetry.Statistics(),
            _telemetry.Buffer.Count,
            _telemetry.Buffer.Capacity,
            _frames.Buffer.Count,
            _frames.Buffer.Capacity,
            _sensor?.Status(),
            _outcome);
    }
}

/// <summary>
/// The accepted readings of one telemetry batch, collected into reused buffers, then cut into outbox batch records
/// (<see cref="SyncRecord.Readings"/>): no allocation per reading.
/// <para>
/// Priority: a batch without anomalies is ONE routine record. A batch with anomalous readings is split in two records:
/// first an Anomaly record holding the anomalous readings, then a Routine record holding the others (each in
/// acceptance order). The store keeps each reading's own priority; the outbox's sync order, its overwrite-oldest
/// policy (routine records go first) and its reject-new policy (the tail of a write is refused first, so the routine
/// record before the anomalies) all treat the two parts by their priority. Per-device order holds between batches;
/// within one batch its anomalies go ahead of its routine readings.
/// </para>
/// </summary>
internal sealed class ReadingRun
{
    private long[] _seq = new long[64];
    private long[] _ts = new long[64];
    private float[] _values = new float[256];
    private bool[] _anomaly = new bool[64];
    private int _channels;

    public int Count { get; private set; }

    public int Anomalies { get; private set; }

    public void Reset()
    {
        Count = 0;
        Anomalies = 0;
        _channels = 0;
    }

    public void Add(long seq, long ts, ReadOnlySpan<float> values, bool anomaly)
    {
        if (Count == _seq.Length)
        {
            Array.Resize(ref _seq, Count * 2);
            Array.Resize(ref _ts, Count * 2);
            Array.Resize(ref _anomaly, Count * 2);
        }
        _channels = values.Length;
        var need = (Count + 1) * _channels;
        if (need > _values.Length) Array.Resize(ref _values, Math.Max(need, _values.Length * 2));
        values.CopyTo(_values.AsSpan(Count * _channels));
        _seq[Count] = seq;
        _ts[Count] = ts;
        _anomaly[Count] = anomaly;
        if (anomaly) Anomalies++;
        Count++;
    }

    /// <summary>The batch records (anomalies first, see the class remarks) and every sequence, in acceptance order.</summary>
    public SyncRecord[] ToRecords(DeviceId device, out long[] all)
    {
        all = _seq.AsSpan(0, Count).ToArray();
        if (Anomalies == 0)
            return [SyncRecord.Readings(device, SyncPriority.Routine, all, _ts.AsSpan(0, Count).ToArray(), _values.AsSpan(0, Count * _channels).ToArray())];
        if (Anomalies == Count)
            return [SyncRecord.Readings(device, SyncPriority.Anomaly, all, _ts.AsSpan(0, Count).ToArray(), _values.AsSpan(0, Count * _channels).ToArray())];
        return [Part(device, true, Anomalies), Part(device, false, Count - Anomalies)];
    }

    private SyncRecord Part(DeviceId device, bool anomaly, int n)
    {
        var seq = new long[n];
        var ts = new long[n];
        var values = new float[n * _channels];
        var k = 0;
        for (var i = 0; i < Count; i++)
        {
            if (_anomaly[i] != anomaly) continue;
            seq[k] = _seq[i];
            ts[k] = _ts[i];
            _values.AsSpan(i * _channels, _channels).CopyTo(values.AsSpan(k * _channels));
            k++;
        }
        return SyncRecord.Readings(device, anomaly ? SyncPriority.Anomaly : SyncPriority.Routine, seq, ts, values);
    }
}
