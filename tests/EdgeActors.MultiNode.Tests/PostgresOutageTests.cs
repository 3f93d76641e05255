using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeActors.Client;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Npgsql;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The datacenter tier's PostgreSQL lost mid-run, on a server of the test's own (<see cref="LocalPostgres"/>: initdb in a
/// temporary directory, its own port; the shared test server is not touched). A seed, two datacenter nodes with separate
/// data directories and no shared file, and two edges; a client streams telemetry through the edges the whole time.
/// (1) PostgreSQL stopped for 30 s (<c>pg_ctl stop -m fast</c>) and started again; (2) a primary with a synchronous
/// streaming-replication standby, the cluster's connection string naming both (<c>Target Session Attributes=primary</c>):
/// the primary killed (<c>-m immediate</c>) and the standby promoted. Both: the sinks refuse batches with
/// "store unavailable" meanwhile, the edges keep them in their outboxes and drain them after, and the database ends
/// with every reading the edges accepted exactly once; a registry publish is refused with the reason during the
/// outage and succeeds after.
/// </summary>
public sealed class PostgresOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Devices = 10;
    private const int Readings = 20;
    private readonly List<LocalPostgres> _servers = [];
    private readonly ConcurrentDictionary<(string Device, long Seq), byte> _accepted = new();
    private LocalCluster? _cluster;
    private EdgeClient? _client;
    private int[] _ports = [];
    private string _dir = "";

    public Task InitializeAsync()
    {
        Assert.True(LocalPostgres.FindBinaries(out var why) is not null, why);
        _ports = Ports.Free(7);
        _dir = TestCluster.FreshDirectory("pg-outage", _ports[0]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await TestCluster.StopAsync(_client, _cluster, output);
        NpgsqlConnection.ClearAllPools();
        foreach (var s in _servers) s.Dispose();
    }

    private async Task StartClusterAsync(string tier)
    {
        string[] fastSync = ["--set", "edgeactors.sync { interval = 300ms, ack-timeout = 2s, backoff-max = 2s }"];
        string[] dc = ["--set", "edgeactors.sync.sink { store-retry-min = 200ms, store-retry-max = 1s }"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", ["seed"], _ports[0], []),
            new NodeSpec("dc1", ["datacenter"], _ports[1], dc),
            new NodeSpec("dc2", ["datacenter"], _ports[2], dc),
            new NodeSpec("edge1", ["edge"], _ports[3], fastSync),
            new NodeSpec("edge2", ["edge"], _ports[4], fastSync),
        ], Path.Combine(_dir, "cluster")) { DatacenterPostgres = tier };
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[3], _ports[4], _ports[1], _ports[2]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(90),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 5, TimeSpan.FromSeconds(120)) is not null, "cluster did not form; logs in " + _dir);
    }

    /// <summary>Streams telemetry (one request at a time per device) until <paramref name="ct"/>; remembers every reading an edge accepted durably.</summary>
    private Task StreamAsync(CancellationToken ct) => Task.WhenAll(Enumerable.Range(0, Devices).Select(async d =>
    {
        var gen = new TelemetryGenerator(new DeviceId($"pgo-{d:D2}"), 4, FaultSettings.None, d + 1);
        for (var b = 0; !ct.IsCancellationRequested; b++)
        {
            var batch = gen.NextBatch(Readings, 1_700_000_000_000 + b * 1000L, 10);
            var reply = await _client!.SendTelemetryAsync(batch);
            var ack = reply.Value;
            Assert.Equal(AckLevel.DurableOnEdge, ack.Level);
            var accepted = ack.Accepted + (reply.Attempts > 1 ? ack.Rejected.Count(r => r.Reason == RejectReason.Duplicate) : 0);
            Assert.Equal(batch.Count, accepted);
            foreach (var seq in batch.Sequences) _accepted[(gen.Device.Value, seq)] = 0;
            await Task.Delay(50);
        }
    }));

    private async Task<(long Backlog, long Refusals)> EdgesAsync()
    {
        long backlog = 0, refusals = 0;
        foreach (var port in new[] { _ports[3], _ports[4] })
        {
            var s = await _client!.GetSyncStatusAsync($"127.0.0.1:{port}");
            Assert.EndsWith($":{port}", s.Edge);
            backlog += s.Backlog;
            refusals += s.Sinks.Sum(p => p.Failures);
        }
        return (backlog, refusals);
    }

    /// <summary>Samples the edges' backlog every second while <paramref name="phase"/> runs; returns the largest seen.</summary>
    private async Task<long> WatchBacklogAsync(Task phase)
    {
        long max = 0;
        while (!phase.IsCompleted)
        {
            try
            {
                max = Math.Max(max, (await EdgesAsync()).Backlog);
            }
            catch (EdgeClientException)
            {
                // a status request that timed out on a loaded machine: the next sample
            }
            await Task.WhenAny(phase, Task.Delay(1000));
        }
        await phase;
        return max;
    }

    private async Task<double> DrainAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (backlog, _) = await EdgesAsync();
            if (backlog == 0) return clock.Elapsed.TotalSeconds;
            Assert.True(clock.Elapsed < timeout, $"the edges' backlog ({backlog}) did not drain within {timeout.TotalSeconds:0} s; logs in {_dir}");
            await Task.Delay(250);
        }
    }

    private Task<ModelPublished> PublishAsync(string version) =>
        _client!.PublishModelAsync(new PublishModel("pgo-mlp", MlpOnnx.Export(new Mlp([784, 8, 10], version.Length)), [784], FashionLabels.Names, version));

    /// <summary>A publish while the database is gone: refused by the registry, naming why.</summary>
    private async Task<string> PublishRefusedAsync()
    {
        var ex = await Assert.ThrowsAsync<EdgeClientException>(() => PublishAsync("during"));
        Assert.Contains("model registry refused PublishModel", ex.Message);
        return ex.Message;
    }

    /// <summary>A publish once the database is back: it may take the registry a retry or two.</summary>
    private async Task<ModelPublished> PublishAfterAsync()
    {
        for (var i = 0; ; i++)
        {
            try
            {
                return await PublishAsync("after");
            }
            catch (EdgeClientException ex) when (i < 30)
            {
                output.WriteLine("publish after: " + ex.Message);
                await Task.Delay(1000);
            }
        }
    }

    private int Refusals() => new[] { "dc1", "dc2" }.Sum(n => ReadLog(n).Split('\n')
        .Count(l => l.Contains("Sync sink: rejected batch", StringComparison.Ordinal) && l.Contains(": store unavailable", StringComparison.Ordinal)));

    private string ReadLog(string node)
    {
        using var stream = new FileStream(_cluster![node].LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>Every accepted reading is in the database once: rows == distinct keys == accepted, the same (device, seq) set.</summary>
    private async Task<(long Rows, long Absorbed)> VerifyStoredAsync(string connectionString)
    {
        var stored = new HashSet<(string, long)>();
        long rows = 0, absorbed;
        await using (var c = new NpgsqlConnection(connectionString))
        {
            await c.OpenAsync();
            await using (var cmd = new NpgsqlCommand("SELECT device, seq FROM records WHERE kind = 1 AND device LIKE 'pgo-%'", c))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync())
                {
                    rows++;
                    stored.Add((r.GetString(0), r.GetInt64(1)));
                }
            await using var dup = new NpgsqlCommand("SELECT value FROM counters WHERE name = 'duplicates'", c);
            absorbed = Convert.ToInt64(await dup.ExecuteScalarAsync());
        }
        var missing = _accepted.Keys.Count(k => !stored.Contains(k));
        Assert.True(missing == 0, $"{missing} of {_accepted.Count} accepted readings are not in the database");
        Assert.Equal(rows, stored.Count); // no (device, seq) twice
        Assert.Equal(_accepted.Count, rows); // stored == accepted: nothing the edges did not accept
        return (rows, absorbed);
    }

    [Fact]
    public async Task PostgreSQL_stopped_for_30_s_should_lose_nothing_and_store_nothing_twice()
    {
        var pg = await LocalPostgres.InitAsync(Path.Combine(_dir, "pg"), _ports[5]);
        _servers.Add(pg);
        await pg.StartAsync();
        await StartClusterAsync(pg.ConnectionString());
        Assert.Equal(1, (await PublishAsync("before")).Model.Version);

        using var stop = new CancellationTokenSource();
        var stream = StreamAsync(stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(5));
        var before = _accepted.Count;

        // ---- PostgreSQL down for 30 s: the edges keep accepting, the sinks refuse, the registry refuses with the reason
        await pg.StopAsync();
        var outage = Stopwatch.StartNew();
        output.WriteLine($"PostgreSQL stopped after {before} readings accepted");
        var during = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(8));
            var refused = await PublishRefusedAsync();
            output.WriteLine("publish during the outage: " + refused);
            var left = TimeSpan.FromSeconds(30) - outage.Elapsed;
            if (left > TimeSpan.Zero) await Task.Delay(left);
        });
        var maxBacklog = await WatchBacklogAsync(during);
        var (_, edgeRefusals) = await EdgesAsync();
        var sinkRefusals = Refusals();
        Assert.True(sinkRefusals > 0, "no sink refused a batch with 'store unavailable' while PostgreSQL was down; logs in " + _dir);
        Assert.True(edgeRefusals > 0, "the edges saw no refusal while PostgreSQL was down");
        Assert.True(maxBacklog > 0, "the edges' outboxes did not grow while PostgreSQL was down");

        // ---- back: the backlog drains, the registry takes a publish again
        await pg.StartAsync();
        var downFor = outage.Elapsed.TotalSeconds;
        stop.Cancel();
        await stream;
        var drain = await DrainAsync(TimeSpan.FromSeconds(90));
        var published = await PublishAfterAsync();
        Assert.Equal(2, published.Model.Version); // the refused publish left nothing behind
        var (rows, absorbed) = await VerifyStoredAsync(pg.ConnectionString());
        output.WriteLine($"RESULT pg_outage down_s={downFor:0.0} accepted={_accepted.Count} stored={rows} duplicates=0 resends_absorbed={absorbed} " +
                         $"sink_refusals={sinkRefusals} edge_refusals={edgeRefusals} max_backlog={maxBacklog} drain_s={drain:0.0}");
    }

    [Fact]
    public async Task Promoting_a_synchronous_standby_should_lose_nothing_and_store_nothing_twice()
    {
        var primary = await LocalPostgres.InitAsync(Path.Combine(_dir, "primary"), _ports[5]);
        _servers.Add(primary);
        await primary.StartAsync();
        var standby = await LocalPostgres.CreateStandbyAsync(primary, Path.Combine(_dir, "standby"), _ports[6]);
        _servers.Add(standby);
        await standby.StartAsync();
        // synchronous replication: a commit returns once the standby has it, so what a sink acknowledged survives the failover
        await primary.ScalarAsync("ALTER SYSTEM SET synchronous_standby_names = 'standby'");
        await primary.ScalarAsync("SELECT pg_reload_conf()");
        var tier = new NpgsqlConnectionStringBuilder(primary.ConnectionString())
        {
            Host = $"127.0.0.1:{primary.Port},127.0.0.1:{standby.Port}",
            TargetSessionAttributes = "primary",
            HostRecheckSeconds = 2,
        }.ConnectionString;
        await StartClusterAsync(tier);
        Assert.Equal("sync", await primary.ScalarAsync("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'"));
        Assert.Equal(1, (await PublishAsync("before")).Model.Version);

        using var stop = new CancellationTokenSource();
        var stream = StreamAsync(stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(5));

        // ---- the primary crashes; the standby is promoted a few seconds later
        await primary.StopAsync(immediate: true);
        var outage = Stopwatch.StartNew();
        output.WriteLine($"primary killed after {_accepted.Count} readings accepted");
        var failover = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
            output.WriteLine("publish with no primary: " + await PublishRefusedAsync());
            await standby.PromoteAsync();
            output.WriteLine($"standby promoted {outage.Elapsed.TotalSeconds:0.0} s after the primary died");
        });
        var maxBacklog = await WatchBacklogAsync(failover);
        var promotedAfter = outage.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(3)); // stream on the new primary a little
        stop.Cancel();
        await stream;
        var drain = await DrainAsync(TimeSpan.FromSeconds(90));
        var published = await PublishAfterAsync();
        Assert.Equal(2, published.Model.Version); // version 1 made it to the standby; the refused publish left nothing
        var (_, edgeRefusals) = await EdgesAsync();
        var sinkRefusals = Refusals();
        Assert.True(sinkRefusals > 0, "no sink refused a batch with 'store unavailable' during the failover; logs in " + _dir);
        Assert.Equal(false, await standby.ScalarAsync("SELECT pg_is_in_recovery()"));
        NpgsqlConnection.ClearAllPools();
        var (rows, absorbed) = await VerifyStoredAsync(standby.ConnectionString());
        output.WriteLine($"RESULT pg_failover promoted_after_s={promotedAfter:0.0} accepted={_accepted.Count} stored={rows} duplicates=0 resends_absorbed={absorbed} " +
                         $"sink_refusals={sinkRefusals} edge_refusals={edgeRefusals} max_backlog={maxBacklog} drain_s={drain:0.0}");
    }
}
