using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using static EdgeActors.Tests.Devices.DeviceRestorerTests;

namespace EdgeActors.Tests.Devices;

/// <summary>
/// The restorer when the datacenter store does not answer, on virtual time (<see cref="VirtualTimeScheduler"/>): the
/// restore timeout passes only when the test moves time, so "answered at once, without waiting for the suspect store"
/// is checked by not moving time at all, instead of by a short real-time bound a loaded machine could miss.
/// </summary>
public sealed class DeviceRestorerTimeoutTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(VirtualTimeScheduler.Config).WithFallback(EdgeSerialization.Config))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RestoreTimeout = TimeSpan.FromSeconds(1);

    private TestProbe[] Request(IActorRef restorer, int from, int count)
    {
        var probes = Enumerable.Range(from, count).Select(_ => CreateTestProbe()).ToArray();
        for (var i = 0; i < count; i++) restorer.Tell(new DeviceRestorer.Restore(D(from + i), 4096), probes[i]);
        return probes;
    }

    /// <summary>Returns once the restorer has handled what was sent to it (its timers set on the way are running).</summary>
    private void Settle(IActorRef restorer)
    {
        restorer.Tell(DeviceRestorer.GetStats.Instance, TestActor);
        ExpectMsg<DeviceRestorer.RestorerStats>(Wait);
    }

    [Fact]
    public void Restorer_should_answer_without_the_store_when_it_does_not_answer_and_stop_waiting_for_it()
    {
        var outbox = CreateTestProbe();
        var sink = CreateTestProbe(); // never answers
        var settings = LocalitySettings.Default with { Restore = true, RestoreBatch = 2, RestoreInFlight = 2, RestoreCollect = TimeSpan.FromMilliseconds(20), RestoreTimeout = RestoreTimeout };
        var restorer = Sys.ActorOf(DeviceRestorer.Props(settings, outbox.Ref, DeviceRestorer.To(sink.Ref)));
        var clock = (VirtualTimeScheduler)Sys.Scheduler;
        var entities = Request(restorer, 0, 2); // a full batch: sent at once
        var read = outbox.ExpectMsg<ReadOutboxDevices>(Wait);
        sink.ExpectMsg<GetDevicesHistory>(Wait);
        outbox.Reply(new OutboxDevicesWaiting(read.BatchId,
            read.Devices.Select(d => new OutboxDeviceWaiting(d, new KindHistory(1, [5]), KindHistory.Empty)).ToArray()));

        Settle(restorer);
        clock.Advance(RestoreTimeout - TimeSpan.FromMilliseconds(1));
        foreach (var e in entities) e.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // the store still has time
        clock.Advance(TimeSpan.FromMilliseconds(1));
        foreach (var e in entities)
        {
            var r = e.ExpectMsg<DeviceRestorer.Restored>(Wait);
            Assert.Contains("datacenter store", r.Missing);
            Assert.Equal([5L], r.Outbox.Telemetry.Sequences); // what did answer is kept
        }

        // the store is now suspect: the next batch still asks it but finishes as soon as the outbox answers (time stands still)
        var next = Request(restorer, 2, 2);
        read = outbox.ExpectMsg<ReadOutboxDevices>(Wait);
        sink.ExpectMsg<GetDevicesHistory>(Wait);
        outbox.Reply(new OutboxDevicesWaiting(read.BatchId,
            read.Devices.Select(d => new OutboxDeviceWaiting(d, KindHistory.Empty, KindHistory.Empty)).ToArray()));
        foreach (var e in next) Assert.Contains("datacenter store", e.ExpectMsg<DeviceRestorer.Restored>(Wait).Missing);
    }
}
