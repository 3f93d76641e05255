using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using EdgeActors.Actors.Inference;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Inference;

/// <summary>
/// The classifier's routing on its own: probes stand in for the local model host and the pub-sub mediator, and answer
/// with the replies those would send. (Real models serve real frames in the multi-process inference test.)
/// Time is virtual (<see cref="VirtualTimeScheduler"/>): the local and escalation timeouts pass only when a test advances it, so an answer the
/// test sends is never beaten by a timeout on a slow machine, and the one test about the timeout moves time itself.
/// </summary>
public sealed class FrameClassifierTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan EscalationTimeout = TimeSpan.FromMilliseconds(300);
    private readonly TestProbe _models;
    private readonly TestProbe _mediator;

    public FrameClassifierTests() : base(VirtualTimeScheduler.Config)
    {
        _models = CreateTestProbe();
        _mediator = CreateTestProbe();
    }

    private IActorRef Classifier(ClassificationSettings? settings = null, bool datacenter = true) =>
        Sys.ActorOf(FrameClassifier.Props(settings ?? new ClassificationSettings { CameraModel = "fmnist-mlp", EscalationTimeout = EscalationTimeout },
            _models.Ref, datacenter ? _mediator.Ref : null, "edge-a"));

    private static InferResult Result(long id, string model, string node, params float[] probabilities) =>
        new(id, model, 3, "CPU", node, 1, probabilities.Length, probabilities);

    private static byte[] Pixels() => new byte[784];

    private void Advance(TimeSpan by) => ((VirtualTimeScheduler)Sys.Scheduler).Advance(by);

    /// <summary>
    /// Returns once the classifier has handled everything sent to it before (a status query goes through its mailbox to
    /// the model host probe), so a timer it started on the way is running before the test moves time.
    /// </summary>
    private void Settle(IActorRef classifier)
    {
        classifier.Tell(GetInferenceStatus.Instance, CreateTestProbe().Ref);
        _models.ExpectMsg<GetInferenceStatus>(Wait);
    }

    [Fact]
    public void Confident_edge_answer_should_be_kept()
    {
        var classifier = Classifier();
        classifier.Tell(new ClassifyFrame(41, Pixels()), TestActor);
        var infer = _models.ExpectMsg<Infer>(Wait);
        Assert.Equal("fmnist-mlp", infer.Model);
        Assert.Equal((784, 0), (infer.ByteInput?.Length ?? 0, infer.Input.Length)); // the frame's bytes as they came
        _models.Reply(Result(infer.RequestId, "fmnist-mlp", "edge-a", 0.05f, 0.9f, 0.05f));

        var classified = ExpectMsg<FrameClassified>(Wait);
        Assert.Equal(41, classified.RequestId);
        Assert.Equal(new Prediction(1, 0.9f, "fmnist-mlp", 3, "edge-a", false, PredictionNote.None), classified.Prediction);
        _mediator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Low_confidence_should_be_escalated_to_the_large_model_and_its_answer_used()
    {
        var classifier = Classifier();
        classifier.Tell(new ClassifyFrame(7, Pixels()), TestActor);
        var infer = _models.ExpectMsg<Infer>(Wait);
        _models.Reply(Result(infer.RequestId, "fmnist-mlp", "edge-a", 0.4f, 0.35f, 0.25f));

        var send = _mediator.ExpectMsg<Send>(Wait);
        Assert.Equal(ModelHostPaths.Datacenter, send.Path);
        var escalated = Assert.IsType<Infer>(send.Message);
        Assert.Equal(("fmnist-large", InferencePriority.High), (escalated.Model, escalated.Priority));
        _mediator.Reply(Result(escalated.RequestId, "fmnist-large", "dc", 0.1f, 0.1f, 0.8f));

        var p = ExpectMsg<FrameClassified>(Wait).Prediction;
        Assert.Equal((2, "fmnist-large", "dc", true, PredictionNote.None), (p.Label, p.Model, p.ServedBy, p.Escalated, p.Note));
    }

    [Fact]
    public void Escalation_without_an_answer_should_keep_the_edge_answer_and_say_so()
    {
        var classifier = Classifier();
        classifier.Tell(new ClassifyFrame(8, Pixels()), TestActor);
        var infer = _models.ExpectMsg<Infer>(Wait);
        _models.Reply(Result(infer.RequestId, "fmnist-mlp", "edge-a", 0.5f, 0.3f, 0.2f));
        _mediator.ExpectMsg<Send>(Wait); // the datacenter never answers
        Settle(classifier); // the escalation timer is running

        Advance(EscalationTimeout - TimeSpan.FromMilliseconds(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // not before the escalation timeout
        Advance(TimeSpan.FromMilliseconds(1));
        var p = ExpectMsg<FrameClassified>(Wait).Prediction;
        Assert.Equal((0, "fmnist-mlp", "edge-a", false, PredictionNote.EscalationUnavailable), (p.Label, p.Model, p.ServedBy, p.Escalated, p.Note));
    }

    [Fact]
    public void Overloaded_edge_should_overflow_to_the_datacenter_copy_of_the_edge_model()
    {
        var classifier = Classifier();
        classifier.Tell(new ClassifyFrame(9, Pixels()), TestActor);
        var infer = _models.ExpectMsg<Infer>(Wait);
        _models.Reply(new InferRejected(infer.RequestId, "fmnist-mlp", InferRejectReason.Overloaded, "queue full (1024 waiting)"));

        var overflow = Assert.IsType<Infer>(_mediator.ExpectMsg<Send>(Wait).Message);
        Assert.Equal("fmnist-mlp", overflow.Model);
        _mediator.Reply(Result(overflow.RequestId, "fmnist-mlp", "dc", 0.9f, 0.1f));

        var p = ExpectMsg<FrameClassified>(Wait).Prediction;
        Assert.Equal(("dc", PredictionNote.Overflowed), (p.ServedBy, p.Note));
    }

    [Fact]
    public void Overloaded_edge_without_a_datacenter_should_answer_not_classified()
    {
        var classifier = Classifier(datacenter: false);
        classifier.Tell(new ClassifyFrame(10, Pixels()), TestActor);
        var infer = _models.ExpectMsg<Infer>(Wait);
        _models.Reply(new InferRejected(infer.RequestId, "fmnist-mlp", InferRejectReason.Overloaded, "queue full"));

        var p = ExpectMsg<FrameClassified>(Wait).Prediction;
        Assert.Equal((-1, PredictionNote.NotClassified), (p.Label, p.Note));
    }
}
