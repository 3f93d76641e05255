using Akka.Actor;
using Akka.Event;
using EdgeActors.Messages;
using MQTTnet.Protocol;

namespace EdgeActors.Mqtt;

/// <summary>
/// Connects the broker's device sessions with their device entities: a session that subscribes to a device's twin or
/// command topics is that device's connection, so the bridge attaches to the entity (<see cref="AttachDevice"/>,
/// <c>IsDevice</c>, with this actor's path) while at least one such session is connected, and detaches when the last
/// one goes (a persistent session is attached again when it reconnects). What the entities send here is published
/// to the device: the twin document after each change and the delta (retained; cleared when desired = reported), and
/// commands to deliver. Publishing goes through the broker (an awaited task piped back; failures logged).
/// </summary>
public sealed class MqttDeviceBridge : ReceiveActor
{
    /// <summary>A client connected (<c>CleanStart</c>: it starts without its earlier subscriptions).</summary>
    internal sealed record SessionConnected(string ClientId, bool CleanStart);

    internal sealed record SessionDisconnected(string ClientId);

    /// <summary>A client subscribed to one of a device's twin/command topics.</summary>
    internal sealed record SessionFollows(string ClientId, string DeviceId);

    /// <summary>A persistent client reconnected without the right to follow these devices any more.</summary>
    internal sealed record SessionUnfollows(string ClientId, string[] DeviceIds);

    /// <summary>The client's session is gone (expired, or ended with its connection): forget what it followed.</summary>
    internal sealed record SessionEnded(string ClientId);

    private sealed record Published(string Topic, string? Error);

    private readonly IActorRef _devices;
    private readonly Func<string, byte[], bool, MqttQualityOfServiceLevel, Task> _publish;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _path;

    // per client: the devices it follows (kept across a disconnect for persistent sessions) and whether it is connected
    private readonly Dictionary<string, HashSet<string>> _follows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _connected = new(StringComparer.Ordinal);
    // per device: the connected clients following it (attached to the entity while non-empty)
    private readonly Dictionary<string, HashSet<string>> _attached = new(StringComparer.Ordinal);

    public MqttDeviceBridge(IActorRef devices, Func<string, byte[], bool, MqttQualityOfServiceLevel, Task> publish)
    {
        _devices = devices;
        _publish = publish;
        _path = Self.Path.ToStringWithAddress(((ExtendedActorSystem)Context.System).Provider.DefaultAddress);

        Receive<SessionConnected>(m =>
        {
            _connected[m.ClientId] = _connected.GetValueOrDefault(m.ClientId) + 1;
            if (m.CleanStart) _follows.Remove(m.ClientId);
            else if (_follows.TryGetValue(m.ClientId, out var devices))
                foreach (var d in devices) Attach(m.ClientId, d);
        });
        Receive<SessionDisconnected>(m =>
        {
            var n = _connected.GetValueOrDefault(m.ClientId) - 1;
            if (n > 0)
            {
                _connected[m.ClientId] = n; // a takeover: the new connection of the same client is still there
                return;
            }
            _connected.Remove(m.ClientId);
            if (_follows.TryGetValue(m.ClientId, out var devices))
                foreach (var d in devices) Detach(m.ClientId, d);
        });
        Receive<SessionFollows>(m =>
        {
            if (!_follows.TryGetValue(m.ClientId, out var devices)) _follows[m.ClientId] = devices = new HashSet<string>(StringComparer.Ordinal);
            devices.Add(m.DeviceId);
            if (_connected.ContainsKey(m.ClientId)) Attach(m.ClientId, m.DeviceId);
        });
        Receive<SessionUnfollows>(m =>
        {
            if (!_follows.TryGetValue(m.ClientId, out var devices)) return;
            foreach (var d in m.DeviceIds)
                if (devices.Remove(d)) Detach(m.ClientId, d);
        });
        Receive<SessionEnded>(m =>
        {
            if (!_follows.Remove(m.ClientId, out var devices)) return;
            foreach (var d in devices) Detach(m.ClientId, d);
        });
        Receive<DeviceTwin>(twin =>
        {
            var id = twin.DeviceId.Value;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            Publish(MqttTopics.TwinDocument(id), MqttPayloads.Twin("", now, twin), retain: false);
            var delta = twin.Delta();
            // retained: a device that subscribes later gets the delta at once; an empty retained payload clears it
            Publish(MqttTopics.TwinDelta(id), delta.Length == 0 ? [] : MqttPayloads.Delta(now, twin, delta), retain: true);
        });
        Receive<CommandStatus>(c =>
        {
            if (c.Error.Length > 0)
            {
                _log.Warning("mqtt: device '{0}' command '{1}': {2}", c.DeviceId.Value, c.CommandId, c.Error);
                return;
            }
            if (c.State is CommandState.Pending or CommandState.Delivered)
                Publish(MqttTopics.Commands(c.DeviceId.Value), MqttPayloads.Command(c), retain: false);
        });
        Receive<TwinResult>(r =>
        {
            if (r.Error.Length > 0) _log.Warning("mqtt: device '{0}' twin: {1}", r.DeviceId.Value, r.Error);
            else if (r.Twin is not null) Self.Forward(r.Twin);
        });
        Receive<Published>(p =>
        {
            if (p.Error is not null) _log.Warning("mqtt: could not publish on '{0}': {1}", p.Topic, p.Error);
        });
        // what else an entity may send a device connection (results, alerts, replies to attach) has no device topic yet
        ReceiveAny(m => _log.Debug("mqtt: bridge ignores {0}", m.GetType().Name));
    }

    public static Props Props(IActorRef devices, Func<string, byte[], bool, MqttQualityOfServiceLevel, Task> publish) =>
        Akka.Actor.Props.Create(() => new MqttDeviceBridge(devices, publish));

    private void Attach(string clientId, string deviceId)
    {
        if (!_attached.TryGetValue(deviceId, out var clients)) _attached[deviceId] = clients = new HashSet<string>(StringComparer.Ordinal);
        if (clients.Add(clientId) && clients.Count == 1)
        {
            _log.Info("mqtt: client '{0}' attached as device '{1}'", clientId, deviceId);
            _devices.Tell(new AttachDevice(new DeviceId(deviceId), _path, IsDevice: true));
        }
    }

    private void Detach(string clientId, string deviceId)
    {
        if (!_attached.TryGetValue(deviceId, out var clients) || !clients.Remove(clientId) || clients.Count > 0) return;
        _attached.Remove(deviceId);
        _log.Info("mqtt: device '{0}' detached (its last session '{1}' disconnected)", deviceId, clientId);
        _devices.Tell(new DetachDevice(new DeviceId(deviceId), _path));
    }

    private void Publish(string topic, byte[] payload, bool retain)
    {
        _publish(topic, payload, retain, MqttQualityOfServiceLevel.AtLeastOnce)
            .PipeTo(Self, success: () => new Published(topic, null), failure: ex => new Published(topic, ex.GetBaseException().Message));
    }
}
