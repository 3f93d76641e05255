using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Nodes.Hosting;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// MQTT telemetry from a device that is not .NET across a SIGKILL of its edge (real processes: seed, datacenter, edge1,
/// edge2, each edge with its MQTT broker over TLS; each edge's site is its node name). A Python device with Debian's
/// paho-mqtt (<c>Mqtt/paho_failover_stream.py</c>) homed on edge1 streams readings at QoS 1 to edge1's broker; edge1 is
/// SIGKILLed mid-stream; the device goes on with edge2's broker (it knows both, like a gateway) and resends every publish
/// it got no PUBACK for, with the same seqs. edge1 is restarted afterwards, as a service manager would, so that what it
/// had acknowledged but not yet synced reaches the datacenter. The verdict is read from the datacenter's SQLite store
/// directly: every seq 1..N once, nothing lost, nothing twice, nothing else.
/// </summary>
public sealed class MqttFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";

    private int Edge1 => _ports[2];
    private int Edge2 => _ports[3];
    private int Mqtt1 => _ports[4];
    private int Mqtt2 => _ports[5];

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(6);
        _dir = TestCluster.FreshDirectory("mqtt-failover", _ports[0]);
        // a broker gives up on an unanswered publish after 3 s instead of 10 s (the device's entity is unreachable until
        // the dead edge is downed): it closes the connection without PUBACK and the device resends, so the test sees that
        // path and stays short; the outbox syncs every 300 ms
        string[] edge = ["--set", "edgeactors.mqtt.ask-timeout = 3s", "--set", "edgeactors.sync { interval = 300ms, ack-timeout = 2s, backoff-max = 2s }"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", ["datacenter"], _ports[1], []),
            new NodeSpec("edge1", ["edge"], Edge1, edge) { MqttPort = Mqtt1 },
            new NodeSpec("edge2", ["edge"], Edge2, edge) { MqttPort = Mqtt2 },
        ], _dir);
        _cluster.StartAll();
        // the client never knows edge1, the node that is killed
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, Edge2, _ports[1]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(3),
            RetryDeadline = TimeSpan.FromSeconds(60),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + _dir);
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster, output);

    [Fact]
    public async Task A_paho_device_should_lose_and_duplicate_no_reading_when_its_edge_is_SIGKILLed_mid_stream()
    {
        const string device = "edge1/paho-stream-01"; // homed on edge1's site: its entity lives on edge1 while edge1 is up
        const int readings = 500, batch = 10, killAfterBatches = 5;
        var key = ClientTokens.LoadKey(Path.Combine(_cluster.CertsDirectory, Certificates.TokenKeyFile));
        var token = ClientTokens.Issue(key, new ClientClaims("paho-stream-01", [ClientTokens.Ingest], device, DateTimeOffset.UtcNow.AddHours(1)));
        var (broker1, broker2) = ($"127.0.0.1:{Mqtt1}", $"127.0.0.1:{Mqtt2}");

        // the device's entity is started on its home edge before the stream (so the kill finds it there, not still starting)
        Assert.Equal(_cluster.AddressOf(Edge1), (await _client.GetDeviceStateAsync(new DeviceId(device))).Node);

        // the device streams 50 batches (one every 100 ms from its first CONNACK, 5 in flight); edge1 is SIGKILLed once it has
        // PUBACKed 5 of them (at once, from the thread that reads the device's output)
        var killed = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var progress = new List<string>();
        var clock = Stopwatch.StartNew();
        var script = Path.Combine(AppContext.BaseDirectory, "Mqtt", "paho_failover_stream.py");
        var run = ExternalProcess.RunAsync("/usr/bin/python3",
            [script, Path.Combine(_cluster.CertsDirectory, Certificates.CaCertificateFile), device, "paho-stream-01", token,
             readings.ToString(CultureInfo.InvariantCulture), batch.ToString(CultureInfo.InvariantCulture), "0.1", "5", "75", broker1, broker2],
            TimeSpan.FromSeconds(85),
            line =>
            {
                if (!line.StartsWith("RESULT ", StringComparison.Ordinal))
                    lock (progress) progress.Add($"{clock.Elapsed.TotalSeconds,6:0.00}s {line}");
                if (killed.Task.IsCompleted || !line.StartsWith("PROGRESS ", StringComparison.Ordinal) || AckedBatches(line["PROGRESS ".Length..]) < killAfterBatches)
                    return;
                try
                {
                    _cluster["edge1"].KillHard();
                    killed.TrySetResult(clock.Elapsed);
                }
                catch (Exception e)
                {
                    killed.TrySetException(e);
                }
            });
        if (await Task.WhenAny(killed.Task, run) != killed.Task)
        {
            var early = await run;
            Assert.Fail($"the device ended before {killAfterBatches} batches were PUBACKed (exit {early.Exit}): {early.Out} {early.Err}; logs in {_dir}");
        }
        output.WriteLine($"edge1 SIGKILLed at {(await killed.Task).TotalSeconds:0.00}s");

        var result = await run;
        lock (progress) output.WriteLine(string.Join("\n", progress));
        output.WriteLine(result.Err);
        var resultLine = result.Out.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        Assert.True(resultLine is not null, $"the device printed no RESULT (exit {result.Exit}, timed out: {result.TimedOut}): {result.Out} {result.Err}");
        output.WriteLine(resultLine);
        var summary = JsonDocument.Parse(resultLine["RESULT ".Length..]).RootElement;

        // the device saw a PUBACK for every publish, from edge1's broker before the kill and edge2's after it
        Assert.True(result.Exit == 0, $"the device did not get a PUBACK for every publish (exit {result.Exit}): {resultLine}; logs in {_dir}");
        var batches = readings / batch;
        Assert.Equal((batches, batches), (summary.GetProperty("batches").GetInt32(), summary.GetProperty("acked").GetInt32()));
        Assert.Equal(0, summary.GetProperty("unacked").GetArrayLength());
        var ackedBy = summary.GetProperty("acked_by");
        Assert.True(ackedBy.TryGetProperty(broker1, out var by1) && by1.GetInt32() >= killAfterBatches, $"edge1's broker PUBACKed too little before the kill: {resultLine}");
        Assert.True(ackedBy.TryGetProperty(broker2, out var by2) && by2.GetInt32() > 0, $"the device was never served by edge2's broker: {resultLine}");
        // a publish in flight when its session died went again: at least the ones edge2's broker closed unanswered while edge1
        // was not yet downed (ask-timeout 3 s against about 5 s until the split brain resolver downs a silent node)
        Assert.True(summary.GetProperty("resent").GetInt32() > 0, $"no publish was resent: {resultLine}");
        Assert.Equal(0, summary.GetProperty("errors").GetArrayLength());
        Assert.Equal(_cluster.AddressOf(Edge2), (await _client.GetDeviceStateAsync(new DeviceId(device))).Node); // the entity moved to edge2

        // edge1 restarts on its data directory (a service manager would): what it acknowledged before the kill and had not
        // synced yet is in its durable outbox and drains into the datacenter
        _cluster.Start("edge1");
        Assert.NotNull(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60)));
        await WaitForDrainAsync(Edge1, TimeSpan.FromSeconds(30));
        await WaitForDrainAsync(Edge2, TimeSpan.FromSeconds(30));
        output.WriteLine($"edge1 restarted and both outboxes drained at {clock.Elapsed.TotalSeconds:0.00}s");

        await TestCluster.StopAsync(_client, _cluster, output);
        (_client, _cluster) = (null!, null!); // stopped: the store is read with no node writing to it
        var (stored, rowsTwice, others) = await ReadStoreAsync(Path.Combine(_dir, "datacenter", "store.db"), device);
        var lost = Enumerable.Range(1, readings).Where(s => !stored.ContainsKey(s)).ToList();
        var duplicates = stored.Where(kv => kv.Value > 1).Select(kv => kv.Key).ToList();
        var unexpected = stored.Keys.Where(s => s is < 1 or > readings).ToList();
        var line = $"MQTTFAILOVER readings={readings} stored={stored.Count} lost={lost.Count} duplicates={duplicates.Count + rowsTwice} " +
                   $"resent={summary.GetProperty("resent").GetInt32()} acked_by_edge1={by1.GetInt32()} acked_by_edge2={by2.GetInt32()} " +
                   $"connections={summary.GetProperty("connections").GetArrayLength()} device_seconds={summary.GetProperty("seconds").GetDouble():0.0}";
        output.WriteLine(line);
        Console.WriteLine(line);
        Assert.True(lost.Count == 0, $"{lost.Count} readings lost, e.g. {string.Join(",", lost.Take(20))}; {resultLine}; logs in {_dir}");
        Assert.True(duplicates.Count == 0 && rowsTwice == 0, $"readings stored twice: {string.Join(",", duplicates.Take(20))} (rows twice in the whole store: {rowsTwice})");
        Assert.Empty(unexpected);
        Assert.Equal(0, others); // nothing else of this device (no frames, no other kind)
    }

    /// <summary>The batches a PROGRESS line of the device says were PUBACKed (-1 when the line is not what the script prints).</summary>
    private static int AckedBatches(string json)
    {
        try
        {
            return JsonDocument.Parse(json).RootElement.GetProperty("acked").GetInt32();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return -1;
        }
    }

    private async Task WaitForDrainAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var s = await _client.GetSyncStatusAsync($"127.0.0.1:{port}");
            if (s.Backlog == 0) return;
            Assert.True(DateTime.UtcNow < deadline, $"backlog of {port} did not drain: {s.Backlog}; logs in {_dir}");
            await Task.Delay(250);
        }
    }

    /// <summary>
    /// The device's telemetry rows in the datacenter's SQLite store, read directly (not through the product): rows per seq,
    /// rows of any (device, kind, seq) held more than once in the whole store, and rows of the device of any other kind.
    /// </summary>
    private static async Task<(Dictionary<long, long> PerSeq, long RowsTwice, long OtherKinds)> ReadStoreAsync(string path, string device)
    {
        Assert.True(File.Exists(path), $"no datacenter store at {path}");
        await using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await db.OpenAsync();
        var perSeq = new Dictionary<long, long>();
        await using (var rows = db.CreateCommand())
        {
            rows.CommandText = "SELECT seq, COUNT(*) FROM records WHERE device = $d AND kind = $k GROUP BY seq";
            rows.Parameters.AddWithValue("$d", device);
            rows.Parameters.AddWithValue("$k", (int)RecordKind.Telemetry);
            await using var r = await rows.ExecuteReaderAsync();
            while (await r.ReadAsync()) perSeq[r.GetInt64(0)] = r.GetInt64(1);
        }
        // the primary key should make this impossible: checked, not assumed
        await using var twice = db.CreateCommand();
        twice.CommandText = "SELECT COUNT(*) FROM (SELECT 1 FROM records GROUP BY device, kind, seq HAVING COUNT(*) > 1)";
        var rowsTwice = Convert.ToInt64(await twice.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        await using var other = db.CreateCommand();
        other.CommandText = "SELECT COUNT(*) FROM records WHERE device = $d AND kind <> $k";
        other.Parameters.AddWithValue("$d", device);
        other.Parameters.AddWithValue("$k", (int)RecordKind.Telemetry);
        var others = Convert.ToInt64(await other.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        return (perSeq, rowsTwice, others);
    }
}
