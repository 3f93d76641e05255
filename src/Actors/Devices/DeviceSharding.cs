using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>Registry key for the device shard region (a real region on edges, a proxy elsewhere).</summary>
public sealed class DeviceRegion;

/// <summary>
/// Routes every <see cref="IWithDeviceId"/> message by device id. A homed device (<c>&lt;site&gt;/&lt;local-id&gt;</c>,
/// see <see cref="Sites"/>) goes to one of its site's shards, <c>&lt;site&gt;:&lt;n&gt;</c> with
/// <c>n = hash(id) mod shardsPerSite</c>; any other device to one of <paramref name="maxShards"/> hash shards as before.
/// </summary>
public sealed class DeviceMessageExtractor(int maxShards, int shardsPerSite = 10) : HashCodeMessageExtractor(maxShards)
{
    public override string? EntityId(object message) => message is IWithDeviceId d ? d.DeviceId.Value : null;

    public override string ShardId(string entityId, object? messageHint = null)
    {
        var site = Sites.HomeOfDevice(entityId);
        if (site is null) return base.ShardId(entityId, messageHint);
        var n = (Akka.Util.MurmurHash.StringHash(entityId) & int.MaxValue) % shardsPerSite;
        return site + ":" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
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
    /// When a <see cref="FrameClassifierKey"/> is registered before this call, camera frames are classified; when an
    /// outbox writer (and sync sender) are, accepted data is made durable before it is acknowledged.
    /// </remarks>
    public static AkkaConfigurationBuilder AddDeviceSharding(
        this AkkaConfigurationBuilder builder, DeviceShardingSettings sharding, IngestionSettings ingestion, bool hostEntities,
        Federated.LocalTrainingSet? training = null, LocalitySettings? locality = null, Twins.TwinSettings? twins = null)
    {
        locality ??= LocalitySettings.Default;
        var extractor = new DeviceMessageExtractor(sharding.Shards, locality.ShardsPerSite);
        if (!hostEntities)
            return builder.WithShardRegionProxy<DeviceRegion>(DeviceShardingSettings.TypeName, Roles.Edge, extractor);

        // Akka.Cluster.Hosting's ShardOptions cannot carry a custom allocation strategy: the region is started here
        return builder.WithActors((system, registry) =>
        {
            // with restore on, entities restore in bulk through the node's restorer (AddDeviceRestorer): required, not a silent fallback
            var restorer = locality.Restore ? registry.Require<DeviceRestorerKey>("AddDeviceSharding", "AddDeviceRestorer") : null;
            // role-optional: classification can be disabled and the outbox (with its sync sender) is off without a datacenter to sync to
            // entities keep twins and commands in the twin store (AddTwinStore: the singleton's proxy on every node)
            var twinStore = registry.Require<Twins.TwinStoreKey>("AddDeviceSharding", "AddTwinStore");
            var services = new DeviceServices(
                registry.TryGet<FrameClassifierKey>(out var c) ? c : null,
                registry.TryGet<Sync.OutboxWriterKey>(out var o) ? o : null,
                registry.TryGet<Sync.SyncSenderKey>(out var s) ? s : null)
            {
                Training = training, Restorer = restorer, RestoreBackstop = locality.RestoreBackstop,
                Twins = twinStore is null ? null : new TwinServices(twinStore, twins ?? Twins.TwinSettings.Default),
            };
            var clusterSharding = ClusterSharding.Get(system); // also adds the sharding defaults to the config
            var config = Akka.Configuration.ConfigurationFactory.ParseString(
                    $"role = \"{Roles.Edge}\"\nremember-entities = off\nstate-store-mode = ddata\n" +
                    $"passivate-idle-entity-after = {(long)sharding.PassivateIdleAfter.TotalMilliseconds}ms")
                .WithFallback(system.Settings.Config.GetConfig("akka.cluster.sharding"));
            var settings = ClusterShardingSettings.Create(config, system.Settings.Config.GetConfig("akka.cluster.singleton"));
            var strategy = new HomeSiteAllocationStrategy(HomeSiteAllocationStrategy.ClusterSites(system), locality.RebalanceLimit, locality.RebalanceWarmup);
            var region = clusterSharding.Start(
                DeviceShardingSettings.TypeName,
                entityId => DeviceActor.Props(new DeviceId(entityId), ingestion, services),
                settings,
                extractor,
                strategy,
                StopDevice.Instance);
            registry.Register<DeviceRegion>(region);
            system.ActorOf(Observability.ShardMetricsPoller.Props(region, DeviceShardingSettings.TypeName, TimeSpan.FromSeconds(5)), "shard-metrics");
        });
    }
}
