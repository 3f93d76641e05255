using EdgeActors.Client.Serialization;
using EdgeActors.Storage;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Sync;

/// <summary>
/// Draining a backlog end to end, real outbox writer over a real SQLite outbox and the real sync sender (a probe plays
/// the pub-sub mediator and the sink): urgent records written after a routine backlog still reach the sink first.
/// </summary>
public sealed class PriorityDrainTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-priority-drain-" + Guid.NewGuid().ToString("N"));

    public PriorityDrainTests() : base(ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config))
    {
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static SyncRecord Readings(string device, SyncPriority priority, long first) =>
        SyncRecord.Readings(new DeviceId(device), priority, [first, first + 1, first + 2],
            [1_735_689_600_000 + first, 1_735_689_600_001 + first, 1_735_689_600_002 + first], [1f, 2f, 3f]);

    private static SyncRecord HardFrame(string device, long seq) =>
        new(new DeviceId(device), RecordKind.Frame, seq, 1_735_689_600_000 + seq, SyncPriority.HardExample, [], new byte[784], 4,
            new Prediction(4, 0.2f, "fmnist-mlp", 1, "node", false, PredictionNote.None));

    [Fact]
    public void A_backlog_should_drain_with_hard_examples_and_anomalies_reaching_the_sink_before_routine_records()
    {
        var settings = new OutboxSettings { Path = Path.Combine(_dir, "outbox.db") };
        var writer = Sys.ActorOf(OutboxWriter.Props(new SqliteOutbox(settings), settings));
        // the routine backlog is written first (older), the urgent records after it
        var routine = Enumerable.Range(0, 5).Select(i => Readings("routine-" + i, SyncPriority.Routine, 1)).ToArray();
        SyncRecord[] urgent = [Readings("sensor-hot", SyncPriority.Anomaly, 1), HardFrame("camera-unsure", 1)];
        var token = 0L;
        foreach (var r in routine.Concat(urgent))
        {
            writer.Tell(new OutboxWrite([r], ++token), TestActor);
            Assert.Equal(0, ExpectMsg<OutboxWritten>(Wait).Refused);
        }

        var mediator = CreateTestProbe();
        var sender = Sys.ActorOf(SyncSender.Props(writer, mediator.Ref, new SyncSenderSettings
        {
            Mode = SyncMode.EventTriggered,
            TtlCheckInterval = TimeSpan.Zero,
            AckTimeout = TimeSpan.FromMinutes(1),
            BatchRecords = 4, // readings per batch: the two urgent records fill the first one
            MaxInFlightBatches = 1,
            BacklogTrigger = 0,
        }, SyncSenderHarness.Edge));
        sender.Tell(SyncNow.Instance);

        // the sink acks each batch; the sender keeps draining until the backlog is empty
        var arrived = new List<SyncRecord[]>();
        while (arrived.Sum(b => b.Length) < routine.Length + urgent.Length)
        {
            var batch = Assert.IsType<SyncBatch>(mediator.ExpectMsg<Send>(Wait).Message);
            arrived.Add(SyncCodec.Decode(batch.Payload, batch.Count, batch.RawBytes, 1 << 26).ToArray());
            SyncHarnessAck(sender, batch);
        }

        var order = arrived.SelectMany(b => b).ToArray();
        Assert.Equal([SyncPriority.HardExample, SyncPriority.Anomaly], arrived[0].Select(r => r.Priority));
        Assert.Equal([SyncPriority.HardExample, SyncPriority.Anomaly, .. routine.Select(_ => SyncPriority.Routine)], order.Select(r => r.Priority));
        // every record exactly once, and the routine ones in the order they were written
        Assert.Equal(routine.Select(r => r.DeviceId), order.Skip(2).Select(r => r.DeviceId));
        mediator.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    private static void SyncHarnessAck(IActorRef sender, SyncBatch b) => SyncSenderHarness.Ack(sender, b, "sink-1");
}
