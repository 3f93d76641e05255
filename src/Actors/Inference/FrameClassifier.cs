using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Inference;

/// <summary>Camera-frame classification on an edge, bound from <c>edgeactors.inference</c>.</summary>
public sealed record ClassificationSettings
{
    /// <summary>Model that classifies accepted camera frames on the edge ("" turns classification off).</summary>
    public string CameraModel { get; init; } = "fmnist-mlp";
    /// <summary>Larger model in the datacenter for hard examples.</summary>
    public string EscalationModel { get; init; } = "fmnist-large";
    public bool Escalate { get; init; } = true;
    /// <summary>Edge answers below this confidence are escalated; 1 escalates every frame.</summary>
    public float ConfidenceThreshold { get; init; } = 0.6f;
    public TimeSpan EscalationTimeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>When the edge queue is full, send the frame to the datacenter's copy of the camera model.</summary>
    public bool Overflow { get; init; } = true;
    public TimeSpan LocalTimeout { get; init; } = TimeSpan.FromSeconds(2);

    public bool Enabled => CameraModel.Length > 0;

    public static ClassificationSettings Default { get; } = new();

    public static ClassificationSettings FromConfig(Akka.Configuration.Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var s = new ClassificationSettings
        {
            CameraModel = section.GetString("camera-model", Default.CameraModel),
            EscalationModel = section.GetString("escalation.model", Default.EscalationModel),
            Escalate = section.GetBoolean("escalation.enabled", true),
            ConfidenceThreshold = (float)section.GetDouble("escalation.confidence-threshold", Default.ConfidenceThreshold),
            EscalationTimeout = section.GetTimeSpan("escalation.timeout", Default.EscalationTimeout),
            Overflow = section.GetBoolean("overflow.enabled", true),
            LocalTimeout = section.GetTimeSpan("local-timeout", Default.LocalTimeout),
        };
        if (s.ConfidenceThreshold is < 0 or > 1)
            throw new ArgumentException($"edgeactors.inference.escalation.confidence-threshold must be in [0,1], got {s.ConfidenceThreshold}");
        if (s.EscalationTimeout <= TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.escalation.timeout must be positive");
        if (s.LocalTimeout <= TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.local-timeout must be positive");
        return s;
    }
}

/// <summary>
/// Classifies camera frames for the device entities of one edge node: the local model first; a low-confidence
/// answer is escalated to the datacenter's larger model (hard example mining); an overloaded local queue overflows to
/// the datacenter. Both degrade to the edge answer (or "not classified") when the datacenter does not answer in time.
/// The datacenter is reached through distributed pub-sub (<see cref="ModelHostPaths.Datacenter"/>).
/// </summary>
public sealed class FrameClassifier : ReceiveActor, IWithTimers
{
    /// <summary>Local request from a device entity; answered with <see cref="Classified"/>.</summary>
    public sealed record Classify(long RequestId, float[] Pixels);

    public sealed record Classified(long RequestId, Prediction Prediction);

    private enum Stage
    {
        Local,
        Escalating,
        Overflowing,
    }

    private sealed record Pending(IActorRef ReplyTo, long CallerId, float[] Pixels, Stage Stage, Prediction? EdgeAnswer);

    private sealed record Expired(long Id, Stage Stage);

    private sealed record StatusQuery(IActorRef ReplyTo);

    private sealed record StatusTimeout(long Id);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ClassificationSettings _settings;
    private readonly IActorRef _models;
    private readonly IActorRef? _datacenter;
    private readonly string _node;
    private readonly Dictionary<long, Pending> _pending = new();
    private readonly Dictionary<long, IActorRef> _statusQueries = new();
    private long _nextId;
    private long _escalated;
    private long _overflowed;
    private long _escalationUnavailable;
    private long _notClassified;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="models">This node's model host (local inference).</param>
    /// <param name="datacenter">Where escalations and overflow go: the pub-sub mediator (production) or any actor that
    /// accepts the pub-sub <see cref="Send"/>; null disables both.</param>
    public FrameClassifier(ClassificationSettings settings, IActorRef models, IActorRef? datacenter, string node)
    {
        _settings = settings;
        _models = models;
        _datacenter = datacenter;
        _node = node;

        Receive<Classify>(OnClassify);
        Receive<InferResult>(OnResult);
        Receive<InferRejected>(OnRejected);
        Receive<Expired>(OnExpired);
        Receive<GetInferenceStatus>(_ =>
        {
            var id = ++_nextId;
            _statusQueries[id] = Sender;
            _models.Tell(new GetInferenceStatus(), Self);
            Timers.StartSingleTimer(("status", id), new StatusTimeout(id), TimeSpan.FromSeconds(3));
        });
        Receive<InferenceStatus>(OnStatus);
        Receive<StatusTimeout>(t =>
        {
            if (_statusQueries.Remove(t.Id, out var replyTo))
                replyTo.Tell(new InferenceStatus(_node, ExecutionProvider.Current, ExecutionProvider.Note + " (model host did not answer)", []));
        });
    }

    public static Props Props(ClassificationSettings settings, IActorRef models, IActorRef? datacenter, string node) =>
        Akka.Actor.Props.Create(() => new FrameClassifier(settings, models, datacenter, node));

    private void OnClassify(Classify c)
    {
        var id = ++_nextId;
        _pending[id] = new Pending(Sender, c.RequestId, c.Pixels, Stage.Local, null);
        _models.Tell(new Infer(_settings.CameraModel, id, 1, c.Pixels, InferencePriority.Normal));
        Timers.StartSingleTimer(id, new Expired(id, Stage.Local), _settings.LocalTimeout);
    }

    private void SendToDatacenter(long id, string model, float[] pixels, InferencePriority priority)
    {
        _datacenter!.Tell(new Send(ModelHostPaths.Datacenter, new Infer(model, id, 1, pixels, priority), localAffinity: false));
    }

    private static (int Label, float Confidence) ArgMax(InferResult r)
    {
        var best = 0;
        for (var k = 1; k < r.OutputSize; k++)
            if (r.Output[k] > r.Output[best])
                best = k;
        return (best, r.Output[best]);
    }

    private void OnResult(InferResult r)
    {
        if (!_pending.TryGetValue(r.RequestId, out var p)) return; // answered already (timed out)
        var (label, confidence) = ArgMax(r);
        var prediction = new Prediction(label, confidence, r.Model, r.Version, r.Node, p.Stage == Stage.Escalating, p.Stage == Stage.Overflowing ? PredictionNote.Overflowed : PredictionNote.None);
        if (p.Stage == Stage.Local && _settings.Escalate && _datacenter is not null &&
            (confidence < _settings.ConfidenceThreshold || _settings.ConfidenceThreshold >= 1f))
        {
            _pending[r.RequestId] = p with { Stage = Stage.Escalating, EdgeAnswer = prediction };
            SendToDatacenter(r.RequestId, _settings.EscalationModel, p.Pixels, InferencePriority.High);
            Timers.StartSingleTimer(r.RequestId, new Expired(r.RequestId, Stage.Escalating), _settings.EscalationTimeout);
            return;
        }
        if (p.Stage == Stage.Escalating) _escalated++;
        if (p.Stage == Stage.Overflowing) _overflowed++;
        Answer(r.RequestId, p, prediction);
    }

    private void OnRejected(InferRejected r)
    {
        if (!_pending.TryGetValue(r.RequestId, out var p)) return;
        switch (p.Stage)
        {
            case Stage.Local when r.Reason == InferRejectReason.Overloaded && _settings.Overflow && _datacenter is not null:
                _pending[r.RequestId] = p with { Stage = Stage.Overflowing };
                SendToDatacenter(r.RequestId, _settings.CameraModel, p.Pixels, InferencePriority.Normal);
                Timers.StartSingleTimer(r.RequestId, new Expired(r.RequestId, Stage.Overflowing), _settings.EscalationTimeout);
                break;
            case Stage.Escalating:
                _log.Warning("Escalation of a frame to {0} refused ({1}: {2}); keeping the edge answer", _settings.EscalationModel, r.Reason, r.Detail);
                _escalationUnavailable++;
                Answer(r.RequestId, p, p.EdgeAnswer! with { Note = PredictionNote.EscalationUnavailable });
                break;
            default:
                _log.Warning("Frame not classified by {0}: {1} ({2})", r.Model, r.Reason, r.Detail);
                _notClassified++;
                Answer(r.RequestId, p, NotClassified());
                break;
        }
    }

    private void OnExpired(Expired e)
    {
        if (!_pending.TryGetValue(e.Id, out var p) || p.Stage != e.Stage) return;
        if (p.Stage == Stage.Escalating)
        {
            _escalationUnavailable++;
            Answer(e.Id, p, p.EdgeAnswer! with { Note = PredictionNote.EscalationUnavailable });
        }
        else
        {
            _notClassified++;
            Answer(e.Id, p, NotClassified());
        }
    }

    private Prediction NotClassified() => new(-1, 0f, _settings.CameraModel, 0, _node, false, PredictionNote.NotClassified);

    private void Answer(long id, Pending p, Prediction prediction)
    {
        _pending.Remove(id);
        Timers.Cancel(id);
        p.ReplyTo.Tell(new Classified(p.CallerId, prediction));
    }

    private void OnStatus(InferenceStatus status)
    {
        // the model host answers status queries in order, without ids: one answer serves everyone waiting now
        if (_statusQueries.Count == 0) return;
        var waiting = _statusQueries.ToArray();
        _statusQueries.Clear();
        foreach (var (id, _) in waiting) Timers.Cancel(("status", id));
        var models = status.Models
            .Select(m => m.Name == _settings.CameraModel ? m with { Escalated = _escalated, Overflowed = _overflowed } : m)
            .ToArray();
        var note = status.ProviderNote;
        if (_escalationUnavailable > 0 || _notClassified > 0)
            note += $"; escalation unavailable {_escalationUnavailable}, frames not classified {_notClassified}";
        foreach (var (_, replyTo) in waiting) replyTo.Tell(status with { Models = models, ProviderNote = note });
    }
}

/// <summary>Where model hosts live and how the datacenter's is found through distributed pub-sub.</summary>
public static class ModelHostPaths
{
    public const string Name = "models";
    public const string Local = "/user/" + Name;

    /// <summary>The datacenter's model host registers itself with the pub-sub mediator under this path (Put); edges do not.</summary>
    public const string Datacenter = "/user/" + Name;
}

public static class FrameClassifierRegistration
{
    /// <summary>
    /// Starts the frame classifier on an edge node (call after AddModelHost and before AddDeviceSharding, whose device
    /// entities pick it up). Escalation and overflow go through the DistributedPubSub mediator to the datacenter.
    /// </summary>
    public static AkkaConfigurationBuilder AddFrameClassifier(this AkkaConfigurationBuilder builder, ClassificationSettings settings) =>
        settings.Enabled
            ? builder.WithActors((system, registry) =>
            {
                var node = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
                var mediator = DistributedPubSub.Get(system).Mediator;
                var classifier = system.ActorOf(FrameClassifier.Props(settings, registry.Get<ModelHost>(), mediator, node), "frame-classifier");
                registry.Register<FrameClassifier>(classifier);
            })
            : builder;

    /// <summary>Makes this node's model host reachable for escalations and overflow from edges (datacenter nodes).</summary>
    public static AkkaConfigurationBuilder AddDatacenterInferenceService(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry) =>
            DistributedPubSub.Get(system).Mediator.Tell(new Put(registry.Get<ModelHost>())));
}
