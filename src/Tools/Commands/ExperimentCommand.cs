using System.CommandLine;
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
    // a local cluster, or an existing one (--contacts), for every experiment
    private static readonly Option<string[]?> Contacts = CliOptions.HostPorts("--contacts", "run on an existing cluster through these nodes (default: start a local one)");
    private static readonly Option<int> Edges = CliOptions.Int("--edges", 2, "edge node processes of the local cluster");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4153, "the local cluster's first port");
    private static readonly CertsCommand.ClientOptions Credentials = new();
    private static Option[] SessionOptions => [Contacts, Edges, BasePort, .. Credentials.All];

    // the training set's partition over the clients (fedavg, gbdt)
    private static readonly Option<string> PartitionKind = CliOptions.Text("--partition", "homo",
        "homo (IID), dir (label Dirichlet(beta)), label (#C=k labels per client), quantity (sizes from Dirichlet(beta)) or noise (client i: feature noise sigma*i/N)",
        "homo|dir|label|quantity|noise");
    private static readonly Option<double> Beta = CliOptions.Double("--beta", 0.5, "the Dirichlet concentration for --partition dir and quantity", "BETA");
    private static readonly Option<double> Sigma = CliOptions.Double("--sigma", 0.1, "the feature-noise level for --partition noise (pixels in [0,1])", "SIGMA");
    private static readonly Option<int> LabelsPerClient = CliOptions.Int("--labels-per-client", 2, "labels per client for --partition label");
    private static readonly Option<int> TrainLimit = CliOptions.Int("--train-limit", 60_000,
        "training images used (at most 60000 minus the coordinator's validation slice, the last 5000)");
    private static readonly Option<string?> Dataset = CliOptions.Text("--dataset", "Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)", "DIR");
    private static readonly Option<int> Clients = CliOptions.Int("--clients", 10, "simulated devices (federated clients)");
    private static readonly Option<int> Seed = CliOptions.Int("--seed", 1, "random seed");
    private static Option[] PartitionOptions => [PartitionKind, Beta, LabelsPerClient, Sigma, TrainLimit, Dataset, Clients, Seed];

    // fedavg
    // the default: FedYogi met the published FedAvg figure on homo, #C=2 and #C=3 with the other defaults, and came closest
    // on Dir(0.5) (docs/benchmarks.md, "One default for every partition")
    private static readonly Option<string> Strategy = CliOptions.Text("--strategy", "fedyogi",
        "fedyogi, fedavg, fedprox, fedavgm, fedadam, fedyogi, fednova, scaffold, median, trimmed-mean, krum; several comma-separated run one after the other", "S[,S...]");
    private static readonly Option<int> Poisoned = CliOptions.Int("--poisoned", 0, "clients that send poisoned updates");
    private static readonly Option<string> Model = CliOptions.Text("--model", Learning.Federated.FederatedModel.DefaultSpec, "the model: mlp:784-256-128-10 or cnn", "SPEC");
    private static readonly Option<int> Rounds = CliOptions.Int("--rounds", 50, "rounds");
    private static readonly Option<double> Fraction = CliOptions.Double("--fraction", 1, "fraction of clients sampled per round");
    private static readonly Option<int> MinClients = CliOptions.Int("--min-clients", 1, "fewest clients per round");
    private static readonly Option<int> LocalEpochs = CliOptions.Int("--local-epochs", 2, "local epochs per round");
    private static readonly Option<int> FedBatch = CliOptions.Int("--batch", 64, "local minibatch size");
    private static readonly Option<double> FedLr = CliOptions.Double("--lr", 0.05, "local learning rate");
    private static readonly Option<double> Momentum = CliOptions.Double("--momentum", 0.9, "local SGD momentum");
    private static readonly Option<double?> ServerLr = new("--server-lr")
    {
        Description = $"server learning rate η (default {DefaultServerLr} for fedadam/fedyogi, 1 otherwise)", HelpName = "ETA",
    };
    private static readonly Option<double> ServerMomentum = CliOptions.Double("--server-momentum", 0.9, "server momentum β1 (fedavgm; fedadam/fedyogi first moment)", "BETA1");
    private static readonly Option<double> ServerBeta2 = CliOptions.Double("--server-beta2", 0.99, "second-moment decay β2 (fedadam, fedyogi)", "BETA2");
    private static readonly Option<double> ServerTau = CliOptions.Double("--server-tau", 1e-3, "adaptivity τ (fedadam, fedyogi)", "TAU");
    private static readonly Option<double> LrDecay = CliOptions.Double("--lr-decay", 1, "local learning rate of round r: lr·decay^(r−1) (1: constant)", "DECAY");
    private static readonly Option<double> PublishTolerance = CliOptions.Double("--publish-tolerance", ExperimentSpec.DefaultPublishTolerance,
        "publish a round only when its validation accuracy ≥ the active version's − this", "FRACTION");
    private static readonly Option<double> EpsilonBudget = CliOptions.Double("--epsilon-budget", 0, "central DP: stop before a round that would spend more ε (0: no budget)", "EPS");
    private static readonly Option<double> Delta = CliOptions.Double("--delta", ExperimentSpec.DefaultDelta, "central DP: the δ ε is reported for", "DELTA");

    /// <summary>The server learning rate fedadam/fedyogi use unless --server-lr says otherwise.</summary>
    public const double DefaultServerLr = 0.01;

    /// <summary>The server learning rate of <paramref name="strategy"/> when none is given.</summary>
    public static float ServerLrFor(string strategy, double? given) =>
        (float)(given ?? (strategy is "fedadam" or "fedyogi" ? DefaultServerLr : 1));
    private static readonly Option<double> RoundTimeout = CliOptions.Double("--round-timeout", 300, "seconds a round waits for updates", "SECONDS");
    private static readonly Option<double> Quorum = CliOptions.Double("--quorum", 0.5, "fraction of sampled clients a round needs");
    private static readonly Option<string> Late = CliOptions.Text("--late", "drop", "late updates: drop or fold", "drop|fold");
    private static readonly Option<int> MaxStaleness = CliOptions.Int("--max-staleness", 2, "rounds a folded late update may lag");
    private static readonly Option<double> Clip = CliOptions.Double("--clip", 0, "update norm clipping (0: off)");
    private static readonly Option<double> Noise = CliOptions.Double("--noise", 0, "Gaussian noise multiplier (differential privacy; 0: off)");
    private static readonly Option<bool> SecureAggregation = CliOptions.Flag("--secure-aggregation", "pairwise-masked updates (the coordinator sees only the sum)");
    private static readonly Option<double> PoisonScale = CliOptions.Double("--poison-scale", -10, "the poisoned clients' update scale");
    private static readonly Option<double> Trim = CliOptions.Double("--trim", 0.2, "the trimmed mean's fraction cut at each end");
    private static readonly Option<int?> KrumF = new("--krum-f") { Description = "Krum's assumed Byzantine clients (default max(--poisoned, 1))", HelpName = "N" };
    private static readonly Option<string> FedPublishAs = CliOptions.Text("--publish-as", "fmnist-fed", "the registry name the global model is published as", "NAME");
    private static readonly Option<double> Mu = CliOptions.Double("--mu", 0.01, "FedProx's proximal term");
    private static readonly Option<double> Target = CliOptions.Double("--target", double.NaN, "the accuracy to report rounds-to-target for");
    private static readonly Option<string> Out = CliOptions.Text("--out", Path.Combine(".data", "experiments"), "where the CSV and PNG plot go", "DIR");

    // niid-table
    private static readonly Option<string> TablePartitions = CliOptions.Text("--partitions", "homo,dir,label2,label3",
        "partitions: homo, dir (beta 0.5), label<k> (#C=k), quantity (beta 0.5), noise (sigma 0.1)", "P[,P...]");
    private static readonly Option<string> TableStrategies = CliOptions.Text("--strategies", "fedavg,fedavgm,fedadam,fedyogi,fednova,scaffold",
        "the algorithms compared on every partition", "S[,S...]");
    private static readonly Option<string> TableFile = CliOptions.Text("--table", Path.Combine("docs", "niid-table.md"), "the Markdown table written", "FILE");
    private static readonly Option<string> TableOut = CliOptions.Text("--out", Path.Combine("docs", "experiments"), "where the CSVs and plots go", "DIR");

    /// <summary>FedAvg on NIID-Bench's partitions as re-run by Flower (simple CNN, 10 parties, 50 rounds, E = 10).</summary>
    public static readonly IReadOnlyDictionary<string, double> PublishedFedAvg = new Dictionary<string, double>
    {
        ["homo"] = 0.890, ["dir"] = 0.884, ["label2"] = 0.810, ["label3"] = 0.832,
    };

    // kmeans
    private static readonly Option<int> KDevices = CliOptions.Int("--devices", 60, "devices drawn from the behaviour groups");
    private static readonly Option<int> KGroups = CliOptions.Int("--groups", 3, "behaviour groups");
    private static readonly Option<int?> K = new("--k") { Description = "clusters (default --groups)", HelpName = "N" };
    private static readonly Option<int> KOutliers = CliOptions.Int("--outliers", 2, "outlier devices");
    private static readonly Option<int> KIterations = CliOptions.Int("--iterations", 50, "k-means iterations");
    private static readonly Option<double> Z = CliOptions.Double("--z", 4, "outlier threshold (z-score)");

    // gbdt
    private static readonly Option<int> Classes = CliOptions.Int("--classes", 10, "10 (all classes) or 2 (binary)");
    private static readonly Option<int> GIterations = CliOptions.Int("--iterations", 50, "boosting iterations");
    private static readonly Option<int> Depth = CliOptions.Int("--depth", 4, "tree depth");
    private static readonly Option<double> GLr = CliOptions.Double("--lr", 0.3, "shrinkage");
    private static readonly Option<int> Bins = CliOptions.Int("--bins", 32, "histogram bins per feature");
    private static readonly Option<double> Lambda = CliOptions.Double("--lambda", 1, "L2 regularisation");
    private static readonly Option<int> BinaryThreshold = CliOptions.Int("--binary-threshold", 5, "with --classes 2: labels below this are class 0");
    private static readonly Option<string> GPublishAs = CliOptions.Text("--publish-as", "fmnist-gbdt", "the registry name the model is published as", "NAME");

    public static Command Create()
    {
        var experiment = new Command("experiment", "federated learning on a local cluster: experiment fedavg | kmeans | gbdt");
        experiment.Subcommands.Add(Cli.Command("fedavg", """
            federated averaging (and FedProx, median, trimmed mean, Krum) of Fashion-MNIST over the cluster's edges
            Partitions the Fashion-MNIST training set over N simulated devices as NIID-Bench does, starts seed +
            datacenter + E edge node processes, uploads each device's labelled frames to its edge (raw data stays there),
            then runs the rounds on the cluster: the coordinator samples clients, the edges train them locally, the
            coordinator aggregates, scores, commits and publishes each global model. Prints per-round accuracy and writes
            <out>/<id>.csv and a PNG plot. Ends with, per strategy:
            RESULT fedavg partition=<p> clients=<n> rounds=<n> strategy=<s> accuracy=<final> best=<best> served=<x> published=<n> ...
            """,
            [.. PartitionOptions, Strategy, Mu, Rounds, LocalEpochs, FedBatch, FedLr, Momentum, Fraction, MinClients, Quorum, RoundTimeout, Late, MaxStaleness,
             Clip, Noise, SecureAggregation, Poisoned, PoisonScale, Trim, KrumF, Model, ServerLr, ServerMomentum, ServerBeta2, ServerTau, LrDecay,
             PublishTolerance, EpsilonBudget, Delta, FedPublishAs, Target, Out, .. SessionOptions], FedAvgAsync));
        experiment.Subcommands.Add(Cli.Command("niid-table", """
            the NIID-Bench partitions x algorithms grid, written as a Markdown table with one plot per partition
            For each partition: a local cluster, the partitioned training set uploaded to 10 devices, then every
            strategy with the same settings (the fedavg options); one CSV per run and one PNG per partition comparing
            the algorithms per round (accuracy, loss, participants). Writes --table (final and best accuracy, the
            test accuracy of the last published round, the published FedAvg figure) and prints per run:
            RESULT fedavg partition=<p> strategy=<s> accuracy=<final> best=<best> ...
            """,
            [TablePartitions, TableStrategies, TableFile, TableOut, TrainLimit, Dataset, Clients, Seed, Rounds, LocalEpochs, FedBatch, FedLr, Momentum, Model,
             ServerLr, ServerMomentum, ServerBeta2, ServerTau, LrDecay, PublishTolerance, Mu, RoundTimeout, .. SessionOptions], NiidTableAsync));
        experiment.Subcommands.Add(Cli.Command("kmeans", """
            federated k-means over devices' behaviour summaries
            Streams telemetry of devices drawn from behaviour groups (plus a few outliers) through the client, then runs
            federated k-means: edges send per-cluster sums and counts, the coordinator updates the centroids. Reports
            cluster purity against the true groups and the outliers found.
            RESULT kmeans devices=<n> k=<k> purity=<x> outliers_true=<n> outliers_found=<n> outliers_correct=<n>
            """, [KDevices, KGroups, K, KOutliers, KIterations, Z, Seed, .. SessionOptions], KMeansAsync));
        experiment.Subcommands.Add(Cli.Command("gbdt", """
            federated histogram GBDT over the frames the edges hold, compared with LightGBM
            Federated histogram GBDT over the labelled frames the edges hold (7x7 pooled Fashion-MNIST features), one round
            trip per tree level; exported to ONNX TreeEnsembleClassifier and scored with ONNX Runtime; compared with
            LightGBM 4.7.0 and our own centralised GBDT trained on the same data in the same run.
            RESULT gbdt classes=<n> accuracy=<x> onnx_accuracy=<x> lightgbm=<x> central=<x> rounds=<n>
            """, [.. PartitionOptions, Classes, GIterations, Depth, GLr, Bins, Lambda, BinaryThreshold, GPublishAs, .. SessionOptions], GbdtAsync));
        return experiment;
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

    public static async Task<Session> OpenAsync(ParseResult args, string name, Action<string> log)
    {
        var contacts = args.GetValue(Contacts);
        var edges = args.GetValue(Edges);
        var basePort = args.GetValue(BasePort);
        // System.CommandLine hands an absent array option back as an empty array, not null
        if (contacts is { Length: > 0 })
        {
            var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = contacts, Credentials = Credentials.From(args), RequestTimeout = TimeSpan.FromSeconds(20) });
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

    /// <summary>For --partition noise: client i's feature-noise level σ·i/N (null for the other partitions).</summary>
    public static Func<int, double>? NoiseOf(PartitionSpec spec, int clients) =>
        spec.Kind == PartitionSpec.Noise ? i => NiidPartitioner.NoiseLevel(i, clients, spec.Sigma) : null;

    /// <summary>
    /// Sends each client's labelled frames to its device (batches of 500, in order, retried by the client). With
    /// <paramref name="noise"/>, client p's pixels get Gaussian noise of that level first (drawn once, seeded).
    /// </summary>
    public static async Task UploadAsync(EdgeClient client, FashionMnist train, int[][] parts, Action<string> log, CancellationToken ct = default,
        Func<int, double>? noise = null, int seed = 1)
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
                var level = noise?.Invoke(p) ?? 0;
                var rng = new Random(unchecked(seed * 7919 + p));
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
                    if (level > 0) NiidPartitioner.AddNoise(pixels, level, rng);
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
        if (noise is not null)
            log("feature noise per client: " + string.Join(", ", parts.Select((_, p) => Inv($"{ClientId(p)} σ={noise(p):F3}"))));
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

    private static (FashionMnist Train, int[][] Parts, PartitionSpec Spec) Partition(ParseResult args, int clients, int seed, Action<string> log)
    {
        var spec = PartitionSpec.Parse(args.GetValue(PartitionKind)!, args.GetValue(Beta), args.GetValue(LabelsPerClient), args.GetValue(Sigma));
        // the last images of the training file are the coordinator's validation slice (publish gate): no client gets them
        var limit = Math.Min(args.GetValue(TrainLimit), Actors.Federated.FederationSettings.TrainingImages - Actors.Federated.FederationSettings.Default.ValidationSize);
        if (clients < 1) throw new CliException("--clients must be at least 1");
        var dir = FashionMnist.ResolveDirectory(args.GetValue(Dataset));
        var train = FashionMnist.Load(dir, train: true, limit);
        var parts = NiidPartitioner.Partition(train.Labels, 10, clients, spec, seed);
        log($"partition {spec} of {train.Count:N0} training images over {clients} clients:");
        foreach (var line in NiidPartitioner.Describe(parts, train.Labels, 10).Split('\n', StringSplitOptions.RemoveEmptyEntries)) log("  " + line);
        return (train, parts, spec);
    }

    // ---------------------------------------------------------------- fedavg

    private static async Task<int> FedAvgAsync(ParseResult args)
    {
        void Log(string s) => Console.WriteLine("experiment: " + s);
        var clients = args.GetValue(Clients);
        var seed = args.GetValue(Seed);
        var strategies = args.GetValue(Strategy)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var poisoned = args.GetValue(Poisoned);
        if (poisoned < 0 || poisoned >= clients) throw new CliException($"--poisoned {poisoned}: must be 0..clients-1");
        var template = new ExperimentSpec(
            Id: "",
            Model: args.GetValue(Model)!,
            Strategy: "",
            Rounds: args.GetValue(Rounds),
            Fraction: args.GetValue(Fraction),
            MinClients: args.GetValue(MinClients),
            LocalEpochs: args.GetValue(LocalEpochs),
            BatchSize: args.GetValue(FedBatch),
            LearningRate: (float)args.GetValue(FedLr),
            Momentum: (float)args.GetValue(Momentum),
            ProximalMu: 0,
            ServerLearningRate: 1,
            Seed: seed,
            RoundTimeoutMs: (long)(args.GetValue(RoundTimeout) * 1000),
            Quorum: args.GetValue(Quorum),
            LateUpdates: args.GetValue(Late)!,
            MaxStaleness: args.GetValue(MaxStaleness),
            ClipNorm: args.GetValue(Clip),
            NoiseMultiplier: args.GetValue(Noise),
            SecureAggregation: args.GetValue(SecureAggregation),
            PoisonedClients: Enumerable.Range(0, poisoned).Select(ClientId).ToArray(),
            PoisonScale: (float)args.GetValue(PoisonScale),
            TrimFraction: args.GetValue(Trim),
            KrumByzantine: args.GetValue(KrumF) ?? Math.Max(poisoned, 1),
            PublishAs: args.GetValue(FedPublishAs)!)
        {
            ServerBeta1 = args.GetValue(ServerMomentum),
            ServerBeta2 = args.GetValue(ServerBeta2),
            ServerTau = args.GetValue(ServerTau),
            LearningRateDecay = args.GetValue(LrDecay),
            PublishTolerance = args.GetValue(PublishTolerance),
            EpsilonBudget = args.GetValue(EpsilonBudget),
            Delta = args.GetValue(Delta),
        };
        var serverLr = args.GetValue(ServerLr);
        var mu = (float)args.GetValue(Mu);
        var target = args.GetValue(Target);
        var outDir = Path.GetFullPath(args.GetValue(Out)!);
        var (train, parts, spec) = Partition(args, clients, seed, Log);
        foreach (var s in strategies)
        {
            var problem = Actors.Federated.RoundCoordinator.Validate(template with
            {
                Id = "check", Strategy = s, ProximalMu = s == "fedprox" ? mu : 0, ServerLearningRate = ServerLrFor(s, serverLr),
            });
            if (problem is not null) throw new CliException(problem);
        }
        var name = Inv($"fedavg-{spec.Kind}-{clients}c");
        await using var session = await OpenAsync(args, name, Log);
        await UploadAsync(session.Client, train, parts, Log, noise: NoiseOf(spec, parts.Length), seed: seed);
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
                ServerLearningRate = ServerLrFor(strategy, serverLr),
                // several strategies: each publishes under its own name, so the publish gate compares a strategy with itself
                PublishAs = strategies.Length > 1 && template.PublishAs.Length > 0 ? template.PublishAs + "-" + strategy : template.PublishAs,
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
            results.Add(ResultLine(spec, clients, experiment, rows, poisoned, state));
        }
        var png = Path.Combine(outDir, Inv($"{name}{(poisoned > 0 ? $"-p{poisoned}" : "")}-{stamp}.png"));
        ExperimentReport.WritePlot(png, Inv($"Fashion-MNIST, {spec}, {clients} clients, E={template.LocalEpochs}{(poisoned > 0 ? $", {poisoned} poisoned ×{template.PoisonScale}" : "")}"),
            series, double.IsNaN(target) ? null : target);
        Log($"wrote {png}");
        foreach (var r in results) Console.WriteLine(r);
        return results.All(r => r.EndsWith("state=done", StringComparison.Ordinal)) ? 0 : 1;
    }

    /// <summary>
    /// The RESULT line of one run: <c>accuracy</c> the final round's test accuracy, <c>best</c> the best round's,
    /// <c>served</c> the test accuracy of the last round the publish gate let through (what the edges serve),
    /// <c>published</c> how many rounds were published, <c>epsilon</c> the privacy spent (central DP; 0 without noise).
    /// </summary>
    public static string ResultLine(PartitionSpec spec, int clients, ExperimentSpec experiment, IReadOnlyList<RoundRow> rows, int poisoned, string state)
    {
        var final = rows.Count > 0 ? rows[^1].Accuracy : double.NaN;
        var best = rows.Count > 0 ? rows.Max(r => r.Accuracy) : double.NaN;
        var served = rows.LastOrDefault(r => r.Published)?.Accuracy ?? double.NaN;
        var epsilon = rows.Count > 0 ? rows[^1].Epsilon : 0;
        return Inv($"RESULT fedavg partition={spec.Kind} clients={clients} rounds={rows.Count} strategy={experiment.Strategy} accuracy={final:F4} best={best:F4} served={served:F4} published={rows.Count(r => r.Published)} epsilon={epsilon:F3} delta={experiment.Delta:G3} local_epochs={experiment.LocalEpochs} lr={experiment.LearningRate} lr_decay={experiment.LearningRateDecay} server_lr={experiment.ServerLearningRate} poisoned={poisoned} model={experiment.Model} state={state}");
    }

    /// <summary>A --partitions entry: homo, dir, label&lt;k&gt;, quantity, noise.</summary>
    public static PartitionSpec ParseTablePartition(string token) => token switch
    {
        "homo" => new PartitionSpec(PartitionSpec.Homo),
        "dir" => new PartitionSpec(PartitionSpec.Dir, 0.5),
        "quantity" => new PartitionSpec(PartitionSpec.Quantity, 0.5),
        "noise" => new PartitionSpec(PartitionSpec.Noise) { Sigma = 0.1 },
        _ when token.StartsWith("label", StringComparison.Ordinal) && int.TryParse(token[5..], NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k >= 1 =>
            new PartitionSpec(PartitionSpec.Label, 0.5, k),
        _ => throw new CliException($"--partitions: unknown partition '{token}' (homo, dir, label<k>, quantity, noise)"),
    };

    private static async Task<int> NiidTableAsync(ParseResult args)
    {
        void Log(string s) => Console.WriteLine("experiment: " + s);
        var clients = args.GetValue(Clients);
        var seed = args.GetValue(Seed);
        var partitions = args.GetValue(TablePartitions)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var strategies = args.GetValue(TableStrategies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var serverLr = args.GetValue(ServerLr);
        var mu = (float)args.GetValue(Mu);
        var template = new ExperimentSpec("", args.GetValue(Model)!, "", args.GetValue(Rounds), 1, 1, args.GetValue(LocalEpochs), args.GetValue(FedBatch),
            (float)args.GetValue(FedLr), (float)args.GetValue(Momentum), 0, 1, seed, (long)(args.GetValue(RoundTimeout) * 1000), 0.5, "drop", 0, 0, 0, false, [], 1,
            0.2, 1, "fmnist-niid")
        {
            ServerBeta1 = args.GetValue(ServerMomentum), ServerBeta2 = args.GetValue(ServerBeta2), ServerTau = args.GetValue(ServerTau),
            LearningRateDecay = args.GetValue(LrDecay), PublishTolerance = args.GetValue(PublishTolerance),
        };
        var specs = partitions.Select(ParseTablePartition).ToList();
        foreach (var s in strategies)
        {
            var problem = Actors.Federated.RoundCoordinator.Validate(template with { Id = "check", Strategy = s, ServerLearningRate = ServerLrFor(s, serverLr) });
            if (problem is not null) throw new CliException(problem);
        }
        var outDir = Path.GetFullPath(args.GetValue(TableOut)!);
        var limit = Math.Min(args.GetValue(TrainLimit), Actors.Federated.FederationSettings.TrainingImages - Actors.Federated.FederationSettings.Default.ValidationSize);
        var train = FashionMnist.Load(FashionMnist.ResolveDirectory(args.GetValue(Dataset)), train: true, limit);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var table = new List<(string Partition, string Strategy, IReadOnlyList<RoundRow> Rows, string State, string Result)>();
        for (var p = 0; p < specs.Count; p++)
        {
            var spec = specs[p];
            var parts = NiidPartitioner.Partition(train.Labels, 10, clients, spec, seed);
            Log($"partition {spec} of {train.Count:N0} training images over {clients} clients");
            var name = Inv($"niid-{partitions[p]}-{clients}c");
            await using var session = await OpenAsync(args, name, Log);
            await UploadAsync(session.Client, train, parts, Log, noise: NoiseOf(spec, clients), seed: seed);
            await WaitForClientsAsync(session.Client, parts, Log, TimeSpan.FromSeconds(60));
            var series = new Dictionary<string, IReadOnlyList<RoundRow>>();
            foreach (var strategy in strategies)
            {
                var experiment = template with
                {
                    Id = Inv($"{name}-{strategy}-{stamp}"), Strategy = strategy, ProximalMu = strategy == "fedprox" ? mu : 0,
                    ServerLearningRate = ServerLrFor(strategy, serverLr), PublishAs = Inv($"fmnist-niid-{partitions[p]}-{strategy}"),
                };
                List<RoundRow> rows;
                var state = "done";
                try
                {
                    rows = await RunExperimentAsync(session.Client, experiment, Log);
                }
                catch (ExperimentFailedException ex)
                {
                    Log(ex.Message);
                    rows = ex.Rows;
                    state = "failed";
                }
                series[strategy] = rows;
                ExperimentReport.WriteCsv(Path.Combine(outDir, Inv($"niid-{partitions[p]}-{strategy}.csv")), rows);
                var result = ResultLine(spec, clients, experiment, rows, 0, state).Replace($"partition={spec.Kind}", $"partition={partitions[p]}", StringComparison.Ordinal);
                Console.WriteLine(result);
                table.Add((partitions[p], strategy, rows, state, result));
            }
            var png = Path.Combine(outDir, Inv($"niid-{partitions[p]}.png"));
            ExperimentReport.WriteComparisonPlot(png, Inv($"Fashion-MNIST, {spec}, {clients} clients, E={template.LocalEpochs}, lr {template.LearningRate}"), series);
            Log($"wrote {png}");
        }
        var file = Path.GetFullPath(args.GetValue(TableFile)!);
        File.WriteAllText(file, NiidTableMarkdown(table.Select(t => (t.Partition, t.Strategy, t.Rows, t.State)).ToList(), template, clients, limit,
            string.Join(" ", Environment.GetCommandLineArgs().Skip(1))));
        Log($"wrote {file}");
        foreach (var t in table) Console.WriteLine(t.Result);
        return table.All(t => t.State == "done") ? 0 : 1;
    }

    /// <summary>The Markdown of <c>experiment niid-table</c>: one row per partition × strategy, the best final accuracy per partition in bold.</summary>
    public static string NiidTableMarkdown(IReadOnlyList<(string Partition, string Strategy, IReadOnlyList<RoundRow> Rows, string State)> runs,
        ExperimentSpec template, int clients, int images, string command)
    {
        static string Pct(double x) => double.IsFinite(x) ? (x * 100).ToString("F2", CultureInfo.InvariantCulture) + " %" : "—";
        var sb = new System.Text.StringBuilder();
        sb.Append("# NIID-Bench partitions × federated algorithms\n\n");
        sb.Append(Inv($"Written by `./edgeactors {command}` on {DateTime.UtcNow:yyyy-MM-dd} ({images:N0} training images, {clients} clients, "));
        sb.Append(Inv($"{template.Rounds} rounds, model {template.Model}, E = {template.LocalEpochs}, batch {template.BatchSize}, lr {template.LearningRate}, "));
        sb.Append(Inv($"momentum {template.Momentum}, lr decay {template.LearningRateDecay} per round). `final` is the last round's global model, `best` the best round, "));
        sb.Append("`served` the test accuracy of the last round the publish gate let through, `published` the FedAvg figure of NIID-Bench as re-run by Flower ");
        sb.Append("(simple CNN, E = 10). Plots: `docs/experiments/niid-<partition>.png`.\n\n");
        sb.Append("| partition | strategy | final | best | served | rounds published | published FedAvg |\n|---|---|---:|---:|---:|---:|---:|\n");
        foreach (var group in runs.GroupBy(r => r.Partition))
        {
            var top = group.Where(r => r.Rows.Count > 0).Select(r => r.Rows[^1].Accuracy).DefaultIfEmpty(double.NaN).Max();
            foreach (var r in group)
            {
                var final = r.Rows.Count > 0 ? r.Rows[^1].Accuracy : double.NaN;
                var best = r.Rows.Count > 0 ? r.Rows.Max(x => x.Accuracy) : double.NaN;
                var served = r.Rows.LastOrDefault(x => x.Published)?.Accuracy ?? double.NaN;
                var finalText = Pct(final) + (r.State == "done" ? "" : $" ({r.State})");
                if (final == top) finalText = "**" + finalText + "**";
                var published = PublishedFedAvg.TryGetValue(r.Partition, out var f) && r.Strategy == "fedavg" ? Pct(f) : "";
                sb.Append(Inv($"| {r.Partition} | {r.Strategy} | {finalText} | {Pct(best)} | {Pct(served)} | {r.Rows.Count(x => x.Published)}/{r.Rows.Count} | {published} |\n"));
            }
        }
        return sb.ToString();
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
                rows.Add(new RoundRow(h.Round, h.Accuracy, h.Loss, h.Received, h.Seconds) { Validation = h.ValidationAccuracy, Published = h.Published, Epsilon = h.Epsilon });
                log(Inv($"round {h.Round,3}/{status.Rounds}: accuracy {h.Accuracy * 100,6:F2} %  loss {h.Loss:F4}  clients {h.Received}/{h.Sampled}{(h.Late > 0 ? $" (+{h.Late} late)" : "")}  attempt {h.Attempt}  {h.Seconds,5:F1} s  median ‖Δ‖ {h.UpdateNormMedian:F3}  validation {h.ValidationAccuracy * 100:F2} %{(h.Epsilon > 0 ? $"  ε {h.Epsilon:F3} (round {h.RoundEpsilon:F3})" : "")}  {h.PublishReason}"));
            }
            if (status.Detail != lastDetail && status.Detail.Contains("restart", StringComparison.Ordinal)) log(status.Detail);
            lastDetail = status.Detail;
            if (status.State is "done")
            {
                if (status.Detail.StartsWith("stopped", StringComparison.Ordinal)) log(status.Detail);
                break;
            }
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

    private static async Task<int> KMeansAsync(ParseResult args)
    {
        void Log(string s) => Console.WriteLine("experiment: " + s);
        var devices = args.GetValue(KDevices);
        var groups = args.GetValue(KGroups);
        var k = args.GetValue(K) ?? groups;
        var outliers = args.GetValue(KOutliers);
        var iterations = args.GetValue(KIterations);
        var z = args.GetValue(Z);
        var seed = args.GetValue(Seed);
        if (devices < groups || groups < 1) throw new CliException("--devices must be ≥ --groups ≥ 1");
        await using var session = await OpenAsync(args, "kmeans", Log);
        var truth = await BehaviourTelemetry.SendAsync(session.Client, devices, groups, outliers, seed, Log);
        var id = Inv($"kmeans-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        var status = await RunJobAsync(session.Client, new StartKMeans(id, k, iterations, z, seed), id, Log, TimeSpan.FromMinutes(5));
        var assigned = status.Lines.Select(BehaviourTelemetry.ParseAssignment).OfType<(string Device, int Cluster, bool Outlier)>().ToList();
        var score = BehaviourTelemetry.Score(truth, assigned);
        Log(Inv($"purity {score.Purity:F3} over {assigned.Count} devices; outliers: true {score.TrueOutliers}, flagged {score.Flagged}, correct {score.CorrectOutliers}"));
        Console.WriteLine(Inv($"RESULT kmeans devices={assigned.Count} k={k} purity={score.Purity:F4} outliers_true={score.TrueOutliers} outliers_found={score.Flagged} outliers_correct={score.CorrectOutliers}"));
        return assigned.Count == devices + outliers ? 0 : 1;
    }

    private static async Task<int> GbdtAsync(ParseResult args)
    {
        void Log(string s) => Console.WriteLine("experiment: " + s);
        var clients = args.GetValue(Clients);
        var seed = args.GetValue(Seed);
        var classes = args.GetValue(Classes);
        var start = new StartGbdt(Inv($"gbdt-{DateTime.UtcNow:yyyyMMdd-HHmmss}"), classes, args.GetValue(GIterations), args.GetValue(Depth),
            (float)args.GetValue(GLr), args.GetValue(Bins), args.GetValue(Lambda), args.GetValue(BinaryThreshold), args.GetValue(GPublishAs)!);
        var problem = Actors.Federated.JobRunner.Validate(start);
        if (problem is not null) throw new CliException(problem);
        var (train, parts, spec) = Partition(args, clients, seed, Log);
        await using var session = await OpenAsync(args, "gbdt", Log);
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
