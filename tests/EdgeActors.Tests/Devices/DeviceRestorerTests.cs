using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Devices;

/// <summary>
/// The per-node restorer alone, with probes as the outbox writer and the datacenter sink: batching, the bound on batches
/// in flight, fan-out of the answers, and sources that do not answer. Timeouts are scaled by the TestKit time factor.
/// (A store that does not answer, on virtual time: <see cref="DeviceRestorerTimeoutTests"/>.)
/// </summary>
public sealed class DeviceRestorerTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config TestConfig = ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config);

    public DeviceRestorerTests() : base(TestConfig)
    {
    }

    private LocalitySettings Settings(int batch = 4, int inFlight = 2, double timeoutSeconds = 3) => LocalitySettings.Default with
    {
        Restore = true,
        RestoreBatch = batch,
        RestoreInFlight = inFlight,
        RestoreCollect = TimeSpan.FromMilliseconds(20),
        RestoreTimeout = Dilated(TimeSpan.FromSeconds(timeoutSeconds)),
    };

    internal static DeviceId D(int i) => new($"dev-{i:D3}");

    private static DeviceHistory Stored(DeviceId id, params long[] seqs) => new(id, new KindHistory(seqs.Length, seqs), KindHistory.Empty, "dc");

    /// <summary>Each entity is a probe; its Restore is sent with the probe as sender.</summary>
    private TestProbe[] Request(IActorRef restorer, int from, int count)
    {
        var probes = Enumerable.Range(from, count).Select(_ => CreateTestProbe()).ToArray();
        for (var i = 0; i < count; i++) restorer.Tell(new DeviceRestorer.Restore(D(from + i), 4096), probes[i]);
        return probes;
    }

    [Fact]
    public void Restorer_should_send_one_outbox_query_and_one_store_query_per_batch_and_fan_out_the_answers()
    {
        var outbox = CreateTestProbe();
        var sink = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 4), outbox.Ref, DeviceRestorer.To(sink.Ref)));
        var entities = Request(restorer, 0, 4);

        var read = outbox.ExpectMsg<ReadOutboxDevices>();
        var ask = sink.ExpectMsg<GetDevicesHistory>();
        Assert.Equal(Enumerable.Range(0, 4).Select(D), read.Devices);
        Assert.Equal(Enumerable.Range(0, 4).Select(D), ask.Devices);
        Assert.Equal(read.BatchId, ask.BatchId);
        Assert.Equal(4096, ask.MaxSequences);
        outbox.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // one query per source for the four
        sink.ExpectNoMsg(TimeSpan.Zero);

        // the store answers in two parts, the outbox with one device that has records waiting
        sink.Send(restorer, new DevicesHistory(ask.BatchId, [Stored(D(0), 1, 2, 3), Stored(D(1))], "dc"));
        sink.Send(restorer, new DevicesHistory(ask.BatchId, [Stored(D(2)), Stored(D(3), 7)], "dc"));
        outbox.Send(restorer, new OutboxDevicesWaiting(read.BatchId, [
            new OutboxDeviceWaiting(D(0), new KindHistory(1, [4]), KindHistory.Empty),
            new OutboxDeviceWaiting(D(1), KindHistory.Empty, KindHistory.Empty),
            new OutboxDeviceWaiting(D(2), KindHistory.Empty, KindHistory.Empty),
            new OutboxDeviceWaiting(D(3), KindHistory.Empty, KindHistory.Empty),
        ]));

        for (var i = 0; i < 4; i++)
        {
            var r = entities[i].ExpectMsg<DeviceRestorer.Restored>();
            Assert.Equal(D(i), r.Device);
            Assert.Equal("", r.Missing);
        }
    }

    [Fact]
    public void Restorer_should_ask_every_datacenter_store_and_merge_what_each_holds()
    {
        // two datacenter nodes, each with its own store: a device's batches went to either sink
        var outbox = CreateTestProbe();
        var dc1 = CreateTestProbe();
        var dc2 = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 2), outbox.Ref, DeviceRestorer.To(dc1.Ref, dc2.Ref)));
        var entities = Request(restorer, 0, 2);
        var read = outbox.ExpectMsg<ReadOutboxDevices>();
        var ask1 = dc1.ExpectMsg<GetDevicesHistory>();
        var ask2 = dc2.ExpectMsg<GetDevicesHistory>();
        Assert.Equal(ask1, ask2);
        outbox.Reply(new OutboxDevicesWaiting(read.BatchId, [
            new OutboxDeviceWaiting(D(0), KindHistory.Empty, KindHistory.Empty),
            new OutboxDeviceWaiting(D(1), KindHistory.Empty, KindHistory.Empty),
        ]));
        dc1.Reply(new DevicesHistory(ask1.BatchId, [Stored(D(0), 1, 2, 5), Stored(D(1))], "dc1"));
        entities[0].ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the second store has not answered yet
        // dc2 holds 3 and 4 of dev-000 and also 5 (a replica): counted once
        dc2.Reply(new DevicesHistory(ask2.BatchId, [new DeviceHistory(D(0), new KindHistory(3, [3, 4, 5]), KindHistory.Empty, "dc2"), Stored(D(1), 8)], "dc2"));
        var r0 = entities[0].ExpectMsg<DeviceRestorer.Restored>();
        var r1 = entities[1].ExpectMsg<DeviceRestorer.Restored>();
        Assert.Equal([1L, 2, 3, 4, 5], r0.Store.Telemetry.Sequences);
        Assert.Equal(5, r0.Store.Telemetry.Count);
        Assert.Equal([8L], r1.Store.Telemetry.Sequences);
        Assert.Equal("", r0.Missing);
        Assert.Equal("", r1.Missing);
    }

    [Fact]
    public void Restorer_should_name_the_store_that_stayed_silent_when_the_other_answered()
    {
        var outbox = CreateTestProbe();
        var dc1 = CreateTestProbe();
        var dc2 = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 1, timeoutSeconds: 0.5), outbox.Ref, DeviceRestorer.To(dc1.Ref, dc2.Ref)));
        var entities = Request(restorer, 0, 1);
        var read = outbox.ExpectMsg<ReadOutboxDevices>();
        var ask = dc1.ExpectMsg<GetDevicesHistory>();
        dc2.ExpectMsg<GetDevicesHistory>();
        outbox.Reply(new OutboxDevicesWaiting(read.BatchId, [new OutboxDeviceWaiting(D(0), KindHistory.Empty, KindHistory.Empty)]));
        dc1.Reply(new DevicesHistory(ask.BatchId, [Stored(D(0), 1, 2)], "dc1"));
        var r = entities[0].ExpectMsg<DeviceRestorer.Restored>();
        Assert.Equal([1L, 2], r.Store.Telemetry.Sequences);
        Assert.Equal("1 of 2 datacenter stores", r.Missing);
    }

    [Fact]
    public void Restorer_should_hand_each_entity_its_own_store_and_outbox_state()
    {
        var outbox = CreateTestProbe();
        var sink = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 2), outbox.Ref, DeviceRestorer.To(sink.Ref)));
        var entities = Request(restorer, 0, 2);
        var read = outbox.ExpectMsg<ReadOutboxDevices>();
        var ask = sink.ExpectMsg<GetDevicesHistory>();
        sink.Reply(new DevicesHistory(ask.BatchId, [Stored(D(1), 9), Stored(D(0), 1, 2)], "dc"));
        outbox.Reply(new OutboxDevicesWaiting(read.BatchId, [
            new OutboxDeviceWaiting(D(0), KindHistory.Empty, KindHistory.Empty),
            new OutboxDeviceWaiting(D(1), new KindHistory(2, [10, 11]), KindHistory.Empty),
        ]));
        var r0 = entities[0].ExpectMsg<DeviceRestorer.Restored>();
        var r1 = entities[1].ExpectMsg<DeviceRestorer.Restored>();
        Assert.Equal([1L, 2], r0.Store.Telemetry.Sequences);
        Assert.Empty(r0.Outbox.Telemetry.Sequences);
        Assert.Equal([9L], r1.Store.Telemetry.Sequences);
        Assert.Equal([10L, 11], r1.Outbox.Telemetry.Sequences);
    }

    [Fact]
    public void Restorer_should_send_a_partial_batch_after_the_collect_delay()
    {
        var outbox = CreateTestProbe();
        var sink = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 100), outbox.Ref, DeviceRestorer.To(sink.Ref)));
        Request(restorer, 0, 3);
        Assert.Equal(3, outbox.ExpectMsg<ReadOutboxDevices>().Devices.Count);
        Assert.Equal(3, sink.ExpectMsg<GetDevicesHistory>().Devices.Length);
    }

    [Fact]
    public void Restorer_should_keep_at_most_the_configured_batches_in_flight_and_send_the_rest_as_answers_arrive()
    {
        var outbox = CreateTestProbe();
        var sink = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 2, inFlight: 2), outbox.Ref, DeviceRestorer.To(sink.Ref)));
        var entities = Request(restorer, 0, 10); // five batches of two

        var outstanding = new Queue<(ReadOutboxDevices Read, GetDevicesHistory Ask)>();
        for (var i = 0; i < 2; i++) outstanding.Enqueue((outbox.ExpectMsg<ReadOutboxDevices>(), sink.ExpectMsg<GetDevicesHistory>()));
        outbox.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the bound: two batches in flight, three waiting
        restorer.Tell(DeviceRestorer.GetStats.Instance);
        var stats = ExpectMsg<DeviceRestorer.RestorerStats>();
        Assert.Equal(2, stats.InFlight);
        Assert.Equal(6, stats.Queued);

        var sent = 2;
        while (outstanding.Count > 0)
        {
            // answer the oldest batch in flight; the next one goes out
            var (read, ask) = outstanding.Dequeue();
            sink.Send(restorer, new DevicesHistory(ask.BatchId, ask.Devices.Select(d => Stored(d)).ToArray(), "dc"));
            outbox.Send(restorer, new OutboxDevicesWaiting(read.BatchId,
                read.Devices.Select(d => new OutboxDeviceWaiting(d, KindHistory.Empty, KindHistory.Empty)).ToArray()));
            if (sent++ < 5) outstanding.Enqueue((outbox.ExpectMsg<ReadOutboxDevices>(), sink.ExpectMsg<GetDevicesHistory>()));
        }
        foreach (var e in entities) Assert.Equal("", e.ExpectMsg<DeviceRestorer.Restored>().Missing);
        restorer.Tell(DeviceRestorer.GetStats.Instance);
        stats = ExpectMsg<DeviceRestorer.RestorerStats>();
        Assert.Equal(5, stats.Batches);
        Assert.Equal(10, stats.Answered);
        Assert.Equal(0, stats.Incomplete);
        Assert.Equal(2, stats.MaxInFlightSeen);
    }

    [Fact]
    public void Restorer_should_not_wait_for_a_store_when_no_datacenter_is_reachable()
    {
        var outbox = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 2), outbox.Ref, (_, _) => 0));
        var entities = Request(restorer, 0, 2);
        var read = outbox.ExpectMsg<ReadOutboxDevices>();
        outbox.Reply(new OutboxDevicesWaiting(read.BatchId,
            read.Devices.Select(d => new OutboxDeviceWaiting(d, KindHistory.Empty, KindHistory.Empty)).ToArray()));
        foreach (var e in entities) Assert.Equal("", e.ExpectMsg<DeviceRestorer.Restored>().Missing);
    }

    [Fact]
    public void Entities_should_serve_after_the_restore_timeout_when_no_source_answers()
    {
        var outbox = CreateTestProbe();
        var sink = CreateTestProbe();
        var settings = Settings(batch: 8, timeoutSeconds: 1);
        var restorer = Sys.ActorOf(DeviceRestorer.Props(settings, outbox.Ref, DeviceRestorer.To(sink.Ref)));
        var services = new DeviceServices(null, outbox.Ref, null) { Restorer = restorer, RestoreBackstop = Dilated(TimeSpan.FromSeconds(30)) };
        var id = new DeviceId("dev-silent");
        var device = Sys.ActorOf(DeviceActor.Props(id, IngestionSettings.Default, services));
        device.Tell(new GetDeviceState(id)); // stashed until restored
        outbox.ExpectMsg<ReadOutboxDevices>();
        sink.ExpectMsg<GetDevicesHistory>();
        var state = ExpectMsg<DeviceState>(Dilated(TimeSpan.FromSeconds(5)));
        Assert.Equal(RestoreOutcome.Partial, state.Restore);
        Assert.Equal(0, state.AcceptedReadings);
    }

    [Fact]
    public void Entity_should_apply_what_the_restorer_hands_it_and_report_restored()
    {
        var outbox = CreateTestProbe();
        var sink = CreateTestProbe();
        var restorer = Sys.ActorOf(DeviceRestorer.Props(Settings(batch: 1), outbox.Ref, DeviceRestorer.To(sink.Ref)));
        var services = new DeviceServices(null, outbox.Ref, null) { Restorer = restorer };
        var id = new DeviceId("dev-restored");
        var device = Sys.ActorOf(DeviceActor.Props(id, IngestionSettings.Default, services));
        device.Tell(new GetDeviceState(id));
        var read = outbox.ExpectMsg<ReadOutboxDevices>();
        var ask = sink.ExpectMsg<GetDevicesHistory>();
        sink.Reply(new DevicesHistory(ask.BatchId, [Stored(id, 1, 2, 3)], "dc"));
        outbox.Reply(new OutboxDevicesWaiting(read.BatchId, [new OutboxDeviceWaiting(id, new KindHistory(2, [4, 5]), KindHistory.Empty)]));
        var state = ExpectMsg<DeviceState>();
        Assert.Equal(RestoreOutcome.Restored, state.Restore);
        Assert.Equal(5, state.AcceptedReadings);
        Assert.Equal(5, state.LastSequence);
    }

    [Fact]
    public void Entity_should_serve_after_its_backstop_when_the_restorer_never_answers()
    {
        var silent = CreateTestProbe();
        var services = new DeviceServices { Restorer = silent.Ref, RestoreBackstop = Dilated(TimeSpan.FromMilliseconds(500)) };
        var id = new DeviceId("dev-backstop");
        var device = Sys.ActorOf(DeviceActor.Props(id, IngestionSettings.Default, services));
        device.Tell(new GetDeviceState(id));
        silent.ExpectMsg<DeviceRestorer.Restore>();
        var state = ExpectMsg<DeviceState>(Dilated(TimeSpan.FromSeconds(5)));
        Assert.Equal(RestoreOutcome.TimedOut, state.Restore);
    }
}
