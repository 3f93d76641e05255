using EdgeActors.Client.Serialization;
using System.CommandLine;
using EdgeActors.Client.Security;
using EdgeActors.Nodes;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tools.Bench;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EdgeActors.Tools.Commands;

public static class BenchCommand
{
    /// <summary>--out FILE: where a benchmark writes its figures (default docs/benchmarks.md).</summary>
    public static Option<string> OutOption() => CliOptions.Text("--out", Path.Combine("docs", "benchmarks.md"), "the markdown file the figures are written into", "FILE");

    public static Option<bool> NoWriteOption() => CliOptions.Flag("--no-write", "only print the figures, do not write them into --out");

    public static Command Create()
    {
        var bench = new Command("bench", "benchmarks: bench ingest, bench e2e, bench devices, bench inference, bench sync, bench aggregate, bench protocols");
        bench.Subcommands.Add(Cli.Command("ingest", """
            telemetry readings/s through the sharded device path and cross-node request/response
            Telemetry readings/s through the sharded device path (one node, then two nodes) against a plain local actor
            running the same preprocessing fed by Tell (the baseline), and cross-node request/response with our
            serializer against Akka's default serializer, all in one run; then the one-node stage with the node's
            metrics on (OpenTelemetry provider, /metrics scraped every second) and off (edgeactors.metrics.enabled = off),
            RESULT metrics. Ends with RESULT lines; writes the figures into docs/benchmarks.md unless --no-write.
            """, [IngestDevices, IngestRounds, IngestBatch, IngestChannels, IngestDrivers, IngestWindow, IngestRemoteRequests, IngestPasses, IngestBasePort, IngestOut, IngestNoWrite, IngestTls, IngestMetricsOnly], RunIngestAsync));
        bench.Subcommands.Add(BenchE2e.Create());
        bench.Subcommands.Add(Cli.Command("devices", """
            device entities per edge: RSS per device and the time to start them all
            A local cluster (seed, datacenter, ONE edge; TLS unless --insecure), one small telemetry batch to each of N
            new devices through the client; the edge's RSS per device and the time from the first message to the last
            device acknowledged. Ends with `RESULT devices count= bytes_per_device= start_all_s=`; writes
            docs/benchmarks.md unless --no-write.
            """, [DevicesCount, DevicesInFlight, DevicesReadings, DevicesBasePort, DevicesSettle, DevicesDir, DevicesInsecure, DevicesOut, DevicesNoWrite], RunDevicesAsync));
        bench.Subcommands.Add(BenchInference.Create());
        bench.Subcommands.Add(BenchSync.Create());
        bench.Subcommands.Add(BenchAggregate.Create());
        bench.Subcommands.Add(BenchProtocols.Create());
        return bench;
    }

    private static readonly Option<int> DevicesCount = CliOptions.Int("--count", 100_000, "new devices, one telemetry batch each");
    private static readonly Option<int> DevicesInFlight = CliOptions.Int("--in-flight", 2000, "requests in flight");
    private static readonly Option<int> DevicesReadings = CliOptions.Int("--readings", 4, "readings per batch");
    private static readonly Option<int> DevicesBasePort = CliOptions.Port("--base-port", 4880, "the first node's port");
    private static readonly Option<double> DevicesSettle = CliOptions.Double("--settle", 8, "seconds to let the edge settle before measuring its memory", "SECONDS");
    private static readonly Option<string?> DevicesDir = CliOptions.Text("--dir", "node logs and data", "DIR");
    private static readonly Option<bool> DevicesInsecure = CliOptions.Flag("--insecure", "plain TCP, no client tokens (default TLS)");
    private static readonly Option<string> DevicesOut = OutOption();
    private static readonly Option<bool> DevicesNoWrite = NoWriteOption();

    private static readonly Option<int> IngestDevices = CliOptions.Int("--devices", 500, "devices");
    private static readonly Option<int> IngestRounds = CliOptions.Int("--rounds", 120, "batches per device");
    private static readonly Option<int> IngestBatch = CliOptions.Int("--batch", 100, "readings per batch");
    private static readonly Option<int> IngestChannels = CliOptions.Int("--channels", 4, "channels per reading");
    private static readonly Option<int> IngestDrivers = CliOptions.Int("--drivers", 10, "concurrent drivers");
    private static readonly Option<int> IngestWindow = CliOptions.Int("--window", 100, "requests in flight per driver");
    private static readonly Option<int> IngestRemoteRequests = CliOptions.Int("--remote-requests", 20000, "requests in the cross-node stages");
    private static readonly Option<int> IngestPasses = CliOptions.Int("--passes", 5, "passes per stage (the best counts)");
    private static readonly Option<int> IngestBasePort = CliOptions.Port("--base-port", 4700, "the first node's port");
    private static readonly Option<string> IngestOut = OutOption();
    private static readonly Option<bool> IngestNoWrite = NoWriteOption();
    private static readonly Option<bool> IngestMetricsOnly = CliOptions.Flag("--metrics-only", "run only the metrics on/off stage (RESULT metrics)");
    private static readonly Option<bool> IngestTls = CliOptions.Flag("--tls", "also run the remote stages over TLS with mutual authentication (RESULT remote_tls)");

    private static async Task<int> RunDevicesAsync(ParseResult args)
    {
        var o = new DeviceFleetBench.Options(args.GetValue(DevicesCount), args.GetValue(DevicesInFlight), args.GetValue(DevicesReadings),
            args.GetValue(DevicesBasePort), args.GetValue(DevicesSettle), args.GetValue(DevicesDir), Secure: !args.GetValue(DevicesInsecure));
        var outPath = args.GetValue(DevicesOut)!;
        var write = !args.GetValue(DevicesNoWrite);
        if (o.Readings < 1) throw new CliException("--readings must be at least 1");
        var result = await DeviceFleetBench.RunAsync(o);
        if (write) DeviceFleetBench.WriteMarkdown(outPath, o, result);
        return result.Failed == 0 ? 0 : 1;
    }

    /// <summary>Ingest stages measure ingestion and the wire format; the durable outbox has its own stage (and `bench sync`).</summary>
    private const string NoOutbox = "edgeactors.outbox.enabled = off";

    private const string DefaultSerializerBinding =
        "akka.actor.serialization-bindings { \"EdgeActors.Messages.IEdgeMessage, EdgeActors.Messages\" = json }";

    private static async Task<int> RunIngestAsync(ParseResult args)
    {
        var o = new IngestBenchOptions(
            args.GetValue(IngestDevices), args.GetValue(IngestRounds), args.GetValue(IngestBatch), args.GetValue(IngestChannels),
            args.GetValue(IngestDrivers), args.GetValue(IngestWindow), args.GetValue(IngestRemoteRequests), args.GetValue(IngestBasePort), args.GetValue(IngestPasses));
        if (o.Passes < 1) throw new CliException("--passes must be at least 1");
        var outPath = args.GetValue(IngestOut)!;
        var write = !args.GetValue(IngestNoWrite);
        var tls = args.GetValue(IngestTls);
        if (!args.GetValue(IngestMetricsOnly))
        {
            var result = await RunIngestAsync(o, tls);
            if (write) WriteMarkdown(outPath, o, result);
        }
        var (on, off) = await RunMetricsStageAsync(o);
        if (write) WriteMetricsMarkdown(outPath, o, on, off, args.GetValue(IngestMetricsOnly));
        return 0;
    }

    /// <summary>
    /// The one-node sharded stage twice: metrics off (<c>edgeactors.metrics.enabled = off</c>), then on (the OpenTelemetry
    /// provider listening, <c>/metrics</c> scraped every second as Prometheus would); the same HTTP host in both.
    /// </summary>
    public static async Task<(StageResult On, StageResult Off)> RunMetricsStageAsync(IngestBenchOptions o)
    {
        // off, on, off, on: neither setting always runs first (JIT, page cache, a neighbour's load); the better of each counts
        StageResult? on = null, off = null;
        for (var round = 0; round < 2; round++)
        {
            var a = await ShardedStageAsync(o, twoNodes: false, metrics: false);
            Report(a);
            var b = await ShardedStageAsync(o, twoNodes: false, metrics: true);
            Report(b);
            if (off is null || a.PerSecond > off.PerSecond) off = a;
            if (on is null || b.PerSecond > on.PerSecond) on = b;
        }
        Console.WriteLine(Inv($"RESULT metrics on_per_s={on!.PerSecond:0} off_per_s={off!.PerSecond:0} ratio={on.PerSecond / off.PerSecond:0.00}"));
        return (on, off);
    }

    private const string MetricsBegin = "<!-- bench ingest metrics: begin (written by `./edgeactors bench ingest`) -->";
    private const string MetricsEnd = "<!-- bench ingest metrics: end -->";

    private static void WriteMetricsMarkdown(string path, IngestBenchOptions o, StageResult on, StageResult off, bool only)
    {
        var sb = new StringBuilder();
        sb.AppendLine(MetricsBegin);
        sb.AppendLine("## Cost of metrics (`bench ingest`, metrics stage)");
        sb.AppendLine();
        sb.AppendLine($"Command: `./edgeactors bench ingest{(only ? " --metrics-only" : "")} --devices {o.Devices} --rounds {o.Rounds} --batch {o.Batch} --channels {o.Channels} --drivers {o.Drivers} --window {o.Window} --passes {o.Passes}`  ");
        sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, .NET {Environment.Version}. The one-node sharded stage (entities + replies, no outbox) with the node's HTTP host on, once with `edgeactors.metrics.enabled = off` and once on (OpenTelemetry provider with runtime and process instrumentation, `/metrics` fetched every second during the passes as Prometheus would), in the order off, on, off, on; each: one warm-up pass, then the median of {o.Passes} passes; the better of the two runs per setting is reported. Target: ratio ≥ 0.95 (docs/metrics.md).");
        sb.AppendLine();
        sb.AppendLine("| metrics | readings | seconds | readings/s | p50 ms | p99 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (label, s) in new[] { ("off", off), ("on", on) })
            sb.AppendLine(Inv($"| {label} | {s.Readings:N0} | {s.Seconds:0.00} | {s.PerSecond:N0} | {s.P50Ms:0.00} | {s.P99Ms:0.00} |"));
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(Inv($"RESULT metrics on_per_s={on.PerSecond:0} off_per_s={off.PerSecond:0} ratio={on.PerSecond / off.PerSecond:0.00}"));
        sb.AppendLine("```");
        sb.AppendLine(MetricsEnd);
        Bench.BenchmarkDocs.WriteBlock(path, MetricsBegin, MetricsEnd, sb.ToString());
    }

    public sealed record IngestBenchOptions(int Devices, int Rounds, int Batch, int Channels, int Drivers, int Window, int RemoteRequests, int BasePort, int Passes);

    public sealed record StageResult(string Name, long Readings, long Requests, double Seconds, double P50Ms, double P99Ms)
    {
        public double PerSecond => Readings / Seconds;
    }

    public sealed record IngestBenchResult(
        StageResult Raw, StageResult Sharded1, StageResult Sharded2, StageResult RemoteOurs, StageResult RemoteDefault,
        StageResult SmallOurs, StageResult SmallDefault, StageResult Durable);

    /// <param name="tls">Also run the remote stages with our serializer over TLS with mutual authentication (RESULT remote_tls).</param>
    public static async Task<IngestBenchResult> RunIngestAsync(IngestBenchOptions o, bool tls = false)
    {
        var settings = IngestionSettings.Default;
        Console.WriteLine($"bench ingest: {o.Devices} devices x {o.Rounds} batches x {o.Batch} readings x {o.Channels} channels " +
                          $"= {(long)o.Devices * o.Rounds * o.Batch:N0} readings per stage; denoise={settings.Denoise}; {Environment.ProcessorCount} cores");

        var raw = await RawStageAsync(o, settings);
        Report(raw);
        var sharded1 = await ShardedStageAsync(o, twoNodes: false);
        Report(sharded1);
        var sharded2 = await ShardedStageAsync(o, twoNodes: true);
        Report(sharded2);
        var durable = await ShardedStageAsync(o, twoNodes: false, durable: true);
        Report(durable);
        var ours = await RemoteStageAsync(o, defaultSerializer: false, o.Batch, o.RemoteRequests);
        Report(ours);
        var dflt = await RemoteStageAsync(o, defaultSerializer: true, o.Batch, o.RemoteRequests);
        Report(dflt);
        // the same request/response with one-reading batches: small messages, where transport overhead weighs more
        var smallOurs = await RemoteStageAsync(o, defaultSerializer: false, 1, o.RemoteRequests * 10);
        Report(smallOurs);
        var smallDflt = await RemoteStageAsync(o, defaultSerializer: true, 1, o.RemoteRequests * 10);
        Report(smallDflt);

        var ratio = sharded1.PerSecond / raw.PerSecond;
        var remoteRatio = ours.PerSecond / dflt.PerSecond;
        Console.WriteLine($"sharded (1 node) / raw tell = {ratio:0.00}; two nodes = {sharded2.PerSecond:N0}/s; remote ours/default = {remoteRatio:0.00}");
        Console.WriteLine(Inv($"RESULT ingest sharded_per_s={sharded1.PerSecond:0} raw_tell_per_s={raw.PerSecond:0} ratio={ratio:0.00} two_nodes_per_s={sharded2.PerSecond:0}"));
        Console.WriteLine(Inv($"RESULT remote ours_per_s={ours.PerSecond / o.Batch:0} default_per_s={dflt.PerSecond / o.Batch:0} ratio={remoteRatio:0.00}"));
        Console.WriteLine(Inv($"RESULT remote_small ours_per_s={smallOurs.PerSecond:0} default_per_s={smallDflt.PerSecond:0} ratio={smallOurs.PerSecond / smallDflt.PerSecond:0.00}"));
        Console.WriteLine(Inv($"RESULT ingest_durable sharded_durable_per_s={durable.PerSecond:0} ratio_to_memory={durable.PerSecond / sharded1.PerSecond:0.00}"));
        if (tls)
        {
            var oursTls = await RemoteStageAsync(o, defaultSerializer: false, o.Batch, o.RemoteRequests, tls: true);
            Report(oursTls);
            var smallTls = await RemoteStageAsync(o, defaultSerializer: false, 1, o.RemoteRequests * 10, tls: true);
            Report(smallTls);
            Console.WriteLine(Inv($"RESULT remote_tls plain_per_s={ours.PerSecond / o.Batch:0} tls_per_s={oursTls.PerSecond / o.Batch:0} ratio={oursTls.PerSecond / ours.PerSecond:0.00} small_plain_per_s={smallOurs.PerSecond:0} small_tls_per_s={smallTls.PerSecond:0} small_ratio={smallTls.PerSecond / smallOurs.PerSecond:0.00}"));
        }
        return new IngestBenchResult(raw, sharded1, sharded2, ours, dflt, smallOurs, smallDflt, durable);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static void Report(StageResult r) =>
        Console.WriteLine($"  {r.Name,-34} {r.Readings,12:N0} readings in {r.Seconds,6:0.00}s = {r.PerSecond,12:N0} readings/s" +
                          (r.P50Ms > 0 ? $"  p50 {r.P50Ms:0.00} ms  p99 {r.P99Ms:0.00} ms" : ""));

    /// <summary>Round-major order: each device's batches go out in sequence order.</summary>
    public static List<TelemetryBatch> MakeBatches(string prefix, int devices, int rounds, int batch, int channels)
    {
        var gens = Enumerable.Range(0, devices)
            .Select(d => new TelemetryGenerator(new DeviceId($"{prefix}-{d:D5}"), channels, FaultSettings.None, d + 1)).ToArray();
        var list = new List<TelemetryBatch>(devices * rounds);
        for (var r = 0; r < rounds; r++)
            foreach (var g in gens)
                list.Add(g.NextBatch(batch, 1_700_000_000_000 + r * batch * 10L, 10));
        return list;
    }

    private static async Task<StageResult> RawStageAsync(IngestBenchOptions o, IngestionSettings settings)
    {
        using var system = ActorSystem.Create("bench-raw", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config));
        try
        {
            var passes = new List<StageResult>();
            for (var pass = 0; pass <= o.Passes; pass++) // pass 0 warms up the JIT and is not counted
            {
                var batches = MakeBatches($"raw{pass}", o.Devices, o.Rounds, o.Batch, o.Channels);
                var actor = system.ActorOf(RawIngestActor.Props(settings));
                var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
                var sw = Stopwatch.StartNew();
                foreach (var b in batches) actor.Tell(b);
                actor.Tell(new RawIngestActor.Flush(done));
                var accepted = await done.Task;
                sw.Stop();
                Expect(accepted, batches, "raw");
                if (pass > 0) passes.Add(new StageResult("raw tell, plain local actor", accepted, batches.Count, sw.Elapsed.TotalSeconds, 0, 0));
                system.Stop(actor);
            }
            return Median(passes);
        }
        finally
        {
            await system.Terminate();
        }
    }

    /// <summary>The pass with the median throughput (passes are separate runs over fresh devices).</summary>
    private static StageResult Median(List<StageResult> passes) => passes.OrderBy(p => p.PerSecond).ElementAt(passes.Count / 2);

    private static void Expect(long accepted, List<TelemetryBatch> batches, string stage)
    {
        var expected = batches.Sum(b => (long)b.Count);
        if (accepted != expected) throw new InvalidOperationException($"bench {stage}: {accepted} readings accepted of {expected} sent");
    }

    private static async Task<(IHost Host, ActorSystem System)> StartInProcessNodeAsync(string roles, int port, int seedPort, params string[] sets)
    {
        var (config, roleList) = NodeConfig.Build(new NodeOptions
        {
            Roles = roles.Split(','), Host = "127.0.0.1", Port = port, Seeds = [$"127.0.0.1:{seedPort}"],
            // no HTTP host or MQTT broker unless a bench asks for one (their default ports may be taken)
            Sets = ["akka.loglevel = WARNING", "akka.stdout-loglevel = WARNING", "edgeactors.http.enabled = off", "edgeactors.mqtt.enabled = off", .. sets],
        }, NodeConfig.ProcessEnvironment());
        var host = NodeHost.Build(config, roleList);
        await host.StartAsync();
        return (host, host.Services.GetRequiredService<ActorSystem>());
    }


    private static async Task WaitForUpAsync(ActorSystem system, int members, LocalCluster? cluster)
    {
        var sw = Stopwatch.StartNew();
        var c = Cluster.Get(system);
        while (c.State.Members.Count(m => m.Status == MemberStatus.Up) < members)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60))
            {
                var tails = cluster is null ? "" : string.Join("\n", cluster.Nodes.Select(n => n.Tail(10)));
                throw new TimeoutException($"bench: cluster did not reach {members} members in 60 s\n{tails}");
            }
            await Task.Delay(200);
        }
    }

    private static async Task<LoadResult[]> DriveAsync(ActorSystem system, IActorRef target, List<TelemetryBatch> batches, int drivers, int window)
    {
        // each device belongs to exactly one driver, so per-device order is kept
        var parts = Enumerable.Range(0, drivers).Select(_ => new List<TelemetryBatch>()).ToArray();
        foreach (var b in batches) parts[(int)((uint)b.DeviceId.Value.GetHashCode() % (uint)drivers)].Add(b);
        var tasks = parts.Where(p => p.Count > 0).Select(p =>
        {
            var tcs = new TaskCompletionSource<LoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            system.ActorOf(LoadDriver.Props(target, p, window, tcs));
            return tcs.Task;
        }).ToList();
        return await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(3));
    }

    private static StageResult Summarise(string name, LoadResult[] results, List<TelemetryBatch> batches, double seconds)
    {
        var accepted = results.Sum(r => r.Accepted);
        Expect(accepted, batches, name);
        var lat = results.SelectMany(r => r.LatencyTicks).Order().ToArray();
        double Ms(double q) => lat.Length == 0 ? 0 : lat[Math.Min(lat.Length - 1, (int)(q * lat.Length))] * 1000.0 / Stopwatch.Frequency;
        return new StageResult(name, accepted, batches.Count, seconds, Ms(0.50), Ms(0.99));
    }

    /// <param name="metrics">null: no HTTP host (the other stages); true/false: the HTTP host with metrics on (scraped every second) or off.</param>
    internal static async Task<StageResult> ShardedStageAsync(IngestBenchOptions o, bool twoNodes, bool durable = false, bool? metrics = null)
    {
        var port = o.BasePort + (twoNodes ? 10 : 0) + (durable ? 60 : 0) + (metrics is null ? 0 : metrics.Value ? 110 : 120);
        var httpPort = metrics is null ? 0 : LocalCluster.FreePort();
        string[] sets = [.. durable ? Array.Empty<string>() : [NoOutbox],
            .. metrics is null ? Array.Empty<string>() :
            ["edgeactors.http.enabled = on", $"edgeactors.http.port = {httpPort}", "edgeactors.http.grpc-port = 0", $"edgeactors.metrics.enabled = {(metrics.Value ? "on" : "off")}"]];
        await using var others = new LocalCluster(
            [new NodeSpec("bench-seed", "seed", port), .. twoNodes ? new[] { new NodeSpec("bench-edge2", ["edge"], port + 1, ["--set", "akka.loglevel = WARNING", "--set", NoOutbox]) } : []],
            Path.Combine(Path.GetTempPath(), "edgeactors-bench"), secure: false); // with an in-process node started without certificates
        if (twoNodes) others.Start("bench-edge2");
        var (host, system) = await StartInProcessNodeAsync("seed,edge", port, port, [.. sets, $"edgeactors.node.data-dir = \"{Path.Combine(Path.GetTempPath(), "edgeactors-bench", $"node-{port}-{Environment.ProcessId}").Replace("\\", "/")}\""]);
        try
        {
            await WaitForUpAsync(system, twoNodes ? 2 : 1, others);
            var region = host.Services.GetRequiredService<ActorRegistry>().Get<DeviceRegion>();
            var name = durable ? "sharded, one node, durable outbox" : twoNodes ? "sharded, two edge nodes" : "sharded, one node (entities + replies)";
            if (metrics is not null) name += metrics.Value ? ", metrics on" : ", metrics off";
            using var scraping = new CancellationTokenSource();
            var scrapes = 0;
            var scraper = metrics == true ? Task.Run(async () =>
            {
                using var http = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                while (!scraping.IsCancellationRequested)
                {
                    var text = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/metrics", scraping.Token);
                    if (!text.Contains("edgeactors_ingest_accepted_total", StringComparison.Ordinal) && scrapes > 2)
                        throw new InvalidOperationException("bench: /metrics has no edgeactors_ingest_accepted_total while readings are accepted");
                    scrapes++;
                    await Task.Delay(1000, scraping.Token);
                }
            }) : Task.CompletedTask;
            var passes = new List<StageResult>();
            // the durable stage: passes over a quarter of the rounds (the outbox keeps every pass's readings: this keeps
            // them all under its default disk bound, so no pass measures the overwrite path); the median pass, like the others
            var passCount = o.Passes;
            var rounds = durable ? Math.Max(1, o.Rounds / 4) : o.Rounds;
            for (var pass = 0; pass <= passCount; pass++) // pass 0 warms up (and allocates the shards) and is not counted
            {
                var batches = MakeBatches($"sh{(twoNodes ? 2 : 1)}{(durable ? "d" : "")}p{pass}", o.Devices, pass == 0 && durable ? 2 : rounds, o.Batch, o.Channels);
                var sw = Stopwatch.StartNew();
                var results = await DriveAsync(system, region, batches, o.Drivers, o.Window);
                sw.Stop();
                if (pass > 0) passes.Add(Summarise(name, results, batches, sw.Elapsed.TotalSeconds));
            }
            scraping.Cancel();
            try
            {
                await scraper;
            }
            catch (OperationCanceledException)
            {
            }
            if (metrics == true) Console.WriteLine($"  (/metrics scraped {scrapes} times during the passes)");
            return Median(passes);
        }
        finally
        {
            await host.StopAsync();
            host.Dispose();
            await others.StopAllAsync(TimeSpan.FromSeconds(15));
        }
    }

    /// <summary>
    /// Cross-node request/response: this process is a datacenter node (device proxy), every device lives on an edge
    /// process; 10 callers x 10 in flight. The default-serializer run rebinds our messages to Akka's JSON serializer on both sides.
    /// </summary>
    private static async Task<StageResult> RemoteStageAsync(IngestBenchOptions o, bool defaultSerializer, int batchSize, int requests, bool tls = false)
    {
        var port = o.BasePort + (defaultSerializer ? 30 : 20) + (batchSize == o.Batch ? 0 : 20) + (tls ? 50 : 0);
        var benchDir = Path.Combine(Path.GetTempPath(), "edgeactors-bench");
        var certs = Path.Combine(benchDir, "certs");
        string[] tlsSets = tls
            ?
            [
                "edgeactors.security.tls = on",
                $"edgeactors.security.ca-certificate = \"{Path.Combine(certs, Certificates.CaCertificateFile)}\"",
                $"edgeactors.security.certificate = \"{Certificates.NodeCertificatePath(certs, "bench-inproc")}\"",
            ]
            : [];
        string[] sets = defaultSerializer ? [DefaultSerializerBinding, NoOutbox] : [NoOutbox, .. tlsSets];
        var edgeArgs = new List<string> { "--set", "akka.loglevel = WARNING" };
        foreach (var s in sets) edgeArgs.AddRange(["--set", s]);
        await using var others = new LocalCluster(
            [new NodeSpec("bench-seed", "seed", port), new NodeSpec("bench-remote-edge", ["edge"], port + 1, edgeArgs)],
            benchDir, secure: tls); // the in-process node gets its certificate from the same deployment below
        if (tls) Certificates.Ensure(certs, ["bench-inproc"], []);
        others.Start("bench-remote-edge");
        var (host, system) = await StartInProcessNodeAsync("seed,datacenter", port, port, sets);
        try
        {
            await WaitForUpAsync(system, 2, others);
            var proxy = host.Services.GetRequiredService<ActorRegistry>().Get<DeviceRegion>();
            var name = $"remote req/resp, {(defaultSerializer ? "default" : "our")} serializer, {batchSize}-reading batches{(tls ? ", TLS" : "")}";
            if (defaultSerializer) requests = Math.Max(100, requests / 4);
            StageResult? last = null;
            for (var pass = 0; pass < 2; pass++)
            {
                var count = pass == 0 ? Math.Max(10, requests / 5) : requests;
                // 10 callers, each with its own 10 devices, 10 requests in flight
                var batches = MakeBatches($"rm{(defaultSerializer ? "d" : "o")}{batchSize}p{pass}", 100, Math.Max(1, count / 100), batchSize, o.Channels);
                var sw = Stopwatch.StartNew();
                var results = await DriveAsync(system, proxy, batches, 10, 10);
                sw.Stop();
                last = Summarise(name, results, batches, sw.Elapsed.TotalSeconds);
            }
            return last!;
        }
        finally
        {
            await host.StopAsync();
            host.Dispose();
            await others.StopAllAsync(TimeSpan.FromSeconds(15));
        }
    }

    private const string Begin = "<!-- bench ingest: begin (written by `./edgeactors bench ingest`) -->";
    private const string End = "<!-- bench ingest: end -->";

    private static void WriteMarkdown(string path, IngestBenchOptions o, IngestBenchResult r)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Begin);
        sb.AppendLine("## Ingestion and wire format (`bench ingest`)");
        sb.AppendLine();
        sb.AppendLine($"Command: `./edgeactors bench ingest --devices {o.Devices} --rounds {o.Rounds} --batch {o.Batch} --channels {o.Channels} --drivers {o.Drivers} --window {o.Window} --remote-requests {o.RemoteRequests} --passes {o.Passes}`  ");
        sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, .NET {Environment.Version}, denoise = median-5. Ingest stages: one warm-up pass, then {o.Passes} passes over fresh devices; the median pass is reported (the durable-outbox stage: passes over a quarter of the rounds, its readings all kept in one outbox). Remote stages: one warm-up pass, one measured pass (10 callers x 10 in flight).");
        sb.AppendLine();
        sb.AppendLine("| stage | readings | seconds | readings/s | requests/s | p50 ms | p99 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var s in new[] { r.Raw, r.Sharded1, r.Sharded2, r.Durable, r.RemoteOurs, r.RemoteDefault, r.SmallOurs, r.SmallDefault })
            sb.AppendLine(Inv($"| {s.Name} | {s.Readings:N0} | {s.Seconds:0.00} | {s.PerSecond:N0} | {s.Requests / s.Seconds:N0} | {(s.P50Ms > 0 ? s.P50Ms.ToString("0.00", CultureInfo.InvariantCulture) : "–")} | {(s.P99Ms > 0 ? s.P99Ms.ToString("0.00", CultureInfo.InvariantCulture) : "–")} |"));
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(Inv($"RESULT ingest sharded_per_s={r.Sharded1.PerSecond:0} raw_tell_per_s={r.Raw.PerSecond:0} ratio={r.Sharded1.PerSecond / r.Raw.PerSecond:0.00} two_nodes_per_s={r.Sharded2.PerSecond:0}"));
        sb.AppendLine(Inv($"RESULT remote ours_per_s={r.RemoteOurs.PerSecond / o.Batch:0} default_per_s={r.RemoteDefault.PerSecond / o.Batch:0} ratio={r.RemoteOurs.PerSecond / r.RemoteDefault.PerSecond:0.00}"));
        sb.AppendLine(Inv($"RESULT ingest_durable sharded_durable_per_s={r.Durable.PerSecond:0} ratio_to_memory={r.Durable.PerSecond / r.Sharded1.PerSecond:0.00}"));
        sb.AppendLine(Inv($"RESULT remote_small ours_per_s={r.SmallOurs.PerSecond:0} default_per_s={r.SmallDefault.PerSecond:0} ratio={r.SmallOurs.PerSecond / r.SmallDefault.PerSecond:0.00}"));
        sb.AppendLine("```");
        sb.AppendLine(End);

        Bench.BenchmarkDocs.WriteBlock(path, Begin, End, sb.ToString());
    }
}
