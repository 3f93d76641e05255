using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeActors.Messages;
using EdgeActors.Tools.Bench;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Many devices at once on real node processes (seed, datacenter, two edges): 10,000 devices each send one batch, their
/// records sync to the datacenter, one edge is SIGKILLed, then every device sends again, so the killed edge's devices
/// (about half) are re-created on the surviving edge in one burst. Every one of them must restore through the bulk
/// restorer without a timeout (the entity reports its restore outcome in its state) and continue its counts.
/// </summary>
public sealed class DeviceFleetTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Devices = 10_000;
    private const int Readings = 4;
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(4);
        _dir = TestCluster.FreshDirectory("fleet", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", "datacenter", _ports[1]),
            new NodeSpec("edge1", "edge", _ports[2]),
            new NodeSpec("edge2", "edge", _ports[3]),
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[1], _ports[3]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(10),
            RetryDeadline = TimeSpan.FromSeconds(180),
            MaxBackoff = TimeSpan.FromSeconds(1),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(90)) is not null,
            "cluster of 4 node processes did not form; node logs in " + _dir);
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster, output);

    private static TelemetryBatch Batch(DeviceId id, long first) => new(id, 2,
        Enumerable.Range(0, Readings).Select(i => first + i).ToArray(),
        Enumerable.Range(0, Readings).Select(i => 1_700_000_000_000 + (first + i) * 10).ToArray(),
        Enumerable.Range(0, Readings * 2).Select(i => 20f + i % 3).ToArray());

    /// <summary>Runs <paramref name="work"/> for every device with at most 1,000 in flight.</summary>
    private static async Task ForAllAsync(DeviceId[] ids, Func<DeviceId, Task> work)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 1000).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < ids.Length) await work(ids[i]);
        }));
    }

    [Fact]
    public async Task Devices_of_a_killed_edge_should_all_restore_in_bulk_without_timeouts()
    {
        var ids = Enumerable.Range(0, Devices).Select(i => new DeviceId($"fleet-{i:D5}")).ToArray();
        var home = new ConcurrentDictionary<DeviceId, string>();
        var tally = new IngestTally();
        await ForAllAsync(ids, async id =>
        {
            var batch = Batch(id, 1);
            tally.AddSent(batch.Count);
            var reply = await _client.SendTelemetryAsync(batch);
            tally.Record(reply);
            home[id] = reply.Value.Node;
        });
        output.WriteLine($"phase 1: sent {tally.Sent} accepted {tally.Accepted} rejected {tally.Rejected}");
        Assert.Equal((long)Devices * Readings, tally.Accepted);
        var edge1 = _cluster.AddressOf(_ports[2]);
        var moved = ids.Where(id => home[id] == edge1).ToArray();
        output.WriteLine($"placement: {moved.Length} devices on edge1 (to be killed), {Devices - moved.Length} on edge2");
        Assert.InRange(moved.Length, Devices / 5, Devices * 4 / 5);

        // what edge1 accepted reaches the datacenter store before the kill, so its devices restore their counts from there
        var drained = Stopwatch.StartNew();
        while (true)
        {
            var status = await SyncCommand.EdgeSyncStatusAsync(_client, $"127.0.0.1:{_ports[2]}");
            if (status is { Backlog: 0 }) break;
            Assert.True(drained.Elapsed < TimeSpan.FromSeconds(120), $"edge1's outbox did not drain (backlog {status?.Backlog}); logs in {_dir}");
            await Task.Delay(500);
        }

        // the restores this test is about are those of the burst after the kill (at the cluster's cold start, the first
        // batches may wait out the restore timeout while the datacenter's first TLS association and query warm up)
        var logFrom = new FileInfo(_cluster["edge2"].LogPath).Length;
        _cluster["edge1"].KillHard();
        output.WriteLine($"edge1 killed; {moved.Length} devices move to edge2 at once");
        var burst = new IngestTally();
        var sw = Stopwatch.StartNew();
        await ForAllAsync(ids, async id =>
        {
            var batch = Batch(id, 1 + Readings);
            burst.AddSent(batch.Count);
            burst.Record(await _client.SendTelemetryAsync(batch));
        });
        output.WriteLine($"burst: sent {burst.Sent} accepted {burst.Accepted} rejected {burst.Rejected} ({burst.RejectionSummary()}) " +
                         $"retried {burst.RetriedRequests} in {sw.Elapsed.TotalSeconds:0.0}s");
        Assert.Equal(burst.Sent, burst.Accepted);

        // every moved entity restored in bulk: no timeouts, the counts continue from the store
        var outcomes = new ConcurrentDictionary<RestoreOutcome, int>();
        var wrongCounts = new ConcurrentBag<string>();
        await ForAllAsync(moved, async id =>
        {
            var state = await _client.GetDeviceStateAsync(id);
            outcomes.AddOrUpdate(state.Restore, 1, (_, n) => n + 1);
            if (state.AcceptedReadings != 2 * Readings || state.LastSequence != 2 * Readings)
                wrongCounts.Add($"{id}: accepted {state.AcceptedReadings}, last {state.LastSequence}, restore {state.Restore} on {state.Node}");
        });
        output.WriteLine("restore outcomes of the moved devices: " + string.Join(" ", outcomes.Select(kv => $"{kv.Key}={kv.Value}")));
        var restorerWarnings = DeviceFleetBench.CountRestoreProblems(_cluster["edge2"].LogPath, logFrom);
        output.WriteLine($"restore warnings in edge2's log since the kill: {restorerWarnings} " +
                         $"(before it: {DeviceFleetBench.CountRestoreProblems(_cluster["edge2"].LogPath) - restorerWarnings})");
        Assert.Equal(moved.Length, outcomes.GetValueOrDefault(RestoreOutcome.Restored));
        Assert.Equal(0, restorerWarnings);
        Assert.True(wrongCounts.IsEmpty, $"{wrongCounts.Count} moved devices did not continue their counts, e.g. {string.Join("; ", wrongCounts.Take(3))}");
    }
}
