using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Gateway;

/// <summary>
/// Answers one <see cref="GetClusterOverview"/>: membership from the local cluster state plus the sharding
/// statistics of every device region. Replies once, on the statistics or on its timer, then stops.
/// </summary>
public sealed class OverviewCollector : ReceiveActor, IWithTimers
{
    private sealed record Timeout
    {
        public static readonly Timeout Instance = new();
    }

    private readonly IActorRef _replyTo;

    public ITimerScheduler Timers { get; set; } = null!;

    public OverviewCollector(IActorRef replyTo, IActorRef devices, TimeSpan timeout)
    {
        _replyTo = replyTo;
        devices.Tell(new GetClusterShardingStats(timeout));

        Receive<ClusterShardingStats>(stats =>
        {
            var regions = stats.Regions
                .OrderBy(kv => kv.Key.ToString())
                .Select(kv => new RegionInfo(kv.Key.ToString(), kv.Value.Stats.Count, kv.Value.Stats.Values.Sum()))
                .ToArray();
            var complete = stats.Regions.Values.All(r => r.Failed.Count == 0);
            Finish(regions, complete);
        });
        Receive<Timeout>(_ => Finish([], false));
        Timers.StartSingleTimer(Timeout.Instance, Timeout.Instance, timeout + TimeSpan.FromSeconds(1));
    }

    public static Props Props(IActorRef replyTo, IActorRef devices, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new OverviewCollector(replyTo, devices, timeout));

    private void Finish(RegionInfo[] regions, bool complete)
    {
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        var state = cluster.State;
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        var members = state.Members
            .OrderBy(m => m.Address.ToString())
            .Select(m => new MemberInfo(
                m.Address.ToString(),
                m.Roles.OrderBy(r => r).ToArray(),
                unreachable.Contains(m.Address) ? $"{m.Status}/unreachable" : m.Status.ToString()))
            .ToArray();
        _replyTo.Tell(new ClusterOverview(cluster.SelfAddress.ToString(), members, regions, complete));
        Context.Stop(Self);
    }
}
