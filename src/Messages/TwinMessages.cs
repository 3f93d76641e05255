namespace EdgeActors.Messages;

// Device twins and cloud-to-device commands: the part of a device entity's state that apps write and devices follow.
// The device entity owns them (sharded like everything else); the datacenter's twin store keeps them durably (an edge
// restart, a failover to another edge or a device offline for hours loses nothing). Property values are strings, as
// in KubeEdge's device twin (a device that wants numbers parses them).

/// <summary>One twin property: its value, the version of the twin side that last set it, and when (Unix ms).</summary>
public sealed record TwinProperty(string Name, string Value, long Version, long UpdatedAt);

/// <summary>A property to set (an empty <c>Value</c> with <c>Remove</c> removes it).</summary>
public sealed record TwinValue(string Name, string Value, bool Remove = false);

/// <summary>
/// A device's twin: what apps want (<c>Desired</c>) and what the device last reported (<c>Reported</c>), each side with
/// its own version (incremented by every update of that side).
/// </summary>
public sealed record DeviceTwin(DeviceId DeviceId, TwinProperty[] Desired, TwinProperty[] Reported, long DesiredVersion, long ReportedVersion)
    : IDeviceEvent
{
    public static DeviceTwin Empty(DeviceId id) => new(id, [], [], 0, 0);

    /// <summary>The desired properties whose value differs from the reported one (or that the device never reported).</summary>
    public TwinProperty[] Delta()
    {
        var reported = new Dictionary<string, string>(Reported.Length, StringComparer.Ordinal);
        foreach (var p in Reported) reported[p.Name] = p.Value;
        return Desired.Where(d => !reported.TryGetValue(d.Name, out var r) || r != d.Value).ToArray();
    }
}

/// <summary>An app sets desired properties (answered with <see cref="TwinResult"/>; delivered to the device as a delta).</summary>
public sealed record SetDesired(DeviceId DeviceId, TwinValue[] Properties) : IDeviceCommand;

/// <summary>The device reports its actual values (answered with <see cref="TwinResult"/>).</summary>
public sealed record ReportTwin(DeviceId DeviceId, TwinValue[] Properties) : IDeviceCommand;

/// <summary>Asks for the device's twin (answered with <see cref="TwinResult"/>).</summary>
public sealed record GetTwin(DeviceId DeviceId) : IDeviceQuery;

/// <summary>
/// Reply to <see cref="SetDesired"/>, <see cref="ReportTwin"/> and <see cref="GetTwin"/>: the twin after the update (kept
/// durably when <c>Error</c> is empty), or the reason nothing changed.
/// </summary>
public sealed record TwinResult(DeviceId DeviceId, DeviceTwin? Twin, string Error) : IDeviceEvent;

/// <summary>Where a cloud-to-device command is.</summary>
public enum CommandState : byte
{
    /// <summary>Kept durably; waiting for the device to connect.</summary>
    Pending = 0,

    /// <summary>Sent to the device's connection; waiting for its acknowledgement.</summary>
    Delivered = 1,

    /// <summary>The device acknowledged it (<c>Result</c> holds what it said).</summary>
    Acknowledged = 2,

    /// <summary>Its time to live passed before the device acknowledged it.</summary>
    Expired = 3,

    /// <summary>The device acknowledged it as failed (<c>Result</c> says why).</summary>
    Failed = 4,
}

/// <summary>
/// An app sends a command to a device, e.g. "set-sampling-rate" with payload "10". <c>CommandId</c>: the app's id for
/// it (a resend with the same id is the same command); empty: the entity assigns one. <c>TtlMs</c>: how long it may
/// wait for the device (0: the entity's default). Answered with <see cref="CommandStatus"/>.
/// </summary>
public sealed record SendCommand(DeviceId DeviceId, string CommandId, string Name, string Payload, long TtlMs) : IDeviceCommand;

/// <summary>The device acknowledges a command (answered with its <see cref="CommandStatus"/>).</summary>
public sealed record AcknowledgeCommand(DeviceId DeviceId, string CommandId, bool Success, string Result) : IDeviceCommand;

/// <summary>Asks for the device's commands (recent ones, newest last); answered with <see cref="DeviceCommands"/>.</summary>
public sealed record GetCommands(DeviceId DeviceId) : IDeviceQuery;

/// <summary>
/// One command and where it is (times in Unix ms). Also what a device connection receives to deliver it, and what a
/// follower of the device receives when it changes. <c>Error</c>: why a request about it was refused (nothing changed).
/// </summary>
public sealed record CommandStatus(
    DeviceId DeviceId, string CommandId, string Name, string Payload, CommandState State, long CreatedAt, long ExpiresAt,
    long UpdatedAt, string Result, string Error = "") : IDeviceEvent;

public sealed record DeviceCommands(DeviceId DeviceId, CommandStatus[] Commands, string Error = "") : IDeviceEvent;

/// <summary>
/// A connection of the device (an MQTT session on an edge's broker: <c>IsDevice</c>) or an app following it (a
/// Server-Sent Events stream) attaches to the entity: it then receives, at <c>SubscriberPath</c> (an actor path), the
/// twin now and at every change (<see cref="DeviceTwin"/>), commands to deliver (<see cref="CommandStatus"/>; to a
/// device connection: the pending ones now and new ones as they come, marked delivered), and for followers the
/// device's results and alerts (<see cref="IngestAck"/>, <see cref="DeviceAlert"/>). It stays attached until
/// <see cref="DetachDevice"/> or its actor stops (the entity watches it).
/// </summary>
public sealed record AttachDevice(DeviceId DeviceId, string SubscriberPath, bool IsDevice) : IDeviceCommand;

public sealed record DetachDevice(DeviceId DeviceId, string SubscriberPath) : IDeviceCommand;

/// <summary>Something a follower of the device should know at once (an anomalous reading, its sensor going silent).</summary>
public sealed record DeviceAlert(DeviceId DeviceId, string Kind, long Sequence, long Timestamp, string Detail) : IDeviceEvent;

// ---------------------------------------------------------------- the twin store (datacenter singleton)

/// <summary>A device entity loads its twin and commands from the datacenter's twin store (answered with <see cref="TwinStored"/>).</summary>
public sealed record LoadTwin(DeviceId DeviceId) : IEdgeMessage;

/// <summary>
/// A device entity writes its twin and the commands that changed (answered with <see cref="TwinStored"/> carrying the
/// same <c>Token</c>); the entity applies a change only once it is stored.
/// </summary>
public sealed record SaveTwin(DeviceId DeviceId, long Token, DeviceTwin Twin, CommandStatus[] Commands) : IEdgeMessage;

/// <summary>Answer of the twin store: the device's twin and its commands (for a load), or <c>Error</c>.</summary>
public sealed record TwinStored(DeviceId DeviceId, long Token, DeviceTwin? Twin, CommandStatus[] Commands, string Error) : IEdgeMessage;
