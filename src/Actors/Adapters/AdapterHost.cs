using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Messages;
using EdgeActors.Storage;

namespace EdgeActors.Actors.Adapters;

/// <summary>
/// The sensor adapters of one edge node: one <see cref="SensorUplink"/> (and, under it, a supervised
/// <see cref="SensorAdapter"/>) per attached device, each with its simulated hardware. An uplink that throws (a bug) is
/// resumed, never restarted, so its sequence numbering is never lost. <see cref="SensorUplink.Drain"/> (sent by
/// CoordinatedShutdown) stops reading everywhere, sends what is pending, and stops the host when every uplink stopped.
/// The host owns the uplinks' durable sequence counters (<see cref="AdapterSettings.StatePath"/>, one SQLite file shared by
/// its uplinks, or the given <see cref="ISequenceStore"/>), and closes the file when it stops.
/// </summary>
public sealed class AdapterHost : ReceiveActor
{
    public const string Name = "sensor-adapters";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<IActorRef> _uplinks = new();
    private readonly ISequenceStore? _ownedStore;

    public AdapterHost(AdapterSettings settings, IActorRef region, Func<int, string, ISensorHardware>? hardware = null, ISequenceStore? store = null)
    {
        hardware ??= (_, id) => new SimulatedSensor(settings.Channels, settings.Faults, DeviceSeed(settings.Seed, id));
        // opened on first use, by an uplink's Task.Run: no file IO here
        if (store is null && settings.StatePath.Length > 0) store = _ownedStore = new SqliteSequenceStore(settings.StatePath);
        if (store is null) _log.Warning("Sensor adapters: no state-path; sequence numbers are not kept durably on this edge");
        for (var i = 0; i < settings.Devices.Count; i++)
        {
            var id = settings.Devices[i];
            var uplink = Context.ActorOf(SensorUplink.Props(new DeviceId(id), hardware(i, id), settings, region, store), Uri.EscapeDataString(id));
            Context.Watch(uplink);
            _uplinks.Add(uplink);
        }
        var f = settings.Faults;
        _log.Info("Sensor adapters: {0} device(s) attached ({1}), read every {2} ms, faults {3}",
            settings.Devices.Count, string.Join(", ", settings.Devices.Take(5)) + (settings.Devices.Count > 5 ? ", …" : ""),
            settings.ReadInterval.TotalMilliseconds,
            string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"p(exception)={f.Exception} p(hang)={f.Hang} p(garbage)={f.Garbage} p(disconnect)={f.Disconnect} p(clock-jump)={f.ClockJump}"));

        Receive<SensorUplink.Drain>(d =>
        {
            foreach (var u in _uplinks) u.Tell(d);
            if (_uplinks.Count == 0) Context.Stop(Self);
        });
        Receive<Terminated>(t =>
        {
            _uplinks.Remove(t.ActorRef);
            if (_uplinks.Count == 0) Context.Stop(Self);
        });
    }

    /// <summary>The simulated hardware's seed: the configured seed mixed with a stable hash of the device id (FNV-1a), so
    /// every device faults differently and the same seed gives the same faults in every run.</summary>
    public static int DeviceSeed(int seed, string deviceId)
    {
        var h = 2166136261u ^ (uint)seed;
        foreach (var c in deviceId)
        {
            h ^= c;
            h *= 16777619u;
        }
        return (int)h;
    }

    public static Props Props(AdapterSettings settings, IActorRef region, Func<int, string, ISensorHardware>? hardware = null, ISequenceStore? store = null) =>
        Akka.Actor.Props.Create(() => new AdapterHost(settings, region, hardware, store));

    /// <summary>After every uplink stopped (children stop first); a write still running fails harmlessly.</summary>
    protected override void PostStop() => _ownedStore?.Dispose();

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(ex =>
        {
            _log.Error(ex, "Sensor adapters: an uplink failed; resumed with its state");
            return Directive.Resume;
        });
}

public static class AdapterRegistration
{
    /// <summary>
    /// Starts the sensor adapters of this edge node (nothing when <c>edgeactors.adapters.enabled</c> is off). Call after
    /// AddDeviceSharding: readings go to the device region. CoordinatedShutdown drains them in its service-unbind phase,
    /// while the region still delivers.
    /// </summary>
    public static AkkaConfigurationBuilder AddSensorAdapters(this AkkaConfigurationBuilder builder, AdapterSettings settings)
    {
        if (!settings.Enabled || settings.Devices.Count == 0) return builder;
        return builder.WithActors((system, registry) =>
        {
            var host = system.ActorOf(AdapterHost.Props(settings, registry.Get<DeviceRegion>()), AdapterHost.Name);
            registry.Register<AdapterHost>(host);
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceUnbind, "drain-sensor-adapters", async () =>
            {
                try
                {
                    await host.GracefulStop(settings.DrainTimeout + TimeSpan.FromSeconds(2), SensorUplink.Drain.Instance);
                }
                catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException)
                {
                    system.Log.Warning("Sensor adapters did not drain within {0}", settings.DrainTimeout);
                }
                return Akka.Done.Instance;
            });
        });
    }
}
