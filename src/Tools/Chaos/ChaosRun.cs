using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using EdgeActors.Nodes;
using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Tools.Fuzz;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Chaos;

public sealed record ChaosOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);
    public int Edges { get; init; } = 3;
    public int Seed { get; init; } = 1;
    public int BasePort { get; init; } = 4653;
    public required string Directory { get; init; }
    /// <summary>Mean time between two faults (uniform in [0.5, 1.5] × this).</summary>
    public TimeSpan FaultInterval { get; init; } = TimeSpan.FromSeconds(6);
    /// <summary>Partition nodes with network namespaces when the machine allows it (root, iproute2).</summary>
    public bool Partitions { get; init; } = true;
    public bool Kills { get; init; } = true;
    public bool Malformed { get; init; } = true;
    /// <summary>Extra node arguments for every edge (sensor adapter and GPU fault injection settings).</summary>
    public IReadOnlyList<string> EdgeArgs { get; init; } = [];
    public SimulatorOptions Simulator { get; init; } = new() { Sensors = 40, Cameras = 4, ReadingsPerSecond = 4_000, FramesPerSecond = 8, BatchSize = 20, DevicePrefix = "chaos-" };
    /// <summary>Publish and serve the Fashion-MNIST models so camera frames are classified (trained on first use).</summary>
    public string? ModelCache { get; init; }
    public Action<string> Log { get; init; } = Console.WriteLine;
    /// <summary>Sensor adapters per edge (devices '&lt;edge&gt;/sensor-NN') when <see cref="EdgeArgs"/> turns them on: summarised at the end.</summary>
    public int AdapterDevicesPerEdge { get; init; }
    /// <summary>Faults in this order ("kill", "partition", "malformed"), cycled, instead of random picks (tests).</summary>
    public IReadOnlyList<string> Plan { get; init; } = [];
    /// <summary>
    /// Also called with every answered simulator request and its reply, as the run records them: a caller (a test) that
    /// judges the run keeps its own account of what was acknowledged instead of trusting the summary's.
    /// </summary>
    public Action<IDeviceCommand, Reply<IngestAck>>? Observer { get; init; }
    /// <summary>Called with every simulator request that got no answer at all (the client gave up).</summary>
    public Action<IDeviceCommand>? Unanswered { get; init; }
}

/// <summary>The hardware adapters' devices at the end of a run: readings accepted, devices with a gap, and their faults.</summary>
public sealed record AdapterSummary(int Devices, long Accepted, long DevicesWithGaps, long Restarts, long Degradations, long Offlines, long Recoveries, string Faults)
{
    public override string ToString() =>
        $"{Devices} devices, {Accepted:N0} readings accepted, {DevicesWithGaps} with a sequence gap, {Restarts} adapter restarts, " +
        $"health: {Degradations} degraded / {Offlines} offline / {Recoveries} recovered, faults: {Faults}";
}

/// <summary>One fault the run injected; failover is measured for kills and partitions.</summary>
public sealed record ChaosEvent(double AtSeconds, string Kind, string Node, string Detail);

public sealed record ChaosSummary(
    long Sent, long Accepted, long Stored, long Duplicates, long Lost, double MaxFailoverSeconds,
    long Rejected, long NotDurable, int Kills, int PartitionsMade, int MalformedSent, int MalformedAnswered,
    bool AllNodesUp, string? PartitionsOffReason, IReadOnlyList<ChaosEvent> Events, IReadOnlyList<double> FailoverSeconds)
{
    /// <summary>Nodes that exited without being a planned victim (restarted at once by the run, as a service manager would).</summary>
    public int UnplannedExits { get; init; }

    /// <summary>The edges' sensor adapters at the end (null when they were off).</summary>
    public AdapterSummary? Adapters { get; init; }

    public string Line => $"SUMMARY sent={Sent} accepted={Accepted} stored={Stored} duplicates={Duplicates} lost={Lost} max_failover_s={MaxFailoverSeconds:0.00}";

    public bool Clean => Lost == 0 && Duplicates == 0 && AllNodesUp && MalformedAnswered == MalformedSent;
}

/// <summary>
/// The chaos run: a local cluster of real node processes (in network namespaces when allowed, so partitions are real),
/// the simulator streaming through the client library, and faults at random moments: an edge SIGKILLed and restarted
/// a few seconds later, an edge cut off from the rest by a network partition and healed (restarted if it downed itself,
/// as its service manager would), hostile and malformed input through the client; sensor and GPU faults come from the
/// edges' own fault injection (<see cref="ChaosOptions.EdgeArgs"/>). At most one edge is disrupted at a time, so the
/// majority side always exists. At the end every edge is back, the outboxes drain, and the summary is computed from the
/// client's records (each accepted reading by device, kind and sequence) and the datacenter's database.
/// </summary>
public sealed class ChaosRun
{
    private readonly ChaosOptions options;

    public ChaosRun(ChaosOptions options)
    {
        this.options = options;
        _clock = new Stopwatch();
        _ledger = new IngestLedger(_clock);
    }

    private readonly List<ChaosEvent> _events = new();
    private readonly Stopwatch _clock;
    private readonly IngestLedger _ledger;
    private IReadOnlyList<NodeSpec> _layout = [];

    // our serializer (in a quiet actor system of its own, ended with the run) for making mutated payloads
    private ActorSystem? _fuzzSystem;

    private EdgeSerializer Serializer()
    {
        _fuzzSystem ??= ActorSystem.Create("chaos-fuzz",
            Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING, akka.stdout-loglevel = WARNING").WithFallback(EdgeSerialization.Config));
        return (EdgeSerializer)_fuzzSystem.Serialization.FindSerializerForType(typeof(IEdgeMessage));
    }

    private void Log(string line) => options.Log($"chaos [{_clock.Elapsed.TotalSeconds,5:0.0}s] {line}");

    public async Task<ChaosSummary> RunAsync(CancellationToken ct = default)
    {
        var o = options;
        if (System.IO.Directory.Exists(o.Directory)) System.IO.Directory.Delete(o.Directory, recursive: true);
        var layout = _layout = LocalCluster.DefaultLayout(o.BasePort, o.Edges)
            .Select(s => s.Roles.Contains("edge") ? s with { ExtraArgs = [.. s.ExtraArgs, .. o.EdgeArgs] } : s)
            .ToList();
        string? partitionsOff = null;
        NetworkNamespaces? net = null;
        if (o.Partitions)
        {
            partitionsOff = NetworkNamespaces.Probe();
            if (partitionsOff is null) net = NetworkNamespaces.Create(layout.Select(s => s.Name).ToList());
        }
        else partitionsOff = "turned off (--no-partitions)";
        _clock.Start();
        Log(net is null
            ? $"partitions: off: {partitionsOff}"
            : $"partitions: on (every node in its own network namespace on 10.77.{net.Net}.0/24)");
        try
        {
            await using var cluster = new LocalCluster(layout, o.Directory, network: net);
            Log($"starting {layout.Count} node processes (logs in {o.Directory})");
            cluster.StartAll();
            await using var client = EdgeClient.Connect(new EdgeClientOptions
            {
                Credentials = cluster.ClientCredentials,
                Contacts = cluster.GatewayContacts.ToList(),
                Host = net?.ClientAddress ?? "127.0.0.1",
                RequestTimeout = TimeSpan.FromSeconds(2),
                RetryDeadline = TimeSpan.FromSeconds(120),
                MaxBackoff = TimeSpan.FromMilliseconds(500),
            });
            if (await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(90)) is null)
                throw new CliException("the local cluster did not form (node logs in " + o.Directory + ")");
            Log("cluster formed");
            if (o.ModelCache is not null && o.Simulator.Cameras > 0)
            {
                await ModelBootstrap.EnsurePublishedAsync(client, o.ModelCache, Log, ModelBootstrap.EdgeModel, ModelBootstrap.LargeModel);
                var served = await ModelBootstrap.WaitUntilServedAsync(client, cluster.GatewayContacts.ToList(), ModelBootstrap.EdgeModel.Name, TimeSpan.FromSeconds(60), Log);
                Log($"models {(served ? "served" : "NOT served everywhere (frames may come back not classified)")}");
            }

            var simulator = new Simulator(o.Simulator with { Duration = o.Duration })
            {
                Observer = (request, reply) =>
                {
                    _ledger.Observe(request, reply);
                    o.Observer?.Invoke(request, reply);
                },
                Unanswered = o.Unanswered,
            };
            Log($"streaming {o.Simulator.Sensors} sensors and {o.Simulator.Cameras} cameras for {o.Duration.TotalSeconds:0}s; a fault every ~{o.FaultInterval.TotalSeconds:0}s");
            var streamStart = _clock.Elapsed;
            var run = simulator.RunAsync(client, ct);
            // the service manager: a node that exits without being a planned victim (e.g. downed by the split brain
            // resolver after a stall) is restarted at once, and counted
            using var stopWatchdog = new CancellationTokenSource();
            var watchdog = ServiceManagerAsync(cluster, stopWatchdog.Token);
            var rng = new Random(o.Seed);
            var disruption = Task.CompletedTask;
            int kills = 0, partitions = 0, malformedSent = 0, malformedAnswered = 0, planned = 0;
            var edges = layout.Where(s => s.Roles.Contains("edge")).Select(s => s.Name).ToList();
            while (!run.IsCompleted)
            {
                var wait = TimeSpan.FromSeconds(o.FaultInterval.TotalSeconds * (0.5 + rng.NextDouble()));
                await Task.WhenAny(run, Task.Delay(wait, ct));
                if (run.IsCompleted || _clock.Elapsed - streamStart > o.Duration - TimeSpan.FromSeconds(3)) break;
                string action;
                if (o.Plan.Count > 0)
                {
                    action = o.Plan[planned++ % o.Plan.Count];
                    if (action == "partition" && net is null) action = "kill";
                    if (action is "kill" or "partition") await disruption; // one disrupted edge at a time
                }
                else
                {
                    var choices = new List<string>();
                    if (disruption.IsCompleted)
                    {
                        if (o.Kills) choices.Add("kill");
                        if (net is not null) choices.Add("partition");
                    }
                    if (o.Malformed) choices.Add("malformed");
                    if (choices.Count == 0) continue;
                    action = choices[rng.Next(choices.Count)];
                }
                var victim = edges[rng.Next(edges.Count)];
                switch (action)
                {
                    case "kill":
                        kills++;
                        disruption = KillAndRestartAsync(cluster, victim, TimeSpan.FromSeconds(2 + 3 * rng.NextDouble()));
                        break;
                    case "partition":
                        partitions++;
                        disruption = PartitionAndHealAsync(cluster, net!, victim, TimeSpan.FromSeconds(4 + 4 * rng.NextDouble()));
                        break;
                    default:
                        var (sent, answered) = await SendMalformedAsync(client, rng);
                        malformedSent += sent;
                        malformedAnswered += answered;
                        break;
                }
            }
            await run;
            await disruption;
            Log($"streaming done: sent {simulator.Telemetry.Sent + simulator.Frames.Sent:N0}, accepted {simulator.Telemetry.Accepted + simulator.Frames.Accepted:N0}");

            // every edge back and one cluster again (the service manager keeps restarting nodes that exit meanwhile),
            // then the outboxes drain into the datacenter's store
            var formed = await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(120), restartsExpected: true);
            await stopWatchdog.CancelAsync();
            await watchdog;
            var allUp = formed is not null && cluster.Nodes.All(n => !n.HasExited);
            Log(allUp ? "all nodes up: " + ClusterProbe.Describe(formed!) : "NOT all nodes up at the end");
            // the edges' sensor adapters keep producing, so the outboxes never empty: wait until the store holds every
            // reading the client saw accepted instead (or two minutes)
            var drain = Stopwatch.StartNew();
            var storePath = Path.Combine(o.Directory, "datacenter", "store.db");
            long missingNow;
            while ((missingNow = _ledger.CountSqlite(storePath).Missing) > 0 && drain.Elapsed < TimeSpan.FromSeconds(120))
                await Task.Delay(2000, ct);
            Log(missingNow == 0
                ? $"the store holds every accepted reading {drain.Elapsed.TotalSeconds:0.0}s after streaming ended"
                : $"after {drain.Elapsed.TotalSeconds:0}s the store still misses {missingNow:N0} accepted readings (`sync status` shows the edges' backlogs)");
            var adapters = o.AdapterDevicesPerEdge > 0 ? await AdapterSummaryAsync(client, edges, o.AdapterDevicesPerEdge) : null;
            await client.DisposeAsync();
            await cluster.StopAllAsync(TimeSpan.FromSeconds(20));

            var (stored, duplicates, missing) = _ledger.CountSqlite(storePath);
            var doubleAccepted = _ledger.DoubleAccepted;
            var failovers = FailoverTimes();
            var t = simulator.Telemetry;
            var f = simulator.Frames;
            var summary = new ChaosSummary(
                t.Sent + f.Sent, _ledger.Accepted, stored, duplicates + doubleAccepted, missing + t.Lost + f.Lost,
                failovers.Count == 0 ? 0 : failovers.Max(), t.Rejected + f.Rejected, _ledger.NotDurable,
                kills, partitions, malformedSent, malformedAnswered, allUp, partitionsOff, _events.ToList(), failovers) { Adapters = adapters, UnplannedExits = _unplannedExits };
            Log($"faults: {kills} edge kills, {partitions} partitions, {malformedSent} malformed requests ({malformedAnswered} answered with a rejection); " +
                $"{_unplannedExits} unplanned node exits (restarted); " +
                $"rejected readings (bad values) {summary.Rejected:N0}; accepted but not durable {summary.NotDurable:N0}; failovers [{string.Join(", ", failovers.Select(x => x.ToString("0.0")))}] s");
            return summary;
        }
        finally
        {
            if (_fuzzSystem is not null) await _fuzzSystem.Terminate();
            net?.Heal();
            net?.Dispose();
        }
    }

    /// <summary>What the device entities of the edges' hardware adapters say at the end: faults, health changes, gaps.</summary>
    private async Task<AdapterSummary> AdapterSummaryAsync(EdgeClient client, IReadOnlyList<string> edges, int perEdge)
    {
        long accepted = 0, gaps = 0, restarts = 0, degradations = 0, offlines = 0, recoveries = 0;
        var faults = new Dictionary<SensorFault, long>();
        var devices = 0;
        foreach (var edge in edges)
            for (var i = 0; i < perEdge; i++)
            {
                var id = new DeviceId($"{edge}/sensor-{i:D2}");
                var state = await client.GetDeviceStateAsync(id);
                devices++;
                accepted += state.AcceptedReadings;
                if (state.HighestContiguous != state.LastSequence) gaps++;
                if (state.Sensor is not { } sensor) continue;
                restarts += sensor.Restarts;
                degradations += sensor.Degradations;
                offlines += sensor.Offlines;
                recoveries += sensor.Recoveries;
                foreach (var f in sensor.Faults) faults[f.Kind] = faults.GetValueOrDefault(f.Kind) + f.Count;
            }
        var summary = new AdapterSummary(devices, accepted, gaps, restarts, degradations, offlines, recoveries,
            string.Join(" ", faults.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}")));
        Log($"sensor adapters: {summary}");
        return summary;
    }

    private void Record(string kind, string node, string detail)
    {
        var e = new ChaosEvent(_clock.Elapsed.TotalSeconds, kind, node, detail);
        lock (_events) _events.Add(e);
        Log($"{kind} {node}: {detail}");
    }

    private readonly HashSet<string> _planned = new();
    private int _unplannedExits;

    private async Task ServiceManagerAsync(LocalCluster cluster, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(500, ct).ContinueWith(_ => { });
            foreach (var n in cluster.Nodes.ToList())
            {
                bool planned;
                lock (_planned) planned = _planned.Contains(n.Spec.Name);
                if (planned || !n.HasExited || ct.IsCancellationRequested) continue;
                var code = n.ExitCode;
                Interlocked.Increment(ref _unplannedExits);
                cluster.Start(n.Spec.Name);
                Record("unplanned-exit", n.Spec.Name, $"exited on its own (exit code {code}; see its log for why, e.g. downed by the split brain resolver); restarted (pid {cluster[n.Spec.Name].Pid})");
            }
        }
    }

    private void Plan(string node, bool on)
    {
        lock (_planned)
            if (on) _planned.Add(node);
            else _planned.Remove(node);
    }

    private async Task KillAndRestartAsync(LocalCluster cluster, string edge, TimeSpan down)
    {
        Plan(edge, true);
        try
        {
            await KillAndRestartCoreAsync(cluster, edge, down);
        }
        finally
        {
            Plan(edge, false);
        }
    }

    private async Task PartitionAndHealAsync(LocalCluster cluster, NetworkNamespaces net, string edge, TimeSpan cut)
    {
        Plan(edge, true);
        try
        {
            await PartitionAndHealCoreAsync(cluster, net, edge, cut);
        }
        finally
        {
            Plan(edge, false);
        }
    }

    private async Task KillAndRestartCoreAsync(LocalCluster cluster, string edge, TimeSpan down)
    {
        cluster[edge].KillHard();
        Record("kill", edge, $"SIGKILL (pid {cluster[edge].Pid}); restart in {down.TotalSeconds:0.0}s");
        await cluster[edge].WaitForExitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(down);
        cluster.Start(edge);
        Record("restart", edge, $"started again (pid {cluster[edge].Pid})");
        await Task.Delay(TimeSpan.FromSeconds(5)); // let it rejoin before the next disruption
    }

    private async Task PartitionAndHealCoreAsync(LocalCluster cluster, NetworkNamespaces net, string edge, TimeSpan cut)
    {
        net.Partition([edge]);
        Record("partition", edge, $"cut off from every other node and the client for {cut.TotalSeconds:0.0}s");
        await Task.Delay(cut);
        net.Heal();
        // the cut-off side downs itself after stable-after and its process exits; a service manager restarts it
        var exited = await cluster[edge].WaitForExitAsync(TimeSpan.FromSeconds(20));
        if (exited)
        {
            var code = cluster[edge].ExitCode;
            cluster.Start(edge);
            Record("heal", edge, $"network healed; it had downed itself (exit code {code}), restarted (pid {cluster[edge].Pid})");
        }
        else Record("heal", edge, "network healed; it was still a member");
        await Task.Delay(TimeSpan.FromSeconds(5));
    }

    /// <summary>Hostile input aimed at devices of its own: every request must be answered (accepted, or refused with a reason).</summary>
    private async Task<(int Sent, int Answered)> SendMalformedAsync(EdgeClient client, Random rng)
    {
        var victim = new DeviceId($"chaos-hostile-{rng.Next(8)}");
        var list = new List<IEdgeMessage>
        {
            new TelemetryBatch(victim, 4, [1, 2], [1, 2], new float[7]), // values length does not match
            new TelemetryBatch(victim, 0, [1], [1], []),                  // no channels
            new TelemetryBatch(new DeviceId(""), 1, [1], [1], [1f]),       // empty device id
            new TelemetryBatch(new DeviceId(new string('x', 4000)), 1, [1], [1], [1f]), // over-long device id
            new CameraFrame(victim, 1, 1, 13, 7, new byte[91], 3),        // wrong frame size
        };
        // and mutated payloads that still decode (the fuzzer's survivors), re-aimed at the hostile devices
        {
            var report = SerializerFuzzer.Run(Serializer(), SerializerFuzzer.Seeds(), 400, rng.Next(), keepDecoded: 200);
            foreach (var m in report.DecodedMessages.OfType<IDeviceCommand>().Take(10))
                list.Add(m switch
                {
                    TelemetryBatch t => t with { DeviceId = victim },
                    CameraFrame f => f with { DeviceId = victim },
                    TrainingFrames t => t with { DeviceId = victim },
                    _ => m,
                });
        }
        var answered = 0;
        foreach (var m in list)
        {
            try
            {
                // retried like any request: a hostile request sent while an edge is failing over still gets its answer
                await client.RequestAsync<IEdgeMessage>(m);
                answered++;
            }
            catch (EdgeClientException ex) when (ex.Message.Contains("rejected by the cluster", StringComparison.Ordinal))
            {
                answered++;
            }
            catch (EdgeClientException ex)
            {
                Log($"hostile {m.GetType().Name} not answered: {ex.Message}");
            }
        }
        Record("malformed", "client", $"{list.Count} hostile requests, {answered} answered");
        return (list.Count, answered);
    }

    /// <summary>
    /// For each kill or partition: the devices last served by that edge before the fault, and for each the time until it
    /// was next accepted (on any node); the event's failover is the longest of those.
    /// </summary>
    private List<double> FailoverTimes()
    {
        var result = new List<double>();
        List<ChaosEvent> events;
        lock (_events) events = _events.ToList();
        foreach (var e in events.Where(e => e.Kind is "kill" or "partition"))
        {
            // a reply the faulty edge sent just before the fault does not count; after its restart, its answers do
            var back = events.FirstOrDefault(r => r.Node == e.Node && r.AtSeconds > e.AtSeconds && r.Kind is "restart" or "heal")?.AtSeconds ?? double.MaxValue;
            var port = $":{PortOf(e.Node)}";
            var worst = 0.0;
            var any = false;
            var slowest = "";
            var times = new List<double>();
            foreach (var (device, snapshot) in _ledger.Accepts)
            {
                var before = snapshot.LastOrDefault(a => a.At <= e.AtSeconds);
                if (before.Node is null || !before.Node.EndsWith(port, StringComparison.Ordinal)) continue;
                var after = snapshot.FirstOrDefault(a => a.At > e.AtSeconds && (!a.Node.EndsWith(port, StringComparison.Ordinal) || a.At > back));
                if (after.Node is null) continue; // the device sent nothing more (end of the run)
                any = true;
                times.Add(after.At - e.AtSeconds);
                if (after.At - e.AtSeconds > worst) (worst, slowest) = (after.At - e.AtSeconds, $"{device}, accepted again by {after.Node}");
            }
            if (!any) continue;
            result.Add(worst);
            times.Sort();
            Log($"failover after the {e.Kind} of {e.Node} at {e.AtSeconds:0.0}s: {times.Count} devices, median {times[times.Count / 2]:0.0}s, " +
                $"90th percentile {times[(int)(times.Count * 0.9)]:0.0}s, slowest {worst:0.0}s ({slowest})");
        }
        return result;
    }

    private int PortOf(string node) => _layout.Single(s => s.Name == node).Port;
}
