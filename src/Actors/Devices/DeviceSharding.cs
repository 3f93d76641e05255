using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>Registry key for the device shard region (a real region on edges, a proxy elsewhere).</summary>
public sealed class DeviceRegion;

/// <summary>Routes every <see cref="IWithDeviceId"/> message by device id.</summary>
public sealed class DeviceMessageExtractor(int maxShards) : HashCodeMessageExtractor(maxShards)
{
    public override string? EntityId(object message) => message is IWithDeviceId d ? d.DeviceId.Value : null;
}

/// <summary>Typed sharding settings bound from <c>edgeactors.sharding</c>.</summary>
public sealed record DeviceShardingSettings(int Shards, TimeSpan PassivateIdleAfter)
{
    public const string TypeName = "device";

    public static DeviceShardingSettings FromConfig(Akka.Configuration.Config section)
    {
        var shards = section.GetInt("shards", 100);
        if (shards < 1) throw new ArgumentException($"edgeactors.sharding.shards must be >= 1, got {shards}");
        var idle = section.GetTimeSpan("passivate-idle-after", TimeSpan.FromMinutes(2));
        if (idle <= TimeSpan.Zero) throw new ArgumentException($"edgeactors.sharding.passivate-idle-after must be positive, got {idle}");
        return new DeviceShardingSettings(shards, idle);
    }
}

public static class DeviceShardingRegistration
{
    /// <summary>
    /// Edge nodes host device entities; every other node gets a proxy to them. Idle entities passivate through
    /// <see cref="StopDevice"/>, which is queued behind any pending commands.
    /// </summary>
    /// <remarks>
    /// When a <see cref="FrameClassifier"/> is registered before this call, camera frames are classified; when an
    /// outbox writer (and sync sender) are, accepted data is made durable before it is acknowledged.
    /// </remarks>
    public static AkkaConfigurationBuilder AddDeviceSharding(
        this AkkaConfigurationBuilder builder, DeviceShardingSettings sharding, IngestionSettings ingestion, bool hostEntities,
        Federated.LocalTrainingSet? training = null)
    {
        var extractor = new DeviceMessageExtractor(sharding.Shards);
        if (!hostEntities)
            return builder.WithShardRegionProxy<DeviceRegion>(DeviceShardingSettings.TypeName, Roles.Edge, extractor);

        return builder.WithShardRegion<DeviceRegion>(
            DeviceShardingSettings.TypeName,
            (_, registry) =>
            {
                var services = new DeviceServices(
                    registry.TryGet<FrameClassifier>(out var c) ? c : null,
                    registry.TryGet<Sync.OutboxWriter>(out var o) ? o : null,
                    registry.TryGet<Sync.SyncSender>(out var s) ? s : null) { Training = training };
                return entityId => DeviceActor.Props(new DeviceId(entityId), ingestion, services);
            },
            extractor,
            new ShardOptions
            {
                Role = Roles.Edge,
                RememberEntities = false,
                StateStoreMode = StateStoreMode.DData,
                HandOffStopMessage = StopDevice.Instance,
                PassivateIdleEntityAfter = sharding.PassivateIdleAfter,
                ShouldPassivateIdleEntities = true,
            });
    }
}
