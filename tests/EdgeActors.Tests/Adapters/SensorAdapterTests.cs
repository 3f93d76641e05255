using EdgeActors.Client.Serialization;
using Akka.Actor;
using EdgeActors.Actors.Adapters;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Adapters;

/// <summary>
/// A sensor's adapter (under its BackoffSupervisor) and uplink, sending to a real device entity, with a simulated sensor
/// whose faults are scripted by read index. Each run produces a fixed number of readings (max-readings), so the entity's
/// final state can be compared with what the adapter produced. Every message goes through its serializer
/// (<c>serialize-messages = on</c>): the uplink's batches, acknowledgements and health reports through the EdgeSerializer,
/// as when the entity lives on another edge. The promises whose counts depend on the adapter's timers (reads, restarts,
/// silences) are in <see cref="SensorAdapterTimingTests"/>, on virtual time.
/// </summary>
public sealed class SensorAdapterTests() : Akka.TestKit.Xunit2.TestKit(
    Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config))
{
    internal static readonly DeviceId Id = new("hw-test-sensor-00");
    internal const int Readings = 40;

    internal static AdapterSettings Settings(long maxReadings = Readings) => AdapterTestSettings.For(Id, maxReadings);

    internal static SimulatedSensor Sensor(AdapterSettings settings, params (long Read, SensorFault Fault)[] script)
    {
        var faults = script.ToDictionary(s => s.Read, s => s.Fault);
        return new SimulatedSensor(settings.Channels, settings.Faults, 42, i => faults.TryGetValue(i, out var f) ? f : null);
    }

    private IActorRef Entity() => Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default));

    private DeviceState State(IActorRef entity)
    {
        entity.Tell(new GetDeviceState(Id), TestActor);
        return ExpectMsg<DeviceState>(TimeSpan.FromSeconds(5));
    }

    private DeviceState AwaitState(IActorRef entity, Func<DeviceState, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var s = State(entity);
            if (done(s)) return s;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{what}: not reached; last state: last sequence {s.LastSequence}, accepted {s.AcceptedReadings}, sensor {s.Sensor}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Runs the uplink until the adapter produced <paramref name="readings"/> and all were acknowledged.</summary>
    private DeviceState Run(SimulatedSensor sensor, AdapterSettings settings, IActorRef? entity = null, long readings = Readings)
    {
        entity ??= Entity();
        Sys.ActorOf(SensorUplink.Props(Id, sensor, settings, entity));
        return AwaitState(entity, s => s.Sensor is { Unacknowledged: 0 } h && h.Produced == readings && s.HighestContiguous == h.AdapterLastSequence,
            $"{readings} readings produced and acknowledged");
    }

    internal static void AssertEveryReadingOnce(DeviceState s, long first, long last, long garbage = 0)
    {
        Assert.Equal(last, s.LastSequence);
        Assert.Equal(last, s.HighestContiguous); // no gap
        Assert.Equal(last, s.Sensor!.AdapterLastSequence);
        Assert.Equal(last - first + 1 - garbage, s.AcceptedReadings); // each valid reading accepted exactly once
        Assert.Equal(garbage, s.Rejections.Where(r => r.Reason is RejectReason.NotANumber or RejectReason.OutOfRange).Sum(r => r.Count));
        Assert.Equal(0, s.Sensor.Dropped);
    }

    [Fact]
    public void Garbage_values_should_be_rejected_by_the_entity_and_counted_as_faults()
    {
        var settings = Settings();
        var sensor = Sensor(settings, (3, SensorFault.Garbage), (7, SensorFault.Garbage));

        var s = Run(sensor, settings);

        AssertEveryReadingOnce(s, 1, Readings, garbage: 2);
        Assert.Equal(2, s.Sensor!.FaultsOf(SensorFault.Garbage));
        Assert.Equal(0, s.Sensor.Restarts); // garbage is data, not a failure of the adapter
        Assert.True(s.Sensor.Degradations >= 1, $"never Degraded: {s.Sensor}");
        Assert.Equal(DeviceHealth.Ok, s.Sensor.Health); // 33 clean readings since
    }

    [Fact]
    public void Disconnect_should_mark_the_device_offline_then_ok_after_reconnecting()
    {
        var settings = Settings();
        var sensor = Sensor(settings, (5, SensorFault.Disconnect));

        var s = Run(sensor, settings);

        AssertEveryReadingOnce(s, 1, Readings);
        Assert.True(s.Sensor!.FaultsOf(SensorFault.Disconnect) >= 1);
        Assert.True(s.Sensor.Offlines >= 1, $"never Offline: {s.Sensor}");
        Assert.True(s.Sensor.Recoveries >= 1, $"never recovered: {s.Sensor}");
        Assert.Equal(DeviceHealth.Ok, s.Sensor.Health);
        Assert.Equal(1, sensor.InjectedDisconnects);
    }

    [Fact]
    public void Clock_jump_should_be_flagged_without_losing_readings()
    {
        var settings = Settings();
        var sensor = Sensor(settings, (10, SensorFault.ClockJump), (20, SensorFault.ClockJump));

        var s = Run(sensor, settings);

        AssertEveryReadingOnce(s, 1, Readings);
        Assert.Equal(2, s.Sensor!.FaultsOf(SensorFault.ClockJump));
        Assert.True(s.Sensor.Degradations >= 1, $"never Degraded: {s.Sensor}");
        Assert.Equal(DeviceHealth.Ok, s.Sensor.Health);
        Assert.Equal(0, s.Sensor.Restarts);
    }

    [Fact]
    public void Sequences_should_continue_across_restarts_and_after_the_entitys_last_sequence()
    {
        var settings = Settings() with { ReadTimeout = TimeSpan.FromSeconds(2) }; // read 8 hangs
        var entity = Entity();
        // the entity already holds readings 1..10 of this device (e.g. from before the edge restarted)
        entity.Tell(new TelemetryBatch(Id, 2, Enumerable.Range(1, 10).Select(i => (long)i).ToArray(),
            Enumerable.Range(1, 10).Select(i => 1_700_000_000_000L + i).ToArray(), new float[20]), TestActor);
        Assert.Equal(10, ExpectMsg<IngestAck>().Accepted);
        var sensor = Sensor(settings, (3, SensorFault.Exception), (8, SensorFault.Hang), (13, SensorFault.Disconnect), (18, SensorFault.Exception));

        var s = Run(sensor, settings, entity);

        Assert.Equal(10 + Readings, s.LastSequence);
        Assert.Equal(10 + Readings, s.HighestContiguous);
        Assert.Equal(10 + Readings, s.AcceptedReadings);
        Assert.Equal(10 + Readings, s.Sensor!.AdapterLastSequence);
        Assert.True(s.Sensor.Restarts >= 4, $"restarts {s.Sensor.Restarts}");
    }

    [Fact]
    public void Unacknowledged_batch_should_be_resent_with_the_same_sequences_and_accepted_once()
    {
        var settings = Settings(maxReadings: 10) with { AckTimeout = TimeSpan.FromSeconds(2) };
        var entity = Entity();
        var region = CreateTestProbe();
        region.IgnoreMessages(m => m is SensorHealth);
        var uplink = Sys.ActorOf(SensorUplink.Props(Id, Sensor(settings), settings, region.Ref));
        entity.Tell(region.ExpectMsg<GetDeviceState>(), uplink);

        var first = region.ExpectMsg<TelemetryBatch>();
        entity.Tell(first, region.Ref); // delivered, but its acknowledgement is lost
        Assert.Equal(first.Count, region.ExpectMsg<IngestAck>().Accepted);
        var again = region.ExpectMsg<TelemetryBatch>(TimeSpan.FromSeconds(10));
        Assert.Equal(first.Sequences, again.Sequences);
        Assert.Equal(first.Timestamps, again.Timestamps);
        entity.Tell(again, uplink); // answered Duplicate: the uplink moves on
        // the rest (a partial batch may have been flushed by max-batch-delay): numbering goes on after the resent batch
        var expected = first.Sequences[^1] + 1;
        while (expected <= 10)
        {
            var next = region.ExpectMsg<TelemetryBatch>(TimeSpan.FromSeconds(5));
            Assert.Equal(expected, next.Sequences[0]);
            expected = next.Sequences[^1] + 1;
            entity.Tell(next, uplink);
        }

        var s = AwaitState(entity, s => s.HighestContiguous == 10, "all 10 readings answered");
        Assert.Equal(10, s.AcceptedReadings);
        Assert.Equal([new ReasonCount(RejectReason.Duplicate, first.Count)], s.Rejections);
    }

    [Fact]
    public void Readings_beyond_max_pending_should_be_dropped_and_counted_but_never_the_batch_in_flight()
    {
        var settings = Settings(maxReadings: 20) with { MaxPending = 5, AckTimeout = TimeSpan.FromMinutes(1) };
        var entity = Entity();
        var region = CreateTestProbe();
        var uplink = Sys.ActorOf(SensorUplink.Props(Id, Sensor(settings), settings, region.Ref));
        region.IgnoreMessages(m => m is TelemetryBatch); // never acknowledged
        entity.Tell(region.FishForMessage(m => m is GetDeviceState), uplink);

        var h = (SensorHealth)region.FishForMessage(m => m is SensorHealth { Produced: 20, Unacknowledged: 5 }, TimeSpan.FromSeconds(10));

        Assert.Equal(15, h.Dropped);
        Assert.Equal(20, h.LastSequence);
    }

    [Fact]
    public void Drain_should_stop_reading_and_get_every_pending_reading_acknowledged_before_stopping()
    {
        var settings = Settings(maxReadings: 0) with { BatchSize = 50, MaxBatchDelay = TimeSpan.FromSeconds(30), OfflineAfter = TimeSpan.FromMinutes(1) };
        var entity = Entity();
        var uplink = Sys.ActorOf(SensorUplink.Props(Id, Sensor(settings), settings, entity));
        Watch(uplink);
        // readings are produced but not sent yet (batches of 50, no flush for 30 s)
        AwaitState(entity, s => s.Sensor is { Produced: >= 20 }, "20 readings produced");

        uplink.Tell(SensorUplink.Drain.Instance);

        ExpectTerminated(uplink, TimeSpan.FromSeconds(10));
        var s = State(entity);
        Assert.Equal(0, s.Sensor!.Unacknowledged);
        Assert.Equal(s.Sensor.Produced, s.Sensor.AdapterLastSequence);
        Assert.Equal(s.Sensor.Produced, s.HighestContiguous);
        Assert.Equal(s.Sensor.Produced, s.AcceptedReadings);
        Assert.StartsWith("adapter stopped after", s.Sensor.Reason);
    }
}
