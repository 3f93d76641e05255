using System.Diagnostics;
using System.Globalization;
using EdgeActors.Client;
using EdgeActors.Messages;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using EdgeActors.Storage;
using EdgeActors.Tools.Chaos;
using EdgeActors.Tools.Commands;
using EdgeActors.Tools.Experiments;

namespace EdgeActors.Tools.Rolling;

public sealed record RollingOptions
{
    /// <summary>Node logs and data directories (emptied first).</summary>
    public required string Directory { get; init; }

    /// <summary>The nodes' ports (seed, dc1, dc2, edge1, edge2) are BasePort..BasePort+4, their HTTP ports BasePort+5..+8.</summary>
    public int BasePort { get; init; } = 4753;

    /// <summary>Nine ports instead of <see cref="BasePort"/>: five node ports, then four HTTP ports (tests).</summary>
    public IReadOnlyList<int>? Ports { get; init; }

    /// <summary>The datacenter tier's PostgreSQL connection string, or "" (SQLite: per-node stores, shared singleton files).</summary>
    public string Postgres { get; init; } = "";

    /// <summary>
    /// A rolling upgrade: every node first runs the node executable in this folder (an older release's build,
    /// scripts/build-release.sh) and is replaced by the current build when its turn comes. Null: a rolling restart.
    /// </summary>
    public string? FromBuild { get; init; }

    public SimulatorOptions Simulator { get; init; } = new()
    {
        Sensors = 20, Cameras = 2, ReadingsPerSecond = 1_000, FramesPerSecond = 4, BatchSize = 10, DevicePrefix = "roll-",
    };

    /// <summary>
    /// The federated experiments that run through the roll (FedAvg, a 784-64-10 MLP on Fashion-MNIST): one after the other
    /// until the roll is done, the last one to its end.
    /// </summary>
    public int Clients { get; init; } = 4;
    public int ImagesPerClient { get; init; } = 250;
    public int Rounds { get; init; } = 5;
    public int LocalEpochs { get; init; } = 5;

    /// <summary>Streaming before the first restart.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Pause after a node is ready before the next one is stopped.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a restarted node may take to be Up and ready before the run fails.</summary>
    public TimeSpan NodeTimeout { get; init; } = TimeSpan.FromSeconds(120);

    public Action<string> Log { get; init; } = Console.WriteLine;
}

/// <summary>One node's restart: how long its graceful stop took, whether it stopped cleanly, and until it was ready again.</summary>
public sealed record NodeRestart(string Node, string From, string To, double StopSeconds, int? ExitCode, bool CleanStop, double ReadySeconds)
{
    public double TotalSeconds => StopSeconds + ReadySeconds;
}

public sealed record RollingSummary(
    IReadOnlyList<NodeRestart> Restarts, int NodesInCluster, long Sent, long Accepted, long Stored, long Lost, long Duplicates, long HeldByTwoStores,
    string ExperimentState, int RoundsCommitted, int RoundsExpected, bool RoundsAppliedOnce, int RoundsDuringRoll,
    double MaxPauseSeconds, double P99PauseSeconds, string SlowestDevice, bool AllNodesUp, bool Upgrade)
{
    public string Line => string.Create(CultureInfo.InvariantCulture,
        $"RESULT rolling{(Upgrade ? "-upgrade" : "")} nodes={Restarts.Count} lost={Lost} duplicates={Duplicates} rounds={RoundsCommitted} " +
        $"rounds_applied_once={RoundsAppliedOnce.ToString().ToLowerInvariant()} max_pause_s={MaxPauseSeconds:0.00} p99_pause_s={P99PauseSeconds:0.00}");

    /// <summary>Every node restarted cleanly and ready, nothing lost or duplicated, the experiment done with each round once.</summary>
    public bool Clean => Lost == 0 && Duplicates == 0 && AllNodesUp && Restarts.Count == NodesInCluster && Restarts.All(r => r.CleanStop)
                         && ExperimentState == "done" && RoundsAppliedOnce && RoundsCommitted == RoundsExpected;
}

/// <summary>
/// The rolling restart (or upgrade): a local cluster of real node processes (seed, two datacenters, two edges; the
/// datacenters are seed nodes too, so a restarted first seed joins the running cluster instead of forming its own)
/// streams the simulator and runs a federated experiment while every node is, one at a time, stopped with SIGTERM,
/// started again (from the current build, in an upgrade) and waited for until the cluster sees it Up with every edge's
/// shard region registered and every HTTP node answers /health/ready. Order: edges, datacenters, seed last (a leaving
/// node needs a leader to remove it, and the seed is the last of the seed nodes the others could join through).
/// At the end: lost and duplicate readings counted in the datacenter stores against the client's own records, the
/// experiment's rounds in the federation store (each once, 1..N), and each device's longest pause between two accepted
/// requests while the roll went on.
/// </summary>
public sealed class RollingRun(RollingOptions options)
{
    private readonly Stopwatch _clock = new();
    private IngestLedger? _ledger;

    private void Log(string line) => options.Log(string.Create(CultureInfo.InvariantCulture, $"rolling [{_clock.Elapsed.TotalSeconds,5:0.0}s] {line}"));

    /// <summary>The five nodes and the order they are restarted in.</summary>
    public static readonly IReadOnlyList<string> Order = ["edge1", "edge2", "dc1", "dc2", "seed"];

    private static IReadOnlyList<NodeSpec> Layout(IReadOnlyList<int> p)
    {
        string[] quiet = ["--set", "edgeactors.federated.eval-limit = 2000", "--set", "edgeactors.federated.participant-timeout = 6s"];
        return
        [
            new NodeSpec("seed", ["seed"], p[0], quiet),
            new NodeSpec("dc1", ["datacenter"], p[1], quiet) { HttpPort = p[5] },
            new NodeSpec("dc2", ["datacenter"], p[2], quiet) { HttpPort = p[6] },
            new NodeSpec("edge1", ["edge"], p[3], quiet) { HttpPort = p[7] },
            new NodeSpec("edge2", ["edge"], p[4], quiet) { HttpPort = p[8] },
        ];
    }

    public async Task<RollingSummary> RunAsync(CancellationToken ct = default)
    {
        var o = options;
        var ports = o.Ports ?? Enumerable.Range(o.BasePort, 9).ToList();
        if (ports.Count != 9) throw new CliException($"rolling: 9 ports are needed (5 nodes, 4 HTTP), got {ports.Count}");
        string? oldExecutable = null;
        if (o.FromBuild is not null)
        {
            oldExecutable = Path.Combine(Path.GetFullPath(o.FromBuild), "edgeactors");
            if (!File.Exists(oldExecutable))
                throw new CliException($"--from-build {o.FromBuild}: no node executable 'edgeactors' there (build one with scripts/build-release.sh <commit> <dir>)");
        }
        if (System.IO.Directory.Exists(o.Directory)) System.IO.Directory.Delete(o.Directory, recursive: true);
        _clock.Start();
        var ledger = _ledger = new IngestLedger(_clock);
        var layout = Layout(ports);
        await using var cluster = new LocalCluster(layout, o.Directory) { DatacenterPostgres = o.Postgres, ExtraSeeds = ["dc1", "dc2"] };
        var from = oldExecutable is null ? "current" : "release " + ReleaseName(o.FromBuild!);
        if (oldExecutable is not null)
            foreach (var s in layout) cluster.Executables[s.Name] = oldExecutable;
        Log($"starting {layout.Count} node processes ({from}; logs in {o.Directory}); datacenter tier: {(o.Postgres.Length > 0 ? "PostgreSQL" : "SQLite")}");
        cluster.StartAll();
        await using var client = EdgeClient.Connect(new EdgeClientOptions
        {
            Credentials = cluster.ClientCredentials,
            Contacts = cluster.GatewayContacts.ToList(),
            RequestTimeout = TimeSpan.FromSeconds(3),
            RetryDeadline = TimeSpan.FromSeconds(120),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        if (await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(120)) is null)
            throw new CliException("the local cluster did not form (node logs in " + o.Directory + ")");
        if (await cluster.WaitJoinedAsync(TimeSpan.FromSeconds(60)) is { } notJoined) throw new CliException("the local cluster is not ready: " + notJoined);
        Log("cluster formed and ready");
        cluster.JoinThroughExtraSeeds = true; // a restarted seed joins through the datacenters, never forms a cluster of its own

        // the federated experiment's clients and their labelled frames (kept in the edges' training.db across restarts)
        var train = FashionMnist.Load(FashionMnist.ResolveDirectory(o.Simulator.DatasetDirectory), train: true, o.Clients * o.ImagesPerClient);
        var parts = NiidPartitioner.Partition(train.Labels, 10, o.Clients, new PartitionSpec("homo"), seed: 3);
        await ExperimentCommand.UploadAsync(client, train, parts, Log, ct);
        await ExperimentCommand.WaitForClientsAsync(client, parts, Log, TimeSpan.FromSeconds(90));
        var experiments = new ExperimentChain(Spec($"rolling-{DateTime.UtcNow:yyyyMMddHHmmss}", o.Rounds, o.LocalEpochs));
        await StartNextAsync(client, experiments, ct);

        using var stopStreaming = new CancellationTokenSource();
        var simulator = new Simulator(o.Simulator with { Duration = TimeSpan.FromHours(24) })
        {
            Observer = ledger.Observe,
            Until = stopStreaming.Token,
        };
        Log($"streaming {o.Simulator.Sensors} sensors and {o.Simulator.Cameras} cameras");
        var stream = simulator.RunAsync(client, ct);
        using var stopWatching = new CancellationTokenSource();
        var watch = WatchExperimentsAsync(client, experiments, stopWatching.Token);
        await Task.Delay(o.Warmup, ct);

        var restarts = new List<NodeRestart>();
        var rollStart = _clock.Elapsed.TotalSeconds;
        var roundAtStart = experiments.Committed;
        string? failure = null;
        foreach (var name in Order)
        {
            var (restart, problem) = await RestartAsync(cluster, client, name, from, oldExecutable is null ? "current" : "current build", ct);
            if (restart is not null) restarts.Add(restart);
            if (problem is not null)
            {
                failure = $"{name}: {problem}";
                Log("ROLL STOPPED: " + failure);
                break;
            }
            await Task.Delay(o.Settle, ct);
        }
        var rollEnd = _clock.Elapsed.TotalSeconds;
        var roundAtEnd = experiments.Committed;
        experiments.Chain = false; // the experiment under way is the last
        Log($"roll {(failure is null ? "done" : "stopped")} in {rollEnd - rollStart:0.0}s; {roundAtEnd - roundAtStart} rounds committed meanwhile, experiment {experiments.Ids.Count} under way");

        // a few more seconds of streaming on the fully restarted cluster, then the stream ends gracefully
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        await stopStreaming.CancelAsync();
        await stream;
        var t = simulator.Telemetry;
        var f = simulator.Frames;
        Log($"streaming done: sent {t.Sent + f.Sent:N0}, accepted {t.Accepted + f.Accepted:N0}, unanswered {t.Lost + f.Lost:N0}");

        // the experiment runs to its end (each restart cost it at most a round attempt)
        var deadline = Stopwatch.StartNew();
        while (experiments.State is not ("done" or "failed") && deadline.Elapsed < TimeSpan.FromMinutes(5)) await Task.Delay(1000, ct);
        await stopWatching.CancelAsync();
        await watch;
        Log($"experiments {string.Join(", ", experiments.Ids)}: the last {experiments.State} {experiments.Detail}");

        var allUp = failure is null && await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(30)) is not null;
        // the edges' outboxes drain into the datacenter stores
        var stores = OpenStores(cluster);
        try
        {
            var drain = Stopwatch.StartNew();
            while (ledger.CountStores(stores).Missing > 0 && drain.Elapsed < TimeSpan.FromSeconds(120)) await Task.Delay(2000, ct);
            Log($"stores checked {drain.Elapsed.TotalSeconds:0.0}s after streaming ended");
            await client.DisposeAsync();
            await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
            foreach (var s in stores) s.Dispose();
            stores = OpenStores(cluster);
            var (stored, duplicates, missing, twice) = ledger.CountStores(stores);
            var committed = 0;
            var once = true;
            foreach (var id in experiments.Ids)
            {
                var (n, ok) = await CheckRoundsAsync(cluster, id, o.Rounds);
                committed += n;
                once &= ok;
            }
            var (maxPause, p99, slowest) = Pauses(ledger, rollStart, rollEnd);
            foreach (var r in restarts)
                Log(string.Create(CultureInfo.InvariantCulture,
                    $"restart {r.Node,-6} {r.From} → {r.To}: stop {r.StopSeconds:0.0}s (exit {r.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "?"}, {(r.CleanStop ? "clean: no crash marker" : "NOT clean")}), ready after {r.ReadySeconds:0.0}s, total {r.TotalSeconds:0.0}s"));
            Log($"pauses: longest gap between two accepted requests per device during the roll: max {maxPause:0.00}s ({slowest}), p99 {p99:0.00}s");
            Log($"stores: {stored:N0} of {ledger.Accepted:N0} accepted readings stored, {missing:N0} missing, {duplicates:N0} stored twice in a store, " +
                $"{twice:N0} held by both datacenter stores (per-node SQLite; merged on restore){(ledger.DoubleAccepted > 0 ? $", {ledger.DoubleAccepted} accepted twice" : "")}");
            return new RollingSummary(restarts, layout.Count, t.Sent + f.Sent, ledger.Accepted, stored, missing + t.Lost + f.Lost,
                duplicates + ledger.DoubleAccepted, twice, experiments.State, committed, experiments.Ids.Count * o.Rounds, once, roundAtEnd - roundAtStart,
                maxPause, p99, slowest, allUp, oldExecutable is not null);
        }
        finally
        {
            foreach (var s in stores) s.Dispose();
        }
    }

    private static string ReleaseName(string dir)
    {
        var marker = Path.Combine(dir, ".release-commit");
        return File.Exists(marker) ? File.ReadAllText(marker).Trim()[..7] : Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'));
    }

    private static ExperimentSpec Spec(string id, int rounds, int epochs) => new(
        id, "mlp:784-64-10", "fedavg", rounds, Fraction: 1, MinClients: 1, LocalEpochs: epochs, BatchSize: 32, LearningRate: 0.05f, Momentum: 0.9f,
        ProximalMu: 0, ServerLearningRate: 1, Seed: 11, RoundTimeoutMs: 60_000, Quorum: 0.5, LateUpdates: "drop", MaxStaleness: 0, ClipNorm: 0,
        NoiseMultiplier: 0, SecureAggregation: false, PoisonedClients: [], PoisonScale: 1, TrimFraction: 0.2, KrumByzantine: 1, PublishAs: "");

    /// <summary>
    /// SIGTERM, wait for the exit (killed after 30 s: not clean), check the crash marker is gone (a clean stop: the next
    /// start does not wait out crash-restart-delay), start it again and wait until it is Up and ready.
    /// </summary>
    private async Task<(NodeRestart? Restart, string? Problem)> RestartAsync(LocalCluster cluster, EdgeClient client, string name, string from, string to,
        CancellationToken ct)
    {
        var node = cluster[name];
        Log($"{name}: SIGTERM (pid {node.Pid}, {from})");
        var stopSeconds = await node.StopAsync(TimeSpan.FromSeconds(30));
        var exitCode = node.ExitCode;
        var marker = Path.Combine(cluster.Directory, name, CrashRestartGuard.MarkerFile);
        var clean = stopSeconds < 30 && !File.Exists(marker);
        Log($"{name}: exited after {stopSeconds:0.0}s with code {exitCode}{(clean ? "" : $"; NOT a clean stop ({(File.Exists(marker) ? "crash marker left" : "killed")})")}");
        cluster.Executables.Remove(name); // from now on the current build
        var sw = Stopwatch.StartNew();
        var restarted = cluster.Start(name);
        Log($"{name}: started again (pid {restarted.Pid}, {to})");
        var address = cluster.Specs.Single(s => s.Name == name).HostPort;
        string? why = null;
        while (sw.Elapsed < options.NodeTimeout)
        {
            ct.ThrowIfCancellationRequested();
            if (restarted.HasExited) return (null, $"exited with code {restarted.ExitCode} after its restart; last lines of {restarted.LogPath}:\n{restarted.Tail()}");
            var overview = await ClusterProbe.TryOverviewAsync(client);
            var up = overview is not null
                     && overview.Members.Count(m => m.Status == "Up") == cluster.Specs.Count
                     && overview.Members.Any(m => m.Status == "Up" && m.Address.EndsWith("@" + address, StringComparison.Ordinal))
                     && overview.Regions.Length >= cluster.Specs.Count(s => s.Roles.Contains("edge"));
            if (!up)
            {
                why = overview is null ? "no cluster overview" : ClusterProbe.Describe(overview);
                await Task.Delay(250, ct);
                continue;
            }
            why = await cluster.WaitJoinedAsync(TimeSpan.FromSeconds(2));
            if (why is null)
            {
                Log($"{name}: Up and ready {sw.Elapsed.TotalSeconds:0.0}s after its start");
                return (new NodeRestart(name, from, to, stopSeconds, exitCode, clean, sw.Elapsed.TotalSeconds), null);
            }
        }
        return (new NodeRestart(name, from, to, stopSeconds, exitCode, clean, sw.Elapsed.TotalSeconds),
            $"not Up and ready within {options.NodeTimeout.TotalSeconds:0}s of its start ({why})");
    }

    /// <summary>
    /// Experiments run back to back while the roll goes on (each the same spec under a new id), so one is under way
    /// whenever a node restarts, datacenters (the coordinator's singleton hand-over) included.
    /// </summary>
    private sealed class ExperimentChain(ExperimentSpec first)
    {
        public readonly ExperimentSpec First = first;
        public readonly List<string> Ids = new();
        public volatile bool Chain = true;
        public volatile int Committed; // rounds committed over all experiments so far
        public volatile string State = "running";
        public volatile string Detail = "";
        public int DoneRounds; // rounds of the experiments already finished
    }

    private async Task StartNextAsync(EdgeClient client, ExperimentChain chain, CancellationToken ct)
    {
        var spec = chain.First with { Id = chain.Ids.Count == 0 ? chain.First.Id : $"{chain.First.Id}-{chain.Ids.Count + 1}" };
        while (true)
        {
            var started = await client.RequestAsync<IFederatedMessage>(new StartExperiment(spec), ct);
            if (started.Value is ExperimentAccepted) break;
            Log($"experiment {spec.Id} refused ({((ExperimentRejected)started.Value).Reason}); trying again");
            await Task.Delay(1000, ct);
        }
        lock (chain.Ids) chain.Ids.Add(spec.Id);
        chain.State = "running";
        Log($"experiment {spec.Id} started: {spec.Rounds} rounds, E={spec.LocalEpochs}, {options.Clients} clients × {options.ImagesPerClient} images");
    }

    private async Task WatchExperimentsAsync(EdgeClient client, ExperimentChain chain, CancellationToken ct)
    {
        var last = 0;
        while (!ct.IsCancellationRequested)
        {
            string id;
            lock (chain.Ids) id = chain.Ids[^1];
            try
            {
                var status = await client.TryOnceAsync<ExperimentStatus>(new GetExperimentStatus(id), TimeSpan.FromSeconds(5));
                foreach (var h in status.History.Where(h => h.Round > last))
                    Log(string.Create(CultureInfo.InvariantCulture, $"experiment {id} round {h.Round}/{status.Rounds} committed: clients {h.Received}/{h.Sampled}, attempt {h.Attempt}, accuracy {h.Accuracy:P1}"));
                last = Math.Max(last, status.Round);
                chain.Committed = chain.DoneRounds + status.Round;
                chain.Detail = status.Detail;
                if (status.State == "done" && chain.Chain)
                {
                    chain.DoneRounds += status.Round;
                    last = 0;
                    await StartNextAsync(client, chain, ct);
                }
                else chain.State = status.State;
            }
            catch (EdgeClientException)
            {
                // a datacenter restarting: ask again
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            await Task.Delay(1000, ct).ContinueWith(_ => { });
        }
    }

    /// <summary>The datacenter stores: the PostgreSQL tier, or each datacenter's own SQLite store.</summary>
    private List<IDataStore> OpenStores(LocalCluster cluster)
    {
        if (options.Postgres.Length > 0) return [new PostgresDataStore(options.Postgres)];
        return cluster.Specs.Where(s => s.Roles.Contains("datacenter"))
            .Select(s => Path.Combine(cluster.Directory, s.Name, "store.db"))
            .Where(File.Exists)
            .Select(p => (IDataStore)new SqliteDataStore(p))
            .ToList();
    }

    /// <summary>Rounds committed in the federation store, and whether they are exactly 1..N, each once, with the experiment at N.</summary>
    private async Task<(int Committed, bool Once)> CheckRoundsAsync(LocalCluster cluster, string id, int rounds)
    {
        StoredExperiment? stored;
        if (options.Postgres.Length > 0)
        {
            using var store = new PostgresFederationStore(options.Postgres);
            stored = await store.LoadAsync(id);
        }
        else
        {
            using var store = new FederationStore(Path.Combine(cluster.Directory, "federation.db"));
            stored = store.Load(id);
        }
        if (stored is null)
        {
            Log($"federation store: no experiment {id}");
            return (0, false);
        }
        var numbers = stored.History.Select(h => h.Round).ToList();
        var once = numbers.SequenceEqual(Enumerable.Range(1, rounds)) && stored.Round == rounds;
        Log($"federation store: experiment {id} {stored.State} at round {stored.Round}, rounds [{string.Join(",", numbers)}], attempts [{string.Join(",", stored.History.Select(h => h.Attempt))}]" +
            (once ? ": each round committed once" : ": NOT each round once"));
        return (numbers.Count, once);
    }

    /// <summary>
    /// Per device: the longest gap between two consecutive accepted requests that overlaps the roll [start, end] (the
    /// last accept before it and the first after it included); max and 99th percentile (nearest rank) over devices.
    /// </summary>
    public static (double Max, double P99, string Slowest) Pauses(IngestLedger ledger, double start, double end)
    {
        var worst = new List<(double Gap, string Device)>();
        foreach (var (device, accepts) in ledger.Accepts)
        {
            var times = accepts.Select(a => a.At).Order().ToArray();
            var gap = 0.0;
            for (var i = 1; i < times.Length; i++)
                if (times[i] >= start && times[i - 1] <= end)
                    gap = Math.Max(gap, times[i] - times[i - 1]);
            worst.Add((gap, device));
        }
        if (worst.Count == 0) return (0, 0, "no device");
        worst.Sort((a, b) => a.Gap.CompareTo(b.Gap));
        var p99 = worst[Math.Clamp((int)Math.Ceiling(0.99 * worst.Count) - 1, 0, worst.Count - 1)].Gap;
        return (worst[^1].Gap, p99, worst[^1].Device);
    }
}
