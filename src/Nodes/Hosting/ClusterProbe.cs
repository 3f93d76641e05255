using System.Diagnostics;
using EdgeActors.Client;
using EdgeActors.Messages;

namespace EdgeActors.Nodes.Hosting;

/// <summary>Watching a <see cref="LocalCluster"/> form through the client: the demo, the tools and the multi-process tests.</summary>
public static class ClusterProbe
{
    /// <param name="restartsExpected">
    /// false: a node that exits means the cluster cannot form (null at once); true: something (the chaos run's service
    /// manager) restarts exited nodes, so keep waiting until every node runs and is Up.
    /// </param>
    public static async Task<ClusterOverview?> WaitForMembersAsync(EdgeClient client, LocalCluster cluster, int expected, TimeSpan timeout,
        bool restartsExpected = false)
    {
        var sw = Stopwatch.StartNew();
        ClusterOverview? last = null;
        while (sw.Elapsed < timeout)
        {
            foreach (var n in cluster.Nodes)
                if (n.HasExited && !restartsExpected)
                {
                    Console.Error.WriteLine($"node {n.Spec.Name} exited with code {n.ExitCode} during start-up; last lines of {n.LogPath}:\n{n.Tail()}");
                    return null;
                }
            last = await TryOverviewAsync(client) ?? last;
            // members Up is not enough: until every running edge's shard region has registered with the shard
            // coordinator, new devices would all be allocated to the edges that registered first
            var edges = cluster.Nodes.Count(n => n.Spec.Roles.Contains("edge") && !n.HasExited);
            if (last is not null && last.Members.Count(m => m.Status == "Up") >= expected && last.Regions.Length >= edges
                && cluster.Nodes.All(n => !n.HasExited))
                return last;
            await Task.Delay(500);
        }
        Console.Error.WriteLine($"cluster did not reach {expected} members with every edge's shard region registered within {timeout.TotalSeconds:0}s (last view: {(last is null ? "no answer" : Describe(last))})");
        foreach (var n in cluster.Nodes) Console.Error.WriteLine($"--- {n.Spec.Name} ({n.LogPath}):\n{n.Tail(15)}");
        return null;
    }

    public static async Task<ClusterOverview?> TryOverviewAsync(EdgeClient client)
    {
        try
        {
            return await client.TryOnceAsync<ClusterOverview>(GetClusterOverview.Instance, TimeSpan.FromSeconds(2));
        }
        catch (Exception)
        {
            return null;
        }
    }

    public static string Describe(ClusterOverview o)
    {
        var members = string.Join(" ", o.Members.Select(m => $"{m.Address.Split('@').Last()}[{string.Join(",", m.Roles.Where(r => r != "gateway"))}]={m.Status}"));
        var regions = string.Join(" ", o.Regions.Select(r => $"{r.Address.Split('@').Last()}:{r.Shards}sh/{r.Entities}dev"));
        return $"{members}; regions {(regions.Length == 0 ? "none" : regions)}";
    }
}
