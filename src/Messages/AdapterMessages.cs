namespace EdgeActors.Messages;

/// <summary>How a device's hardware is doing, as its device entity sees it.</summary>
public enum DeviceHealth : byte
{
    /// <summary>No hardware adapter has reported for this device (e.g. it streams through a client).</summary>
    Unknown = 0,
    Ok = 1,
    /// <summary>Faults (exceptions, hangs, garbage values, clock jumps) since the last clean readings.</summary>
    Degraded = 2,
    /// <summary>Disconnected, or no reading from its adapter within the watchdog time.</summary>
    Offline = 3,
}

/// <summary>Kinds of hardware fault counted per device.</summary>
public enum SensorFault : byte
{
    /// <summary>A read threw.</summary>
    Exception = 1,
    /// <summary>A read or connect did not complete within the read timeout.</summary>
    Hang = 2,
    /// <summary>The device was unreachable (read or connect refused).</summary>
    Disconnect = 3,
    /// <summary>A reading with NaN or out-of-range values (rejected by the entity's preprocessing).</summary>
    Garbage = 4,
    /// <summary>The device's timestamps jumped backward, or forward by more than the threshold.</summary>
    ClockJump = 5,
    /// <summary>The entity's watchdog fired: no reading from the adapter in time.</summary>
    Silent = 6,
}

public sealed record FaultCount(SensorFault Kind, long Count);

/// <summary>
/// From a device's hardware adapter (on the edge the device is attached to) to its device entity: sent on every health
/// transition and periodically. Counters are totals since the adapter started. The entity arms a watchdog of
/// <c>OfflineAfterMs</c> (0 = none: the adapter has finished) and flags timestamps jumping back or forward by more than
/// <c>ClockJumpMs</c>; <c>RecoverAfter</c> clean readings end a Degraded state it detected itself.
/// </summary>
public sealed record SensorHealth(
    DeviceId DeviceId,
    DeviceHealth Health,
    string Reason,
    string AdapterNode,
    int OfflineAfterMs,
    int ClockJumpMs,
    int RecoverAfter,
    long Produced,
    long LastSequence,
    long Unacknowledged,
    long Dropped,
    long Restarts,
    FaultCount[] Faults) : IDeviceCommand;

/// <summary>
/// Health of a device with a hardware adapter, kept by its entity (in <see cref="DeviceState.Sensor"/>).
/// <c>Faults</c>: exception, hang and disconnect as counted by the adapter; garbage, clock jump and silent as detected
/// by the entity. <c>Produced</c> / <c>AdapterLastSequence</c> / <c>Unacknowledged</c> / <c>Dropped</c> / <c>Restarts</c>
/// are the adapter's counters from its latest report.
/// </summary>
public sealed record SensorStatus(
    DeviceHealth Health,
    string Reason,
    long SinceMs,
    long Degradations,
    long Offlines,
    long Recoveries,
    FaultCount[] Faults,
    string AdapterNode,
    long Produced,
    long AdapterLastSequence,
    long Unacknowledged,
    long Dropped,
    long Restarts)
{
    public long FaultsOf(SensorFault kind) => Faults.Where(f => f.Kind == kind).Sum(f => f.Count);
}
