using Akka.Cluster.Sharding;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using EdgeActors.Actors;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Gateway;
using EdgeActors.Messages;
using EdgeActors.Nodes.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.Tests.Cluster;

/// <summary>
/// Three nodes composed exactly as <c>edgeactors node</c> composes them (<see cref="NodeConfig"/> +
/// <see cref="NodeHost"/>), as three ActorSystems in this process: A = seed + datacenter (device proxy only),
/// B and C = edge (device entities).
/// </summary>
public sealed class InProcessClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int DeviceCount = 40;
    private static readonly TimeSpan FormationTimeout = TimeSpan.FromSeconds(30);

    private sealed record Node(string Name, IHost Host, ActorSystem System, ActorRegistry Registry, Address Address);

    private readonly List<Node> _nodes = [];
    private readonly string _dataRoot = Path.Combine(Path.GetTempPath(), "edgeactors-tests", $"in-process-{Guid.NewGuid():N}");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        var sw = Stopwatch.StartNew();
        // edges first, the seed last: it stays the leader that moves the leaving edges to Removed
        await Task.WhenAll(_nodes.Where(n => n.Name != "A").Select(n => StopAsync(n)));
        await Task.WhenAll(_nodes.Where(n => n.Name == "A").Select(n => StopAsync(n)));
        output.WriteLine($"stopped {_nodes.Count} node(s) in {sw.Elapsed.TotalSeconds:F1}s");
        try { Directory.Delete(_dataRoot, recursive: true); } catch (IOException) { }
    }

    private async Task StopAsync(Node node)
    {
        var sw = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await node.Host.StopAsync(cts.Token);
        }
        finally
        {
            node.Host.Dispose();
            output.WriteLine($"node {node.Name} ({node.Address}) stopped in {sw.Elapsed.TotalSeconds:F1}s");
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>The hocon/ folder copied next to the test assembly (the Nodes project's content), else the repository's.</summary>
    private static string HoconDirectory()
    {
        var output = Path.Combine(AppContext.BaseDirectory, "hocon");
        if (File.Exists(Path.Combine(output, "base.conf"))) return output;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "EdgeActors.sln")))
                return Path.Combine(dir.FullName, "hocon");
        throw new InvalidOperationException($"no hocon/ folder next to {AppContext.BaseDirectory} or in a parent with EdgeActors.sln");
    }

    private async Task<Node> StartNode(string name, string[] roles, int port, int seedPort)
    {
        var (config, parsedRoles) = NodeConfig.Build(
            new NodeOptions
            {
                Roles = roles,
                Host = "127.0.0.1",
                Port = port,
                Seeds = [$"127.0.0.1:{seedPort}"],
                // a fresh data directory per node (never the working directory's .data/node-<port> of an earlier run)
                DataDirectory = Path.Combine(_dataRoot, $"{name}-{port}"),
                // several nodes in one process share one machine's ports: no HTTP host or MQTT broker each
                Sets = ["akka.loglevel = WARNING", "edgeactors.http.enabled = off", "edgeactors.mqtt.enabled = off"],
                HoconDirectory = HoconDirectory(),
            },
            new Dictionary<string, string?>());
        var host = NodeHost.Build(config, parsedRoles);
        try
        {
            await host.StartAsync();
        }
        catch
        {
            host.Dispose();
            throw;
        }
        var system = host.Services.GetRequiredService<ActorSystem>();
        var node = new Node(name, host, system, host.Services.GetRequiredService<ActorRegistry>(),
            Akka.Cluster.Cluster.Get(system).SelfAddress);
        lock (_nodes) _nodes.Add(node); // B and C start concurrently
        return node;
    }

    private static async Task WaitForUp(IReadOnlyList<Node> nodes, int expected, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var counts = nodes.Select(n => Akka.Cluster.Cluster.Get(n.System).State.Members.Count(m => m.Status == MemberStatus.Up)).ToArray();
            if (counts.All(c => c == expected)) return;
            if (sw.Elapsed > timeout)
                throw new TimeoutException($"cluster did not form in {timeout.TotalSeconds}s: members Up per node = [{string.Join(", ", counts)}]");
            await Task.Delay(200);
        }
    }

    private static TelemetryBatch Batch(int device) =>
        new(new DeviceId($"dev-{device:D3}"), 2, [1, 2, 3], [1000, 1001, 1002], [1, 2, 3, 4, 5, 6]);

    [Fact]
    public async Task Three_nodes_should_form_a_cluster_and_route_devices_to_both_edges()
    {
        var total = Stopwatch.StartNew();
        var seedPort = FreePort();
        var a = await StartNode("A", [Roles.Seed, Roles.Datacenter], seedPort, seedPort);
        var nodeTasks = new[] { StartNode("B", [Roles.Edge], FreePort(), seedPort), StartNode("C", [Roles.Edge], FreePort(), seedPort) };
        var edges = await Task.WhenAll(nodeTasks);
        var b = edges[0];
        var c = edges[1];
        Assert.Equal(3, new[] { a.Address.Port, b.Address.Port, c.Address.Port }.Distinct().Count());

        await WaitForUp(_nodes, 3, FormationTimeout);
        output.WriteLine($"cluster Up after {total.Elapsed.TotalSeconds:F1}s");

        // ---- route device traffic through node A's proxy; the probe lives in A's system (the sender's)
        var probe = new TestProbe(a.System, new XunitAssertions(), "client");
        var region = a.Registry.Get<DeviceRegion>();
        // both edges' regions must be registered with the shard coordinator before the first device is created, or
        // every shard may be allocated to the region that registered first (members Up does not imply that)
        var regions = 0;
        var registered = Stopwatch.StartNew();
        while (regions < 2 && registered.Elapsed < FormationTimeout)
        {
            var stats = await region.Ask<ClusterShardingStats>(new GetClusterShardingStats(TimeSpan.FromSeconds(2)), TimeSpan.FromSeconds(5));
            regions = stats.Regions.Count;
            if (regions < 2) await Task.Delay(200);
        }
        Assert.True(regions == 2, $"{regions} edge region(s) registered with the shard coordinator");
        for (var i = 0; i < DeviceCount; i++)
            region.Tell(Batch(i), probe.Ref);

        var acks = new List<IngestAck>();
        var deadline = Stopwatch.StartNew();
        while (acks.Count < DeviceCount && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            var msg = probe.ReceiveOne(TimeSpan.FromSeconds(1));
            if (msg is IngestAck ack) acks.Add(ack);
            else if (msg is not null) Assert.Fail($"unexpected reply {msg}");
        }
        Assert.True(acks.Count == DeviceCount,
            $"{acks.Count} of {DeviceCount} acks arrived; missing: {string.Join(", ", Enumerable.Range(0, DeviceCount).Select(i => Batch(i).DeviceId.Value).Except(acks.Select(x => x.DeviceId.Value)))}");
        output.WriteLine($"{DeviceCount} acks after {total.Elapsed.TotalSeconds:F1}s");

        Assert.Equal(DeviceCount, acks.Select(x => x.DeviceId).Distinct().Count());
        Assert.All(acks, x =>
        {
            Assert.Equal(3, x.Accepted);
            Assert.Empty(x.Rejected);
            Assert.Equal(3, x.HighestContiguous);
        });
        var byNode = acks.GroupBy(x => x.Node).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine("devices per node: " + string.Join(", ", byNode.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.DoesNotContain(a.Address.ToString(), byNode.Keys);
        Assert.Equal(new[] { b.Address.ToString(), c.Address.ToString() }.Order(), byNode.Keys.Order());

        // a device keeps its home: the retry of every batch lands on the same node as Duplicates
        for (var i = 0; i < DeviceCount; i++)
            region.Tell(Batch(i), probe.Ref);
        var retries = probe.ReceiveN(DeviceCount, TimeSpan.FromSeconds(10)).Cast<IngestAck>().ToArray();
        var home = acks.ToDictionary(x => x.DeviceId, x => x.Node);
        Assert.All(retries, r =>
        {
            Assert.Equal(home[r.DeviceId], r.Node);
            Assert.Equal(0, r.Accepted);
            Assert.All(r.Rejected, x => Assert.Equal(RejectReason.Duplicate, x.Reason));
        });

        // ---- the overview from node A's gateway
        var gateway = a.Registry.Get<GatewayActor>();
        gateway.Tell(GetClusterOverview.Instance, probe.Ref);
        var overview = probe.ExpectMsg<ClusterOverview>(TimeSpan.FromSeconds(10));
        output.WriteLine($"overview: {string.Join("; ", overview.Members.Select(m => $"{m.Address} [{string.Join(",", m.Roles)}] {m.Status}"))} | " +
                         string.Join("; ", overview.Regions.Select(r => $"{r.Address} shards={r.Shards} entities={r.Entities}")));

        Assert.Equal(a.Address.ToString(), overview.AnsweredBy);
        Assert.True(overview.StatsComplete);
        Assert.Equal(3, overview.Members.Length);
        var members = overview.Members.ToDictionary(m => m.Address);
        Assert.All(overview.Members, m => Assert.Equal("Up", m.Status));
        Assert.Superset(new HashSet<string> { Roles.Seed, Roles.Datacenter, Roles.Gateway }, members[a.Address.ToString()].Roles.ToHashSet());
        Assert.DoesNotContain(Roles.Edge, members[a.Address.ToString()].Roles);
        foreach (var edge in new[] { b, c })
        {
            var roles = members[edge.Address.ToString()].Roles;
            Assert.Superset(new HashSet<string> { Roles.Edge, Roles.Gateway }, roles.ToHashSet());
            Assert.DoesNotContain(Roles.Seed, roles);
            Assert.DoesNotContain(Roles.Datacenter, roles);
        }

        Assert.Equal(new[] { b.Address.ToString(), c.Address.ToString() }.Order(), overview.Regions.Select(r => r.Address).Order());
        Assert.Equal(DeviceCount, overview.Regions.Sum(r => r.Entities));
        Assert.Equal(DeviceCount, overview.Devices);
        foreach (var r in overview.Regions)
        {
            Assert.Equal(byNode[r.Address], r.Entities);
            Assert.True(r.Shards > 0);
        }

        output.WriteLine($"test body took {total.Elapsed.TotalSeconds:F1}s");
    }
}
