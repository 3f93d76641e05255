using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Devices;

/// <summary>A device entity with a frame classifier (a probe standing in for it): frames are acked with their prediction.</summary>
public sealed class DeviceClassificationTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("akka.actor.serialize-messages = off").WithFallback(EdgeSerialization.Config))
{
    private static readonly DeviceId Id = new("camera-3");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static CameraFrame Frame(long seq, byte fill) =>
        new(Id, seq, 1_700_000_000_000 + seq, 28, 28, Enumerable.Repeat(fill, 784).ToArray(), 7);

    private static Prediction Sneaker(int version) => new(7, 0.93f, "fmnist-mlp", version, "akka.tcp://edgeactors@10.0.0.3:4053", false, PredictionNote.None);

    [Fact]
    public void Accepted_frame_should_be_classified_on_its_pixel_bytes_and_acked_with_the_prediction()
    {
        var classifier = CreateTestProbe();
        var device = Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default, classifier.Ref));

        device.Tell(Frame(1, 51), TestActor);
        var classify = classifier.ExpectMsg<ClassifyFrame>(Wait);
        Assert.Equal(784, classify.Pixels.Length);
        Assert.All(classify.Pixels, p => Assert.Equal(51, p)); // as received: the model scales them in its graph
        ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // no ack before the prediction
        classifier.Reply(new FrameClassified(classify.RequestId, Sneaker(4)));

        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(1, ack.Accepted);
        Assert.Equal(Sneaker(4), ack.Prediction);
    }

    [Fact]
    public void Rejected_frame_should_be_acked_at_once_without_classification()
    {
        var classifier = CreateTestProbe();
        var device = Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default, classifier.Ref));
        device.Tell(new CameraFrame(Id, 1, 1, 27, 28, new byte[27 * 28], 1), TestActor);
        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(RejectReason.WrongFrameSize, Assert.Single(ack.Rejected).Reason);
        Assert.Null(ack.Prediction);
        classifier.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Stop_should_wait_for_frames_being_classified_so_every_sender_gets_its_ack()
    {
        var classifier = CreateTestProbe();
        var device = Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default, classifier.Ref));
        Watch(device);
        device.Tell(Frame(1, 10), TestActor);
        device.Tell(Frame(2, 20), TestActor);
        var first = classifier.ExpectMsg<ClassifyFrame>(Wait);
        var second = classifier.ExpectMsg<ClassifyFrame>(Wait);
        device.Tell(StopDevice.Instance);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // still alive: two frames await their prediction

        classifier.Reply(new FrameClassified(second.RequestId, Sneaker(1)));
        classifier.Reply(new FrameClassified(first.RequestId, Sneaker(2)));
        var acks = new[] { ExpectMsg<IngestAck>(Wait), ExpectMsg<IngestAck>(Wait) };
        Assert.Equal([1, 2], acks.Select(a => a.Prediction!.Version).Order());
        ExpectTerminated(device, Wait);
    }
}
