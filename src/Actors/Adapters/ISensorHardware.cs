namespace EdgeActors.Actors.Adapters;

/// <summary>One reading: the device's own timestamp (Unix milliseconds, its clock) and one value per channel.</summary>
public sealed record SensorSample(long TimestampMs, float[] Values);

/// <summary>
/// A multichannel sensor as a driver exposes it. Calls block (like a driver) and are made off the actor's mailbox.
/// Real hardware misbehaves: <see cref="Connect"/> and <see cref="Read"/> may throw (<see cref="SensorDisconnectedException"/>
/// while the device is unreachable), hang for ever, or return garbage values and timestamps from a clock that jumped.
/// <see cref="Close"/> never blocks and releases any call still hanging (it then returns or throws; either is ignored).
/// One physical device, used by one adapter incarnation at a time; a hung call of an abandoned incarnation may overlap.
/// </summary>
public interface ISensorHardware
{
    int Channels { get; }

    void Connect();

    SensorSample Read();

    void Close();
}

/// <summary>The device cannot be reached (cable, radio, power); connecting again later may succeed.</summary>
public sealed class SensorDisconnectedException(string message) : Exception(message);

/// <summary>The device reported an error for one read.</summary>
public sealed class SensorReadException(string message) : Exception(message);
