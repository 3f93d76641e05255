namespace EdgeActors.Messages;

/// <summary>Device locality and state restore (a device entity asks the datacenter store what it holds). Crosses the wire.</summary>
public interface ILocalityMessage : IEdgeMessage;

/// <summary>
/// Sent by a device entity when it starts (to a datacenter's <c>SyncSink</c>): what the store holds of this device,
/// per kind the record count and the latest <c>MaxSequences</c> stored sequences. Answered with <see cref="DeviceHistory"/>.
/// </summary>
public sealed record GetDeviceHistory(DeviceId DeviceId, int MaxSequences) : ILocalityMessage;

/// <summary>One kind of a device's stored records: how many, and the latest stored sequences (ascending).</summary>
public sealed record KindHistory(long Count, long[] Sequences)
{
    public static readonly KindHistory Empty = new(0, []);
}

/// <summary>What a store holds of one device (<c>Source</c>: the answering sink's address; <c>Error</c> non-empty when the store could not be read).</summary>
public sealed record DeviceHistory(DeviceId DeviceId, KindHistory Telemetry, KindHistory Frames, string Source, string Error = "") : ILocalityMessage;

/// <summary>
/// Sent by an edge's device restorer (to a datacenter's <c>SyncSink</c>) for a batch of starting device entities:
/// what the store holds of each device, as for <see cref="GetDeviceHistory"/>, answered by one store query. Answered
/// with one or more <see cref="DevicesHistory"/> carrying the same <c>BatchId</c> (split to stay under the wire limit)
/// that together hold one <see cref="DeviceHistory"/> per device, or one with a non-empty <c>Error</c>.
/// </summary>
public sealed record GetDevicesHistory(long BatchId, DeviceId[] Devices, int MaxSequences) : ILocalityMessage
{
    /// <summary>Most devices one request may name (the sink refuses more with an error).</summary>
    public const int MaxDevices = 1024;
}

/// <summary>Part of the answer to <see cref="GetDevicesHistory"/> (<c>Error</c> non-empty: the store could not be read, for every device of the batch).</summary>
public sealed record DevicesHistory(long BatchId, DeviceHistory[] Devices, string Source, string Error = "") : ILocalityMessage;
