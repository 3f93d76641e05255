using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Serialization;
using W = EdgeActors.Actors.Sync.OutboxWriter;
using static EdgeActors.Tests.Sync.SyncSenderHarness;

namespace EdgeActors.Tests.Sync;

/// <summary>
/// The sender's timing (ack timeout, resend backoff, bandwidth cap) on the test scheduler's virtual time: time passes
/// only when the test advances it, so the assertions are about the sender's schedule, never about how fast the machine
/// or the test thread is. Before each advance the test waits until the sender has handled everything sent to it so far
/// (a status round trip through its mailbox), so every timer it starts is started at the virtual time the test expects.
/// </summary>
public sealed class SyncSenderTimingTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Silence = TimeSpan.FromMilliseconds(50);

    public SyncSenderTimingTests() : base(ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"")
        .WithFallback(EdgeSerialization.Config))
    {
    }

    private (IActorRef Sender, TestProbe Outbox, TestProbe Mediator) Start(SyncSenderSettings settings) => SyncSenderHarness.Start(this, settings);

    /// <summary>Returns once the sender has handled every message sent to it before (a status query answered through its mailbox).</summary>
    private void Settle(IActorRef sender, TestProbe outbox)
    {
        sender.Tell(GetSyncStatus.Instance, TestActor);
        outbox.ExpectMsg<W.GetStats>(Wait);
        outbox.Reply(new OutboxStats(0, 0, 0, 0, 0, 0, 0));
        ExpectMsg<SyncStatus>(Wait);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    [Fact]
    public void Unacknowledged_batch_should_be_resent_after_the_ack_timeout_with_a_doubling_backoff_and_the_same_id()
    {
        var (sender, outbox, mediator) = Start(Quiet with
        {
            AckTimeout = TimeSpan.FromMilliseconds(300), BackoffMin = TimeSpan.FromMilliseconds(200), BackoffMax = TimeSpan.FromSeconds(10),
        });
        sender.Tell(SyncNow.Instance);
        var entries = Entries(1, 3);
        ServePeek(outbox, entries);
        var first = ExpectSend(mediator, entries);

        // attempt 1: 300 ms ack timeout, then 200 ms backoff
        var second = ExpectResendAfter(sender, outbox, mediator, entries, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(200));
        // attempt 2: 300 ms ack timeout, then the backoff doubled to 400 ms
        var third = ExpectResendAfter(sender, outbox, mediator, entries, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(400));

        Assert.Equal(first.BatchId, second.BatchId);
        Assert.Equal(first.BatchId, third.BatchId);
        Assert.Equal(first.Payload, third.Payload);
        outbox.ExpectNoMsg(Silence); // never removed without an ack
        Ack(sender, third, "dc-1");
        Assert.Equal(entries.Select(e => e.Id), outbox.ExpectMsg<W.Remove>(Wait).Ids.Order());
    }

    /// <summary>
    /// Checks that nothing is resent 1 ms before <paramref name="ackTimeout"/> + <paramref name="backoff"/> (counted from
    /// the last send) and that the batch is resent exactly then.
    /// </summary>
    private SyncBatch ExpectResendAfter(IActorRef sender, TestProbe outbox, TestProbe mediator, OutboxEntry[] entries, TimeSpan ackTimeout, TimeSpan backoff)
    {
        var ms = TimeSpan.FromMilliseconds(1);
        Settle(sender, outbox); // the send's ack timer is started
        Clock.Advance(ackTimeout - ms);
        Settle(sender, outbox);
        mediator.ExpectNoMsg(Silence);
        Clock.Advance(ms); // the ack timeout fires: the resend is scheduled after the backoff
        Settle(sender, outbox);
        Clock.Advance(backoff - ms);
        Settle(sender, outbox);
        mediator.ExpectNoMsg(Silence);
        Clock.Advance(ms);
        return ExpectSend(mediator, entries);
    }

    [Fact]
    public void Bandwidth_cap_should_hold_the_second_batch_until_the_bucket_has_refilled_for_it()
    {
        const int rate = 100; // bytes per second; the bucket holds one second's budget
        var (sender, outbox, mediator) = Start(Quiet with { MaxInFlightBatches = 2, BandwidthBytesPerSecond = rate, BatchRecords = 3 });
        sender.Tell(SyncNow.Instance);
        var a = Entries(1, 3);
        var b = Entries(100, 3);
        ServePeek(outbox, a);
        ServePeek(outbox, b); // a full first peek: the sender pipelines a second one
        var first = ExpectSend(mediator, a); // bigger than one second's budget: it goes because the bucket is full

        // advance 10 ms at a time until the second batch goes
        var step = TimeSpan.FromMilliseconds(10);
        var waited = TimeSpan.Zero;
        SyncBatch? second = null;
        while (second is null)
        {
            Assert.True(waited < TimeSpan.FromSeconds(3), "the second batch was not sent within 3 s of virtual time");
            Settle(sender, outbox);
            Clock.Advance(step);
            waited += step;
            Settle(sender, outbox);
            if (mediator.HasMessages) second = ExpectSend(mediator, b);
        }

        // it needs min(size, rate) tokens; rate - first's size were left (below zero for a batch bigger than the budget);
        // the bucket refills at rate bytes per second
        var needed = TimeSpan.FromMilliseconds((Math.Min(second.Payload.Length, rate) - (rate - first.Payload.Length)) * 1000.0 / rate);
        Assert.True(needed >= TimeSpan.FromSeconds(1), $"the batches are too small to test the cap: {first.Payload.Length} and {second.Payload.Length} bytes");
        Assert.InRange(waited, needed, needed + step + step);
        Assert.NotEqual(first.BatchId, second.BatchId);
    }
}
