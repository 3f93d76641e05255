using EdgeActors.Storage;
using System.Collections.Concurrent;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// A real network partition between real node processes: every node runs in a Linux network namespace of its own
/// (veth pairs on a bridge, made by the test as root). One edge is cut off from the rest of the cluster and from the
/// client while devices keep streaming; the split brain resolver keeps the majority side, the cut-off edge downs
/// itself and exits; its devices are served on the majority side. After the partition heals and the edge is
/// restarted (as its service manager would), there is one cluster again, every device entity exists once, and the
/// datacenter's store holds every acknowledged reading exactly once, including what sat in the cut-off edge's outbox.
/// </summary>
public sealed class PartitionTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Devices = 40;
    private const int Readings = 20;
    private LocalCluster? _cluster;
    private NetworkNamespaces? _net;
    private EdgeClient _client = null!;
    private string _dir = "";
    private readonly ConcurrentDictionary<(string Device, long Seq), byte> _acked = new();
    private TelemetryGenerator[] _gens = [];

    public async Task InitializeAsync()
    {
        var refused = NetworkNamespaces.Probe();
        // The issue allows another partition method where namespaces are refused; this machine (root, iproute2) has
        // them, so a refusal is reported as a failure naming the reason rather than silently testing something else.
        Assert.True(refused is null, $"cannot make network namespaces for the partition test: {refused}");
        var ports = Ports.Free(4);
        _dir = TestCluster.FreshDirectory("partition", ports[0]);
        _net = NetworkNamespaces.Create(["seed", "datacenter", "edge1", "edge2"]);
        output.WriteLine($"network 10.77.{_net.Net}.0/24 (client {_net.ClientAddress})");
        string[] fastSync = ["--set", "edgeactors.sync { interval = 300ms, ack-timeout = 2s, backoff-max = 2s }"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", ports[0]),
            new NodeSpec("datacenter", "datacenter", ports[1]),
            new NodeSpec("edge1", ["edge"], ports[2], fastSync),
            new NodeSpec("edge2", ["edge"], ports[3], fastSync),
        ], _dir, network: _net);
        _cluster.StartAll();
        _client = EdgeClient.Connect(new EdgeClientOptions
        {
            Credentials = _cluster.ClientCredentials,
            Contacts = _cluster.GatewayContacts.ToList(),
            Host = _net.ClientAddress,
            RequestTimeout = TimeSpan.FromSeconds(2),
            RetryDeadline = TimeSpan.FromSeconds(90),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        var overview = await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60));
        Assert.True(overview is not null, "cluster did not form; logs in " + _dir);
        _gens = Enumerable.Range(0, Devices).Select(d => new TelemetryGenerator(new DeviceId($"part-{d:D2}"), 4, FaultSettings.None, d + 1)).ToArray();
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        _net?.Heal();
        if (_cluster is not null)
        {
            await _cluster.StopAllAsync(TimeSpan.FromSeconds(20));
            await _cluster.DisposeAsync();
        }
        _net?.Dispose();
    }

    private string Addr(string node) => _cluster!.AddressOf(node);

    /// <summary>Every device sends <paramref name="batches"/> batches, one request at a time; every reading must be acknowledged.</summary>
    private async Task StreamAsync(int batches, ConcurrentDictionary<DeviceId, string>? placement = null)
    {
        await Task.WhenAll(_gens.Select(async g =>
        {
            for (var b = 0; b < batches; b++)
            {
                var batch = g.NextBatch(Readings, 1_700_000_000_000 + g.NextSequence * 10L, 10);
                var reply = await _client.SendTelemetryAsync(batch);
                var ack = reply.Value;
                // a retried batch may have been accepted by the first attempt: its readings come back as duplicates
                var accepted = ack.Accepted + (reply.Attempts > 1 ? ack.Rejected.Count(r => r.Reason == RejectReason.Duplicate) : 0);
                Assert.True(accepted == batch.Count,
                    $"{g.Device} {batch.Sequences[0]}..{batch.Sequences[^1]}: accepted {accepted} of {batch.Count} by {ack.Node} " +
                    $"({string.Join(",", ack.Rejected.Take(3).Select(r => $"{r.Sequence}:{r.Reason}"))})");
                Assert.Equal(AckLevel.DurableOnEdge, ack.Level);
                foreach (var s in batch.Sequences) _acked[(g.Device.Value, s)] = 0;
                if (placement is not null) placement[g.Device] = ack.Node;
                await Task.Delay(100);
            }
        }));
    }

    [Fact]
    public async Task Partitioned_edge_should_rejoin_as_one_cluster_without_duplicate_entities_or_lost_readings()
    {
        var cluster = _cluster!;
        var net = _net!;
        var before = new ConcurrentDictionary<DeviceId, string>();
        await StreamAsync(3, before);
        var onEdge2 = before.Where(kv => kv.Value == Addr("edge2")).Select(kv => kv.Key).ToHashSet();
        output.WriteLine($"before the partition: {before.Count(kv => kv.Value == Addr("edge1"))} devices on edge1, {onEdge2.Count} on edge2");
        Assert.NotEmpty(onEdge2);
        var edge2Pid = cluster["edge2"].Pid;

        // ---- cut edge2 off from everyone (and from the client); keep streaming to every device
        net.Partition(["edge2"]);
        var cutAt = DateTime.UtcNow;
        output.WriteLine($"partition: edge2 cut off at {cutAt:HH:mm:ss.fff}");
        var during = new ConcurrentDictionary<DeviceId, string>();
        await StreamAsync(4, during);
        Assert.All(onEdge2, d => Assert.Equal(Addr("edge1"), during[d])); // served on the majority side meanwhile
        output.WriteLine($"during the partition every batch was acknowledged; edge2's {onEdge2.Count} devices answered by edge1");

        // the cut-off minority downs itself (split brain resolver, keep-majority) and its process exits
        Assert.True(await cluster["edge2"].WaitForExitAsync(TimeSpan.FromSeconds(60)),
            "edge2 kept running on the minority side of the partition; last log lines:\n" + cluster["edge2"].Tail());
        output.WriteLine($"edge2 (pid {edge2Pid}) exited {(DateTime.UtcNow - cutAt).TotalSeconds:0.0}s after the cut, exit code {cluster["edge2"].ExitCode}");

        // ---- heal, restart edge2 as its service manager would, and stream again
        net.Heal();
        cluster.Start("edge2");
        var overview = await ClusterProbe.WaitForMembersAsync(_client, cluster, 4, TimeSpan.FromSeconds(90));
        Assert.True(overview is not null, "edge2 did not rejoin after the partition healed; logs in " + _dir);
        await StreamAsync(3);

        // ---- one cluster: every node sees the same four members Up (asked through a client pinned to each gateway)
        foreach (var node in new[] { "datacenter", "edge1", "edge2" })
        {
            await using var pinned = EdgeClient.Connect(new EdgeClientOptions
            {
                Credentials = cluster.ClientCredentials,
                Contacts = [cluster[node].Spec.HostPort], Host = net.ClientAddress, RequestTimeout = TimeSpan.FromSeconds(3),
            });
            var view = await pinned.GetOverviewAsync();
            output.WriteLine($"view of {view.AnsweredBy}: {ClusterProbe.Describe(view)}");
            Assert.Equal(4, view.Members.Count(m => m.Status == "Up"));
            Assert.Equal(cluster.Specs.Select(s => cluster.AddressOf(s.Name)).Order(), view.Members.Select(m => m.Address).Order());
        }

        // ---- no duplicate device entities: once the rejoined edge has taken its share of shards back (rebalancing
        // stops moving shards), every device is touched; the entities hosted by the regions then add up to the devices
        var stable = DateTime.UtcNow + TimeSpan.FromSeconds(100); // balancing towards the rejoined edge waits out locality.rebalance-warmup (30 s)
        var lastShards = "";
        while (DateTime.UtcNow < stable)
        {
            var o = await _client.GetOverviewAsync();
            var shards = string.Join(",", o.Regions.OrderBy(r => r.Address).Select(r => r.Shards));
            if (shards == lastShards && o.Regions.Length == 2 && o.Regions.All(r => r.Shards > 0)) break;
            lastShards = shards;
            await Task.Delay(3000); // longer than the rebalance interval
        }
        output.WriteLine($"shards per region after rebalancing: {lastShards}");
        foreach (var g in _gens)
        {
            var state = await _client.GetDeviceStateAsync(g.Device);
            Assert.Equal(g.NextSequence - 1, state.LastSequence);
        }
        var final = await _client.GetOverviewAsync();
        Assert.True(final.StatsComplete, "a region did not answer the sharding statistics");
        Assert.Equal(Devices, final.Devices);

        // ---- nothing lost from outboxes: the store holds every acknowledged reading exactly once
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        var storePath = Path.Combine(_dir, "datacenter", "store.db");
        long stored;
        while (true)
        {
            using (var store = new SqliteDataStore(storePath)) stored = store.Count(RecordKind.Telemetry);
            if (stored >= _acked.Count || DateTime.UtcNow > deadline) break;
            await Task.Delay(500);
        }
        output.WriteLine($"store: {stored} readings for {_acked.Count} acknowledged");
        using (var store = new SqliteDataStore(storePath))
        {
            foreach (var g in _gens)
            {
                var seqs = store.History(g.Device, RecordKind.Telemetry, 100_000).Select(r => r.Sequence).ToList();
                Assert.Equal(Enumerable.Range(1, (int)g.NextSequence - 1).Select(i => (long)i), seqs.Order());
            }
            Assert.Equal(_acked.Count, store.Count(RecordKind.Telemetry));
        }
    }
}
