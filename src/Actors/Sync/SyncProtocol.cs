using Akka.Actor;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Sync;

// The sync feature's protocol as other features (device entities, the device restorer, the gateway, benches) use it,
// without depending on the actor classes that implement it (OutboxWriter, SyncSender, SyncSink).

/// <summary>ActorRegistry key of the edge's <see cref="OutboxWriter"/> (AddOutbox).</summary>
public sealed class OutboxWriterKey;

/// <summary>ActorRegistry key of the edge's <see cref="SyncSender"/> (AddSyncSender); it takes <see cref="SyncNow"/>.</summary>
public sealed class SyncSenderKey;

/// <summary>ActorRegistry key of the datacenter's <see cref="SyncSink"/> (AddSyncSink).</summary>
public sealed class SyncSinkKey;

/// <summary>Where a datacenter node's sync sink lives.</summary>
public static class SyncSinkPaths
{
    public const string Name = "sync-sink";
    public const string Path = "/user/" + Name;
}

/// <summary>Append these records durably to the edge's outbox. Replies <see cref="OutboxWritten"/> or <see cref="OutboxWriteFailed"/> with the same token.</summary>
public sealed record OutboxWrite(IReadOnlyList<SyncRecord> Records, long Token) : INoSerializationVerificationNeeded;

/// <summary>
/// The records of write <c>Token</c> are durable (<c>Appended</c> readings: those of its first records) or were
/// refused (<c>Refused</c> readings: those of its last records, outbox full).
/// </summary>
public sealed record OutboxWritten(long Token, int Appended, int Refused) : INoSerializationVerificationNeeded;

/// <summary>Nothing of write <c>Token</c> was stored: the transaction failed.</summary>
public sealed record OutboxWriteFailed(long Token, string Reason) : INoSerializationVerificationNeeded;

/// <summary>Replies <see cref="OutboxDeviceWaiting"/>: what of one device still waits in the outbox (a starting device entity restoring).</summary>
public sealed record ReadOutboxDevice(DeviceId Device, int Max) : INoSerializationVerificationNeeded;

public sealed record OutboxDeviceWaiting(DeviceId Device, KindHistory Telemetry, KindHistory Frames) : INoSerializationVerificationNeeded;

/// <summary>
/// Replies <see cref="OutboxDevicesWaiting"/>: <see cref="ReadOutboxDevice"/> for a batch of devices, answered by ONE outbox query
/// (the device restorer's bulk read when many entities start at once). Queued in the outbox lane like the other reads.
/// </summary>
public sealed record ReadOutboxDevices(long BatchId, IReadOnlyList<DeviceId> Devices, int Max) : INoSerializationVerificationNeeded;

/// <summary>One <see cref="OutboxDeviceWaiting"/> per device asked (empty ones included), or an <c>Error</c> (the read failed) and none.</summary>
public sealed record OutboxDevicesWaiting(long BatchId, IReadOnlyList<OutboxDeviceWaiting> Devices, string Error = "") : INoSerializationVerificationNeeded;

/// <summary>Tells the edge's sync sender to sync now (anomaly, low-confidence frame, backlog above a threshold).</summary>
public sealed record SyncNow : INoSerializationVerificationNeeded
{
    public static readonly SyncNow Instance = new();
}

/// <summary>Replies <see cref="SinkHealth"/>: whether the datacenter's sync sink can store now (the node's <c>/health/ready</c> store check).</summary>
public sealed record GetSinkHealth : INoSerializationVerificationNeeded
{
    public static readonly GetSinkHealth Instance = new();
}

/// <summary>
/// <c>StoreAvailable</c>: the last store call or check succeeded; otherwise <c>Detail</c> says why not (the store
/// unreachable since when, or not checked yet). <c>Refused</c>: batches refused because the store was unavailable, since start.
/// </summary>
public sealed record SinkHealth(bool StoreAvailable, string Detail, long Refused) : INoSerializationVerificationNeeded;
