using System.CommandLine;
using System.Diagnostics;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Nodes.Commands;

/// <summary>The main job: a local cluster of real processes, the simulator through the client, a summary.</summary>
public static class DemoCommand
{
    private static readonly SimulatorCliOptions Sim = new(duration: 20);
    private static readonly Option<int> Edges = CliOptions.Int("--edges", 2, "edge node processes");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4053, "the first node's port (the others follow)");
    private static readonly Option<string> Dir = CliOptions.Text("--dir", Path.Combine(".data", "demo"), "node logs and data (emptied first)", "DIR");
    private static readonly Option<bool> NoModels = CliOptions.Flag("--no-models", "skip camera-frame classification");
    private static readonly Option<bool> Insecure = CliOptions.Flag("--insecure", "plain TCP between nodes and no client tokens (default: TLS with mutual authentication, certificates under DIR/certs)");
    private static readonly Option<double> DatacenterOutage = CliOptions.Double("--datacenter-outage", 0, "stop the datacenter a quarter into the run and restart it after this long (edges keep ingesting into their outboxes)", "SECONDS");
    private static readonly Option<string> Protocol = CliOptions.Choice("--protocol", "client",
        "how the simulated devices reach the cluster: the client library, or MQTT to the edges' brokers (docs/mqtt.md)", "client", "mqtt");
    private static readonly Option<string> ModelCache = CliOptions.Text("--model-cache", Path.Combine(".data", "models"), "where the trained models are cached", "DIR");

    public static Command Create() => Cli.Command("demo", """
        start a local cluster of real processes, stream simulated devices through it, summarise
        Starts seed, datacenter and N edge node processes on 127.0.0.1, streams simulated devices through the client
        library with live progress, prints 'SUMMARY sent=… accepted=… rejected=… lost=…' (and a second SUMMARY line
        counted in the datacenter's database), then stops the cluster gracefully. Camera frames are classified on their
        edge by fmnist-mlp, low-confidence ones escalated to the datacenter's fmnist-large (trained on first use).
        """, [Edges, BasePort, Dir, NoModels, Insecure, DatacenterOutage, ModelCache, Protocol, .. Sim.All], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var duration = TimeSpan.FromSeconds(args.GetValue(Sim.Duration));
        var edges = args.GetValue(Edges);
        var basePort = args.GetValue(BasePort);
        var dir = Path.GetFullPath(args.GetValue(Dir)!);
        var sim = Sim.From(args);
        var noModels = args.GetValue(NoModels);
        var insecure = args.GetValue(Insecure);
        var outage = TimeSpan.FromSeconds(args.GetValue(DatacenterOutage));
        var modelCache = Path.GetFullPath(args.GetValue(ModelCache)!);
        if (edges < 1) throw new CliException("--edges must be at least 1");

        var protocol = args.GetValue(Protocol)!;
        // every edge runs an MQTT broker on a free port of its own
        // each gateway node serves HTTP (KServe v2, /v1/devices) on a free port; gRPC: same port with TLS, an h2c port without
        var layout = LocalCluster.WithHttpPorts(LocalCluster.DefaultLayout(basePort, edges)
            .Select((n, i) => n.Roles.Contains("edge") ? n with { MqttPort = FreePort(basePort + 10 + i) } : n).ToList(), grpcPorts: insecure);
        // every run starts from empty node data (outboxes, registry, store), so the store counts this run only
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Console.WriteLine($"demo: starting {layout.Count} node processes on 127.0.0.1:{basePort}..{basePort + layout.Count - 1} (logs in {dir})");
        await using var cluster = new LocalCluster(layout, dir, secure: !insecure);
        Console.WriteLine(insecure
            ? "demo: --insecure: plain TCP between nodes, no client tokens"
            : $"demo: TLS with mutual authentication between nodes and client, client token checked at the gateways (certificates in {cluster.CertsDirectory})");
        cluster.StartAll();
        foreach (var (name, url) in cluster.HttpUrls) Console.WriteLine($"http: {url} ({name})");
        // every node serves Prometheus metrics and health probes on its HTTP port (docs/metrics.md); shown once
        if (cluster.HttpUrls.FirstOrDefault() is { Url: not null } first)
            Console.WriteLine($"metrics: {first.Url}metrics ({first.Name}; /health/ready on the same host, no token)");
        // the web console (docs/console.md) of the first edge (its live readings are the readings its devices send; every
        // edge and datacenter node serves one, the datacenter's shows no readings of its own)
        if ((cluster.Specs.FirstOrDefault(s => s.HttpPort > 0 && s.Roles.Contains("edge"))
             ?? cluster.Specs.FirstOrDefault(s => s.HttpPort > 0 && s.Roles.Contains("datacenter"))) is { } gw)
            Console.WriteLine($"console: {gw.HttpUrl(cluster.Secure)} ({gw.Name}; read-only without a token, actions need an admin token)");
        foreach (var edge in layout.Where(n => n.MqttPort > 0))
            Console.WriteLine($"mqtt: {cluster.MqttEndpoint(edge.Name)} ({edge.Name}, {(insecure ? "plain" : "TLS, CA " + Path.Combine(cluster.CertsDirectory, "ca.crt"))})");
        await using var client = EdgeClient.Connect(new EdgeClientOptions
        {
            Contacts = cluster.GatewayContacts.ToList(), Credentials = cluster.ClientCredentials,
            // simulated devices keep what the cluster refused as Overloaded and send it again after pauses (200 ms .. 6.4 s)
            OverloadRetries = SimulatorOptions.DeviceOverloadRetries,
        });

        var formed = Stopwatch.StartNew();
        var overview = await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(90));
        if (overview is null) return 1;
        Console.WriteLine($"demo: cluster formed in {formed.Elapsed.TotalSeconds:0.0}s: {ClusterProbe.Describe(overview)}");
        if (sim.Cameras > 0 && sim.FramesPerSecond > 0 && !noModels)
        {
            // camera frames are classified on their edge; hard examples go to the datacenter's larger model
            var models = Stopwatch.StartNew();
            await ModelBootstrap.EnsurePublishedAsync(client, modelCache, s => Console.WriteLine("demo: " + s), ModelBootstrap.EdgeModel, ModelBootstrap.LargeModel);
            var gateways = cluster.GatewayContacts.ToList();
            var served = await ModelBootstrap.WaitUntilServedAsync(client, gateways, ModelBootstrap.EdgeModel.Name, TimeSpan.FromSeconds(60), s => Console.WriteLine("demo: " + s))
                         && await ModelBootstrap.WaitUntilServedAsync(client, gateways.Where(g => layout.Any(n => n.HostPort == g && n.Roles.Contains("datacenter"))), ModelBootstrap.LargeModel.Name, TimeSpan.FromSeconds(60), s => Console.WriteLine("demo: " + s));
            Console.WriteLine($"demo: models {(served ? "served" : "NOT all served (frames may come back not classified)")} after {models.Elapsed.TotalSeconds:0.0}s");
        }

        var simulator = new Simulator(sim);
        Console.WriteLine($"demo: streaming {sim.Sensors} sensors x {sim.Channels} channels at {sim.ReadingsPerSecond:N0} readings/s and {sim.Cameras} cameras at {sim.FramesPerSecond:N0} frames/s for {duration.TotalSeconds:0}s");
        using var cts = new CancellationTokenSource();
        await using var fleet = protocol == "mqtt" ? new Mqtt.MqttFleet(MqttEndpoints(cluster, layout, insecure)) : null;
        if (fleet is not null) Console.WriteLine($"demo: devices publish over MQTT (QoS 1, one connection per device) to {string.Join(", ", layout.Where(n => n.MqttPort > 0).Select(n => cluster.MqttEndpoint(n.Name)))}");
        var run = fleet is null ? simulator.RunAsync(client, cts.Token) : simulator.RunAsync(fleet.SendAsync, cts.Token);
        var clock = Stopwatch.StartNew();
        var edgeContacts = layout.Where(n => n.Roles.Contains("edge")).Select(n => n.HostPort).ToList();
        var outageAt = outage > TimeSpan.Zero ? TimeSpan.FromTicks(duration.Ticks / 4) : TimeSpan.MaxValue;
        var outageTask = Task.CompletedTask;
        long lastReadings = 0;
        var lastTime = TimeSpan.Zero;
        while (!run.IsCompleted)
        {
            await Task.WhenAny(run, Task.Delay(1000));
            var now = clock.Elapsed;
            if (now >= outageAt)
            {
                outageAt = TimeSpan.MaxValue;
                outageTask = DatacenterOutageAsync(cluster, outage);
            }
            var readings = simulator.Telemetry.Accepted + simulator.Telemetry.Rejected;
            var rate = (readings - lastReadings) / Math.Max(0.001, (now - lastTime).TotalSeconds);
            (lastReadings, lastTime) = (readings, now);
            var ov = await ClusterProbe.TryOverviewAsync(client);
            var members = ov is null ? "?" : $"{ov.Members.Count(m => m.Status == "Up")}/{ov.Members.Length} up";
            var devices = ov is null ? "?" : ov.Devices.ToString();
            var backlog = await BacklogAsync(client, edgeContacts);
            Console.WriteLine(
                $"[{now.TotalSeconds,5:0}s] members {members}  devices {devices}  readings/s {rate,8:N0}  " +
                $"accepted {simulator.Telemetry.Accepted:N0}  rejected {simulator.Telemetry.Rejected:N0}  frames {simulator.Frames.Accepted:N0}/{simulator.Frames.Sent:N0} " +
                $"(classified {simulator.Predictions.Classified:N0}, escalated {simulator.Predictions.Escalated:N0}, overflowed {simulator.Predictions.Overflowed:N0})  " +
                $"backlog {backlog}  retried {simulator.Telemetry.RetriedRequests + simulator.Frames.RetriedRequests}");
        }
        await run;
        await outageTask;

        // everything acknowledged as durable on an edge must reach the datacenter's store: wait for the outboxes to drain
        var drain = Stopwatch.StartNew();
        string left;
        while ((left = await BacklogAsync(client, edgeContacts)) != "0" && drain.Elapsed < TimeSpan.FromSeconds(90))
        {
            Console.WriteLine($"demo: waiting for the edges' outboxes to drain (backlog {left})");
            await Task.Delay(1000);
        }
        Console.WriteLine($"demo: outboxes {(left == "0" ? "drained" : $"NOT drained (backlog {left})")} {drain.Elapsed.TotalSeconds:0.0}s after streaming ended");

        var final = await ClusterProbe.TryOverviewAsync(client);
        var t = simulator.Telemetry;
        var f = simulator.Frames;
        Console.WriteLine();
        Console.WriteLine("demo summary");
        Console.WriteLine($"  cluster:    {(final is null ? "unavailable" : ClusterProbe.Describe(final))}");
        Console.WriteLine($"  telemetry:  sent {t.Sent:N0}  accepted {t.Accepted:N0}  rejected {t.Rejected:N0} ({t.RejectionSummary()})  in {clock.Elapsed.TotalSeconds:0.0}s = {(t.Accepted + t.Rejected) / clock.Elapsed.TotalSeconds:N0} readings/s");
        Console.WriteLine($"  frames:     sent {f.Sent:N0}  accepted {f.Accepted:N0}  rejected {f.Rejected:N0} {f.RejectionSummary()}");
        Console.WriteLine($"  camera AI:  {simulator.Predictions.Summary()}");
        Console.WriteLine($"  injected:   faults are in the simulator; NaN readings are rejected as NotANumber, spikes are smoothed by the median filter");
        if (simulator.Failure is not null) Console.WriteLine($"  failure:    {simulator.Failure.Message}");
        var sent = t.Sent + f.Sent;
        var accepted = t.Accepted + f.Accepted;
        var rejected = t.Rejected + f.Rejected;
        var lost = sent - accepted - rejected;

        var stop = Stopwatch.StartNew();
        await client.DisposeAsync();
        var times = await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        Console.WriteLine($"  shutdown:   {string.Join("  ", times.Select(kv => $"{kv.Key} {kv.Value:0.0}s"))}  (total {stop.Elapsed.TotalSeconds:0.0}s; exit codes {string.Join(",", cluster.Nodes.Select(n => n.ExitCode?.ToString() ?? "?"))})");
        // the datacenter's store, counted in the database itself
        var storePath = Path.Combine(dir, "datacenter", "store.db");
        long stored = 0, distinct = 0, absorbed = 0;
        if (File.Exists(storePath))
        {
            using var store = new EdgeActors.Storage.SqliteDataStore(storePath);
            stored = store.Count();
            distinct = store.DistinctKeys();
            absorbed = store.Duplicates();
        }
        var duplicates = stored - distinct;
        var notStored = Math.Max(0, accepted - stored);
        Console.WriteLine($"  store:      {stored:N0} rows in {storePath} ({distinct:N0} distinct readings/frames; {absorbed:N0} resent deliveries absorbed)");
        Console.WriteLine($"SUMMARY sent={sent} accepted={accepted} rejected={rejected} lost={lost}");
        Console.WriteLine($"SUMMARY sent={sent} accepted={accepted} stored={stored} duplicates={duplicates} lost={lost + notStored}");
        return lost == 0 && notStored == 0 && duplicates == 0 && cluster.Nodes.All(n => n.ExitCode == 0) ? 0 : 1;
    }

    /// <summary>Stops the datacenter node (SIGTERM) and starts it again on the same data directory after <paramref name="outage"/>.</summary>
    private static async Task DatacenterOutageAsync(LocalCluster cluster, TimeSpan outage)
    {
        var dc = cluster.Nodes.First(n => n.Spec.Roles.Contains("datacenter"));
        Console.WriteLine($"demo: datacenter outage: stopping {dc.Spec.Name} for {outage.TotalSeconds:0}s (edges keep ingesting into their outboxes)");
        await dc.StopAsync(TimeSpan.FromSeconds(20));
        await Task.Delay(outage);
        cluster.Start(dc.Spec.Name);
        Console.WriteLine($"demo: datacenter outage over: {dc.Spec.Name} restarted; the backlog drains");
    }

    /// <summary>Total outbox backlog over the edges, or "?" when some edge does not answer.</summary>
    private static async Task<string> BacklogAsync(EdgeClient client, IReadOnlyList<string> edges)
    {
        long total = 0;
        foreach (var e in edges)
        {
            var s = await SyncCommand.EdgeSyncStatusAsync(client, e);
            if (s is null || s.Backlog < 0) return "?";
            total += s.Backlog;
        }
        return total.ToString("N0");
    }

    /// <summary><paramref name="preferred"/> when it is free on 127.0.0.1, else one the OS hands out.</summary>
    private static int FreePort(int preferred)
    {
        foreach (var port in new[] { preferred, 0 })
        {
            try
            {
                var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                l.Start();
                var bound = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
                l.Stop();
                return bound;
            }
            catch (System.Net.Sockets.SocketException)
            {
                // taken: let the OS choose
            }
        }
        throw new InvalidOperationException("no free port for an edge's MQTT broker");
    }

    /// <summary>The edges' brokers as the demo's devices reach them: TLS with the client's token, or plain and anonymous.</summary>
    private static List<Mqtt.MqttEndpoint> MqttEndpoints(LocalCluster cluster, IEnumerable<NodeSpec> layout, bool insecure)
    {
        var ca = insecure ? null : Path.Combine(cluster.CertsDirectory, EdgeActors.Client.Security.Certificates.CaCertificateFile);
        var token = insecure ? "" : File.ReadAllText(EdgeActors.Client.Security.Certificates.ClientTokenPath(cluster.CertsDirectory, LocalCluster.ClientName)).Trim();
        return layout.Where(n => n.MqttPort > 0)
            .Select(n => Mqtt.MqttEndpoint.Parse(cluster.MqttEndpoint(n.Name)!, ca, LocalCluster.ClientName, token)).ToList();
    }
}
