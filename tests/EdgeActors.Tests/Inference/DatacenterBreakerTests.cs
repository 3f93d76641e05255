using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Inference;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Inference;

/// <summary>
/// The frame classifier's circuit breaker on calls to the datacenter. Probes stand in for the local model host and the
/// pub-sub mediator (as in <see cref="FrameClassifierTests"/>); the datacenter "fails" by refusing (its model is
/// missing) or by never answering. Time is the test scheduler's: timeouts and the breaker's reset timeout pass only
/// when the test advances it, so no step depends on how fast the machine is.
/// </summary>
public sealed class DatacenterBreakerTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan EscalationTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ResetTimeout = TimeSpan.FromSeconds(10);
    private readonly TestProbe _models;
    private readonly TestProbe _mediator;

    public DatacenterBreakerTests() : base(ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\""))
    {
        _models = CreateTestProbe();
        _mediator = CreateTestProbe();
    }

    private IActorRef Classifier(int maxFailures) =>
        Sys.ActorOf(FrameClassifier.Props(new ClassificationSettings
        {
            CameraModel = "fmnist-mlp",
            ConfidenceThreshold = 1f, // every frame is escalated
            EscalationTimeout = EscalationTimeout,
            Breaker = new BreakerSettings { MaxFailures = maxFailures, ResetTimeout = ResetTimeout, MaxResetTimeout = TimeSpan.FromSeconds(30) },
        }, _models.Ref, _mediator.Ref, "edge-a"));

    /// <summary>Sends a frame and answers the local inference with <paramref name="local"/>; returns the local request id.</summary>
    private void Frame(IActorRef classifier, long id, IInferenceEvent? local = null)
    {
        classifier.Tell(new ClassifyFrame(id, new byte[784]), TestActor);
        var infer = _models.ExpectMsg<Infer>(Wait);
        _models.Reply(local switch
        {
            InferRejected r => r with { RequestId = infer.RequestId },
            _ => new InferResult(infer.RequestId, "fmnist-mlp", 3, "CPU", "edge-a", 1, 3, [0.5f, 0.3f, 0.2f]),
        });
    }

    private Infer ExpectSend() => Assert.IsType<Infer>(_mediator.ExpectMsg<Send>(Wait).Message);

    private Prediction ExpectClassified(long id)
    {
        var c = ExpectMsg<FrameClassified>(Wait);
        Assert.Equal(id, c.RequestId);
        return c.Prediction;
    }

    private CircuitBreakerStatus Breaker(IActorRef classifier)
    {
        classifier.Tell(GetInferenceStatus.Instance, TestActor);
        _models.ExpectMsg<GetInferenceStatus>(Wait);
        _models.Reply(new InferenceStatus("edge-a", "CPU", "", []));
        return ExpectMsg<InferenceStatus>(Wait).Datacenter ?? throw new InvalidOperationException("no breaker in the status of an edge with a datacenter");
    }

    private void Advance(TimeSpan by) => ((TestScheduler)Sys.Scheduler).Advance(by);

    private static InferRejected Overloaded => new(0, "fmnist-mlp", InferRejectReason.Overloaded, "queue full");

    [Fact]
    public void Breaker_should_open_after_consecutive_failures_answer_frames_at_once_and_close_after_a_successful_trial()
    {
        var classifier = Classifier(maxFailures: 2);
        Assert.Equal(CircuitState.Closed, Breaker(classifier).State);

        Frame(classifier, 1);
        var e1 = ExpectSend();
        _mediator.Reply(new InferRejected(e1.RequestId, "fmnist-large", InferRejectReason.NoModel, "model 'fmnist-large' is not loaded on dc-1 yet"));
        Assert.Equal(PredictionNote.EscalationUnavailable, ExpectClassified(1).Note);
        Assert.Equal((CircuitState.Closed, 1), (Breaker(classifier).State, Breaker(classifier).ConsecutiveFailures));

        Frame(classifier, 2);
        ExpectSend(); // never answered: the escalation times out
        Breaker(classifier); // (a status round trip: the escalation timer, set after the send, is running)
        Advance(EscalationTimeout);
        Assert.Equal(PredictionNote.EscalationUnavailable, ExpectClassified(2).Note);
        var open = Breaker(classifier);
        Assert.Equal((CircuitState.Open, 2, 1L), (open.State, open.ConsecutiveFailures, open.Opens));
        Assert.True(open.RetryAtMs > 0);
        Assert.Contains("unanswered", open.LastFailure);

        // open: the edge answer comes back without a call to the datacenter; a full edge queue gives "not classified"
        Frame(classifier, 3);
        var fast = ExpectClassified(3);
        Assert.Equal((0, "edge-a", false, PredictionNote.EscalationUnavailable), (fast.Label, fast.ServedBy, fast.Escalated, fast.Note));
        Frame(classifier, 4, Overloaded);
        Assert.Equal(PredictionNote.NotClassified, ExpectClassified(4).Note);
        _mediator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, Breaker(classifier).FastAnswers);

        // half-open after the reset timeout: one trial call; other frames meanwhile still get the edge answer at once
        Advance(ResetTimeout - TimeSpan.FromMilliseconds(1));
        Assert.Equal(CircuitState.Open, Breaker(classifier).State);
        Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(CircuitState.HalfOpen, Breaker(classifier).State);
        Frame(classifier, 5);
        var trial = ExpectSend();
        Frame(classifier, 6);
        Assert.Equal(PredictionNote.EscalationUnavailable, ExpectClassified(6).Note);
        _mediator.Reply(new InferResult(trial.RequestId, "fmnist-large", 1, "CPU", "dc-1", 1, 3, [0.1f, 0.1f, 0.8f]));
        var escalated = ExpectClassified(5);
        Assert.Equal((2, "dc-1", true, PredictionNote.None), (escalated.Label, escalated.ServedBy, escalated.Escalated, escalated.Note));

        var closed = Breaker(classifier);
        Assert.Equal((CircuitState.Closed, 0, 1L, 3L, 0L), (closed.State, closed.ConsecutiveFailures, closed.Opens, closed.FastAnswers, closed.RetryAtMs));
        Frame(classifier, 7);
        ExpectSend(); // closed: escalations go to the datacenter again
    }

    [Fact]
    public void Failed_trial_should_open_the_breaker_again()
    {
        var classifier = Classifier(maxFailures: 1);
        Frame(classifier, 1, Overloaded);
        var overflow = ExpectSend();
        Assert.Equal("fmnist-mlp", overflow.Model);
        _mediator.Reply(new InferRejected(overflow.RequestId, "fmnist-mlp", InferRejectReason.Overloaded, "datacenter queue full"));
        Assert.Equal(PredictionNote.NotClassified, ExpectClassified(1).Note);
        Assert.Equal((CircuitState.Open, 1L), (Breaker(classifier).State, Breaker(classifier).Opens));

        Advance(ResetTimeout);
        Assert.Equal(CircuitState.HalfOpen, Breaker(classifier).State);
        Frame(classifier, 2);
        var trial = ExpectSend();
        _mediator.Reply(new InferRejected(trial.RequestId, "fmnist-large", InferRejectReason.NoModel, "no such model"));
        Assert.Equal(PredictionNote.EscalationUnavailable, ExpectClassified(2).Note);
        var reopened = Breaker(classifier);
        Assert.Equal((CircuitState.Open, 2L), (reopened.State, reopened.Opens));
        Assert.Contains("NoModel", reopened.LastFailure);

        // a failed trial doubles the reset timeout
        Advance(ResetTimeout);
        Assert.Equal(CircuitState.Open, Breaker(classifier).State);
        Advance(ResetTimeout);
        Assert.Equal(CircuitState.HalfOpen, Breaker(classifier).State);
    }

    [Fact]
    public void Breaker_settings_should_bind_from_HOCON_and_name_a_bad_key()
    {
        var s = ClassificationSettings.FromConfig(ConfigurationFactory.ParseString(
            "camera-model = m, escalation.breaker { max-failures = 3, reset-timeout = 2s, max-reset-timeout = 30s }"));
        Assert.Equal(new BreakerSettings { MaxFailures = 3, ResetTimeout = TimeSpan.FromSeconds(2), MaxResetTimeout = TimeSpan.FromSeconds(30) }, s.Breaker);
        var bad = Assert.Throws<ArgumentException>(() => ClassificationSettings.FromConfig(ConfigurationFactory.ParseString("escalation.breaker.max-failures = 0")));
        Assert.Contains("edgeactors.inference.escalation.breaker.max-failures", bad.Message);
        bad = Assert.Throws<ArgumentException>(() => ClassificationSettings.FromConfig(ConfigurationFactory.ParseString(
            "escalation.breaker { reset-timeout = 10s, max-reset-timeout = 1s }")));
        Assert.Contains("edgeactors.inference.escalation.breaker.max-reset-timeout", bad.Message);
    }
}
