using Akka.Actor;
using Akka.Event;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>
/// One device (sensor or camera): preprocesses what it sends and keeps a bounded buffer of accepted data.
/// Every batch and frame gets an <see cref="IngestAck"/>. Bad input is answered with rejections; the entity
/// never throws on it, so previously accepted state is never lost to a restart.
/// With a <see cref="FrameClassifier"/>, an accepted camera frame is classified before it is acknowledged: the
/// prediction is kept with the buffered frame and returned in the <see cref="IngestAck"/>.
/// </summary>
public sealed class DeviceActor : ReceiveActor, IWithTimers
{
    private sealed record ClassificationOverdue(long Id);

    private sealed record AwaitingPrediction(IActorRef ReplyTo, IngestAck Ack, long Sequence);

    /// <summary>Backstop only: the classifier answers every request itself within its own timeouts.</summary>
    private static readonly TimeSpan ClassificationBackstop = TimeSpan.FromSeconds(10);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DeviceId _id;
    private readonly string _node;
    private readonly TelemetryPreprocessor _telemetry;
    private readonly FramePreprocessor _frames;
    private readonly IActorRef? _classifier;
    private readonly Dictionary<long, AwaitingPrediction> _awaiting = new();
    private long _nextClassification;
    private bool _stopRequested;

    public ITimerScheduler Timers { get; set; } = null!;

    public DeviceActor(DeviceId id, IngestionSettings settings, IActorRef? classifier = null)
    {
        _id = id;
        _classifier = classifier;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();
        _telemetry = new TelemetryPreprocessor(settings);
        _frames = new FramePreprocessor(settings);

        Receive<TelemetryBatch>(OnTelemetry);
        Receive<CameraFrame>(OnFrame);
        Receive<GetDeviceState>(_ => Sender.Tell(State()));
        Receive<FrameClassifier.Classified>(OnClassified);
        Receive<ClassificationOverdue>(o =>
        {
            if (!_awaiting.Remove(o.Id, out var a)) return;
            _log.Warning("Device {0}: frame {1} not classified within {2}", _id, a.Sequence, ClassificationBackstop);
            a.ReplyTo.Tell(a.Ack with { Prediction = new Prediction(-1, 0, "", 0, _node, false, PredictionNote.NotClassified) });
            StopIfRequested();
        });
        Receive<StopDevice>(_ =>
        {
            // hand-off / passivation: finish the frames still being classified so every sender gets its ack
            _stopRequested = true;
            StopIfRequested();
        });
    }

    public static Props Props(DeviceId id, IngestionSettings settings, IActorRef? classifier = null) =>
        Akka.Actor.Props.Create(() => new DeviceActor(id, settings, classifier));

    private void StopIfRequested()
    {
        if (_stopRequested && _awaiting.Count == 0) Context.Stop(Self);
    }

    private void OnClassified(FrameClassifier.Classified c)
    {
        if (!_awaiting.Remove(c.RequestId, out var a)) return;
        Timers.Cancel(c.RequestId);
        _frames.Buffer.SetPrediction(a.Sequence, c.Prediction);
        a.ReplyTo.Tell(a.Ack with { Prediction = c.Prediction });
        StopIfRequested();
    }

    private void OnTelemetry(TelemetryBatch batch)
    {
        if (batch.DeviceId != _id)
        {
            Sender.Tell(WrongDevice(batch.DeviceId, batch.Sequences));
            return;
        }
        IngestOutcome outcome;
        try
        {
            outcome = _telemetry.Process(batch);
        }
        catch (Exception ex)
        {
            // Preprocessing validates its input; reaching this is a bug. Answer, keep state, keep running.
            _log.Error(ex, "Device {0}: telemetry batch could not be processed", _id);
            Sender.Tell(new IngestAck(_id, _telemetry.Sequences.HighestContiguous, 0,
                [new Rejection(-1, RejectReason.Malformed, "internal error: " + ex.Message)], _node));
            return;
        }
        Sender.Tell(new IngestAck(_id, outcome.HighestContiguous, outcome.Accepted, outcome.Rejected?.ToArray() ?? [], _node));
    }

    private void OnFrame(CameraFrame frame)
    {
        if (frame.DeviceId != _id)
        {
            Sender.Tell(WrongDevice(frame.DeviceId, [frame.Sequence]));
            return;
        }
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
        if (outcome.Accepted == 1 && _classifier is not null)
        {
            var id = ++_nextClassification;
            _awaiting[id] = new AwaitingPrediction(Sender, ack, frame.Sequence);
            var pixels = new float[frame.Pixels.Length];
            for (var i = 0; i < pixels.Length; i++) pixels[i] = frame.Pixels[i] / 255f;
            _classifier.Tell(new FrameClassifier.Classify(id, pixels));
            Timers.StartSingleTimer(id, new ClassificationOverdue(id), ClassificationBackstop);
            return;
        }
        Sender.Tell(ack);
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
            _frames.Buffer.Capacity);
    }
}
