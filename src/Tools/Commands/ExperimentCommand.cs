using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;
using System.Diagnostics;
using System.Globalization;
using EdgeActors.Nodes.Data;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Tools.Experiments;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Commands;

/// <summary>Federated-learning experiments on a real local cluster (node processes): FedAvg & co, k-means, GBDT.</summary>
public static class ExperimentCommand
{
    public const string Usage = """
        edgeactors experiment fedavg [--partition homo|dir|label] [--beta 0.5] [--labels-per-client 2] [--clients 10]
                                     [--rounds 50] [--local-epochs 2] [--batch 64] [--lr 0.05] [--momentum 0.9]
                                     [--strategy fedavg|fedprox|median|trimmed-mean|krum[,…]] [--mu 0.01]
                                     [--fraction 1] [--min-clients 1] [--quorum 0.5] [--round-timeout 300]
                                     [--late drop|fold] [--max-staleness 2] [--clip 0] [--noise 0]
                                     [--secure-aggregation] [--poisoned 0] [--poison-scale -10] [--trim 0.2] [--krum-f 2]
                                     [--model mlp:784-256-128-10|cnn] [--server-lr 1]
                                     [--train-limit 60000] [--seed 1] [--edges 2] [--publish-as fmnist-fed]
                                     [--target 0.89] [--out .data/experiments] [--base-port 4153] [--contacts host:port,…]
          Partitions the Fashion-MNIST training set over N simulated devices as NIID-Bench does (homo = IID,
          dir = label Dirichlet(β), label = #C=k labels per client), starts seed + datacenter + E edge node
          processes, uploads each device's labelled frames through the client library to its edge (raw data stays
          there), then runs the rounds on the cluster: the datacenter's round coordinator samples clients, the edges
          train them locally and send updates, the coordinator aggregates, scores each global model on the 10,000
          test images, commits it and publishes it to the registry. Prints per-round accuracy and writes
          <out>/<id>.csv and a PNG plot. With several strategies (comma-separated) each runs on the same cluster
          and data, one after the other, and the plot compares them. Ends with, per strategy:
          RESULT fedavg partition=<p> clients=<n> rounds=<n> strategy=<s> accuracy=<x>
        edgeactors experiment kmeans [--devices 60] [--groups 3] [--k 3] [--outliers 2] [--iterations 50] [--z 4]
          Streams telemetry of devices drawn from behaviour groups (plus a few outlier devices) through the client,
          then runs federated k-means: edges send per-cluster sums and counts of their devices' behaviour summaries,
          the coordinator updates the centroids. Reports cluster purity against the true groups and the outliers found.
          RESULT kmeans devices=<n> k=<k> purity=<x> outliers_true=<n> outliers_found=<n> outliers_correct=<n>
        edgeactors experiment gbdt [--classes 10|2] [--clients 10] [--partition homo] [--iterations 50] [--depth 4]
                                   [--lr 0.3] [--bins 32] [--lambda 1] [--train-limit 60000] [--publish-as fmnist-gbdt]
          Federated histogram GBDT over the labelled frames the edges hold (7×7 pooled Fashion-MNIST features), one
          round trip per tree level; exported to ONNX TreeEnsembleClassifier and scored with ONNX Runtime; compared
          with LightGBM 4.7.0 and our own centralised GBDT trained on the same data in the same run.
          RESULT gbdt classes=<n> accuracy=<x> onnx_accuracy=<x> lightgbm=<x> central=<x> rounds=<n>
        """;

    public static async Task<int> RunAsync(CliArgs args)
    {
        var kind = args.Positional.FirstOrDefault() ?? throw new CliException("which experiment? fedavg, kmeans or gbdt");
        return kind switch
        {
            "fedavg" => await FedAvgAsync(args),
            "kmeans" => await KMeansAsync(args),
            "gbdt" => await GbdtAsync(args),
            _ => throw new CliException($"unknown experiment '{kind}': fedavg, kmeans or gbdt"),
        };
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    // ---------------------------------------------------------------- cluster and data

    /// <summary>A local cluster (or an existing one through --contacts) and a connected client.</summary>
    public sealed class Session : IAsyncDisposable
    {
        public LocalCluster? Cluster { get; init; }
        public required EdgeClient Client { get; init; }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            if (Cluster is not null) await Cluster.DisposeAsync();
        }
    }

    public static async Task<Session> OpenAsync(CliArgs args, string name, Action<string> log)
    {
        var contacts = args.Get("contacts");
        var edges = args.Int("edges", 2);
        var basePort = args.Int("base-port", 4153);
        if (contacts is not null)
        {
            var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = NodeConfig.SplitList(contacts)!, Credentials = CertsCommand.ClientCredentialsFrom(args), RequestTimeout = TimeSpan.FromSeconds(20) });
            return new Session { Client = client };
        }
        if (edges < 1) throw new CliException("--edges must be at least 1");
        var dir = Path.GetFullPath(Path.Combine(".data", "experiments", $"{name}-cluster-{basePort}"));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var layout = LocalCluster.DefaultLayout(basePort, edges);
        log($"starting {layout.Count} node processes on 127.0.0.1:{basePort}..{basePort + layout.Count - 1} (logs in {dir})");
        var cluster = new LocalCluster(layout, dir);
        cluster.StartAll();
        var c = EdgeClient.Connect(new EdgeClientOptions { Contacts = cluster.GatewayContacts.ToList(), Credentials = cluster.ClientCredentials, RequestTimeout = TimeSpan.FromSeconds(20) });
        var overview = await ClusterProbe.WaitForMembersAsync(c, cluster, layout.Count, TimeSpan.FromSeconds(90));
        if (overview is null)
        {
            await c.DisposeAsync();
            await cluster.DisposeAsync();
            throw new CliException("the local cluster did not form within 90 s (see the node logs)");
        }
        log("cluster formed: " + ClusterProbe.Describe(overview));
        return new Session { Cluster = cluster, Client = c };
    }

    public static string ClientId(int i) => Inv($"fl-client-{i:00}");

    /// <summary>Sends each client's labelled frames to its device (batches of 500, in order, retried by the client).</summary>
    public static async Task UploadAsync(EdgeClient client, FashionMnist train, int[][] parts, Action<string> log, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        const int batch = 500;
        using var gate = new SemaphoreSlim(4);
        var tasks = parts.Select(async (indices, p) =>
        {
            await gate.WaitAsync(ct);
            try
            {
                var id = new DeviceId(ClientId(p));
                for (var start = 0; start < indices.Length; start += batch)
                {
                    var n = Math.Min(batch, indices.Length - start);
                    var pixels = new byte[n * TrainingFrames.FrameBytes];
                    var labels = new byte[n];
                    for (var i = 0; i < n; i++)
                    {
                        train.Image(indices[start + i]).CopyTo(pixels.AsSpan(i * TrainingFrames.FrameBytes));
                        labels[i] = train.Labels[indices[start + i]];
                    }
                    var ack = (await client.RequestAsync<TrainingFramesAck>(new TrainingFrames(id, start, pixels, labels), ct)).Value;
                    if (ack.Error.Length > 0) throw new CliException($"device {id}: training frames refused: {ack.Error}");
                }
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(tasks);
        log(Inv($"uploaded {parts.Sum(p => p.Length):N0} labelled frames to {parts.Length} devices in {clock.Elapsed.TotalSeconds:F1} s"));
    }

    /// <summary>Waits until the coordinator knows every client with all its frames.</summary>
    public static async Task<FederationStatus> WaitForClientsAsync(EdgeClient client, int[][] parts, Action<string> log, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        FederationStatus? last = null;
        while (clock.Elapsed < timeout)
        {
            try
            {
                last = await client.TryOnceAsync<FederationStatus>(GetFederationStatus.Instance, TimeSpan.FromSeconds(5));
                var known = last.Participants.SelectMany(p => p.Clients).ToDictionary(c => c.ClientId, c => c.Samples);
                if (parts.Select((idx, i) => known.TryGetValue(ClientId(i), out var n) && n == idx.Length).All(x => x))
                {
                    log(Inv($"coordinator sees {known.Count} clients on {last.Participants.Length} edge nodes: ") +
                        string.Join("; ", last.Participants.Select(p => $"{p.Node}: {p.Clients.Length} clients")));
                    return last;
                }
            }
            catch (EdgeClientException)
            {
            }
            await Task.Delay(500);
        }
        throw new CliException($"the coordinator did not see all {parts.Length} clients within {timeout.TotalSeconds:F0} s " +
                               $"(last: {(last is null ? "no answer" : string.Join("; ", last.Participants.Select(p => $"{p.Node}: {p.Clients.Length}")))})");
    }

    private static (FashionMnist Train, int[][] Parts, PartitionSpec Spec) Partition(CliArgs args, int clients, int seed, Action<string> log)
    {
        var spec = PartitionSpec.Parse(args.Get("partition", "homo"), args.Double("beta", 0.5), args.Int("labels-per-client", 2));
        var limit = args.Int("train-limit", 60_000);
        if (clients < 1) throw new CliException("--clients must be at least 1");
        var dir = FashionMnist.ResolveDirectory(args.Get("dataset"));
        var train = FashionMnist.Load(dir, train: true, limit);
        var parts = NiidPartitioner.Partition(train.Labels, 10, clients, spec, seed);
        log($"partition {spec} of {train.Count:N0} training images over {clients} clients:");
        foreach (var line in NiidPartitioner.Describe(parts, train.Labels, 10).Split('\n', StringSplitOptions.RemoveEmptyEntries)) log("  " + line);
        return (train, parts, spec);
    }

    // ---------------------------------------------------------------- fedavg

    private static async Task<int> FedAvgAsync(CliArgs args)
    {
        void Log(string s) => Console.WriteLine("experiment: " + s);
        var clients = args.Int("clients", 10);
        var seed = args.Int("seed", 1);
        var strategies = args.Get("strategy", "fedavg").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var poisoned = args.Int("poisoned", 0);
        if (poisoned < 0 || poisoned >= clients) throw new CliException($"--poisoned {poisoned}: must be 0..clients-1");
        var template = new ExperimentSpec(
            Id: "",
            Model: args.Get("model", Learning.Federated.FederatedModel.DefaultSpec),
            Strategy: "",
            Rounds: args.Int("rounds", 50),
            Fraction: args.Double("fraction", 1),
            MinClients: args.Int("min-clients", 1),
            LocalEpochs: args.Int("local-epochs", 2),
            BatchSize: args.Int("batch", 64),
            LearningRate: (float)args.Double("lr", 0.05),
            Momentum: (float)args.Double("momentum", 0.9),
            ProximalMu: 0,
            ServerLearningRate: (float)args.Double("server-lr", 1),
            Seed: seed,
            RoundTimeoutMs: (long)(args.Double("round-timeout", 300) * 1000),
            Quorum: args.Double("quorum", 0.5),
            LateUpdates: args.Get("late", "drop"),
            MaxStaleness: args.Int("max-staleness", 2),
            ClipNorm: args.Double("clip", 0),
            NoiseMultiplier: args.Double("noise", 0),
            SecureAggregation: args.Flag("secure-aggregation"),
            PoisonedClients: Enumerable.Range(0, poisoned).Select(ClientId).ToArray(),
            PoisonScale: (float)args.Double("poison-scale", -10),
            TrimFraction: args.Double("trim", 0.2),
            KrumByzantine: args.Int("krum-f", Math.Max(poisoned, 1)),
            PublishAs: args.Get("publish-as", "fmnist-fed"));
        var mu = (float)args.Double("mu", 0.01);
        var target = args.Double("target", double.NaN);
        var outDir = Path.GetFullPath(args.Get("out", Path.Combine(".data", "experiments")));
        var (train, parts, spec) = Partition(args, clients, seed, Log);
        foreach (var s in strategies)
        {
            var problem = Actors.Federated.RoundCoordinator.Validate(template with { Id = "check", Strategy = s, ProximalMu = s == "fedprox" ? mu : 0 });
            if (problem is not null) throw new CliException(problem);
        }
        var name = Inv($"fedavg-{spec.Kind}-{clients}c");
        await using var session = await OpenAsync(args, name, Log);
        args.EnsureAllUsed();
        await UploadAsync(session.Client, train, parts, Log);
        await WaitForClientsAsync(session.Client, parts, Log, TimeSpan.FromSeconds(60));

        var series = new Dictionary<string, IReadOnlyList<RoundRow>>();
        var results = new List<string>();
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        foreach (var strategy in strategies)
        {
            var experiment = template with
            {
                Id = Inv($"{name}-{strategy}{(poisoned > 0 ? $"-p{poisoned}" : "")}-{stamp}"),
                Strategy = strategy,
                ProximalMu = strategy == "fedprox" ? mu : 0,
            };
            List<RoundRow> rows;
            var state = "done";
            try
            {
                rows = await RunExperimentAsync(session.Client, experiment, Log);
            }
            catch (ExperimentFailedException ex)
            {
                // e.g. FedAvg diverging under attack: report what it reached and go on with the next strategy
                Log(ex.Message);
                rows = ex.Rows;
                state = "failed";
            }
            series[strategy] = rows;
            Directory.CreateDirectory(outDir);
            var csv = Path.Combine(outDir, experiment.Id + ".csv");
            ExperimentReport.WriteCsv(csv, rows);
            Log($"wrote {csv}");
            var final = rows.Count > 0 ? rows[^1].Accuracy : double.NaN;
            var best = rows.Count > 0 ? rows.Max(r => r.Accuracy) : double.NaN;
            results.Add(Inv($"RESULT fedavg partition={spec.Kind} clients={clients} rounds={rows.Count} strategy={strategy} accuracy={final:F4} best={best:F4} local_epochs={experiment.LocalEpochs} poisoned={poisoned} model={experiment.Model} state={state}"));
        }
        var png = Path.Combine(outDir, Inv($"{name}{(poisoned > 0 ? $"-p{poisoned}" : "")}-{stamp}.png"));
        ExperimentReport.WritePlot(png, Inv($"Fashion-MNIST, {spec}, {clients} clients, E={template.LocalEpochs}{(poisoned > 0 ? $", {poisoned} poisoned ×{template.PoisonScale}" : "")}"),
            series, double.IsNaN(target) ? null : target);
        Log($"wrote {png}");
        foreach (var r in results) Console.WriteLine(r);
        return results.All(r => r.EndsWith("state=done", StringComparison.Ordinal)) ? 0 : 1;
    }

    /// <summary>Starts one experiment and follows it to the end, printing each round.</summary>
    public static async Task<List<RoundRow>> RunExperimentAsync(EdgeClient client, ExperimentSpec experiment, Action<string> log)
    {
        var started = await client.RequestAsync<IFederatedMessage>(new StartExperiment(experiment));
        if (started.Value is ExperimentRejected rejected) throw new CliException($"experiment refused: {rejected.Reason}");
        log(Inv($"experiment {experiment.Id}: {experiment.Model}, {experiment.Strategy}, {experiment.Rounds} rounds, E={experiment.LocalEpochs}, batch {experiment.BatchSize}, lr {experiment.LearningRate}, momentum {experiment.Momentum}{(experiment.ProximalMu > 0 ? $", mu {experiment.ProximalMu}" : "")}, {((ExperimentAccepted)started.Value).AvailableClients} clients available"));
        if (experiment.ClipNorm > 0)
            log(Inv($"privacy: updates clipped to L2 norm C = {experiment.ClipNorm} (clients weighted equally); Gaussian noise multiplier z = {experiment.NoiseMultiplier} → noise std z·C = {experiment.NoiseMultiplier * experiment.ClipNorm} on the sum of updates"));
        if (experiment.SecureAggregation) log("privacy: secure aggregation (pairwise masks): the coordinator sees only the sum of the updates");
        if (experiment.PoisonedClients.Length > 0) log(Inv($"attack: {string.Join(",", experiment.PoisonedClients)} send their update × {experiment.PoisonScale}"));
        var rows = new List<RoundRow>();
        var clock = Stopwatch.StartNew();
        var lastDetail = "";
        while (true)
        {
            await Task.Delay(1000);
            ExperimentStatus status;
            try
            {
                status = await client.TryOnceAsync<ExperimentStatus>(new GetExperimentStatus(experiment.Id), TimeSpan.FromSeconds(10));
            }
            catch (EdgeClientException ex)
            {
                log("status: " + ex.Message + " (retrying)");
                continue;
            }
            foreach (var h in status.History.Where(h => h.Round > rows.Count).OrderBy(h => h.Round))
            {
                rows.Add(new RoundRow(h.Round, h.Accuracy, h.Loss, h.Received, h.Seconds));
                log(Inv($"round {h.Round,3}/{status.Rounds}: accuracy {h.Accuracy * 100,6:F2} %  loss {h.Loss:F4}  clients {h.Received}/{h.Sampled}{(h.Late > 0 ? $" (+{h.Late} late)" : "")}  attempt {h.Attempt}  {h.Seconds,5:F1} s  median ‖Δ‖ {h.UpdateNormMedian:F3}"));
            }
            if (status.Detail != lastDetail && status.Detail.Contains("restart", StringComparison.Ordinal)) log(status.Detail);
            lastDetail = status.Detail;
            if (status.State is "done") break;
            if (status.State is "failed" or "unknown") throw new ExperimentFailedException($"experiment {experiment.Id} {status.State}: {status.Detail}", rows);
        }
        log(Inv($"experiment {experiment.Id} done in {clock.Elapsed.TotalSeconds:F0} s: final accuracy {rows[^1].Accuracy * 100:F2} %, best {rows.Max(r => r.Accuracy) * 100:F2} %"));
        return rows;
    }

    // ---------------------------------------------------------------- jobs (k-means, GBDT)

    public static async Task<JobStatus> RunJobAsync(EdgeClient client, IFederationRequest start, string id, Action<string> log, TimeSpan timeout)
    {
        var first = (await client.RequestAsync<JobStatus>(start)).Value;
        if (first.State == "failed") throw new CliException($"job refused: {first.Detail}");
        var printed = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            await Task.Delay(500);
            JobStatus status;
            try
            {
                status = await client.TryOnceAsync<JobStatus>(new GetJobStatus(id), TimeSpan.FromSeconds(10));
            }
            catch (EdgeClientException)
            {
                continue;
            }
            foreach (var line in status.Lines.Skip(printed)) log(line);
            printed = status.Lines.Length;
            if (status.State == "done") return status;
            if (status.State is "failed" or "unknown") throw new CliException($"job {id} {status.State}: {status.Detail}");
        }
        throw new CliException($"job {id} did not finish within {timeout.TotalSeconds:F0} s");
    }

    private static async Task<int> KMeansAsync(CliArgs args)
    {
        void Log(string s) => Console.WriteLine("experiment: " + s);
        var devices = args.Int("devices", 60);
        var groups = args.Int("groups", 3);
        var k = args.Int("k", groups);
        var outliers = args.Int("outliers", 2);
        var iterations = args.Int("iterations", 50);
        var z = args.Double("z", 4);
        var seed = args.Int("seed", 1);
        if (devices < groups || groups < 1) throw new CliException("--devices must be ≥ --groups ≥ 1");
        await using var session = await OpenAsync(args, "kmeans", Log);
        args.EnsureAllUsed();
        var truth = await BehaviourTelemetry.SendAsync(session.Client, devices, groups, outliers, seed, Log);
        var id = Inv($"kmeans-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        var status = await RunJobAsync(session.Client, new StartKMeans(id, k, iterations, z, seed), id, Log, TimeSpan.FromMinutes(5));
        var assigned = status.Lines.Select(BehaviourTelemetry.ParseAssignment).OfType<(string Device, int Cluster, bool Outlier)>().ToList();
        var score = BehaviourTelemetry.Score(truth, assigned);
        Log(Inv($"purity {score.Purity:F3} over {assigned.Count} devices; outliers: true {score.TrueOutliers}, flagged {score.Flagged}, correct {score.CorrectOutliers}"));
        Console.WriteLine(Inv($"RESULT kmeans devices={assigned.Count} k={k} purity={score.Purity:F4} outliers_true={score.TrueOutliers} outliers_found={score.Flagged} outliers_correct={score.CorrectOutliers}"));
        return assigned.Count == devices + outliers ? 0 : 1;
    }

    private static async Task<int> GbdtAsync(CliArgs args)
    {
        void Log(string s) => Console.WriteLine("experiment: " + s);
        var clients = args.Int("clients", 10);
        var seed = args.Int("seed", 1);
        var classes = args.Int("classes", 10);
        var start = new StartGbdt(Inv($"gbdt-{DateTime.UtcNow:yyyyMMdd-HHmmss}"), classes, args.Int("iterations", 50), args.Int("depth", 4),
            (float)args.Double("lr", 0.3), args.Int("bins", 32), args.Double("lambda", 1), args.Int("binary-threshold", 5), args.Get("publish-as", "fmnist-gbdt"));
        var problem = Actors.Federated.JobRunner.Validate(start);
        if (problem is not null) throw new CliException(problem);
        var (train, parts, spec) = Partition(args, clients, seed, Log);
        await using var session = await OpenAsync(args, "gbdt", Log);
        args.EnsureAllUsed();
        await UploadAsync(session.Client, train, parts, Log);
        await WaitForClientsAsync(session.Client, parts, Log, TimeSpan.FromSeconds(60));
        var clock = Stopwatch.StartNew();
        var status = await RunJobAsync(session.Client, start, start.Id, Log, TimeSpan.FromMinutes(30));
        var federatedSeconds = clock.Elapsed.TotalSeconds;
        double Value(string key) => status.ResultValues[Array.IndexOf(status.ResultKeys, key)];
        var reference = GbdtReference.Run(train, parts, start, FashionMnist.ResolveDirectory(null), Log);
        Log(Inv($"federated GBDT {Value("accuracy"):F4} in {federatedSeconds:F1} s ({Value("rounds"):F0} round trips); centralised {reference.Central:F4}; LightGBM 4.7.0 {reference.LightGbm:F4}"));
        Console.WriteLine(Inv($"RESULT gbdt classes={classes} accuracy={Value("accuracy"):F4} onnx_accuracy={Value("onnx_accuracy"):F4} lightgbm={reference.LightGbm:F4} central={reference.Central:F4} rounds={Value("rounds"):F0} partition={spec.Kind} clients={clients}"));
        return 0;
    }

    /// <summary>An experiment the coordinator gave up on, with the rounds it completed.</summary>
    public sealed class ExperimentFailedException(string message, List<RoundRow> rows) : CliException(message)
    {
        public List<RoundRow> Rows { get; } = rows;
    }
}
