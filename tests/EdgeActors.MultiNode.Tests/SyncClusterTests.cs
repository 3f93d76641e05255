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
/// Store-and-forward across real processes: edges keep acknowledging (durably) while the datacenter is down and drain
/// their backlog when it is back; an edge killed with SIGKILL and restarted on its data directory delivers what it had
/// acknowledged. The datacenter's SQLite store ends up with every durably acknowledged reading exactly once.
/// </summary>
public sealed class SyncClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";
    private readonly ConcurrentDictionary<(string Device, long Seq), byte> _durable = new();

    private string Addr(int i) => _cluster.AddressOf(_ports[i]);

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(4);
        _dir = TestCluster.FreshDirectory("sync", _ports[0]);
        string[] fastSync = ["--set", "edgeactors.sync { interval = 300ms, ack-timeout = 2s, backoff-max = 2s }"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", ["datacenter"], _ports[1], []),
            new NodeSpec("edge1", ["edge"], _ports[2], fastSync),
            new NodeSpec("edge2", ["edge"], _ports[3], fastSync),
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[2], _ports[3]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(3),
            RetryDeadline = TimeSpan.FromSeconds(90),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + _dir);
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster);

    /// <summary>Streams telemetry for the devices, one request at a time per device; remembers every durably acked reading.</summary>
    private async Task StreamAsync(string prefix, int devices, int batches, int readings, Func<Task>? midway = null)
    {
        var gens = Enumerable.Range(0, devices).Select(d => new TelemetryGenerator(new DeviceId($"{prefix}-{d:D2}"), 4, FaultSettings.None, d + 1)).ToArray();
        var done = 0;
        var workers = gens.Select(async g =>
        {
            for (var b = 0; b < batches; b++)
            {
                var batch = g.NextBatch(readings, 1_700_000_000_000 + b * 1000L, 10);
                var reply = await _client.SendTelemetryAsync(batch);
                var ack = reply.Value;
                Assert.Equal(AckLevel.DurableOnEdge, ack.Level);
                var accepted = ack.Accepted + (reply.Attempts > 1 ? ack.Rejected.Count(r => r.Reason == RejectReason.Duplicate) : 0);
                Assert.Equal(batch.Count, accepted);
                foreach (var seq in batch.Sequences) _durable[(g.Device.Value, seq)] = 0;
                Interlocked.Increment(ref done);
                await Task.Delay(20);
            }
        }).ToList();
        if (midway is not null)
        {
            while (Volatile.Read(ref done) < devices * batches / 3) await Task.Delay(20);
            await midway();
        }
        await Task.WhenAll(workers);
    }

    private async Task<SyncStatus> SyncStatusOf(int port)
    {
        var s = await _client.GetSyncStatusAsync($"127.0.0.1:{port}");
        Assert.EndsWith($":{port}", s.Edge); // answered by that edge, whichever gateway the client reached
        return s;
    }

    private async Task WaitForDrainAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var s1 = await SyncStatusOf(_ports[2]);
            var s2 = await SyncStatusOf(_ports[3]);
            if (s1.Backlog == 0 && s2.Backlog == 0) return;
            Assert.True(DateTime.UtcNow < deadline, $"backlog did not drain: edge1 {s1.Backlog}, edge2 {s2.Backlog}");
            await Task.Delay(500);
        }
    }

    /// <summary>Waits until no member of the cluster listens on <paramref name="port"/> (a killed node was downed and removed).</summary>
    private async Task WaitUntilRemovedAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var overview = await ClusterProbe.TryOverviewAsync(_client);
            if (overview is not null && overview.Members.All(m => !m.Address.EndsWith($":{port}", StringComparison.Ordinal))) return;
            Assert.True(DateTime.UtcNow < deadline, $"the killed node on port {port} was not removed within {timeout.TotalSeconds:0} s");
            await Task.Delay(300);
        }
    }

    [Fact]
    public async Task Durably_acked_readings_should_reach_the_store_exactly_once_through_outages_and_an_edge_crash()
    {
        // ---- the datacenter crashes: edges keep accepting durably and build a backlog
        _cluster["datacenter"].KillHard();
        await StreamAsync("out", 20, 10, 50);
        var during1 = await SyncStatusOf(_ports[2]);
        var during2 = await SyncStatusOf(_ports[3]);
        output.WriteLine($"datacenter down: backlog edge1 {during1.Backlog}, edge2 {during2.Backlog}");
        Assert.Equal(20 * 10 * 50, during1.Backlog + during2.Backlog);

        // ---- it comes back on the same data directory: the backlog drains. It is restarted once its killed incarnation
        // has been removed from the cluster: a node restarted over TLS before that may never complete its join (the known
        // quick-restart defect, issue 15), which is not what this test is about
        await WaitUntilRemovedAsync(_ports[1], TimeSpan.FromSeconds(30));
        _cluster.Start("datacenter");
        await WaitForDrainAsync(TimeSpan.FromSeconds(90));
        output.WriteLine("backlog drained after the datacenter restarted");

        // ---- an edge is SIGKILLed mid-stream and restarted on its data directory
        await StreamAsync("crash", 20, 15, 40, async () =>
        {
            _cluster["edge1"].KillHard();
            output.WriteLine("edge1 killed");
            await Task.Delay(500);
            _cluster.Start("edge1");
        });
        var members = await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60));
        Assert.NotNull(members);
        await WaitForDrainAsync(TimeSpan.FromSeconds(90));

        // ---- the store holds every durably acknowledged reading exactly once, in sequence order per device
        await _client.DisposeAsync();
        await _cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        using var store = new SqliteDataStore(Path.Combine(_dir, "datacenter", "store.db"));
        var expected = _durable.Keys.GroupBy(k => k.Device).ToDictionary(g => g.Key, g => g.Select(k => k.Seq).Order().ToArray());
        long rows = 0;
        foreach (var (device, seqs) in expected)
        {
            var history = store.History(new DeviceId(device), RecordKind.Telemetry, 10_000);
            Assert.Equal(seqs, history.Select(r => r.Sequence).ToArray()); // all there, once each, ascending
            rows += history.Count;
        }
        Assert.Equal(_durable.Count, rows);
        Assert.Equal(_durable.Count, store.Count(RecordKind.Telemetry));
        output.WriteLine($"store: {rows} rows for {_durable.Count} durably acknowledged readings; duplicate deliveries absorbed: {store.Duplicates()}");
    }
}
