namespace EdgeActors.Messages;

/// <summary>
/// Root marker for every EdgeActors message that may cross a process boundary.
/// Bound to <see cref="Serialization.EdgeSerializer"/>; nothing of ours goes over the wire with
/// Akka's JSON or Hyperion serializers.
/// </summary>
public interface IEdgeMessage;

/// <summary>Strongly typed device identity (the sharding entity id).</summary>
public readonly record struct DeviceId(string Value)
{
    public override string ToString() => Value;
    public static implicit operator string(DeviceId id) => id.Value;
}

/// <summary>Anything addressed to one device entity.</summary>
public interface IWithDeviceId
{
    DeviceId DeviceId { get; }
}
