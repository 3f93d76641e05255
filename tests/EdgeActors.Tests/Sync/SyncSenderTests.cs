using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Serialization;
using W = EdgeActors.Actors.Sync.OutboxWriter;
using static EdgeActors.Tests.Sync.SyncSenderHarness;

namespace EdgeActors.Tests.Sync;

/// <summary>The sender with probes for the OutboxWriter and the pub-sub mediator; the test plays both (and the sinks).</summary>
public sealed class SyncSenderTests : Akka.TestKit.Xunit2.TestKit
{
    public SyncSenderTests() : base(EdgeSerialization.Config)
    {
    }

    private (IActorRef Sender, TestProbe Outbox, TestProbe Mediator) Start(SyncSenderSettings settings) => SyncSenderHarness.Start(this, settings);

    [Fact]
    public void Periodic_mode_peeks_every_interval_and_removes_after_the_ack()
    {
        var (sender, outbox, mediator) = Start(Quiet with { Mode = SyncMode.Periodic, Interval = TimeSpan.FromMilliseconds(200) });
        ServePeek(outbox, []); // nothing waiting
        var entries = Entries(1, 5);
        var peek = ServePeek(outbox, entries); // next tick
        Assert.Empty(peek.InFlight);
        var batch = ExpectSend(mediator, entries);
        outbox.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // in flight (MaxInFlight 1): no peek, no remove
        Ack(sender, batch, "dc-1");
        var remove = outbox.ExpectMsg<W.Remove>(Wait);
        Assert.Equal(entries.Select(e => e.Id), remove.Ids.Order());
        outbox.Reply(new W.Removed(5));
    }

    [Fact]
    public void Event_triggered_mode_should_sync_when_the_backlog_passes_its_threshold()
    {
        var (_, outbox, mediator) = Start(Quiet with { BacklogTrigger = 100, Interval = TimeSpan.FromMilliseconds(200) });
        outbox.ExpectMsg<W.GetStats>(Wait);
        outbox.Reply(new OutboxStats(99, 9_900, 1, 0, 0, 0, 0)); // below: nothing happens
        outbox.ExpectMsg<W.GetStats>(Wait);
        outbox.Reply(new OutboxStats(100, 10_000, 1, 0, 0, 0, 0)); // reached: a sync starts
        var entries = Entries(1, 10);
        // the stats poll keeps running every 200 ms: on a loaded machine another GetStats may come before the Peek
        Assert.IsType<W.Peek>(outbox.FishForMessage(m => m is W.Peek, Wait));
        outbox.Reply(new W.Peeked(entries));
        ExpectSend(mediator, entries);
    }

    [Fact]
    public void SyncNow_syncs_at_once()
    {
        var (sender, outbox, mediator) = Start(Quiet);
        outbox.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        sender.Tell(SyncNow.Instance);
        var entries = Entries(1, 3);
        ServePeek(outbox, entries);
        ExpectSend(mediator, entries);
    }

    [Fact]
    public void Two_of_three_distinct_sinks_make_the_quorum_and_duplicates_do_not_count()
    {
        var (sender, outbox, mediator) = Start(Quiet with { Replicas = 3, WriteQuorum = 2 });
        sender.Tell(SyncNow.Instance);
        var entries = Entries(1, 4);
        ServePeek(outbox, entries);
        var all = mediator.ExpectMsg<SendToAll>(Wait);
        Assert.Equal(SyncSink.Path, all.Path);
        var batch = Assert.IsType<SyncBatch>(all.Message);
        Ack(sender, batch, "dc-1");
        Ack(sender, batch, "dc-1"); // same sink twice: still one
        sender.Tell(new SyncAck(Edge, batch.BatchId + 1, 4, 0, "dc-2")); // another batch's ack
        outbox.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // Remove only after the quorum
        Ack(sender, batch, "dc-2");
        var remove = outbox.ExpectMsg<W.Remove>(Wait);
        Assert.Equal(4, remove.Ids.Count);
        Ack(sender, batch, "dc-3"); // late ack: nothing more
        outbox.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_rejected_batch_keeps_its_records_and_is_retried_after_backoff()
    {
        var (sender, outbox, mediator) = Start(Quiet with { BackoffMin = TimeSpan.FromMilliseconds(300) });
        sender.Tell(SyncNow.Instance);
        var entries = Entries(1, 3);
        ServePeek(outbox, entries);
        var batch = ExpectSend(mediator, entries);
        sender.Tell(new SyncRejected(Edge, batch.BatchId, "malformed payload", "dc-1"));
        outbox.ExpectNoMsg(TimeSpan.FromMilliseconds(150)); // no Remove: the data stays in the outbox
        sender.Tell(SyncNow.Instance); // at MaxInFlight until the backoff releases the ids
        var again = outbox.ExpectMsg<W.Peek>(Wait);
        Assert.Empty(again.InFlight);
        Assert.NotNull(again);
        outbox.Reply(new W.Peeked(entries));
        var resent = ExpectSend(mediator, entries);
        Assert.NotEqual(batch.BatchId, resent.BatchId);
        sender.Tell(GetSyncStatus.Instance);
        outbox.ExpectMsg<W.GetStats>(Wait);
        outbox.Reply(new OutboxStats(3, 120, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 5000, 0, 0, 0, 0));
        var status = ExpectMsg<SyncStatus>(Wait);
        Assert.Equal(3, status.Backlog);
        Assert.InRange(status.OldestWaitingMs, 4000, 60_000);
        Assert.Equal(1, Assert.Single(status.Sinks).Failures);
    }

    [Fact]
    public void Ttl_check_sends_expire()
    {
        var (_, outbox, _) = Start(Quiet with { TtlCheckInterval = TimeSpan.FromMilliseconds(200) });
        outbox.ExpectMsg<W.Expire>(Wait);
        outbox.Reply(new W.Expired(0));
        outbox.ExpectMsg<W.Expire>(Wait);
    }
}
