using EdgeActors.Client;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>The set-up and tear-down every multi-process test class shares around its own <see cref="LocalCluster"/>.</summary>
internal static class TestCluster
{
    /// <summary>An empty directory for a test class's node data and logs, named after the test and its first port.</summary>
    public static string FreshDirectory(string name, int port)
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-tests", $"{name}-{Environment.ProcessId}-{port}");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        return dir;
    }

    /// <summary>
    /// Client options for <paramref name="cluster"/>: its credentials (TLS and a client token; LocalCluster is secure by
    /// default) and the nodes on <paramref name="contactPorts"/> as contact points. Timeouts are the caller's (<c>with</c>).
    /// </summary>
    public static EdgeClientOptions ClientOptions(LocalCluster cluster, params int[] contactPorts) => new()
    {
        Credentials = cluster.ClientCredentials,
        Contacts = contactPorts.Select(p => $"127.0.0.1:{p}").ToList(),
    };

    /// <summary>Closes the client, stops every node (graceful leave, killed after 20 s) and releases the cluster.</summary>
    public static async Task StopAsync(EdgeClient? client, LocalCluster? cluster, ITestOutputHelper? output = null)
    {
        if (client is not null) await client.DisposeAsync();
        if (cluster is null) return;
        var times = await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        output?.WriteLine("stopped: " + string.Join(" ", times.Select(kv => $"{kv.Key}={kv.Value:0.0}s")));
        await cluster.DisposeAsync();
    }
}
