using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Real node processes on 127.0.0.1 (seed, datacenter, two edges) driven through the client library:
/// every reading acknowledged exactly once, then an edge is SIGKILLed mid-stream and its devices are served by the
/// surviving edge.
/// </summary>
public sealed class FailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Devices = 100;
    private const int BatchSize = 20;
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(5); // the fifth stays closed: a contact point that is down from the start
        var dir = TestCluster.FreshDirectory("failover", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", "datacenter", _ports[1]),
            new NodeSpec("edge1", "edge", _ports[2]),
            new NodeSpec("edge2", "edge", _ports[3]),
        ], dir);
        // edge1 (the edge that gets killed) starts first, so it is the oldest edge and hosts the shard coordinator:
        // the worst case for failover, with the coordinator singleton moving too
        foreach (var name in new[] { "seed", "datacenter", "edge1" }) _cluster.Start(name);
        // The client knows only a dead address and edge1, the node that is killed later: after the kill it must carry on
        // through contact points it learned from the receptionist (the datacenter, edge2).
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[4], _ports[2]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(2),
            RetryDeadline = TimeSpan.FromSeconds(60),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 3, TimeSpan.FromSeconds(60)) is not null,
            "seed, datacenter and edge1 did not form a cluster; node logs in " + dir);
        _cluster.Start("edge2");
        var overview = await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60));
        Assert.True(overview is not null, "cluster of 4 node processes did not form; node logs in " + dir);
        output.WriteLine($"cluster formed: {ClusterProbe.Describe(overview!)}");
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster, output);

    private string Addr(int port) => _cluster.AddressOf(port);

    [Fact]
    public async Task Cluster_should_ack_every_reading_once_and_move_devices_of_a_killed_edge()
    {
        var ids = Enumerable.Range(0, Devices).Select(i => new DeviceId($"mp-sensor-{i:D3}")).ToArray();
        var generators = ids.Select((id, i) => new TelemetryGenerator(id, 4, FaultSettings.None, 1000 + i)).ToArray();
        var home = new ConcurrentDictionary<DeviceId, string>();

        // ---- phase 1: 100 devices x 5 batches x 20 readings = 10,000 readings, each acknowledged exactly once
        var phase1 = new IngestTally();
        await Task.WhenAll(Enumerable.Range(0, Devices).Select(async d =>
        {
            for (var b = 0; b < 5; b++)
            {
                var batch = generators[d].NextBatch(BatchSize, 1_700_000_000_000 + b * 1000L, 10);
                phase1.AddSent(batch.Count);
                var reply = await _client.SendTelemetryAsync(batch);
                phase1.Record(reply);
                Assert.Equal(batch.Sequences[^1], reply.Value.HighestContiguous);
                home[ids[d]] = reply.Value.Node;
            }
        }));
        output.WriteLine($"phase 1: sent {phase1.Sent} accepted {phase1.Accepted} rejected {phase1.Rejected} retried {phase1.RetriedRequests}");
        Assert.Equal(10_000, phase1.Sent);
        Assert.Equal(10_000, phase1.Accepted);
        Assert.Equal(0, phase1.Rejected);
        foreach (var id in ids)
        {
            var state = await _client.GetDeviceStateAsync(id);
            Assert.Equal(5 * BatchSize, state.AcceptedReadings); // exactly once: no reading counted twice
            Assert.Equal(5 * BatchSize, state.LastSequence);
            Assert.Equal(home[id], state.Node);
        }
        // bad input over the wire gets a clear answer and changes nothing that was accepted
        var malformed = new TelemetryBatch(ids[0], 4, [101, 102], [1, 2], new float[7]);
        var bad = await _client.SendTelemetryAsync(malformed);
        Assert.Equal(0, bad.Value.Accepted);
        Assert.All(bad.Value.Rejected, r => Assert.Equal(RejectReason.Malformed, r.Reason));
        Assert.Contains("values length 7", bad.Value.Rejected[0].Detail);
        var refused = await Assert.ThrowsAsync<EdgeClientException>(() =>
            _client.SendTelemetryAsync(new TelemetryBatch(new DeviceId(""), 1, [1], [1], [1f])));
        Assert.Contains("device id is empty", refused.Message);
        var afterBad = await _client.GetDeviceStateAsync(ids[0]);
        Assert.Equal(5 * BatchSize, afterBad.AcceptedReadings);
        Assert.Equal(5 * BatchSize, afterBad.LastSequence);

        var onEdge1 = ids.Where(id => home[id] == Addr(_ports[2])).ToHashSet();
        var onEdge2 = ids.Where(id => home[id] == Addr(_ports[3])).ToHashSet();
        output.WriteLine($"placement: edge1 {onEdge1.Count} devices, edge2 {onEdge2.Count} devices");
        Assert.Equal(Devices, onEdge1.Count + onEdge2.Count);
        Assert.NotEmpty(onEdge1);
        Assert.NotEmpty(onEdge2);

        // ---- phase 2: keep streaming, SIGKILL edge1 mid-stream; every remaining and retried send must be accepted
        var phase2 = new IngestTally();
        var killedAt = 0L;
        var firstMovedAck = long.MaxValue;
        var movedAnsweredByEdge2 = new ConcurrentDictionary<DeviceId, bool>();
        var clock = Stopwatch.StartNew();
        var streaming = Enumerable.Range(0, Devices).Select(async d =>
        {
            for (var b = 0; b < 12; b++)
            {
                var batch = generators[d].NextBatch(BatchSize, 1_700_000_100_000 + b * 1000L, 10);
                phase2.AddSent(batch.Count);
                var reply = await _client.SendTelemetryAsync(batch);
                var accepted = phase2.Record(reply);
                Assert.True(accepted == batch.Count,
                    $"{ids[d]} batch {batch.Sequences[0]}..{batch.Sequences[^1]} (attempt {reply.Attempts}): accepted {accepted} of {batch.Count}, " +
                    $"rejected {string.Join(",", reply.Value.Rejected.Take(3).Select(r => $"{r.Sequence}:{r.Reason}"))} by {reply.Value.Node}");
                var killed = Interlocked.Read(ref killedAt);
                if (killed > 0 && onEdge1.Contains(ids[d]) && reply.Value.Node == Addr(_ports[3]))
                {
                    var now = clock.ElapsedTicks;
                    long seen;
                    while (now < (seen = Interlocked.Read(ref firstMovedAck)) && Interlocked.CompareExchange(ref firstMovedAck, now, seen) != seen)
                    {
                    }
                    movedAnsweredByEdge2[ids[d]] = true;
                }
                await Task.Delay(150);
            }
        }).ToList();

        await Task.Delay(800);
        // the worst case is the killed edge hosting the shard coordinator (the oldest edge): its singleton moves too
        var coordinatorOnKilled = File.ReadAllText(_cluster["edge1"].LogPath).Contains("deviceCoordinator] Singleton manager started singleton");
        Assert.True(coordinatorOnKilled, "edge1 was started first, so it should host the shard coordinator");
        _cluster["edge1"].KillHard();
        Interlocked.Exchange(ref killedAt, clock.ElapsedTicks);
        output.WriteLine($"edge1 (pid {_cluster["edge1"].Pid}) killed with SIGKILL at t={clock.Elapsed.TotalSeconds:0.00}s ({DateTime.UtcNow:HH:mm:ss.fff} UTC)");
        await Task.WhenAll(streaming);

        var failoverSeconds = (firstMovedAck - killedAt) / (double)Stopwatch.Frequency;
        output.WriteLine($"phase 2: sent {phase2.Sent} accepted {phase2.Accepted} rejected {phase2.Rejected} retried requests {phase2.RetriedRequests}");
        output.WriteLine($"FAILOVER kill_to_first_accept_on_moved_device_s={failoverSeconds:0.00} (first accept at {DateTime.UtcNow - TimeSpan.FromTicks((long)((clock.ElapsedTicks - firstMovedAck) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency))):HH:mm:ss.fff} UTC)");
        output.WriteLine($"FAILOVER coordinator_on_killed_edge={coordinatorOnKilled.ToString().ToLowerInvariant()}");
        Console.WriteLine($"FAILOVER kill_to_first_accept_on_moved_device_s={failoverSeconds:0.00} coordinator_on_killed_edge={coordinatorOnKilled.ToString().ToLowerInvariant()}");
        Assert.True(_cluster["edge1"].HasExited);
        Assert.Equal(phase2.Sent, phase2.Accepted);
        Assert.Equal(0, phase2.Rejected);
        Assert.Equal(0, phase2.Lost);
        Assert.True(phase2.RetriedRequests > 0, "killing an edge mid-stream should have forced retries");
        Assert.NotEqual(long.MaxValue, firstMovedAck);
        Assert.Equal(onEdge1.Count, movedAnsweredByEdge2.Count); // every device of the dead edge was re-created on edge2

        foreach (var id in onEdge1)
        {
            var state = await _client.GetDeviceStateAsync(id);
            Assert.Equal(Addr(_ports[3]), state.Node);
            Assert.Equal(12 * BatchSize + 5 * BatchSize, state.LastSequence);
        }
        foreach (var id in onEdge2)
        {
            var state = await _client.GetDeviceStateAsync(id);
            Assert.Equal(Addr(_ports[3]), state.Node);
            Assert.Equal(17 * BatchSize, state.AcceptedReadings); // never moved: every reading exactly once
        }
        var overview = await _client.GetOverviewAsync();
        Assert.DoesNotContain(overview.Members, m => m.Address == Addr(_ports[2])); // downed by the split brain resolver and removed
        Assert.Equal(3, overview.Members.Count(m => m.Status == "Up"));
    }
}
