using EdgeActors.Storage;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The product's real path at fleet size, with real processes: client library (ingest stream, TLS, client token) →
/// gateways → device entities → durable outboxes → sync → the datacenter's SQLite store.
/// </summary>
public sealed class RealPathTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster? _cluster;
    private EdgeClient? _client;
    private int[] _ports = [];
    private string _dir = "";

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster, output);

    private async Task StartAsync(string name, int overloadRetries, params string[] gatewaySets)
    {
        _ports = Ports.Free(4);
        _dir = TestCluster.FreshDirectory(name, _ports[0]);
        var sets = gatewaySets.SelectMany(s => new[] { "--set", s }).ToArray();
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", ["datacenter"], _ports[1], ["--set", "edgeactors.sync.interval = 300ms", .. sets]),
            new NodeSpec("edge1", ["edge"], _ports[2], ["--set", "edgeactors.sync.interval = 300ms", .. sets]),
            new NodeSpec("edge2", ["edge"], _ports[3], ["--set", "edgeactors.sync.interval = 300ms", .. sets]),
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[1], _ports[2], _ports[3]) with
        {
            RetryDeadline = TimeSpan.FromMinutes(3), OverloadRetries = overloadRetries,
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + _dir);
    }

    private static TelemetryBatch Batch(string device, long first, int readings)
    {
        var seqs = Enumerable.Range(0, readings).Select(i => first + i).ToArray();
        return new TelemetryBatch(new DeviceId(device), 2, seqs, seqs.Select(s => 1_700_000_000_000 + s * 10).ToArray(),
            Enumerable.Range(0, readings * 2).Select(i => 20f + i % 5).ToArray());
    }

    private async Task WaitForDrainAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            var backlog = 0L;
            foreach (var p in new[] { _ports[2], _ports[3] }) backlog += (await _client!.GetSyncStatusAsync($"127.0.0.1:{p}")).Backlog;
            if (backlog == 0) return;
            Assert.True(DateTime.UtcNow < deadline, $"the edges' outboxes did not drain: backlog {backlog}");
            await Task.Delay(500);
        }
    }

    /// <summary>The datacenter's store after the cluster stopped: per device, the stored telemetry sequences.</summary>
    private Dictionary<string, long[]> Stored(IEnumerable<string> devices)
    {
        using var store = new SqliteDataStore(Path.Combine(_dir, "datacenter", "store.db"));
        return devices.ToDictionary(d => d, d => store.Sequences(new DeviceId(d), RecordKind.Telemetry, 10_000).Sequences);
    }

    [Fact]
    public async Task Twenty_thousand_devices_through_the_client_should_all_be_acknowledged_durably_and_stored_exactly_once()
    {
        // devices resend what was refused as Overloaded after a pause, as the client library does (here up to 20 times)
        await StartAsync("realpath-20k", overloadRetries: 20);
        const int devices = 20_000, readings = 5, rounds = 2;
        var ids = Enumerable.Range(0, devices).Select(i => $"fleet-{i:D5}").ToArray();
        for (var round = 0; round < rounds; round++)
        {
            var first = 1 + round * readings;
            var replies = await Task.WhenAll(ids.Select(d => _client!.SendTelemetryAsync(Batch(d, first, readings))));
            // every request answered, durably, with all its readings (a resend may find some already accepted: Duplicate)
            foreach (var r in replies)
            {
                Assert.Equal(AckLevel.DurableOnEdge, r.Value.Level);
                Assert.Equal(readings, r.Value.Accepted + (r.Attempts > 1 ? r.Value.Rejected.Count(x => x.Reason == RejectReason.Duplicate) : 0));
                Assert.DoesNotContain(r.Value.Rejected, x => x.Reason is not RejectReason.Duplicate);
            }
            output.WriteLine($"round {round}: {devices} devices acknowledged ({replies.Count(r => r.Attempts > 1)} resent)");
        }
        var overview = await _client!.GetOverviewAsync();
        Assert.Equal(devices, overview.Devices);
        await WaitForDrainAsync();
        await TestCluster.StopAsync(_client, _cluster, output);
        (_client, _cluster) = (null, null);

        var stored = Stored(ids);
        var expected = Enumerable.Range(1, readings * rounds).Select(i => (long)i).ToArray();
        var wrong = stored.Where(kv => !kv.Value.SequenceEqual(expected)).Select(kv => $"{kv.Key}: [{string.Join(",", kv.Value)}]").Take(5).ToList();
        Assert.True(wrong.Count == 0, "devices whose stored sequences are not exactly 1.." + readings * rounds + ": " + string.Join("; ", wrong));
    }

    [Fact]
    public async Task Overload_should_be_answered_Overloaded_and_every_accepted_reading_stored_none_refused_and_nothing_unanswered()
    {
        // a small admission window on every gateway, then far more at once than it admits
        await StartAsync("realpath-overload", overloadRetries: 0, "edgeactors.gateway.ingest { min-outstanding-readings = 200, max-outstanding-readings = 200 }");
        const int devices = 3_000, readings = 20;
        var ids = Enumerable.Range(0, devices).Select(i => $"burst-{i:D4}").ToArray();
        var replies = await Task.WhenAll(ids.Select(d => _client!.SendTelemetryAsync(Batch(d, 1, readings))));

        long accepted = 0, overloaded = 0;
        var acceptedBy = new Dictionary<string, long[]>();
        foreach (var (d, r) in ids.Zip(replies))
        {
            var over = r.Value.Rejected.Where(x => x.Reason == RejectReason.Overloaded).Select(x => x.Sequence).ToArray();
            Assert.DoesNotContain(r.Value.Rejected, x => x.Reason is not RejectReason.Overloaded);
            Assert.Equal(readings, r.Value.Accepted + over.Length); // every reading answered one way or the other
            accepted += r.Value.Accepted;
            overloaded += over.Length;
            acceptedBy[d] = Enumerable.Range(1, readings).Select(i => (long)i).Except(over).ToArray();
        }
        output.WriteLine($"{devices * readings} readings offered at once: {accepted} accepted, {overloaded} answered Overloaded");
        Assert.True(overloaded > 0, "nothing was refused as Overloaded: the admission bound did not act");
        Assert.True(accepted > 0, "nothing was accepted");
        await WaitForDrainAsync();
        await TestCluster.StopAsync(_client, _cluster, output);
        (_client, _cluster) = (null, null);

        // exactly what was acknowledged is stored: nothing refused as Overloaded was kept, nothing accepted was lost
        var stored = Stored(ids);
        var wrong = ids.Where(d => !stored[d].SequenceEqual(acceptedBy[d])).Take(5)
            .Select(d => $"{d}: stored [{string.Join(",", stored[d])}] accepted [{string.Join(",", acceptedBy[d])}]").ToList();
        Assert.True(wrong.Count == 0, "stored differs from accepted: " + string.Join("; ", wrong));
    }
}
