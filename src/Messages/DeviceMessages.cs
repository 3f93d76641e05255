namespace EdgeActors.Messages;

/// <summary>Commands for a device entity (routed by sharding on <see cref="IWithDeviceId.DeviceId"/>).</summary>
public interface IDeviceCommand : IWithDeviceId, IEdgeMessage;

/// <summary>Queries for a device entity.</summary>
public interface IDeviceQuery : IWithDeviceId, IEdgeMessage;

/// <summary>Replies and events emitted by a device entity.</summary>
public interface IDeviceEvent : IEdgeMessage;

// ---------------------------------------------------------------- commands

/// <summary>
/// A batch of telemetry readings. Reading <c>i</c> has sequence <c>Sequences[i]</c>, timestamp
/// <c>Timestamps[i]</c> (Unix milliseconds) and channel values <c>Values[i*Channels .. i*Channels+Channels)</c>.
/// </summary>
public sealed record TelemetryBatch(DeviceId DeviceId, int Channels, long[] Sequences, long[] Timestamps, float[] Values)
    : IDeviceCommand
{
    public int Count => Sequences.Length;
}

/// <summary>One grey camera frame, <c>Width×Height</c> bytes row-major. <c>Label</c> is the known class or -1.</summary>
public sealed record CameraFrame(DeviceId DeviceId, long Sequence, long Timestamp, int Width, int Height, byte[] Pixels, int Label)
    : IDeviceCommand
{
    public const int ExpectedWidth = 28;
    public const int ExpectedHeight = 28;
    public const int NoLabel = -1;
}

/// <summary>
/// Hand-off / passivation stop message. Delivered through the entity's mailbox, so every command queued
/// before it is processed first.
/// </summary>
public sealed record StopDevice : IEdgeMessage
{
    public static readonly StopDevice Instance = new();
}

// ---------------------------------------------------------------- replies

public enum RejectReason : byte
{
    NotANumber = 1,
    OutOfRange = 2,
    Duplicate = 3,
    OutOfOrder = 4,
    WrongFrameSize = 5,
    Malformed = 6,
    ChannelMismatch = 7,
    /// <summary>The edge's durable outbox is full (reject-new policy) or unavailable: the reading was not kept.</summary>
    OutboxFull = 8,
    /// <summary>The node is over capacity (too much ingestion waiting to be made durable): nothing was kept; resend later, after a pause.</summary>
    Overloaded = 9,
}

/// <summary>How far an acknowledged reading has got when the client is told.</summary>
public enum AckLevel : byte
{
    /// <summary>Accepted and preprocessed in the edge's memory (no durable outbox on this node).</summary>
    Received = 0,
    /// <summary>Written to the edge's durable outbox: survives an edge crash and reaches the datacenter store.</summary>
    DurableOnEdge = 1,
    /// <summary>Stored in the datacenter's database.</summary>
    StoredInDatacenter = 2,
}

/// <summary>Why one reading (by sequence) was not accepted.</summary>
public sealed record Rejection(long Sequence, RejectReason Reason, string Detail);

/// <summary>
/// Reply to every <see cref="TelemetryBatch"/> and <see cref="CameraFrame"/>.
/// <para><c>HighestContiguous</c>: the highest sequence such that this device has answered every sequence from
/// its first one up to it (accepted, or rejected with a reason). A client never needs to resend at or below it.</para>
/// <para><c>Level</c>: how far the accepted readings have got (see <see cref="AckLevel"/>).</para>
/// <para><c>Prediction</c>: for an accepted camera frame, its classification (null for telemetry, or when no model is
/// configured for cameras).</para>
/// <para><c>Rejected</c>: one entry per reading that was not accepted. <see cref="RejectReason.Duplicate"/> means the
/// sequence was already accepted earlier (a retry whose first reply was lost).</para>
/// </summary>
public sealed record IngestAck(
    DeviceId DeviceId, long HighestContiguous, int Accepted, Rejection[] Rejected, string Node, Prediction? Prediction = null,
    AckLevel Level = AckLevel.Received)
    : IDeviceEvent;

// ---------------------------------------------------------------- queries

public sealed record GetDeviceState(DeviceId DeviceId) : IDeviceQuery;

/// <summary>Running statistics of one channel after denoising (Welford).</summary>
public sealed record ChannelStats(long Count, double Mean, double Variance, float Min, float Max);

public sealed record ReasonCount(RejectReason Reason, long Count);

/// <summary>A device entity's state; <c>Sensor</c> is null unless a hardware adapter reports for the device.</summary>
/// <summary>How a device entity's state restore ended when it started (fleet tests count the incomplete ones).</summary>
public enum RestoreOutcome : byte
{
    /// <summary>No restore configured (or not finished yet).</summary>
    None = 0,

    /// <summary>Every source answered (the datacenter store, when one is reachable, and the edge's outbox).</summary>
    Restored = 1,

    /// <summary>A source did not answer in time or failed; the entity serves with what did answer.</summary>
    Partial = 2,

    /// <summary>No answer at all within the entity's own limit; the entity serves without stored state.</summary>
    TimedOut = 3,
}

public sealed record DeviceState(
    DeviceId DeviceId,
    string Node,
    long LastSequence,
    long HighestContiguous,
    long AcceptedReadings,
    long AcceptedFrames,
    ReasonCount[] Rejections,
    ChannelStats[] Channels,
    int BufferFill,
    int BufferCapacity,
    int FrameBufferFill,
    int FrameBufferCapacity,
    SensorStatus? Sensor = null,
    RestoreOutcome Restore = RestoreOutcome.None) : IDeviceEvent
{
    public long RejectedTotal => Rejections.Sum(r => r.Count);
}
