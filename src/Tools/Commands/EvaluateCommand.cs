using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using EdgeActors.Client;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using EdgeActors.Tools.Evaluate;

namespace EdgeActors.Tools.Commands;

/// <summary>
/// <c>edgeactors evaluate</c>: a local cluster (or --contacts) under a stated load for a duration, every node's /metrics
/// scraped each second, and a report of the seed's five criteria (docs/evaluation.md) ending with a RESULT line.
/// </summary>
public static class EvaluateCommand
{
    private static readonly Option<double> Duration = CliOptions.Double("--duration", 60, "seconds of load", "SECONDS");
    private static readonly Option<int> Devices = CliOptions.Int("--devices", 200, "simulated telemetry devices (sensors)");
    private static readonly Option<int> Cameras = CliOptions.Int("--cameras", 10, "simulated cameras");
    private static readonly Option<double> Rate = CliOptions.Double("--rate", 4_000, "readings/s over all devices");
    private static readonly Option<double> FramesPerS = CliOptions.Double("--frames-per-s", 20, "camera frames/s over all cameras (classified on the edges)");
    private static readonly Option<string> Fault = CliOptions.Choice("--fault", "none", "fault injected at half time", "none", "kill-edge");
    private static readonly Option<string?> Contacts = CliOptions.Text("--contacts", "an existing cluster's gateway nodes (host:port,...; plain TCP, no token) instead of a local cluster", "LIST");
    private static readonly Option<string?> Metrics = CliOptions.Text("--metrics", "with --contacts: every node's metrics URL (http://host:port/metrics,...)", "URLS");
    private static readonly Option<string> Out = CliOptions.Text("--out", Path.Combine(".data", "evaluate"), "where the report, plots and node data go", "DIR");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4900, "the first node's port (local cluster)");
    private static readonly Option<bool> Insecure = CliOptions.Flag("--insecure", "plain TCP, no client tokens (default TLS, as the demo)");
    private static readonly Option<string> ModelCache = CliOptions.Text("--model-cache", Path.Combine(".data", "models"), "where the trained models are cached", "DIR");

    public static Command Create() => Cli.Command("evaluate", """
        the seed's five criteria measured on a running cluster: Markdown + PNG report and a RESULT line
        Starts seed, datacenter, edge1 and edge2 (each serving /metrics and /health/ready), waits until every node is ready,
        publishes the demo's models, streams telemetry and camera frames through the client library for --duration
        seconds while scraping every node's /metrics once a second, optionally SIGKILLs edge1 at half time and restarts
        it, then writes report.md, throughput.png, cpu.png and memory.png into --out (docs/evaluation.md). Last line:
        RESULT evaluate duration_s=.. readings_per_s=.. ack_p99_ms=.. infer_p99_ms=.. lost=.. duplicates=.. cpu_max_pct=.. rss_max_mb=.. edge_share=..
        Exit code 0 when nothing was lost or duplicated.
        """, [Duration, Devices, Cameras, Rate, FramesPerS, Fault, Contacts, Metrics, Out, BasePort, Insecure, ModelCache], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var duration = args.GetValue(Duration);
        var devices = args.GetValue(Devices);
        var cameras = args.GetValue(Cameras);
        var rate = args.GetValue(Rate);
        var fps = args.GetValue(FramesPerS);
        var fault = args.GetValue(Fault)!;
        var contacts = args.GetValue(Contacts);
        var metrics = args.GetValue(Metrics);
        var outDir = Path.GetFullPath(args.GetValue(Out)!);
        var secure = !args.GetValue(Insecure);
        if (duration < 10) throw new CliException($"--duration must be at least 10 seconds, got {duration}");
        if (devices < 1) throw new CliException($"--devices must be at least 1, got {devices}");
        if (cameras < 0 || fps < 0 || rate <= 0) throw new CliException("--rate must be positive, --cameras and --frames-per-s not negative");
        if (contacts is not null && metrics is null) throw new CliException("--contacts needs --metrics: every node's metrics URL (http://host:port/metrics,...)");
        if (contacts is not null && fault != "none") throw new CliException("--fault kill-edge needs the local cluster (it kills and restarts a node process); leave out --contacts");

        var sim = new SimulatorOptions
        {
            Sensors = devices, Cameras = cameras, Channels = 4, BatchSize = 20, ReadingsPerSecond = rate, FramesPerSecond = fps,
            Duration = TimeSpan.FromSeconds(duration), Seed = 1, DevicePrefix = "eval-",
            // clean values: every reading is expected to be accepted, so lost/duplicates are the cluster's alone
            Faults = new FaultSettings(NoiseStdDev: 0.05, SpikeProbability: 0, SpikeMagnitude: 8.0, NaNProbability: 0, OutOfRangeProbability: 0, DuplicateProbability: 0),
        };
        Directory.CreateDirectory(outDir);
        var clusterDir = Path.Combine(outDir, "cluster");
        LocalCluster? cluster = null;
        List<(string Name, string Url)> targets;
        EdgeClientOptions clientOptions;
        if (contacts is null)
        {
            if (Directory.Exists(clusterDir)) Directory.Delete(clusterDir, recursive: true);
            var basePort = args.GetValue(BasePort);
            // every node, the seed included, serves /metrics and /health on an HTTP port of its own
            var layout = LocalCluster.WithHttpPorts(LocalCluster.DefaultLayout(basePort), grpcPorts: !secure)
                .Select(n => n.HttpPort > 0 ? n : n with { HttpPort = LocalCluster.FreePort() }).ToList();
            cluster = new LocalCluster(layout, clusterDir, secure);
            Console.WriteLine($"evaluate: starting {layout.Count} node processes on 127.0.0.1:{basePort}.. (logs in {clusterDir})");
            cluster.StartAll();
            targets = cluster.HttpUrls.Select(u => (u.Name, u.Url + "metrics")).ToList();
            clientOptions = new EdgeClientOptions { Contacts = cluster.GatewayContacts.ToList(), Credentials = cluster.ClientCredentials, OverloadRetries = SimulatorOptions.DeviceOverloadRetries };
        }
        else
        {
            targets = metrics!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(u => (new Uri(u).Authority, u)).ToList();
            clientOptions = new EdgeClientOptions { Contacts = contacts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(), OverloadRetries = SimulatorOptions.DeviceOverloadRetries };
        }
        foreach (var (name, url) in targets) Console.WriteLine($"evaluate: metrics {url} ({name})");

        try
        {
            using var http = HttpFor(cluster);
            await using var client = EdgeClient.Connect(clientOptions);
            if (cluster is not null && await ClusterProbe.WaitForMembersAsync(client, cluster, cluster.Specs.Count, TimeSpan.FromSeconds(90)) is null)
            {
                Console.Error.WriteLine("evaluate: the cluster did not form within 90 s");
                return 1;
            }
            if (cameras > 0 && fps > 0)
                await ModelBootstrap.EnsurePublishedAsync(client, Path.GetFullPath(args.GetValue(ModelCache)!), s => Console.WriteLine("evaluate: " + s),
                    ModelBootstrap.EdgeModel, ModelBootstrap.LargeModel);
            if (!await WaitReadyAsync(http, targets, TimeSpan.FromSeconds(120)))
                return 1;

            var simulator = new Simulator(sim);
            var scrapes = new List<NodeScrape>();
            var faults = new List<InjectedFault>();
            using var stop = new CancellationTokenSource();
            var clock = Stopwatch.StartNew();
            var scraping = ScrapeLoopAsync(http, targets, clock, scrapes, stop.Token);
            Console.WriteLine($"evaluate: streaming {devices} devices at {rate:N0} readings/s and {cameras} cameras at {fps:N0} frames/s for {duration:0} s{(fault == "none" ? "" : $", fault {fault} at half time")}");
            var run = simulator.RunAsync(client);
            var faultTask = fault == "kill-edge" ? KillEdgeAsync(cluster!, http, targets, clock, duration / 2, faults) : Task.CompletedTask;
            while (!run.IsCompleted)
            {
                await Task.WhenAny(run, Task.Delay(5000));
                Console.WriteLine($"[{clock.Elapsed.TotalSeconds,5:0}s] readings accepted {simulator.Telemetry.Accepted:N0}/{simulator.Telemetry.Sent:N0}  frames {simulator.Frames.Accepted:N0}/{simulator.Frames.Sent:N0}  ({simulator.Predictions.Summary()})");
            }
            await run;
            var loadSeconds = clock.Elapsed.TotalSeconds;
            await faultTask;
            if (cluster is not null) await DrainAsync(client, cluster);
            // the last scrapes after the drain: every counter has its final value
            await Task.Delay(1500);
            await stop.CancelAsync();
            await scraping;

            var t = simulator.Telemetry;
            var f = simulator.Frames;
            long? stored = null, distinct = null, storeBytes = null;
            if (cluster is not null)
            {
                await client.DisposeAsync();
                await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
                var storePath = Path.Combine(clusterDir, "datacenter", "store.db");
                if (File.Exists(storePath))
                {
                    using (var store = new EdgeActors.Storage.SqliteDataStore(storePath))
                    {
                        stored = store.Count();
                        distinct = store.DistinctKeys();
                    }
                    storeBytes = new[] { storePath, storePath + "-wal" }.Where(File.Exists).Sum(p => new FileInfo(p).Length);
                }
                else (stored, distinct) = (0, 0);
            }
            var raw = t.Sent * (sim.Channels * 4L + 16) + f.Sent * (784L + 16);
            var account = new ClientAccount(t.Sent + f.Sent, t.Accepted + f.Accepted, t.Rejected + f.Rejected, stored, distinct, raw, storeBytes);
            List<NodeScrape> recorded;
            lock (scrapes) recorded = [.. scrapes];
            var criteria = EvaluationCriteria.Compute(recorded, loadSeconds, account, faults);
            var command = "./edgeactors evaluate " + string.Join(" ", args.Tokens.Select(x => x.Value).SkipWhile(v => v == "evaluate"));
            var setup = cluster is null
                ? $"Existing cluster at {contacts}; {targets.Count} metrics endpoints."
                : $"Local cluster: seed, datacenter, edge1, edge2 as node processes ({(secure ? "TLS with mutual authentication and client tokens" : "plain TCP")}); load: {devices} devices at {rate:N0} readings/s ({sim.BatchSize}-reading batches, {sim.Channels} channels), {cameras} cameras at {fps:N0} frames/s, through the client library in this process.";
            var report = EvaluationReport.Write(outDir, criteria, command.TrimEnd(), setup);
            Console.WriteLine($"evaluate: {recorded.Count} scrapes; report {report} with {string.Join(", ", EvaluationReport.PlotFiles)}");
            Console.WriteLine(EvaluationReport.ResultLine(criteria));
            return criteria.Lost == 0 && (criteria.Duplicates ?? 0) == 0 ? 0 : 1;
        }
        finally
        {
            if (cluster is not null) await cluster.DisposeAsync();
        }
    }

    private static HttpClient HttpFor(LocalCluster? cluster) =>
        cluster?.CreateHttpClient() ?? new HttpClient { Timeout = TimeSpan.FromSeconds(3) };

    private static string HealthUrl(string metricsUrl) => new Uri(new Uri(metricsUrl), "/health/ready").ToString();

    private static async Task<bool> ReadyAsync(HttpClient http, string metricsUrl)
    {
        try
        {
            using var r = await http.GetAsync(HealthUrl(metricsUrl));
            return r.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> WaitReadyAsync(HttpClient http, IReadOnlyList<(string Name, string Url)> targets, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var waiting = targets.ToList();
        while (clock.Elapsed < timeout)
        {
            var states = await Task.WhenAll(waiting.Select(async n => (n, ok: await ReadyAsync(http, n.Url))));
            waiting = states.Where(s => !s.ok).Select(s => s.n).ToList();
            if (waiting.Count == 0)
            {
                Console.WriteLine($"evaluate: every node ready (/health/ready 200) after {clock.Elapsed.TotalSeconds:0.0} s");
                return true;
            }
            await Task.Delay(500);
        }
        Console.Error.WriteLine($"evaluate: not ready within {timeout.TotalSeconds:0} s: {string.Join(", ", waiting.Select(w => HealthUrl(w.Url)))}");
        return false;
    }

    private static async Task ScrapeLoopAsync(HttpClient http, IReadOnlyList<(string Name, string Url)> targets, Stopwatch clock, List<NodeScrape> into, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        do
        {
            await Task.WhenAll(targets.Select(async n =>
            {
                try
                {
                    var text = await http.GetStringAsync(n.Url, ct);
                    var at = clock.Elapsed.TotalSeconds;
                    var scrape = PrometheusText.Parse(text);
                    lock (into) into.Add(new NodeScrape(at, n.Name, scrape));
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or OperationCanceledException)
                {
                    // a killed or restarting node: no sample this second
                }
                catch (FormatException ex)
                {
                    Console.Error.WriteLine($"evaluate: {n.Url}: not Prometheus text: {ex.Message}");
                }
            }));
        }
        while (await WaitTickAsync(timer, ct));
    }

    private static async Task<bool> WaitTickAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct); }
        catch (OperationCanceledException) { return false; }
    }

    private static async Task KillEdgeAsync(LocalCluster cluster, HttpClient http, IReadOnlyList<(string Name, string Url)> targets, Stopwatch clock, double atS, List<InjectedFault> faults)
    {
        await Task.Delay(TimeSpan.FromSeconds(Math.Max(0, atS - clock.Elapsed.TotalSeconds)));
        const string victim = "edge1";
        var at = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"evaluate: fault: SIGKILL {victim} at {at:0.0} s, restarted at once");
        cluster[victim].KillHard();
        await cluster[victim].WaitForExitAsync(TimeSpan.FromSeconds(10));
        cluster.Start(victim);
        var url = targets.Single(t => t.Name == victim).Url;
        double? recovered = null;
        var limit = Stopwatch.StartNew();
        var restarts = 1;
        while (limit.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (await ReadyAsync(http, url)) { recovered = clock.Elapsed.TotalSeconds - at; break; }
            if (cluster[victim].HasExited)
            {
                // the new incarnation can be downed while the cluster still removes the old one (see its log); a service
                // manager would start it again, as the chaos run does
                Console.WriteLine($"evaluate: {victim} exited again (exit code {cluster[victim].ExitCode}); restarted");
                cluster.Start(victim);
                restarts++;
            }
            await Task.Delay(250);
        }
        Console.WriteLine($"evaluate: {victim} {(recovered is { } r ? $"ready again {r:0.0} s after the kill" : "NOT ready again within 90 s")} ({restarts} start(s))");
        lock (faults) faults.Add(new InjectedFault("kill-edge (SIGKILL + restart)", victim, at, recovered));
    }

    /// <summary>Waits (at most 90 s) until the edges' outboxes are empty: everything acknowledged reached the datacenter's store.</summary>
    private static async Task DrainAsync(EdgeClient client, LocalCluster cluster)
    {
        var edges = cluster.Specs.Where(s => s.Roles.Contains("edge")).Select(s => s.HostPort).ToList();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(90))
        {
            long total = 0;
            var known = true;
            foreach (var e in edges)
            {
                var s = await SyncCommand.EdgeSyncStatusAsync(client, e);
                if (s is null || s.Backlog < 0) { known = false; break; }
                total += s.Backlog;
            }
            if (known && total == 0)
            {
                Console.WriteLine($"evaluate: outboxes drained {clock.Elapsed.TotalSeconds:0.0} s after the load");
                return;
            }
            await Task.Delay(1000);
        }
        Console.WriteLine("evaluate: outboxes NOT drained within 90 s");
    }


}
