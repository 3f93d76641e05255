using Akka.Actor;
using Akka.Cluster.Sharding;

namespace EdgeActors.Actors.Observability;

/// <summary>
/// Keeps the shard metrics of one local shard region current (docs/metrics.md): every <c>interval</c> it Tells the
/// region <see cref="GetShardRegionStats"/> and caches the <see cref="ShardRegionStats"/> reply (shards this node hosts
/// and their entities) for <see cref="ClusterMetrics"/>' gauges. Local to the node: no cluster-wide query.
/// </summary>
public sealed class ShardMetricsPoller : ReceiveActor, IWithTimers
{
    private sealed record Poll
    {
        public static readonly Poll Instance = new();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public ShardMetricsPoller(IActorRef region, string typeName, TimeSpan interval)
    {
        Receive<Poll>(_ => region.Tell(GetShardRegionStats.Instance));
        Receive<ShardRegionStats>(s => ClusterMetrics.Region(typeName, s.Stats.Count, s.Stats.Values.Sum()));
        Timers.StartPeriodicTimer(Poll.Instance, Poll.Instance, TimeSpan.FromSeconds(1), interval);
    }

    public static Props Props(IActorRef region, string typeName, TimeSpan interval) =>
        Akka.Actor.Props.Create(() => new ShardMetricsPoller(region, typeName, interval));
}
