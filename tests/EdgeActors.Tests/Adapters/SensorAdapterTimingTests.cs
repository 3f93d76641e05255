using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Adapters;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using static EdgeActors.Tests.Adapters.SensorAdapterTests;

namespace EdgeActors.Tests.Adapters;

/// <summary>
/// The sensor adapter's promises whose counts depend on its timers (how many reads, restarts and silences), on virtual
/// time (<see cref="VirtualTimeScheduler"/>: the test advances it while the adapter runs): the adapter reads only when the test moves time by a read interval, and the test moves it only
/// while more reads are wanted, so the adapter cannot start a read the uplink is about to stop it from (on the real
/// scheduler a busy machine let one more read start, and the counts were off by one). Read timeouts, the backoff, the
/// uplink's flush and report timers and the entity's watchdog pass only when the test moves time, so a slow machine never
/// makes a healthy read look hung or a working sensor look silent.
/// </summary>
public sealed class SensorAdapterTimingTests() : Akka.TestKit.Xunit2.TestKit(
    ConfigurationFactory.ParseString("""
        akka.actor.serialize-messages = on
        """).WithFallback(VirtualTimeScheduler.Config).WithFallback(EdgeSerialization.Config))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private VirtualTimeScheduler Clock => (VirtualTimeScheduler)Sys.Scheduler;

    private IActorRef Entity() => Sys.ActorOf(DeviceActor.Props(Id, IngestionSettings.Default));

    private DeviceState State(IActorRef entity)
    {
        var probe = CreateTestProbe();
        entity.Tell(new GetDeviceState(Id), probe.Ref);
        return probe.ExpectMsg<DeviceState>(Wait);
    }

    /// <summary>
    /// Lets the adapter read until the sensor has started <paramref name="reads"/> reads: virtual time moves a read interval
    /// at a time, each step once the read the step before let through has started (one step fires one tick: at most one
    /// read). A step that let none through (the adapter had not set its next tick yet, or waits for its backoff) is
    /// followed by another after a short real-time wait. When a read of <paramref name="hangs"/> (by read index) is the
    /// one in flight, time moves by the read timeout instead, once.
    /// </summary>
    private void ReadUntil(SimulatedSensor sensor, AdapterSettings settings, long reads, params long[] hangs)
    {
        var deadline = DateTime.UtcNow + Wait;
        var timedOut = new HashSet<long>();
        while (sensor.Reads < reads)
        {
            var before = sensor.Reads;
            Clock.Advance(hangs.Contains(before) && timedOut.Add(before) ? settings.ReadTimeout : settings.ReadInterval);
            SpinWait.SpinUntil(() => sensor.Reads != before, TimeSpan.FromMilliseconds(20));
            if (DateTime.UtcNow > deadline) Assert.Fail($"the sensor was read {sensor.Reads} times, not {reads}");
        }
    }

    /// <summary>Returns once the uplink has stopped the adapter (its backoff supervisor and the adapter under it).</summary>
    private void AwaitAdapterStopped(IActorRef uplink)
    {
        var probe = CreateTestProbe();
        Sys.ActorSelection(uplink.Path / "backoff").Tell(new Identify(null), probe.Ref);
        if (probe.ExpectMsg<ActorIdentity>(Wait).Subject is not { } supervisor) return; // stopped already
        probe.Watch(supervisor);
        probe.ExpectTerminated(supervisor, Wait);
    }

    /// <summary>Polls the entity until <paramref name="done"/>, moving virtual time by <paramref name="step"/> between polls.</summary>
    private DeviceState AwaitState(IActorRef entity, Func<DeviceState, bool> done, TimeSpan step, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var s = State(entity);
            if (done(s)) return s;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{what}: not reached; last state: last sequence {s.LastSequence}, accepted {s.AcceptedReadings}, sensor {s.Sensor}");
            if (step > TimeSpan.Zero) Clock.Advance(step);
            Thread.Sleep(20);
        }
    }

    /// <summary>
    /// Runs the uplink until the sensor has been read <paramref name="reads"/> times, the adapter is stopped (it produced
    /// <paramref name="readings"/>) and every reading is acknowledged.
    /// </summary>
    private DeviceState Run(SimulatedSensor sensor, AdapterSettings settings, long reads, long readings, IActorRef? entity = null, params long[] hangs)
    {
        entity ??= Entity();
        var uplink = Sys.ActorOf(SensorUplink.Props(Id, sensor, settings, entity));
        ReadUntil(sensor, settings, reads, hangs);
        AwaitAdapterStopped(uplink); // no more reads: time may move on for the flush, the acks and the reports
        return AwaitState(entity, s => s.Sensor is { Unacknowledged: 0 } h && h.Produced == readings && s.HighestContiguous == h.AdapterLastSequence,
            settings.ReportInterval, $"{readings} readings produced and acknowledged");
    }

    [Fact]
    public void Adapter_should_restart_after_an_exception_and_keep_numbering()
    {
        var settings = Settings();
        var sensor = Sensor(settings, (5, SensorFault.Exception), (12, SensorFault.Exception));

        var s = Run(sensor, settings, reads: Readings + 2, readings: Readings);

        AssertEveryReadingOnce(s, 1, Readings);
        Assert.Equal(2, s.Sensor!.FaultsOf(SensorFault.Exception));
        Assert.Equal(2, s.Sensor.Restarts);
        Assert.True(s.Sensor.Degradations >= 1, $"never Degraded: {s.Sensor}");
        Assert.True(s.Sensor.Recoveries >= 1, $"never recovered: {s.Sensor}");
        Assert.Equal(Readings + 2, sensor.Reads); // the two failed reads produced nothing
    }

    [Fact]
    public void Hang_should_be_detected_by_the_read_timeout_and_its_late_result_ignored()
    {
        var settings = Settings() with { ReadTimeout = TimeSpan.FromSeconds(2) };
        var sensor = Sensor(settings, (4, SensorFault.Hang));

        var s = Run(sensor, settings, reads: Readings + 1, readings: Readings, hangs: 4);

        AssertEveryReadingOnce(s, 1, Readings);
        Assert.Equal(1, s.Sensor!.FaultsOf(SensorFault.Hang));
        Assert.Equal(1, s.Sensor.Restarts);
        Assert.Equal(1, sensor.InjectedHangs);
        // the hung read was released when the adapter closed the device; its reading was never numbered
        Assert.Equal(Readings + 1, sensor.Reads);
    }

    [Fact]
    public void Adapter_stuck_in_backoff_should_not_restart_early_and_its_entity_should_mark_it_offline()
    {
        var settings = Settings() with
        {
            OfflineAfter = TimeSpan.FromSeconds(2),
            Backoff = new AdapterBackoff(TimeSpan.FromHours(1), TimeSpan.FromHours(1), 0, TimeSpan.FromHours(2)),
        };
        var sensor = Sensor(settings, (3, SensorFault.Exception));
        var entity = Entity();
        Sys.ActorOf(SensorUplink.Props(Id, sensor, settings, entity));
        ReadUntil(sensor, settings, 3);

        // the two readings reach the entity with the next flush; its watchdog counts from there
        AwaitState(entity, s => s.AcceptedReadings == 2 && s.Sensor is { Restarts: 1 }, settings.MaxBatchDelay, "2 readings and the failure reported");
        Clock.Advance(settings.OfflineAfter);
        var s = AwaitState(entity, s => s.Sensor is { Health: DeviceHealth.Offline }, TimeSpan.Zero, "Offline by the entity's watchdog after the failure");
        // an adapter restarted meanwhile (its backoff cut short) would have connected and now reads at the next ticks
        for (var i = 0; i < 3; i++)
        {
            Clock.Advance(settings.ReadInterval);
            SpinWait.SpinUntil(() => sensor.Reads != 3, TimeSpan.FromMilliseconds(50));
        }

        Assert.Equal(1, s.Sensor!.FaultsOf(SensorFault.Silent));
        Assert.Contains("no reading from the adapter", s.Sensor.Reason);
        Assert.Equal(1, s.Sensor.Restarts);
        Assert.Equal(2, s.Sensor.Produced); // not restarted: the backoff is an hour
        Assert.Equal(3, sensor.Reads);
        Assert.Equal(2, s.AcceptedReadings);
    }

    [Fact]
    public void Finished_adapter_should_not_be_marked_offline()
    {
        var settings = Settings(maxReadings: 10) with { OfflineAfter = TimeSpan.FromMilliseconds(200) };
        var entity = Entity();

        var silentWhileRunning = Run(Sensor(settings), settings, reads: 10, readings: 10, entity).Sensor!.FaultsOf(SensorFault.Silent);
        // far past the watchdog: the adapter said it stopped, so silence is expected
        for (var i = 0; i < 5; i++)
        {
            State(entity); // the entity has handled everything before time moves
            Clock.Advance(settings.OfflineAfter * 2);
        }

        var s = State(entity);
        Assert.Equal(DeviceHealth.Ok, s.Sensor!.Health);
        Assert.Equal(silentWhileRunning, s.Sensor.FaultsOf(SensorFault.Silent));
    }
}
