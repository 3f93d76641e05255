using System.Threading.Channels;
using Akka.Actor;
using EdgeActors.Messages;

namespace EdgeActors.Http.Devices;

/// <summary>
/// One per Server-Sent Events stream: attaches to the device entity as a follower (<see cref="AttachDevice"/>,
/// <c>IsDevice = false</c>) and hands what it receives (twin, command status, acks, alerts) to the stream's channel.
/// Attaches again every <c>reattach</c> (the entity may have moved to another edge: a new incarnation knows no
/// followers); detaches when the stream ends (the endpoint stops it) and the entity also watches it.
/// </summary>
public sealed class SseFollower : ReceiveActor, IWithTimers
{
    private sealed record Reattach
    {
        public static readonly Reattach Instance = new();
    }

    private readonly DeviceId _device;
    private readonly IActorRef _region;
    private readonly ChannelWriter<object> _out;
    private readonly TimeSpan _reattach;
    private readonly string _path;

    public ITimerScheduler Timers { get; set; } = null!;

    public SseFollower(DeviceId device, IActorRef region, ChannelWriter<object> output, TimeSpan reattach)
    {
        _device = device;
        _region = region;
        _out = output;
        _reattach = reattach;
        _path = Self.Path.ToStringWithAddress(((ExtendedActorSystem)Context.System).Provider.DefaultAddress);
        Receive<Reattach>(_ => Attach());
        Receive<DeviceTwin>(Push);
        Receive<CommandStatus>(Push);
        Receive<IngestAck>(Push);
        Receive<DeviceAlert>(Push);
        ReceiveAny(_ => { }); // replies to attach/detach (TwinResult and the like): nothing to stream
    }

    public static Props Props(DeviceId device, IActorRef region, ChannelWriter<object> output, TimeSpan reattach) =>
        Akka.Actor.Props.Create(() => new SseFollower(device, region, output, reattach));

    private void Push(object message) => _out.TryWrite(message); // a full stream drops its oldest events (slow reader)

    private void Attach() => _region.Tell(new AttachDevice(_device, _path, IsDevice: false));

    protected override void PreStart()
    {
        Attach();
        Timers.StartPeriodicTimer(Reattach.Instance, Reattach.Instance, _reattach);
    }

    protected override void PostStop()
    {
        _region.Tell(new DetachDevice(_device, _path));
        _out.TryComplete();
    }
}
