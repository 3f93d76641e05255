using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Inference;

/// <summary>Camera-frame classification on an edge, bound from <c>edgeactors.inference</c>.</summary>
public sealed record ClassificationSettings
{
    /// <summary>
    /// Model that classifies accepted camera frames on the edge ("" turns classification off: the default, as in
    /// base.conf; edge.conf sets "fmnist-mlp").
    /// </summary>
    public string CameraModel { get; init; } = "";
    /// <summary>Larger model in the datacenter for hard examples.</summary>
    public string EscalationModel { get; init; } = "fmnist-large";
    public bool Escalate { get; init; } = true;
    /// <summary>Edge answers below this confidence are escalated; 1 escalates every frame.</summary>
    public float ConfidenceThreshold { get; init; } = 0.6f;
    public TimeSpan EscalationTimeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>When the edge queue is full, send the frame to the datacenter's copy of the camera model.</summary>
    public bool Overflow { get; init; } = true;
    public TimeSpan LocalTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>The circuit breaker on escalations and overflow to the datacenter (<c>escalation.breaker</c>).</summary>
    public BreakerSettings Breaker { get; init; } = BreakerSettings.Default;

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
            Breaker = BreakerSettings.FromConfig(section),
        };
        if (s.ConfidenceThreshold is < 0 or > 1)
            throw new ArgumentException($"edgeactors.inference.escalation.confidence-threshold must be in [0,1], got {s.ConfidenceThreshold}");
        if (s.EscalationTimeout <= TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.escalation.timeout must be positive");
        if (s.LocalTimeout <= TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.local-timeout must be positive");
        return s;
    }
}

/// <summary>
/// <c>edgeactors.inference.escalation.breaker</c>: after <see cref="MaxFailures"/> consecutive failed or unanswered
/// calls to the datacenter the breaker opens; after <see cref="ResetTimeout"/> one trial call goes through (half-open);
/// its success closes the breaker, its failure opens it again for twice as long, up to <see cref="MaxResetTimeout"/>.
/// </summary>
public sealed record BreakerSettings
{
    public const string Section = "edgeactors.inference.escalation.breaker";

    public int MaxFailures { get; init; } = 5;
    public TimeSpan ResetTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan MaxResetTimeout { get; init; } = TimeSpan.FromMinutes(1);

    public static BreakerSettings Default { get; } = new();

    public static BreakerSettings FromConfig(Akka.Configuration.Config inference)
    {
        const string p = "escalation.breaker.";
        var d = Default;
        var s = new BreakerSettings
        {
            MaxFailures = Read("max-failures", () => inference.GetInt(p + "max-failures", d.MaxFailures)),
            ResetTimeout = Read("reset-timeout", () => inference.GetTimeSpan(p + "reset-timeout", d.ResetTimeout)),
            MaxResetTimeout = Read("max-reset-timeout", () => inference.GetTimeSpan(p + "max-reset-timeout", d.MaxResetTimeout)),
        };
        return s.Validate();
    }

    public BreakerSettings Validate()
    {
        if (MaxFailures < 1) throw new ArgumentException($"{Section}.max-failures must be >= 1, got {MaxFailures}");
        if (ResetTimeout <= TimeSpan.Zero) throw new ArgumentException($"{Section}.reset-timeout must be positive, got {ResetTimeout}");
        if (MaxResetTimeout < ResetTimeout) throw new ArgumentException($"{Section}.max-reset-timeout must be >= reset-timeout, got {MaxResetTimeout}");
        return this;
    }

    private static T Read<T>(string key, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception ex)
        {
            throw new ArgumentException($"{Section}.{key} cannot be read: {ex.Message}", ex);
        }
    }
}

/// <summary>
/// Classifies camera frames for the device entities of one edge node: the local model first; a low-confidence
/// answer is escalated to the datacenter's larger model (hard example mining); an overloaded local queue overflows to
/// the datacenter. Both degrade to the edge answer (or "not classified") when the datacenter does not answer in time.
/// The datacenter is reached through distributed pub-sub (<see cref="ModelHostPaths.Datacenter"/>).
/// <para>
/// A circuit breaker guards those calls (<see cref="BreakerSettings"/>): a refusal (no model, overloaded, failed) or a
/// timeout counts as a failure; once open, frames are answered at once with the edge answer (escalation) or "not
/// classified" (overflow) instead of each waiting out the timeout, until a trial call succeeds.
/// </para>
/// </summary>
public sealed class FrameClassifier : ReceiveActor, IWithTimers
{
    private enum Stage
    {
        Local,
        Escalating,
        Overflowing,
    }

    private sealed record Pending(IActorRef ReplyTo, long CallerId, byte[] Pixels, Stage Stage, Prediction? EdgeAnswer);

    private sealed record Expired(long Id, Stage Stage);

    private sealed record StatusQuery(IActorRef ReplyTo);

    private sealed record StatusTimeout(long Id);

    /// <summary>The open breaker's reset timeout is over: let one trial call through.</summary>
    private sealed record BreakerHalfOpen
    {
        public static readonly BreakerHalfOpen Instance = new();
    }

    private const string BreakerTimer = "breaker";

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

    /// <summary>The circuit breaker on calls to the datacenter (its open time runs on <see cref="BreakerTimer"/>).</summary>
    private readonly CircuitBreaker _breaker;

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
        _breaker = new CircuitBreaker(settings.Breaker);

        Receive<ClassifyFrame>(OnClassify);
        Receive<BreakerHalfOpen>(_ => OnHalfOpen());
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
                replyTo.Tell(new InferenceStatus(_node, ExecutionProvider.Current, ExecutionProvider.Note + " (model host did not answer)", [], BreakerStatus()));
        });
    }

    public static Props Props(ClassificationSettings settings, IActorRef models, IActorRef? datacenter, string node) =>
        Akka.Actor.Props.Create(() => new FrameClassifier(settings, models, datacenter, node));

    private void OnClassify(ClassifyFrame c)
    {
        var id = ++_nextId;
        _pending[id] = new Pending(Sender, c.RequestId, c.Pixels, Stage.Local, null);
        _models.Tell(Infer.Bytes(_settings.CameraModel, id, 1, c.Pixels, InferencePriority.Normal));
        Timers.StartSingleTimer(id, new Expired(id, Stage.Local), _settings.LocalTimeout);
    }

    private void SendToDatacenter(long id, string model, byte[] pixels, InferencePriority priority)
    {
        _datacenter!.Tell(new Send(ModelHostPaths.Datacenter, Infer.Bytes(model, id, 1, pixels, priority), localAffinity: false));
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
            if (!_breaker.TryAcquire(r.RequestId))
            {
                _escalationUnavailable++;
                Answer(r.RequestId, p, prediction with { Note = PredictionNote.EscalationUnavailable });
                return;
            }
            _pending[r.RequestId] = p with { Stage = Stage.Escalating, EdgeAnswer = prediction };
            SendToDatacenter(r.RequestId, _settings.EscalationModel, p.Pixels, InferencePriority.High);
            Timers.StartSingleTimer(r.RequestId, new Expired(r.RequestId, Stage.Escalating), _settings.EscalationTimeout);
            return;
        }
        if (p.Stage == Stage.Escalating) _escalated++;
        if (p.Stage == Stage.Overflowing) _overflowed++;
        if (p.Stage != Stage.Local) Observability.InferenceMetrics.Offloaded(p.Stage == Stage.Escalating);
        if (p.Stage != Stage.Local) CallSucceeded(r.RequestId);
        Answer(r.RequestId, p, prediction);
    }

    private void OnRejected(InferRejected r)
    {
        if (!_pending.TryGetValue(r.RequestId, out var p)) return;
        switch (p.Stage)
        {
            case Stage.Local when r.Reason == InferRejectReason.Overloaded && _settings.Overflow && _datacenter is not null && !_breaker.TryAcquire(r.RequestId):
                _notClassified++;
                Answer(r.RequestId, p, NotClassified());
                break;
            case Stage.Local when r.Reason == InferRejectReason.Overloaded && _settings.Overflow && _datacenter is not null:
                _pending[r.RequestId] = p with { Stage = Stage.Overflowing };
                SendToDatacenter(r.RequestId, _settings.CameraModel, p.Pixels, InferencePriority.Normal);
                Timers.StartSingleTimer(r.RequestId, new Expired(r.RequestId, Stage.Overflowing), _settings.EscalationTimeout);
                break;
            case Stage.Escalating:
                _log.Warning("Escalation of a frame to {0} refused ({1}: {2}); keeping the edge answer", _settings.EscalationModel, r.Reason, r.Detail);
                _escalationUnavailable++;
                CallFailed(r.RequestId, $"escalation to {_settings.EscalationModel} refused: {r.Reason}: {r.Detail}");
                Answer(r.RequestId, p, p.EdgeAnswer! with { Note = PredictionNote.EscalationUnavailable });
                break;
            default:
                if (p.Stage == Stage.Overflowing) CallFailed(r.RequestId, $"overflow to {r.Model} refused: {r.Reason}: {r.Detail}");
                _log.Warning("Frame not classified by {0}: {1} ({2})", r.Model, r.Reason, r.Detail);
                _notClassified++;
                Answer(r.RequestId, p, NotClassified());
                break;
        }
    }

    private void OnExpired(Expired e)
    {
        if (!_pending.TryGetValue(e.Id, out var p) || p.Stage != e.Stage) return;
        if (p.Stage != Stage.Local)
        {
            var what = p.Stage == Stage.Escalating ? $"escalation to {_settings.EscalationModel}" : $"overflow to {_settings.CameraModel}";
            CallFailed(e.Id, $"{what} unanswered within {_settings.EscalationTimeout}");
        }
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
        p.ReplyTo.Tell(new FrameClassified(p.CallerId, prediction));
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
        var breaker = BreakerStatus();
        foreach (var (_, replyTo) in waiting) replyTo.Tell(status with { Models = models, ProviderNote = note, Datacenter = breaker });
    }

    // ------------------------------------------------------------------ circuit breaker

    private CircuitBreakerStatus? BreakerStatus() => _datacenter is null ? null : _breaker.Status();

    private void CallSucceeded(long id)
    {
        var failures = _breaker.ConsecutiveFailures;
        var succeeded = _breaker.Succeeded(id);
        Observability.InferenceMetrics.Breaker(_breaker.State);
        if (succeeded)
            _log.Info("Datacenter circuit breaker closed: the trial call succeeded after {0} consecutive failures", failures);
    }

    private void CallFailed(long id, string why)
    {
        var opened = _breaker.Failed(id, why);
        Observability.InferenceMetrics.Breaker(_breaker.State);
        if (opened is not { } openFor) return;
        Timers.StartSingleTimer(BreakerTimer, BreakerHalfOpen.Instance, openFor);
        _log.Warning("Datacenter circuit breaker open after {0} consecutive failures (last: {1}); frames get the edge answer at once; trial call in {2}",
            _breaker.ConsecutiveFailures, why, openFor);
    }

    private void OnHalfOpen()
    {
        var halfOpen = _breaker.ResetTimeoutElapsed();
        Observability.InferenceMetrics.Breaker(_breaker.State);
        if (halfOpen)
            _log.Info("Datacenter circuit breaker half-open: the next escalation or overflow is a trial call");
    }
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
                var classifier = system.ActorOf(FrameClassifier.Props(settings, registry.Require<ModelHostKey>("AddFrameClassifier", "AddModelHost"), mediator, node), "frame-classifier");
                registry.Register<FrameClassifierKey>(classifier);
            })
            : builder;

    /// <summary>Makes this node's model host reachable for escalations and overflow from edges (datacenter nodes).</summary>
    public static AkkaConfigurationBuilder AddDatacenterInferenceService(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry) =>
            DistributedPubSub.Get(system).Mediator.Tell(new Put(registry.Require<ModelHostKey>("AddDatacenterInferenceService", "AddModelHost"))));
}
