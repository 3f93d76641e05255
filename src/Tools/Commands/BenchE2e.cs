using System.CommandLine;
using EdgeActors.Nodes;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using EdgeActors.Messages;
using EdgeActors.Tools.Bench;
using EdgeActors.Client;
using EdgeActors.Nodes.Hosting;

namespace EdgeActors.Tools.Commands;

/// <summary>
/// `bench e2e`: the product's real path as a user gets it. A local cluster of real node processes (seed, datacenter, two
/// edges; TLS with mutual authentication and client tokens, durable outboxes, sync to the datacenter's store, as in the
/// demo) and this process as a client app with N devices. Open-loop load through the client library at rising rates:
/// each step offers a rate for some seconds, then waits for its answers; a step is sustained when every request was
/// answered, nothing was refused as overloaded, the cluster took ≥ 95 % of the offered readings and the p99
/// acknowledgement latency (send to durable ack) is ≤ the bound. Then 10× the highest sustained rate, where the cluster
/// must answer everything (accepted or Overloaded) and keep its goodput. Beside it, the durable-outbox stage of
/// `bench ingest` (in-process, no client, no network) measured in the same run.
/// </summary>
public static class BenchE2e
{
    private static readonly Option<int> Devices = CliOptions.Int("--devices", 20_000, "simulated devices");
    private static readonly Option<int> Batch = CliOptions.Int("--batch", 50, "readings per batch");
    private static readonly Option<int> Channels = CliOptions.Int("--channels", 4, "channels per reading");
    private static readonly Option<double> StartRate = CliOptions.Double("--start-rate", 20_000, "the first offered rate, readings/s");
    private static readonly Option<double> Step = CliOptions.Double("--step", 1.5, "factor between offered rates (> 1)");
    private static readonly Option<double> MaxRate = CliOptions.Double("--max-rate", 2_000_000, "the highest offered rate, readings/s");
    private static readonly Option<double> StepSeconds = CliOptions.Double("--step-seconds", 6, "seconds per rate", "SECONDS");
    private static readonly Option<double> P99Ms = CliOptions.Double("--p99-ms", 1000, "the p99 acknowledgement latency bound, ms", "MS");
    private static readonly Option<double> OverloadX = CliOptions.Double("--overload-x", 10, "the overload stage's factor over the sustained rate");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4800, "the first node's port");
    private static readonly Option<bool> Insecure = CliOptions.Flag("--insecure", "plain TCP, no client tokens (default TLS)");
    private static readonly Option<string> Transport = CliOptions.Choice("--transport", "stream", "the client's ingest transport", "stream", "clusterclient");
    private static readonly Option<bool> NoOutboxStage = CliOptions.Flag("--no-outbox-stage", "skip the in-process durable-outbox stage");
    private static readonly Option<int> Fleet = CliOptions.Int("--fleet", 100_000, "devices for the `bench devices` stage on one edge (0: skipped)");
    private static readonly Option<string> Out = BenchCommand.OutOption();
    private static readonly Option<bool> NoWrite = BenchCommand.NoWriteOption();

    public static Command Create() => Cli.Command("e2e", """
        local cluster + client library at rising offered rates: sustained readings/s, overload, device fleet
        Highest sustained readings/s with p99 ack latency within the bound and nothing lost, the same at 10x that rate
        (goodput, overloaded, unanswered), and the in-process durable-outbox stage for comparison, then `bench devices`
        with --fleet devices on one edge. Ends with RESULT e2e / RESULT overload / RESULT devices lines; writes
        docs/benchmarks.md.
        """, [Devices, Batch, Channels, StartRate, Step, MaxRate, StepSeconds, P99Ms, OverloadX, BasePort, Insecure, Transport, Fleet, NoOutboxStage, Out, NoWrite], RunAsync);

    public sealed record Options(int Devices, int Batch, int Channels, double StartRate, double Step, double MaxRate, double StepSeconds,
        double P99BoundMs, double OverloadX, int BasePort, bool Secure, IngestTransport Transport, bool OutboxStage, int Fleet = 100_000);

    public sealed record StepResult(double Offered, long OfferedReadings, long Accepted, long Rejected, long Overloaded, long Unanswered,
        long Requests, double Seconds, double P50Ms, double P99Ms, long Retried)
    {
        /// <summary>Of <see cref="Overloaded"/>: readings the client library refused itself (its requests in flight at the bound).</summary>
        public long RefusedByClient { get; init; }

        /// <summary>CPU seconds each process (client and nodes) spent during the step.</summary>
        public IReadOnlyDictionary<string, double> Cpu { get; init; } = new Dictionary<string, double>();

        /// <summary>Where the time goes: µs of CPU per accepted reading, per process.</summary>
        public string CpuPerReading() => Accepted == 0 ? "" :
            "cpu µs/reading: " + string.Join("  ", Cpu.Select(kv => $"{kv.Key} {kv.Value * 1e6 / Accepted:0.0}")) + $"  total {Cpu.Values.Sum() * 1e6 / Accepted:0.0}";

        public double Goodput => Accepted / Seconds;
        public bool Sustained(double p99Bound) => Unanswered == 0 && Overloaded == 0 && P99Ms <= p99Bound && Accepted + Rejected >= 0.95 * OfferedReadings;
    }

    private static async Task<int> RunAsync(ParseResult args)
    {
        var o = new Options(
            args.GetValue(Devices), args.GetValue(Batch), args.GetValue(Channels), args.GetValue(StartRate), args.GetValue(Step),
            args.GetValue(MaxRate), args.GetValue(StepSeconds), args.GetValue(P99Ms), args.GetValue(OverloadX),
            args.GetValue(BasePort), !args.GetValue(Insecure),
            args.GetValue(Transport) switch
            {
                "clusterclient" => IngestTransport.ClusterClient,
                _ => IngestTransport.Stream,
            },
            !args.GetValue(NoOutboxStage), args.GetValue(Fleet));
        var write = !args.GetValue(NoWrite);
        var outPath = args.GetValue(Out)!;
        if (o.Devices < 1 || o.Batch < 1 || o.Step <= 1 || o.StartRate <= 0 || o.StepSeconds <= 0)
            throw new CliException("--devices, --batch, --start-rate and --step-seconds must be positive and --step > 1");

        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-bench-e2e");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var layout = LocalCluster.DefaultLayout(o.BasePort);
        Console.WriteLine($"bench e2e: {layout.Count} node processes on 127.0.0.1:{o.BasePort}.. ({(o.Secure ? "TLS + client tokens" : "insecure")}), " +
                          $"{o.Devices:N0} devices, {o.Batch}-reading batches x {o.Channels} channels, transport {o.Transport}; {Environment.ProcessorCount} cores");
        var steps = new List<StepResult>();
        StepResult? overload = null;
        await using (var cluster = new LocalCluster(layout, dir, secure: o.Secure))
        {
            cluster.StartAll();
            var options = new EdgeClientOptions
            {
                Contacts = cluster.GatewayContacts.ToList(), Credentials = cluster.ClientCredentials, Transport = o.Transport,
                // the library's own bound on requests in flight; the open-loop load cannot wait, so beyond it the client
                // answers Overloaded itself (counted with the cluster's Overloaded answers)
                RetryDeadline = TimeSpan.FromSeconds(30), WhenFull = WhenFull.Refuse,
                // refusals are counted as they come: resending them would measure the client's patience, not the cluster
                OverloadRetries = 0,
            };
            await using (var client = EdgeClient.Connect(options))
            {
                if (await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(90)) is null) return 1;
                var load = new OpenLoad(client, o, cluster);
                // every device's first contact (entity start and restore) happens here, not inside a measured step
                var warm = await load.RunStepAsync(Math.Min(o.StartRate, o.Devices * o.Batch / 2.0), Math.Max(2, 2.0 * o.Devices * o.Batch / o.StartRate), everyDevice: true);
                Console.WriteLine($"  warm-up: every device once: {Line(warm)}");
                for (var rate = o.StartRate; rate <= o.MaxRate; rate *= o.Step)
                {
                    var s = await load.RunStepAsync(rate, o.StepSeconds);
                    steps.Add(s);
                    Console.WriteLine($"  offered {rate,10:N0}/s: {Line(s)}  {(s.Sustained(o.P99BoundMs) ? "sustained" : "NOT sustained")}");
                    Console.WriteLine($"      {s.CpuPerReading()}");
                    if (!s.Sustained(o.P99BoundMs)) break;
                }
                var best = steps.Where(s => s.Sustained(o.P99BoundMs)).MaxBy(s => s.Goodput);
                var peak = steps.Max(s => s.Goodput);
                var overloadRate = (best?.Offered ?? o.StartRate) * o.OverloadX;
                // let the cluster drain what the failed step left before the overload step
                await Task.Delay(TimeSpan.FromSeconds(3));
                overload = await load.RunStepAsync(overloadRate, o.StepSeconds);
                Console.WriteLine($"  overload {overloadRate,10:N0}/s ({o.OverloadX:0}x): {Line(overload)}");
                Console.WriteLine($"      {overload.CpuPerReading()}");
                var outbox = o.OutboxStage ? await OutboxStageAsync(o) : null;
                var sustained = best?.Goodput ?? 0;
                var ratio = outbox is null ? 0 : sustained / outbox.PerSecond;
                Console.WriteLine();
                Console.WriteLine(Inv($"RESULT e2e devices={o.Devices} sustained_per_s={sustained:0} outbox_stage_per_s={outbox?.PerSecond ?? 0:0} ratio={ratio:0.00} p99_ms={best?.P99Ms ?? 0:0.0} lost={steps.Sum(s => s.Unanswered) + (best is null ? 1 : 0)}"));
                Console.WriteLine(Inv($"RESULT overload offered_x={o.OverloadX:0} goodput_ratio={overload.Goodput / Math.Max(1, peak):0.00} unanswered={overload.Unanswered} overloaded={overload.Overloaded} refused_by_client={overload.RefusedByClient} p99_ms={overload.P99Ms:0.0}"));
                if (write) WriteMarkdown(outPath, o, warm, steps, best, overload, peak, outbox);
            }
            await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        }
        if (o.Fleet > 0)
        {
            // fleet size on one edge: memory per idle device and how long N new devices take to all be served
            Console.WriteLine($"  devices: {o.Fleet:N0} new devices on one edge (bench devices)");
            var fleetOptions = new DeviceFleetBench.Options(o.Fleet, BasePort: o.BasePort + 80, Secure: o.Secure);
            var fleet = await DeviceFleetBench.RunAsync(fleetOptions);
            Console.WriteLine(fleet.ResultLine);
            if (write) DeviceFleetBench.WriteMarkdown(outPath, fleetOptions, fleet);
        }
        return 0;
    }

    private static async Task<BenchCommand.StageResult> OutboxStageAsync(Options o)
    {
        Console.WriteLine("  durable-outbox stage of bench ingest (in-process, 500 devices x 100-reading batches):");
        var stage = await BenchCommand.ShardedStageAsync(new BenchCommand.IngestBenchOptions(500, 120, 100, o.Channels, 10, 100, 0, o.BasePort + 100, 1),
            twoNodes: false, durable: true);
        Console.WriteLine($"    {stage.Readings:N0} readings in {stage.Seconds:0.00}s = {stage.PerSecond:N0} readings/s");
        return stage;
    }

    private static string Line(StepResult s) =>
        $"accepted {s.Goodput,10:N0}/s ({s.Accepted:N0} of {s.OfferedReadings:N0})  rejected {s.Rejected:N0}  overloaded {s.Overloaded:N0} (by the client {s.RefusedByClient:N0})  unanswered {s.Unanswered:N0}  " +
        $"p50 {s.P50Ms:0.0} ms  p99 {s.P99Ms:0.0} ms  retried {s.Retried:N0}";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Open-loop load: requests go out at the offered rate whatever the answers (a device may have several in flight;
    /// its sequences keep rising), spread over the devices round robin. Values are clean (no injected faults), so every
    /// reading is accepted unless the cluster refuses it.
    /// </summary>
    private sealed class OpenLoad(EdgeClient client, Options o, LocalCluster cluster)
    {
        /// <summary>CPU seconds so far of this process and of every running node (from /proc; 0 where unreadable).</summary>
        private Dictionary<string, double> CpuNow()
        {
            var cpu = new Dictionary<string, double> { ["client"] = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds };
            foreach (var n in cluster.Nodes)
            {
                try
                {
                    var stat = File.ReadAllText($"/proc/{n.Pid}/stat");
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    cpu[n.Spec.Name] = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
                }
                catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or InvalidOperationException)
                {
                    cpu[n.Spec.Name] = 0;
                }
            }
            return cpu;
        }

        private readonly long[] _next = Enumerable.Repeat(1L, o.Devices).ToArray();
        private readonly DeviceId[] _ids = Enumerable.Range(0, o.Devices).Select(i => new DeviceId($"e2e-{i:D6}")).ToArray();
        private readonly float[] _values = Enumerable.Range(0, o.Batch * o.Channels).Select(i => 20f + (i % 7) * 0.1f).ToArray();
        private int _cursor;

        public async Task<StepResult> RunStepAsync(double rate, double seconds, bool everyDevice = false)
        {
            var requestsPerSecond = rate / o.Batch;
            var total = everyDevice ? o.Devices : (long)(requestsPerSecond * seconds);
            var latencies = new long[total];
            long accepted = 0, rejected = 0, overloaded = 0, unanswered = 0, retried = 0, byClient = 0;
            var tasks = new List<Task>((int)Math.Min(total, 1_000_000));
            var cpuBefore = CpuNow();
            var clock = Stopwatch.StartNew();
            long issued = 0;
            while (issued < total)
            {
                var due = Math.Min(total, (long)(clock.Elapsed.TotalSeconds * requestsPerSecond) + 1);
                for (; issued < due; issued++)
                {
                    var slot = issued;
                    var batch = NextBatch();
                    var sent = Stopwatch.GetTimestamp();
                    tasks.Add(client.SendTelemetryAsync(batch).ContinueWith(t =>
                    {
                        latencies[slot] = Stopwatch.GetTimestamp() - sent;
                        if (!t.IsCompletedSuccessfully)
                        {
                            Interlocked.Add(ref unanswered, batch.Count);
                            return;
                        }
                        var ack = t.Result.Value;
                        var resent = t.Result.Attempts > 1;
                        if (resent) Interlocked.Increment(ref retried);
                        // a Duplicate on a resend means an earlier attempt was accepted (its answer was given up): accepted
                        var dup = resent ? ack.Rejected.Count(r => r.Reason == RejectReason.Duplicate) : 0;
                        Interlocked.Add(ref accepted, ack.Accepted + dup);
                        var over = ack.Rejected.Count(r => r.Reason == RejectReason.Overloaded);
                        Interlocked.Add(ref overloaded, over);
                        if (ack.Node == "client") Interlocked.Add(ref byClient, over);
                        Interlocked.Add(ref rejected, ack.Rejected.Length - over - dup);
                    }, TaskContinuationOptions.ExecuteSynchronously));
                }
                await Task.Delay(2);
            }
            var offeredFor = clock.Elapsed.TotalSeconds;
            await Task.WhenAll(tasks);
            var seconds2 = Math.Max(offeredFor, clock.Elapsed.TotalSeconds);
            Array.Sort(latencies);
            double Ms(double q) => latencies.Length == 0 ? 0 : latencies[Math.Min(latencies.Length - 1, (int)(q * latencies.Length))] * 1000.0 / Stopwatch.Frequency;
            var cpuAfter = CpuNow();
            return new StepResult(rate, total * o.Batch, accepted, rejected, overloaded, unanswered, total, seconds2, Ms(0.50), Ms(0.99), retried)
            {
                Cpu = cpuAfter.ToDictionary(kv => kv.Key, kv => kv.Value - cpuBefore.GetValueOrDefault(kv.Key)),
                RefusedByClient = byClient,
            };
        }

        private TelemetryBatch NextBatch()
        {
            var d = _cursor;
            _cursor = (_cursor + 1) % _ids.Length;
            var first = _next[d];
            _next[d] += o.Batch;
            var sequences = new long[o.Batch];
            var timestamps = new long[o.Batch];
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (var i = 0; i < o.Batch; i++)
            {
                sequences[i] = first + i;
                timestamps[i] = now - (o.Batch - i) * 10L;
            }
            return new TelemetryBatch(_ids[d], o.Channels, sequences, timestamps, _values);
        }
    }

    private const string Begin = "<!-- bench e2e: begin (written by `./edgeactors bench e2e`) -->";
    private const string End = "<!-- bench e2e: end -->";

    private static void WriteMarkdown(string path, Options o, StepResult warm, List<StepResult> steps, StepResult? best, StepResult overload, double peak,
        BenchCommand.StageResult? outbox)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Begin);
        sb.AppendLine("## The real path end to end (`bench e2e`)");
        sb.AppendLine();
        sb.AppendLine($"Command: `./edgeactors bench e2e --devices {o.Devices} --batch {o.Batch} --channels {o.Channels} --start-rate {o.StartRate} --step {o.Step} --step-seconds {o.StepSeconds} --p99-ms {o.P99BoundMs}{(o.Secure ? "" : " --insecure")}{(o.Transport == IngestTransport.ClusterClient ? " --transport clusterclient" : "")}`  ");
        sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, .NET {Environment.Version}. Real node processes (seed, datacenter, two edges), " +
                      $"{(o.Secure ? "TLS with mutual authentication and client tokens" : "plain TCP")}, durable outboxes syncing to the datacenter's SQLite store; this process is the client " +
                      $"(transport: {o.Transport}). Open-loop load; a step is sustained when every request was answered, none refused as Overloaded, ≥ 95 % of the offered readings answered and p99 ≤ {o.P99BoundMs:0} ms. " +
                      "Latency is from the client's send to the durable acknowledgement.");
        sb.AppendLine();
        sb.AppendLine("| step | offered readings/s | accepted readings/s | overloaded (by the client) | unanswered | p50 ms | p99 ms | sustained |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        sb.AppendLine(Inv($"| warm-up (every device's first contact) | {warm.Offered:N0} | {warm.Goodput:N0} | {warm.Overloaded:N0} ({warm.RefusedByClient:N0}) | {warm.Unanswered:N0} | {warm.P50Ms:0.0} | {warm.P99Ms:0.0} | – |"));
        foreach (var s in steps)
            sb.AppendLine(Inv($"| rising | {s.Offered:N0} | {s.Goodput:N0} | {s.Overloaded:N0} ({s.RefusedByClient:N0}) | {s.Unanswered:N0} | {s.P50Ms:0.0} | {s.P99Ms:0.0} | {(s.Sustained(o.P99BoundMs) ? "yes" : "no")} |"));
        sb.AppendLine(Inv($"| {o.OverloadX:0}x the highest sustained | {overload.Offered:N0} | {overload.Goodput:N0} | {overload.Overloaded:N0} ({overload.RefusedByClient:N0}) | {overload.Unanswered:N0} | {overload.P50Ms:0.0} | {overload.P99Ms:0.0} | – |"));
        if (outbox is not null)
            sb.AppendLine(Inv($"| durable-outbox stage (in-process, no client) | – | {outbox.PerSecond:N0} | – | – | {outbox.P50Ms:0.0} | {outbox.P99Ms:0.0} | – |"));
        sb.AppendLine();
        if (best is not null) sb.AppendLine($"Where the time goes at the highest sustained step ({best.CpuPerReading()}; 2 cores = 2 s of CPU per second).");
        sb.AppendLine();
        sb.AppendLine("```");
        var sustained = best?.Goodput ?? 0;
        sb.AppendLine(Inv($"RESULT e2e devices={o.Devices} sustained_per_s={sustained:0} outbox_stage_per_s={outbox?.PerSecond ?? 0:0} ratio={(outbox is null ? 0 : sustained / outbox.PerSecond):0.00} p99_ms={best?.P99Ms ?? 0:0.0} lost={steps.Sum(s => s.Unanswered)}"));
        sb.AppendLine(Inv($"RESULT overload offered_x={o.OverloadX:0} goodput_ratio={overload.Goodput / Math.Max(1, peak):0.00} unanswered={overload.Unanswered} overloaded={overload.Overloaded} refused_by_client={overload.RefusedByClient} p99_ms={overload.P99Ms:0.0}"));
        sb.AppendLine("```");
        sb.AppendLine(End);
        BenchmarkDocs.WriteBlock(path, Begin, End, sb.ToString());
    }
}
