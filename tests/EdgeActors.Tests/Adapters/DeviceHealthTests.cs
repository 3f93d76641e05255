using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Adapters;

/// <summary>The device entity's side of sensor health: adapter reports, its watchdog, clock jumps and garbage values.</summary>
public sealed class DeviceHealthTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config))
{
    private static readonly DeviceId Id = new("hw-health-00");

    private static SensorHealth Report(DeviceHealth health = DeviceHealth.Ok, int offlineAfterMs = 60_000, string reason = "") =>
        new(Id, health, reason, "akka://adapter-node", offlineAfterMs, 30_000, 3, 0, 0, 0, 0, 0, []);

    private static TelemetryBatch Batch(long first, int n, long firstTimestamp, float value = 1f) => new(Id, 1,
        Enumerable.Range(0, n).Select(i => first + i).ToArray(),
        Enumerable.Range(0, n).Select(i => firstTimestamp + 100L * i).ToArray(),
        Enumerable.Repeat(value, n).ToArray());

    private IActorRef Entity() => Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default));

    private SensorStatus Sensor(IActorRef entity)
    {
        entity.Tell(new GetDeviceState(Id), TestActor);
        return ExpectMsg<DeviceState>().Sensor!;
    }

    private void Send(IActorRef entity, TelemetryBatch batch)
    {
        entity.Tell(batch, TestActor);
        ExpectMsg<IngestAck>();
    }

    [Fact]
    public void Device_without_adapter_should_have_no_sensor_status()
    {
        var entity = Entity();
        Send(entity, Batch(1, 3, 1_000));

        entity.Tell(new GetDeviceState(Id), TestActor);

        Assert.Null(ExpectMsg<DeviceState>().Sensor);
    }

    [Fact]
    public void Watchdog_should_mark_a_silent_device_offline_and_readings_should_recover_it()
    {
        var entity = Entity();
        Send(entity, Batch(1, 3, 1_000));
        // the watchdog starts with the adapter's first report (no earlier silence can be counted)
        entity.Tell(Report(offlineAfterMs: 200));

        AwaitAssert(() => Assert.Equal(DeviceHealth.Offline, Sensor(entity).Health), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
        var offline = Sensor(entity);
        Assert.Equal(1, offline.FaultsOf(SensorFault.Silent));
        Assert.Contains("no reading from the adapter for 200 ms", offline.Reason);

        Send(entity, Batch(4, 3, 2_000));
        var back = Sensor(entity);
        Assert.Equal(DeviceHealth.Ok, back.Health);
        Assert.Equal(1, back.Offlines);
        Assert.Equal(1, back.Recoveries);
    }

    [Fact]
    public void Backward_clock_jump_should_degrade_the_device_and_keep_every_reading()
    {
        var entity = Entity();
        entity.Tell(Report());
        Send(entity, Batch(1, 5, 1_700_000_000_000));

        Send(entity, Batch(6, 2, 1_700_000_000_000 - 3_600_000)); // the device clock went back an hour

        var s = Sensor(entity);
        Assert.Equal(DeviceHealth.Degraded, s.Health);
        Assert.Equal(1, s.FaultsOf(SensorFault.ClockJump));
        Assert.Contains("clock jumped back by", s.Reason);
        entity.Tell(new GetDeviceState(Id), TestActor);
        Assert.Equal(7, ExpectMsg<DeviceState>().AcceptedReadings);

        Send(entity, Batch(8, 3, 1_700_000_000_000 - 3_600_000 + 1_000)); // recover-after 3 clean readings
        Assert.Equal(DeviceHealth.Ok, Sensor(entity).Health);
    }

    [Fact]
    public void Fault_followed_by_clean_readings_in_the_same_batch_should_count_as_degraded_and_recovered()
    {
        var entity = Entity();
        entity.Tell(Report());
        var batch = Batch(1, 10, 1_700_000_000_000);
        batch.Timestamps[2] += 7_200_000; // jumped forward two hours at reading 3 ...
        for (var i = 3; i < 10; i++) batch.Timestamps[i] += 7_200_000; // ... and stays jumped: 7 clean readings follow

        Send(entity, batch);

        var s = Sensor(entity);
        Assert.Equal(1, s.FaultsOf(SensorFault.ClockJump));
        Assert.Equal(1, s.Degradations);
        Assert.Equal(1, s.Recoveries);
        Assert.Equal(DeviceHealth.Ok, s.Health);
    }

    [Fact]
    public void Adapter_reported_offline_should_win_over_clean_readings()
    {
        var entity = Entity();
        entity.Tell(Report(DeviceHealth.Offline, reason: "Disconnect: device unreachable"));
        Send(entity, Batch(1, 5, 1_000));

        var s = Sensor(entity);

        Assert.Equal(DeviceHealth.Offline, s.Health);
        Assert.Equal("Disconnect: device unreachable", s.Reason);
        Assert.Equal(1, s.Offlines);
    }

    [Fact]
    public void Garbage_readings_should_be_counted_once_even_when_resent()
    {
        var entity = Entity();
        entity.Tell(Report());
        var garbage = Batch(1, 4, 1_000) with { Values = [1f, float.NaN, 1f, 1e9f] };

        Send(entity, garbage);
        Send(entity, garbage); // a retransmission

        var s = Sensor(entity);
        Assert.Equal(2, s.FaultsOf(SensorFault.Garbage));
        Assert.Equal(DeviceHealth.Degraded, s.Health);
    }
}
