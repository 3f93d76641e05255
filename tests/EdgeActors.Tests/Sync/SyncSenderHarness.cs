using EdgeActors.Storage;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Serialization;
using W = EdgeActors.Actors.Sync.OutboxWriter;

namespace EdgeActors.Tests.Sync;

/// <summary>
/// What the sync sender's tests share: the sender started with probes for its OutboxWriter and the pub-sub mediator
/// (the test plays both, and the sinks), sample outbox entries, and the checks on what the sender sends.
/// </summary>
internal static class SyncSenderHarness
{
    public const string Edge = "edge-1";
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>No timers of its own (no periodic sync, TTL check or backlog poll) and a long ack timeout.</summary>
    public static readonly SyncSenderSettings Quiet = new()
    {
        Mode = SyncMode.EventTriggered,
        TtlCheckInterval = TimeSpan.Zero,
        AckTimeout = TimeSpan.FromMinutes(1),
        BatchRecords = 10,
        MaxInFlightBatches = 1,
        BacklogTrigger = 0,
    };

    public static (IActorRef Sender, TestProbe Outbox, TestProbe Mediator) Start(TestKitBase kit, SyncSenderSettings settings)
    {
        var outbox = kit.CreateTestProbe();
        var mediator = kit.CreateTestProbe();
        return (kit.Sys.ActorOf(SyncSender.Props(outbox.Ref, mediator.Ref, settings, Edge)), outbox, mediator);
    }

    public static OutboxEntry[] Entries(long firstId, int n) =>
        SampleMessages.Records(telemetry: n, frames: 0)
            .Select((r, i) => new OutboxEntry(firstId + i, r with { Sequence = firstId + i }, 40, 1_735_689_600_000)).ToArray();

    /// <summary>Expects a Peek, answers it with <paramref name="entries"/>.</summary>
    public static W.Peek ServePeek(TestProbe outbox, OutboxEntry[] entries)
    {
        var peek = outbox.ExpectMsg<W.Peek>(Wait);
        outbox.Reply(new W.Peeked(entries));
        return peek;
    }

    /// <summary>Expects a batch sent to the sink path through the mediator, carrying exactly <paramref name="entries"/>.</summary>
    public static SyncBatch ExpectSend(TestProbe mediator, OutboxEntry[] entries)
    {
        var send = mediator.ExpectMsg<Send>(Wait);
        Assert.Equal(SyncSink.Path, send.Path);
        var batch = Assert.IsType<SyncBatch>(send.Message);
        Assert.Equal(Edge, batch.Edge);
        MessageAssert.Equal(entries.Select(e => e.Record).ToArray(), SyncCodec.Decode(batch.Payload, batch.Count, batch.RawBytes, 1 << 26));
        return batch;
    }

    public static void Ack(IActorRef sender, SyncBatch b, string sink) =>
        sender.Tell(new SyncAck(b.Edge, b.BatchId, b.Count, 0, sink));
}
