using EdgeActors.Client.Serialization;
using EdgeActors.Storage;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Devices;

/// <summary>
/// Promises of the device entity towards its outbox and the sync: urgent data (anomalies, hard examples) goes out with
/// a higher priority and triggers a sync at once; a failed outbox write takes the acceptance back. The outbox, the
/// classifier and the sync trigger are probes, so each answer (or its absence) is chosen by the test.
/// </summary>
public sealed class DevicePromiseTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.actor.serialize-messages = off").WithFallback(EdgeSerialization.Config))
{
    private static readonly DeviceId Sensor = new("sensor-promise");
    private static readonly DeviceId Camera = new("camera-promise");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    internal static TelemetryBatch Steady(DeviceId id, long first, int n) =>
        new(id, 2, Enumerable.Range(0, n).Select(i => first + i).ToArray(), Enumerable.Range(0, n).Select(i => 1_700_000_000_000L + first + i).ToArray(),
            Enumerable.Range(0, 2 * n).Select(i => 20f + i % 7).ToArray());

    private static CameraFrame Frame(long seq) => new(Camera, seq, 1_700_000_000_000 + seq, 28, 28, Enumerable.Repeat((byte)40, 784).ToArray(), 3);

    private static Prediction Predicted(float confidence) => new(3, confidence, "fmnist-mlp", 1, "node", false, PredictionNote.None);

    /// <summary>Writes the outbox probe's next write as durable and returns it.</summary>
    private static OutboxWrite Written(TestProbe outbox)
    {
        var write = outbox.ExpectMsg<OutboxWrite>(Wait);
        outbox.Reply(new OutboxWritten(write.Token, write.Records.Sum(r => r.Count), 0));
        return write;
    }

    [Fact]
    public void An_anomalous_reading_should_be_written_with_anomaly_priority_and_trigger_a_sync_at_once()
    {
        var (outbox, sync) = (CreateTestProbe(), CreateTestProbe());
        var device = Sys.ActorOf(DeviceActor.Props(Sensor, IngestionSettings.Default, new DeviceServices(null, outbox.Ref, sync.Ref)));

        // a steady signal: routine, and no sync is asked for
        device.Tell(Steady(Sensor, 1, 200), TestActor);
        var routine = Written(outbox);
        Assert.All(routine.Records, r => Assert.Equal(SyncPriority.Routine, r.Priority));
        var first = ExpectMsg<IngestAck>(Wait);
        Assert.Equal((200, AckLevel.DurableOnEdge), (first.Accepted, first.Level));
        sync.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // a step far outside the running statistics (long enough not to be smoothed away as a single-reading spike)
        var seqs = Enumerable.Range(201, 20).Select(i => (long)i).ToArray();
        var values = seqs.SelectMany(q => q is >= 210 and < 220 ? new[] { 5_000f, 5_000f } : new[] { 20f + q % 7, 20f + (q + 1) % 7 }).ToArray();
        device.Tell(new TelemetryBatch(Sensor, 2, seqs, seqs.Select(q => 1_700_000_000_000L + q).ToArray(), values), TestActor);

        var urgent = Written(outbox);
        sync.ExpectMsg<SyncNow>(Wait);
        var anomaly = Assert.Single(urgent.Records, r => r.Priority == SyncPriority.Anomaly);
        Assert.All(Enumerable.Range(0, anomaly.Count).Select(anomaly.SequenceAt), q => Assert.InRange(q, 210, 220));
        Assert.Equal(20, ExpectMsg<IngestAck>(Wait).Accepted);
    }

    [Fact]
    public void A_hard_camera_example_should_be_written_with_hard_example_priority_and_trigger_a_sync_at_once()
    {
        var (classifier, outbox, sync) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var services = new DeviceServices(classifier.Ref, outbox.Ref, sync.Ref) { HardExampleConfidence = 0.6f };
        var device = Sys.ActorOf(DeviceActor.Props(Camera, IngestionSettings.Default, services));

        // a confident prediction: routine, no sync
        device.Tell(Frame(1), TestActor);
        classifier.Reply(new FrameClassified(classifier.ExpectMsg<ClassifyFrame>(Wait).RequestId, Predicted(0.95f)));
        Assert.Equal(SyncPriority.Routine, Assert.Single(Written(outbox).Records).Priority);
        ExpectMsg<IngestAck>(Wait);
        sync.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // an unsure one (below the hard-example confidence): hard example, and a sync now
        device.Tell(Frame(2), TestActor);
        classifier.Reply(new FrameClassified(classifier.ExpectMsg<ClassifyFrame>(Wait).RequestId, Predicted(0.3f)));
        var hard = Assert.Single(Written(outbox).Records);
        Assert.Equal((2L, RecordKind.Frame, SyncPriority.HardExample), (hard.SequenceAt(0), hard.Kind, hard.Priority));
        sync.ExpectMsg<SyncNow>(Wait);
        Assert.Equal(0.3f, ExpectMsg<IngestAck>(Wait).Prediction!.Confidence);
    }

    [Fact]
    public void An_outbox_write_failure_should_take_the_acceptance_back_so_a_resend_is_accepted()
    {
        var outbox = CreateTestProbe();
        var device = Sys.ActorOf(DeviceActor.Props(Sensor, IngestionSettings.Default, new DeviceServices(null, outbox.Ref, null)));

        device.Tell(Steady(Sensor, 1, 10), TestActor);
        var write = outbox.ExpectMsg<OutboxWrite>(Wait);
        outbox.Reply(new OutboxWriteFailed(write.Token, "disk I/O error"));

        var refused = ExpectMsg<IngestAck>(Wait);
        Assert.Equal(0, refused.Accepted);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), refused.Rejected.Select(r => r.Sequence).Order());
        Assert.All(refused.Rejected, r => Assert.Equal(RejectReason.OutboxFull, r.Reason));
        Assert.Contains("disk I/O error", refused.Rejected[0].Detail);

        // the device does not hold them as accepted: the same batch again is new (written again, acked durable), not Duplicates
        device.Tell(Steady(Sensor, 1, 10), TestActor);
        var again = Written(outbox);
        Assert.Equal(10, again.Records.Sum(r => r.Count));
        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal((10, AckLevel.DurableOnEdge, 10L), (ack.Accepted, ack.Level, ack.HighestContiguous));
        Assert.Empty(ack.Rejected);
    }
}

/// <summary>
/// The backstop ack: when the outbox never answers, the device still answers every sender, at level Received, after
/// its 10 s backstop. The virtual <see cref="TestScheduler"/> moves time, so nothing waits 10 s.
/// </summary>
public sealed class DeviceBackstopTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.actor.serialize-messages = off
        akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
        """).WithFallback(EdgeSerialization.Config))
{
    private static readonly DeviceId Sensor = new("sensor-backstop");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public void A_silent_outbox_should_get_the_sender_an_ack_at_level_received_after_the_backstop()
    {
        var scheduler = (TestScheduler)Sys.Scheduler;
        var outbox = CreateTestProbe();
        var device = Sys.ActorOf(DeviceActor.Props(Sensor, IngestionSettings.Default, new DeviceServices(null, outbox.Ref, null)));

        device.Tell(DevicePromiseTests.Steady(Sensor, 1, 10), TestActor);
        var write = outbox.ExpectMsg<OutboxWrite>(Wait); // the backstop timer is set before the write is sent

        scheduler.Advance(TimeSpan.FromSeconds(9));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // not before the backstop
        scheduler.Advance(TimeSpan.FromSeconds(1.5));

        var ack = ExpectMsg<IngestAck>(Wait);
        Assert.Equal((10, AckLevel.Received), (ack.Accepted, ack.Level));
        Assert.Empty(ack.Rejected);

        // the late answer of the outbox is not a second ack
        device.Tell(new OutboxWritten(write.Token, 10, 0), outbox.Ref);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }
}
