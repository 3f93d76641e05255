using Akka.Actor;
using Akka.Event;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Adapters;

/// <summary>
/// Drives one sensor's hardware; runs under a BackoffSupervisor (see <see cref="SensorUplink"/>) and is restarted after
/// every fault. Connects, then reads every read interval. Every hardware call runs off the mailbox (its own thread, PipeTo)
/// and is guarded by a read-timeout timer: a call that has not completed when the timer fires is a hang, abandoned (its
/// late result carries an old call number and is ignored). A hang, an exception or a disconnect is reported to the
/// uplink and then thrown, so the supervisor stops this incarnation (closing the hardware, which releases a hung call)
/// and starts a fresh one after its backoff. Readings go to the uplink, which numbers and sends them.
/// </summary>
public sealed class SensorAdapter : ReceiveActor, IWithTimers
{
    /// <summary>A reading for the uplink.</summary>
    public sealed record Sampled(SensorSample Sample);

    /// <summary>This incarnation failed and is about to be restarted.</summary>
    public sealed record Failed(SensorFault Kind, string Reason);

    /// <summary>This incarnation is connected (after a start or restart).</summary>
    public sealed record Connected;

    private sealed record ConnectDone(long Call);
    private sealed record ReadDone(long Call, SensorSample Sample);
    private sealed record CallFailed(long Call, Exception Error);
    private sealed record CallTimedOut(long Call);
    private sealed record Tick;

    private const string TimeoutKey = "call-timeout";
    private const string TickKey = "tick";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DeviceId _device;
    private readonly ISensorHardware _hardware;
    private readonly AdapterSettings _settings;
    private readonly IActorRef _uplink;
    private long _call;
    private string _what = "";

    public ITimerScheduler Timers { get; set; } = null!;

    public SensorAdapter(DeviceId device, ISensorHardware hardware, AdapterSettings settings, IActorRef uplink)
    {
        _device = device;
        _hardware = hardware;
        _settings = settings;
        _uplink = uplink;

        Receive<ConnectDone>(c => c.Call == _call, _ =>
        {
            Timers.Cancel(TimeoutKey);
            _uplink.Tell(new Connected());
            Timers.StartSingleTimer(TickKey, new Tick(), TimeSpan.Zero);
        });
        Receive<Tick>(_ => StartRead());
        Receive<ReadDone>(r => r.Call == _call, r =>
        {
            Timers.Cancel(TimeoutKey);
            _uplink.Tell(new Sampled(r.Sample));
            Timers.StartSingleTimer(TickKey, new Tick(), _settings.ReadInterval);
        });
        Receive<CallFailed>(f => f.Call == _call, f => Fail(
            f.Error is SensorDisconnectedException ? SensorFault.Disconnect : SensorFault.Exception,
            $"{_what} failed: {f.Error.Message}"));
        Receive<CallTimedOut>(t => t.Call == _call, _ => Fail(SensorFault.Hang,
            $"{_what} call did not complete within {_settings.ReadTimeout.TotalMilliseconds:0} ms (abandoned)"));
        // late results of abandoned calls
        Receive<ConnectDone>(_ => { });
        Receive<ReadDone>(_ => { });
        Receive<CallFailed>(_ => { });
        Receive<CallTimedOut>(_ => { });
    }

    public static Props Props(DeviceId device, ISensorHardware hardware, AdapterSettings settings, IActorRef uplink) =>
        Akka.Actor.Props.Create(() => new SensorAdapter(device, hardware, settings, uplink));

    protected override void PreStart() => Call("connect", () =>
    {
        _hardware.Connect();
        return (object)new ConnectDone(0);
    });

    protected override void PostStop()
    {
        _call++; // whatever is still running is abandoned
        _hardware.Close();
    }

    private void StartRead() => Call("read", () => new ReadDone(0, _hardware.Read()));

    /// <summary>
    /// Runs a blocking hardware call off the mailbox, its result piped back tagged with the call number. Each call gets
    /// its own thread (LongRunning) rather than a thread-pool thread: a driver call that hangs for ever then holds only
    /// that thread and can never starve the pool the actors (and the other adapters' reads) run on.
    /// </summary>
    private void Call(string what, Func<object> call)
    {
        var id = ++_call;
        _what = what;
        Timers.StartSingleTimer(TimeoutKey, new CallTimedOut(id), _settings.ReadTimeout);
        Task.Factory.StartNew(call, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).PipeTo(Self,
            success: result => result switch
            {
                ConnectDone => new ConnectDone(id),
                ReadDone r => r with { Call = id },
                _ => result,
            },
            failure: ex => new CallFailed(id, ex is AggregateException { InnerException: { } inner } ? inner : ex));
    }

    private void Fail(SensorFault kind, string reason)
    {
        Timers.CancelAll();
        _call++;
        // the backoff supervisor logs the failure (as an error, with this exception)
        _log.Debug("Sensor adapter {0}: {1}: {2}; restarting after backoff", _device, kind, reason);
        _uplink.Tell(new Failed(kind, reason));
        Observability.AdapterMetrics.Fault(kind);
        throw new SensorAdapterException(kind, reason);
    }
}

/// <summary>Thrown by a <see cref="SensorAdapter"/> to have its supervisor restart it (after backoff).</summary>
public sealed class SensorAdapterException(SensorFault kind, string reason) : Exception($"{kind}: {reason}")
{
    public SensorFault Kind { get; } = kind;
}
