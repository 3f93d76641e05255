using Akka.Actor;
using Akka.Event;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>
/// One device (sensor or camera): preprocesses what it sends and keeps a bounded buffer of accepted data.
/// Every batch and frame gets an <see cref="IngestAck"/>. Bad input is answered with rejections; the entity
/// never throws on it, so previously accepted state is never lost to a restart.
/// </summary>
public sealed class DeviceActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DeviceId _id;
    private readonly string _node;
    private readonly TelemetryPreprocessor _telemetry;
    private readonly FramePreprocessor _frames;

    public DeviceActor(DeviceId id, IngestionSettings settings)
    {
        _id = id;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();
        _telemetry = new TelemetryPreprocessor(settings);
        _frames = new FramePreprocessor(settings);

        Receive<TelemetryBatch>(OnTelemetry);
        Receive<CameraFrame>(OnFrame);
        Receive<GetDeviceState>(_ => Sender.Tell(State()));
        Receive<StopDevice>(_ => Context.Stop(Self));
    }

    public static Props Props(DeviceId id, IngestionSettings settings) =>
        Akka.Actor.Props.Create(() => new DeviceActor(id, settings));

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
        Sender.Tell(new IngestAck(_id, outcome.HighestContiguous, outcome.Accepted, outcome.Rejected?.ToArray() ?? [], _node));
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
