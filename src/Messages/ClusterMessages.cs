namespace EdgeActors.Messages;

/// <summary>Queries answered by any gateway node (edge or datacenter).</summary>
public interface IClusterQuery : IEdgeMessage;

public interface IClusterEvent : IEdgeMessage;

public sealed record GetClusterOverview : IClusterQuery
{
    public static readonly GetClusterOverview Instance = new();
}

public sealed record MemberInfo(string Address, string[] Roles, string Status);

/// <summary>One shard region (an edge node) with the shards and live device entities it hosts.</summary>
public sealed record RegionInfo(string Address, int Shards, int Entities);

/// <summary>
/// Cluster membership and device placement. <c>StatsComplete</c> is false when some region did not answer
/// the sharding statistics query in time (the counts then cover the regions that did).
/// </summary>
public sealed record ClusterOverview(string AnsweredBy, MemberInfo[] Members, RegionInfo[] Regions, bool StatsComplete)
    : IClusterEvent
{
    public int Devices => Regions.Sum(r => r.Entities);
}

/// <summary>The cluster refused a request it could not route or understand; <c>Reason</c> says why.</summary>
public sealed record RequestRejected(string Reason) : IClusterEvent;
