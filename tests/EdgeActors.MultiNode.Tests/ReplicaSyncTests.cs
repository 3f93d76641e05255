using EdgeActors.Storage;
using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Replicated sync across real processes: one edge syncs to three datacenter sinks (N = 3) and a batch is done when
/// W = 2 of them acknowledged it. With one sink down the backlog still drains; with two down it must not (nothing is
/// dropped) while the edge keeps acknowledging durably; when a sink is back the backlog drains. Every durably
/// acknowledged reading ends up in at least W stores, once in each.
/// </summary>
public sealed class ReplicaSyncTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int WriteQuorum = 2;
    private static readonly string[] Datacenters = ["dc1", "dc2", "dc3"];

    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";
    private readonly ConcurrentDictionary<(string Device, long Seq), byte> _durable = new();

    private int EdgePort => _ports[4];

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(5);
        _dir = TestCluster.FreshDirectory("replica", _ports[0]);
        string[] replicaSync = ["--set", $"edgeactors.sync {{ replicas = 3, write-quorum = {WriteQuorum}, interval = 300ms, ack-timeout = 2s, backoff-max = 2s }}"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("dc1", ["datacenter"], _ports[1], []),
            new NodeSpec("dc2", ["datacenter"], _ports[2], []),
            new NodeSpec("dc3", ["datacenter"], _ports[3], []),
            new NodeSpec("edge", ["edge"], EdgePort, replicaSync),
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, EdgePort) with
        {
            RequestTimeout = TimeSpan.FromSeconds(3),
            RetryDeadline = TimeSpan.FromSeconds(60),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 5, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + _dir);
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster);

    /// <summary>Streams telemetry for the devices, one request at a time per device; remembers every durably acked reading.</summary>
    private async Task StreamAsync(string prefix, int devices, int batches, int readings)
    {
        var gens = Enumerable.Range(0, devices).Select(d => new TelemetryGenerator(new DeviceId($"{prefix}-{d:D2}"), 4, FaultSettings.None, d + 1)).ToArray();
        await Task.WhenAll(gens.Select(async g =>
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
                await Task.Delay(20);
            }
        }));
    }

    /// <summary>The edge's sync status: the query names the edge, so whichever gateway the client reaches forwards it there.</summary>
    private async Task<SyncStatus> EdgeStatusAsync()
    {
        var s = await _client.GetSyncStatusAsync($"127.0.0.1:{EdgePort}");
        Assert.EndsWith($":{EdgePort}", s.Edge);
        return s;
    }

    private static string Describe(SyncStatus s) =>
        $"backlog {s.Backlog}, synced {s.Synced}, sinks [{string.Join(", ", s.Sinks.Select(p => $"{p.Sink.Split('@').Last()}: {p.Acked} acks"))}]";

    /// <summary>Waits until the backlog is 0 (-1, unknown, does not count).</summary>
    private async Task WaitForDrainAsync(string phase, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var s = await EdgeStatusAsync();
            if (s.Backlog == 0)
            {
                output.WriteLine($"{phase}: drained after {sw.Elapsed.TotalSeconds:0.0}s: {Describe(s)}");
                return;
            }
            Assert.True(sw.Elapsed < timeout, $"{phase}: backlog did not drain within {timeout.TotalSeconds:0}s: {Describe(s)}; logs in {_dir}");
            await Task.Delay(300);
        }
    }

    private async Task KillAsync(string name)
    {
        _cluster[name].KillHard();
        Assert.True(await _cluster[name].WaitForExitAsync(TimeSpan.FromSeconds(10)), $"{name} did not die");
        output.WriteLine($"{name} killed (SIGKILL)");
    }

    /// <summary>
    /// Waits until the edge's gateway sees exactly <paramref name="expected"/> members, all Up and reachable: after a
    /// crash, until split-brain resolution downed and removed the dead node. (Not <see cref="ClusterProbe.WaitForMembersAsync"/>,
    /// which gives up as soon as a node of the LocalCluster has exited, and dc3 stays dead on purpose.) A second crash or
    /// a restart on the same address before that makes the membership unstable for longer than stable-after, and SBR's
    /// down-all-when-unstable then downs the whole cluster.
    /// </summary>
    private async Task WaitForSettledAsync(int expected, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        ClusterOverview? last = null;
        while (sw.Elapsed < timeout)
        {
            var now = await ClusterProbe.TryOverviewAsync(_client);
            if (now is not null)
            {
                last = now;
                if (now.Members.Length == expected && now.Members.All(m => m.Status == "Up"))
                {
                    output.WriteLine($"{expected} members Up after {sw.Elapsed.TotalSeconds:0.0}s: {ClusterProbe.Describe(now)}");
                    return;
                }
            }
            await Task.Delay(500);
        }
        Assert.Fail($"cluster did not settle on {expected} Up members within {timeout.TotalSeconds:0}s (last view: {(last is null ? "no answer" : ClusterProbe.Describe(last))}); logs in {_dir}");
    }

    [Fact]
    public async Task Replica_sync_should_continue_with_one_of_three_sinks_down_and_wait_without_loss_with_two_down()
    {
        var total = Stopwatch.StartNew();

        // ---- (1) all three sinks up: the backlog drains
        await StreamAsync("all", 10, 10, 50);
        await WaitForDrainAsync("3 of 3 sinks up", TimeSpan.FromSeconds(30));

        // ---- (2) dc3 crashes: 2 of the remaining 2 still make the quorum
        await KillAsync("dc3");
        await StreamAsync("one-down", 10, 5, 50);
        await WaitForDrainAsync("dc3 down", TimeSpan.FromSeconds(30));
        await WaitForSettledAsync(4, TimeSpan.FromSeconds(30)); // dc3 downed and removed before the next crash

        // ---- (3) dc2 crashes too: one sink cannot make W = 2; the edge keeps acknowledging durably and holds everything
        await KillAsync("dc2");
        const int heldCount = 10 * 5 * 50;
        await StreamAsync("two-down", 10, 5, 50);
        var held = Stopwatch.StartNew();
        while (held.Elapsed < TimeSpan.FromSeconds(6))
        {
            var s = await EdgeStatusAsync();
            output.WriteLine($"dc2+dc3 down, {held.Elapsed.TotalSeconds:0.0}s: {Describe(s)}");
            Assert.Equal(heldCount, s.Backlog); // nothing may leave the outbox without a quorum
            await Task.Delay(1000);
        }

        await WaitForSettledAsync(3, TimeSpan.FromSeconds(30)); // dc2 downed and removed before it comes back
        var stillHeld = await EdgeStatusAsync();
        output.WriteLine($"dc2+dc3 down, {held.Elapsed.TotalSeconds:0.0}s: {Describe(stillHeld)}");
        Assert.Equal(heldCount, stillHeld.Backlog);

        // ---- (4) dc2 is back on its data directory: the backlog drains
        _cluster.Start("dc2");
        await WaitForSettledAsync(4, TimeSpan.FromSeconds(60));
        await WaitForDrainAsync("dc2 back", TimeSpan.FromSeconds(40));

        // ---- (5) every durably acknowledged reading is in at least W stores, once each
        await _client.DisposeAsync();
        await _cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        var expected = _durable.Keys.GroupBy(k => k.Device).ToDictionary(g => g.Key, g => g.Select(k => k.Seq).Order().ToArray());
        var copies = new Dictionary<(string Device, long Seq), int>();
        foreach (var dc in Datacenters)
        {
            using var store = new SqliteDataStore(Path.Combine(_dir, dc, "store.db"));
            long rows = 0;
            foreach (var (device, seqs) in expected)
            {
                var got = store.History(new DeviceId(device), RecordKind.Telemetry, 100_000).Select(r => r.Sequence).ToArray();
                Assert.Equal(got.Distinct().Order().ToArray(), got); // each sequence once, ascending
                Assert.Empty(got.Except(seqs)); // nothing that was not acknowledged
                // no per-store completeness: a batch is done at W acks, and a sink the edge did not know yet (pub-sub
                // registration still spreading) or that was down never gets it; W copies is the guarantee, checked below
                foreach (var seq in got) copies[(device, seq)] = copies.GetValueOrDefault((device, seq)) + 1;
                rows += got.Length;
            }
            Assert.Equal(rows, store.Count(RecordKind.Telemetry));
            output.WriteLine($"{dc} store: {rows} of {_durable.Count} durably acknowledged readings; duplicate deliveries absorbed: {store.Duplicates()}");
        }
        var underReplicated = _durable.Keys.Where(k => copies.GetValueOrDefault(k) < WriteQuorum).ToList();
        Assert.True(underReplicated.Count == 0, $"{underReplicated.Count} readings in fewer than {WriteQuorum} stores, e.g. {string.Join(", ", underReplicated.Take(5))}");
        output.WriteLine($"{_durable.Count} readings, each in >= {WriteQuorum} stores ({copies.Values.Count(c => c == 3)} in all 3); test took {total.Elapsed.TotalSeconds:0.0}s");
    }
}
