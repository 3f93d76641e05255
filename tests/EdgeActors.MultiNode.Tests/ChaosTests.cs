using System.Diagnostics;
using System.Text.RegularExpressions;
using EdgeActors.Client;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Simulation;
using EdgeActors.Tools.Chaos;
using EdgeActors.Tools.Commands;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The chaos run in a short form: five real node processes (each in a network namespace of its own), the simulator
/// streaming through the client, an edge SIGKILLed and restarted, an edge cut off by a network partition and healed,
/// hostile requests in between, sensor adapter faults and injected GPU (primary inference session) faults on every
/// edge. <see cref="ChaosRun"/> drives the run; the verdict is the test's own: it keeps its own account of every request
/// the simulator sent and every reply it got (see <see cref="Ledger"/>), reads the datacenter's SQLite store directly
/// after the run, and fails if anything acknowledged is missing from the store, anything is stored that was not
/// accepted, anything is acknowledged twice or stored twice, a device served by a disrupted edge was not served again,
/// frames went unclassified through the GPU faults, a hostile request went unanswered, or a node is down at the end.
/// The summary <see cref="ChaosRun"/> computes (what <c>edgeactors chaos</c> prints) must agree with that verdict.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int BasePort = 4653;

    /// <summary>
    /// What the client was told, request by request, kept by the test (not by the product's chaos code): the readings
    /// each answered request got accepted, durable or not, refused and why, and the requests never answered. The rule
    /// for what counts as accepted is the client's documented one: a reading is accepted when it is not rejected, or
    /// when it is rejected as Duplicate on a retried request (an earlier attempt was accepted, its reply lost).
    /// </summary>
    private sealed class Ledger
    {
        private readonly object _gate = new();
        private readonly Stopwatch _clock;

        public Ledger(Stopwatch clock) => _clock = clock;

        /// <summary>(device, kind, seq) → how many answered requests accepted it.</summary>
        public Dictionary<(string Device, int Kind, long Seq), int> Accepted { get; } = new();
        /// <summary>Accepted keys whose acknowledgement said durable on the edge (or stored in the datacenter).</summary>
        public HashSet<(string Device, int Kind, long Seq)> Durable { get; } = new();
        /// <summary>Keys the answer refused, with the reason.</summary>
        public Dictionary<(string Device, int Kind, long Seq), RejectReason> Refused { get; } = new();
        /// <summary>Keys of requests the client gave up on.</summary>
        public HashSet<(string Device, int Kind, long Seq)> Unanswered { get; } = new();
        /// <summary>Every key the simulator sent (answered or not).</summary>
        public HashSet<(string Device, int Kind, long Seq)> Sent { get; } = new();
        /// <summary>Per device, the answers in order: test-clock seconds and the answering node's address.</summary>
        public Dictionary<string, List<(double At, string Node)>> Answers { get; } = new();
        /// <summary>Per device, when its last request was answered at all (accepted or not).</summary>
        public Dictionary<string, double> LastReply { get; } = new();
        public int Frames, FramesAccepted, FramesClassified, FramesNotClassified, FramesWithoutPrediction, FramesAcceptedEarlier;
        /// <summary>Frames answered without a classification, as the test saw them (for the report).</summary>
        public List<string> Unclassified { get; } = new();

        private static (int Kind, long[] Seqs) KeysOf(IDeviceCommand request) => request switch
        {
            TelemetryBatch t => ((int)RecordKind.Telemetry, t.Sequences),
            CameraFrame f => ((int)RecordKind.Frame, [f.Sequence]),
            _ => throw new InvalidOperationException($"the simulator sent a {request.GetType().Name}"),
        };

        public void Answered(IDeviceCommand request, Reply<IngestAck> reply)
        {
            var at = _clock.Elapsed.TotalSeconds;
            var (kind, seqs) = KeysOf(request);
            var ack = reply.Value;
            var device = request.DeviceId.Value;
            lock (_gate)
            {
                LastReply[device] = Math.Max(LastReply.GetValueOrDefault(device), at);
                var rejected = new Dictionary<long, RejectReason>();
                foreach (var r in ack.Rejected) rejected[r.Sequence] = r.Reason;
                var accepted = 0;
                foreach (var s in seqs)
                {
                    var key = (device, kind, s);
                    Sent.Add(key);
                    if (rejected.TryGetValue(s, out var reason) && !(reason == RejectReason.Duplicate && reply.Attempts > 1))
                    {
                        Refused[key] = reason;
                        continue;
                    }
                    accepted++;
                    Accepted[key] = Accepted.GetValueOrDefault(key) + 1;
                    if (ack.Level >= AckLevel.DurableOnEdge) Durable.Add(key);
                }
                if (accepted > 0)
                {
                    if (!Answers.TryGetValue(device, out var list)) Answers[device] = list = new();
                    list.Add((at, ack.Node));
                }
                if (request is CameraFrame)
                {
                    Frames++;
                    if (accepted == 0) return;
                    FramesAccepted++;
                    var why = $"{device}#{seqs[0]} at {at:0.0}s: accepted={ack.Accepted} rejected=[{string.Join(",", ack.Rejected.Select(r => r.Reason))}] attempts={reply.Attempts} node={ack.Node} prediction={ack.Prediction}";
                    if (ack.Accepted == 0)
                    {
                        // a Duplicate on a retry: an earlier attempt was accepted (and classified) and its reply lost;
                        // this answer says so and need not carry the classification again
                        FramesAcceptedEarlier++;
                        if (ack.Prediction is null) Unclassified.Add(why);
                    }
                    else if (ack.Prediction is not { } p)
                    {
                        FramesWithoutPrediction++;
                        Unclassified.Add(why);
                    }
                    else if (p.Note == PredictionNote.NotClassified || p.Label < 0)
                    {
                        FramesNotClassified++;
                        Unclassified.Add(why);
                    }
                    else FramesClassified++;
                }
            }
        }

        public void NotAnswered(IDeviceCommand request)
        {
            var (kind, seqs) = KeysOf(request);
            lock (_gate)
                foreach (var s in seqs)
                {
                    Sent.Add((request.DeviceId.Value, kind, s));
                    Unanswered.Add((request.DeviceId.Value, kind, s));
                }
        }
    }

    private static readonly Regex Fault = new(@"^chaos \[\s*[\d.]+s\] (kill|restart|partition|heal|unplanned-exit) (\S+): ", RegexOptions.Compiled);
    private static readonly Regex PortArg = new(@"--port (\d+)", RegexOptions.Compiled);

    [Fact]
    public async Task Chaos_run_should_lose_and_duplicate_nothing_and_end_with_every_node_up()
    {
        var refused = Nodes.Hosting.NetworkNamespaces.Probe();
        Assert.True(refused is null, $"cannot make network namespaces for the chaos run's partitions: {refused}");
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-tests", $"chaos-{Environment.ProcessId}");
        // the camera models (untrained MLPs of the demo's shapes: this is about serving through faults, not accuracy),
        // where the run publishes them from (outside the run's directory, which it empties first)
        var models = Path.Combine(Path.GetTempPath(), "edgeactors-tests", $"chaos-models-{Environment.ProcessId}");
        Directory.CreateDirectory(models);
        await File.WriteAllBytesAsync(Path.Combine(models, "fmnist-mlp.onnx"), MlpOnnx.Export(new Mlp([784, 128, 10], 3)));
        await File.WriteAllBytesAsync(Path.Combine(models, "fmnist-large.onnx"), MlpOnnx.Export(new Mlp([784, 256, 128, 10], 5)));

        var clock = Stopwatch.StartNew();
        var ledger = new Ledger(clock);
        var faults = new List<(double At, string Kind, string Node)>();
        var summary = await new ChaosRun(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(36),
            Edges = 3,
            Seed = 7,
            BasePort = BasePort, // every node has an address of its own in its namespace: no port clashes with the machine
            Directory = dir,
            FaultInterval = TimeSpan.FromSeconds(5),
            Plan = ["kill", "malformed", "partition", "malformed"],
            // every edge runs four sensor adapters with every hardware fault kind at 2 % per read, and its primary
            // inference session fails 10 % of its runs (CUDA error / out of memory / corrupt state) → CPU fallback
            EdgeArgs = ChaosCommand.FaultArgs(sensorFaults: 0.02, gpuFaults: 0.1, seed: 7),
            AdapterDevicesPerEdge = ChaosCommand.AdapterDevices,
            ModelCache = models,
            Simulator = new SimulatorOptions { Sensors = 30, Cameras = 3, ReadingsPerSecond = 3_000, FramesPerSecond = 6, BatchSize = 20, DevicePrefix = "chaos-" },
            Observer = ledger.Answered,
            Unanswered = ledger.NotAnswered,
            Log = l =>
            {
                if (Fault.Match(l) is { Success: true } m)
                    lock (faults) faults.Add((clock.Elapsed.TotalSeconds, m.Groups[1].Value, m.Groups[2].Value));
                output.WriteLine(l);
            },
        }).RunAsync();
        output.WriteLine(summary.Line);

        // ---- the run did what it was asked to
        Assert.True(summary.Kills >= 1, "the run should have killed an edge");
        Assert.True(summary.PartitionsMade >= 1, "the run should have partitioned an edge");
        Assert.True(summary.MalformedSent > 0);
        Assert.Equal(summary.MalformedSent, summary.MalformedAnswered);
        Assert.True(summary.AllNodesUp, "a node stayed down; logs in " + dir);

        // ---- the verdict, from the test's own ledger and the datacenter's database (read directly, not through the product)
        var storePath = Path.Combine(dir, "datacenter", "store.db");
        Assert.True(File.Exists(storePath), $"no datacenter store at {storePath}");
        var stored = new Dictionary<(string Device, int Kind, long Seq), long>();
        long storedTwice, storedFrames, storedFramesClassified;
        await using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = storePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString()))
        {
            await db.OpenAsync();
            await using (var rows = db.CreateCommand())
            {
                // the simulator's devices only (the hostile requests and the edges' sensor adapters use other ids)
                rows.CommandText = "SELECT device, kind, seq, COUNT(*) FROM records WHERE device LIKE 'chaos-sensor-%' OR device LIKE 'chaos-camera-%' GROUP BY device, kind, seq";
                await using var r = await rows.ExecuteReaderAsync();
                while (await r.ReadAsync()) stored[(r.GetString(0), r.GetInt32(1), r.GetInt64(2))] = r.GetInt64(3);
            }
            // any reading held in more than one row (the primary key should make this impossible: checked, not assumed)
            await using var twice = db.CreateCommand();
            twice.CommandText = "SELECT COUNT(*) FROM (SELECT 1 FROM records GROUP BY device, kind, seq HAVING COUNT(*) > 1)";
            storedTwice = Convert.ToInt64(await twice.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
            // the cameras' frames as stored, with the classification they were acknowledged with
            await using var frames = db.CreateCommand();
            frames.CommandText = $"SELECT COUNT(*), COALESCE(SUM(pred_label IS NOT NULL AND pred_label >= 0), 0) FROM records WHERE kind = {(int)RecordKind.Frame} AND device LIKE 'chaos-camera-%'";
            await using (var r = await frames.ExecuteReaderAsync())
            {
                await r.ReadAsync();
                (storedFrames, storedFramesClassified) = (r.GetInt64(0), r.GetInt64(1));
            }
        }

        var acceptedKeys = ledger.Accepted.Keys.ToHashSet();
        var lostDurable = ledger.Durable.Where(k => !stored.ContainsKey(k)).ToList();
        var lostNotDurable = acceptedKeys.Where(k => !ledger.Durable.Contains(k) && !stored.ContainsKey(k)).ToList();
        var acknowledgedTwice = ledger.Accepted.Where(kv => kv.Value > 1).Select(kv => kv.Key).ToList();
        var neverSent = stored.Keys.Where(k => !ledger.Sent.Contains(k)).ToList();
        var storedButRefused = stored.Keys.Where(k => ledger.Refused.ContainsKey(k)).GroupBy(k => ledger.Refused[k]).ToDictionary(g => g.Key, g => g.Count());
        var storedUnanswered = stored.Keys.Count(k => ledger.Unanswered.Contains(k));
        // per device: as many rows as readings accepted, and the stored sequences exactly the accepted ones
        var mismatched = acceptedKeys.Concat(stored.Keys).Select(k => (k.Device, k.Kind)).Distinct()
            .Select(d => (d.Device, d.Kind,
                Accepted: acceptedKeys.Where(k => k.Device == d.Device && k.Kind == d.Kind).Select(k => k.Seq).ToHashSet(),
                Stored: stored.Keys.Where(k => k.Device == d.Device && k.Kind == d.Kind).Select(k => k.Seq).ToHashSet()))
            .Where(d => !d.Accepted.SetEquals(d.Stored))
            .Select(d => $"{d.Device}/{d.Kind}: {d.Accepted.Count} accepted, {d.Stored.Count} stored, " +
                         $"first missing {string.Join(",", d.Accepted.Except(d.Stored).Order().Take(5))}, first extra {string.Join(",", d.Stored.Except(d.Accepted).Order().Take(5))}")
            .ToList();
        output.WriteLine($"VERDICT (test's own) sent={ledger.Sent.Count} accepted={acceptedKeys.Count} durable={ledger.Durable.Count} refused={ledger.Refused.Count} " +
                         $"unanswered={ledger.Unanswered.Count} stored={stored.Count} lost_durable={lostDurable.Count} lost_not_durable={lostNotDurable.Count} " +
                         $"acknowledged_twice={acknowledgedTwice.Count} stored_twice={storedTwice} stored_never_sent={neverSent.Count} stored_unanswered={storedUnanswered} " +
                         $"stored_but_refused=[{string.Join(" ", storedButRefused.Select(kv => $"{kv.Key}={kv.Value}"))}] devices_mismatched={mismatched.Count}");
        foreach (var m in mismatched.Take(10)) output.WriteLine("  mismatch " + m);

        Assert.True(acceptedKeys.Count > 10_000, $"too little streamed: {acceptedKeys.Count}");
        Assert.True(ledger.Unanswered.Count == 0, $"{ledger.Unanswered.Count} readings were never answered (the client gave up on them)");
        Assert.True(lostDurable.Count == 0, $"{lostDurable.Count} readings acknowledged durable are not in the store, e.g. {string.Join(", ", lostDurable.Take(5))}");
        Assert.True(lostNotDurable.Count == 0, $"{lostNotDurable.Count} readings acknowledged (not durable) are not in the store, e.g. {string.Join(", ", lostNotDurable.Take(5))}");
        Assert.True(acknowledgedTwice.Count == 0, $"{acknowledgedTwice.Count} readings were accepted by two requests, e.g. {string.Join(", ", acknowledgedTwice.Take(5))}");
        Assert.Equal(0, storedTwice);
        Assert.True(neverSent.Count == 0, $"{neverSent.Count} stored readings were never sent, e.g. {string.Join(", ", neverSent.Take(5))}");
        Assert.True(storedButRefused.Count == 0, $"readings the client was told were refused are in the store: {string.Join(" ", storedButRefused.Select(kv => $"{kv.Key}={kv.Value}"))}");
        Assert.True(mismatched.Count == 0, $"{mismatched.Count} devices' stored readings differ from their accepted ones: {string.Join("; ", mismatched.Take(5))}");

        // ---- failover, from the ledger's answer times and the moments the run's log announced its faults: each device an
        // edge served just before it was killed or cut off is served again (by another edge, or by it once it is back)
        var ports = new Dictionary<string, string>();
        foreach (var log in Directory.GetFiles(dir, "*.log"))
            if (PortArg.Match(File.ReadLines(log).First()) is { Success: true } pm) ports[Path.GetFileNameWithoutExtension(log)] = ":" + pm.Groups[1].Value;
        var failovers = new List<(string Fault, double Seconds, int Devices)>();
        List<(double At, string Kind, string Node)> events;
        lock (faults) events = faults.ToList();
        foreach (var e in events.Where(e => e.Kind is "kill" or "partition"))
        {
            var port = ports[e.Node];
            var back = events.FirstOrDefault(r => r.Node == e.Node && r.At > e.At && r.Kind is "restart" or "heal").At;
            if (back == 0) back = double.MaxValue;
            var worst = 0.0;
            var devices = 0;
            foreach (var (device, answers) in ledger.Answers)
            {
                var before = answers.LastOrDefault(a => a.At <= e.At);
                if (before.Node is null || !before.Node.EndsWith(port, StringComparison.Ordinal)) continue;
                // its stream had ended before the fault (no answer at all after it: the run's streaming phase outlasts the
                // devices' own duration when the client is slow): nothing to fail over; an unanswered request is judged above
                if (ledger.LastReply.GetValueOrDefault(device) <= e.At) continue;
                var after = answers.FirstOrDefault(a => a.At > e.At && (!a.Node.EndsWith(port, StringComparison.Ordinal) || a.At > back));
                Assert.True(after.Node is not null, $"{device}, served by {e.Node} before its {e.Kind} at {e.At:0.0}s, was never served again");
                devices++;
                worst = Math.Max(worst, after.At - e.At);
            }
            if (devices > 0) failovers.Add(($"{e.Kind} {e.Node} at {e.At:0.0}s", worst, devices));
        }
        foreach (var f in failovers) output.WriteLine($"failover (test's own): {f.Fault}: {f.Devices} devices served again within {f.Seconds:0.0}s");
        Assert.NotEmpty(failovers);
        Assert.All(failovers, f => Assert.True(f.Seconds < 60, $"failover after the {f.Fault} took {f.Seconds:0.0}s"));

        // ---- GPU faults: the edges' primary sessions failed and the batches were re-run on CPU; the frames were answered
        var fallbacks = ports.Keys.Where(n => n.StartsWith("edge", StringComparison.Ordinal))
            .ToDictionary(n => n, n => File.ReadLines(Path.Combine(dir, n + ".log")).Count(l => l.Contains("injected fault on the", StringComparison.Ordinal) && l.Contains("re-run on", StringComparison.Ordinal)));
        output.WriteLine($"frames: {ledger.Frames} sent and answered, {ledger.FramesAccepted} accepted, {ledger.FramesClassified} classified, " +
                         $"{ledger.FramesNotClassified} not classified, {ledger.FramesWithoutPrediction} without a prediction, {ledger.FramesAcceptedEarlier} accepted by an earlier attempt; " +
                         $"CPU fallbacks after injected GPU faults in the logs: {string.Join(" ", fallbacks.Select(kv => $"{kv.Key}={kv.Value}"))}; " +
                         $"stored frames {storedFrames}, {storedFramesClassified} with a classification");
        foreach (var u in ledger.Unclassified) output.WriteLine("  unclassified frame " + u);
        Assert.True(fallbacks.Values.Sum() > 0, "no edge log shows a batch re-run on CPU after an injected GPU fault; logs in " + dir);
        Assert.True(ledger.FramesAccepted > 50, $"too few frames accepted: {ledger.FramesAccepted}");
        Assert.Equal(0, ledger.FramesWithoutPrediction);
        // a frame may come back unclassified only while its edge is failing over (backstop); through GPU faults it is answered
        Assert.True(ledger.FramesClassified >= (ledger.FramesAccepted - ledger.FramesAcceptedEarlier) * 0.9,
            $"only {ledger.FramesClassified} of {ledger.FramesAccepted - ledger.FramesAcceptedEarlier} frames accepted by their answer were classified");
        Assert.True(storedFramesClassified >= storedFrames * 0.9, $"only {storedFramesClassified} of the {storedFrames} stored frames carry a classification");

        // ---- the hardware adapters kept streaming through their faults and the edges' deaths
        var adapters = summary.Adapters!;
        Assert.Equal(3 * ChaosCommand.AdapterDevices, adapters.Devices);
        Assert.True(adapters.Accepted > 0, "no adapter reading was accepted");
        Assert.True(adapters.Restarts > 0, $"no adapter was restarted by its supervisor: {adapters}");

        // ---- what ChaosRun reports (the `chaos` command's SUMMARY line) agrees with the test's verdict
        Assert.Equal(acceptedKeys.Count, summary.Accepted);
        Assert.Equal(acceptedKeys.Count(stored.ContainsKey), summary.Stored);
        Assert.Equal(0, summary.Lost);
        Assert.Equal(0, summary.Duplicates);
        Assert.NotEmpty(summary.FailoverSeconds);
        Directory.Delete(models, recursive: true);
    }
}
