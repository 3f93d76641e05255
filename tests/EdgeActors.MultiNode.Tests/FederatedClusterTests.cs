using EdgeActors.Storage;
using EdgeActors.Nodes.Data;
using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Tools.Commands;
using EdgeActors.Tools.Experiments;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Federated learning on real node processes (seed, two datacenters, two edges): a short FedAvg run that must learn and
/// roll its models out to the edges; an edge killed mid-round (its clients drop, the round closes on a quorum); the
/// coordinator's datacenter killed mid-round (the other datacenter resumes from the shared state, no round applied twice).
/// </summary>
public sealed class FederatedClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Clients = 4;
    private const int PerClient = 500;
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private string _dir = "";
    private FashionMnist _train = null!;
    private int[][] _parts = [];
    private Dictionary<string, int> _clientsByNode = new();

    public async Task InitializeAsync()
    {
        var ports = Ports.Free(5);
        _dir = TestCluster.FreshDirectory("federated", ports[0]);
        string[] quiet = ["--set", "edgeactors.federated.eval-limit = 2000", "--set", "edgeactors.federated.participant-timeout = 6s"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", ["seed"], ports[0], quiet),
            new NodeSpec("dc1", ["datacenter"], ports[1], quiet),
            new NodeSpec("dc2", ["datacenter"], ports[2], quiet),
            new NodeSpec("edge1", ["edge"], ports[3], quiet),
            new NodeSpec("edge2", ["edge"], ports[4], quiet),
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, ports[1], ports[2], ports[3], ports[4]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(60),
        });
        var overview = await ClusterProbe.WaitForMembersAsync(_client, _cluster, 5, TimeSpan.FromSeconds(90));
        Assert.True(overview is not null, "cluster of 5 node processes did not form; node logs in " + _dir);
        Assert.True(overview!.Regions.Length == 2, "both edge regions registered: " + ClusterProbe.Describe(overview)); // WaitForMembersAsync waits for them
        _train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, Clients * PerClient);
        _parts = NiidPartitioner.Partition(_train.Labels, 10, Clients, new PartitionSpec("homo"), seed: 3);
        await ExperimentCommand.UploadAsync(_client, _train, _parts, output.WriteLine);
        var status = await ExperimentCommand.WaitForClientsAsync(_client, _parts, output.WriteLine, TimeSpan.FromSeconds(60));
        _clientsByNode = status.Participants.ToDictionary(p => p.Node, p => p.Clients.Length);
        Assert.Equal(2, _clientsByNode.Values.Count(n => n > 0)); // the clients are spread over both edges
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster);

    private static ExperimentSpec Spec(string id, int rounds, int epochs, string publishAs = "") => new(
        id, "mlp:784-64-10", "fedavg", rounds, Fraction: 1, MinClients: 1, LocalEpochs: epochs, BatchSize: 32, LearningRate: 0.05f, Momentum: 0.9f,
        ProximalMu: 0, ServerLearningRate: 1, Seed: 11, RoundTimeoutMs: 60_000, Quorum: 0.5, LateUpdates: "drop", MaxStaleness: 0, ClipNorm: 0,
        NoiseMultiplier: 0, SecureAggregation: false, PoisonedClients: [], PoisonScale: 1, TrimFraction: 0.2, KrumByzantine: 1, PublishAs: publishAs);

    private async Task<ExperimentStatus> StatusAsync(string id)
    {
        while (true)
        {
            try
            {
                return await _client.TryOnceAsync<ExperimentStatus>(new GetExperimentStatus(id), TimeSpan.FromSeconds(5));
            }
            catch (EdgeClientException ex)
            {
                output.WriteLine("status: " + ex.Message);
                await Task.Delay(500);
            }
        }
    }

    private async Task<ExperimentStatus> WaitAsync(string id, Func<ExperimentStatus, bool> until, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        ExperimentStatus status;
        do
        {
            await Task.Delay(300);
            status = await StatusAsync(id);
            if (status.State is "failed") Assert.Fail($"experiment failed: {status.Detail}");
        } while (!until(status) && DateTime.UtcNow < deadline);
        Assert.True(until(status), $"experiment {id}: state {status.State}, round {status.Round}, {status.Detail}; node logs in {_dir}");
        return status;
    }

    private string ReadLog(string node)
    {
        using var stream = new FileStream(_cluster[node].LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    [Fact]
    public async Task A_short_FedAvg_run_should_learn_and_roll_each_global_model_out_to_the_edges()
    {
        // tolerance 1: the publish gate lets every round through (this test is about the roll-out)
        var spec = Spec("short-fedavg", rounds: 4, epochs: 2, publishAs: "fmnist-fed") with { PublishTolerance = 1 };
        var rows = await ExperimentCommand.RunExperimentAsync(_client, spec, output.WriteLine);

        Assert.Equal([1, 2, 3, 4], rows.Select(r => r.Round));
        Assert.All(rows, r => Assert.Equal(Clients, r.Clients));
        // 2,000 training images, a 784-64-10 MLP: well above chance (10 %) after one round, better after four
        Assert.True(rows[^1].Accuracy >= 0.70, $"accuracy after 4 rounds {rows[^1].Accuracy:P1} is below the 70 % floor");
        Assert.True(rows[^1].Accuracy > rows[0].Accuracy, $"no improvement: {rows[0].Accuracy:P1} → {rows[^1].Accuracy:P1}");

        // each round's model went to the registry and the edges load the newest one
        var status = await StatusAsync(spec.Id);
        var versions = status.History.Select(h => h.ModelVersion).ToArray();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (versions.Any(v => v == 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            versions = (await StatusAsync(spec.Id)).History.Select(h => h.ModelVersion).ToArray();
        }
        Assert.Equal([1, 2, 3, 4], versions);
        foreach (var edge in new[] { "edge1", "edge2" })
        {
            var node = _client.AddressOf(_cluster.Specs.Single(s => s.Name == edge).HostPort);
            LoadedModel? loaded = null;
            var until = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < until)
            {
                var inference = await _client.GetInferenceStatusAsync(node);
                loaded = inference.Models.SingleOrDefault(m => m.Name == "fmnist-fed");
                if (loaded?.Version == 4) break;
                await Task.Delay(500);
            }
            Assert.True(loaded?.Version == 4, $"{edge} serves fmnist-fed v{loaded?.Version}, not v4");
        }
    }

    [Fact]
    public async Task An_edge_killed_mid_round_should_not_block_the_experiment()
    {
        // the victim is the edge with fewer clients, so the survivors still make the round's quorum (half of 4)
        string Address(string edge) => _client.AddressOf(_cluster.Specs.Single(s => s.Name == edge).HostPort);
        var victim = _clientsByNode.GetValueOrDefault(Address("edge2")) <= _clientsByNode.GetValueOrDefault(Address("edge1")) ? "edge2" : "edge1";
        var survivors = Clients - _clientsByNode.GetValueOrDefault(Address(victim));
        var spec = Spec("edge-killed", rounds: 6, epochs: 15);
        var started = await _client.RequestAsync<IFederatedMessage>(new StartExperiment(spec));
        Assert.IsType<ExperimentAccepted>(started.Value);
        await WaitAsync(spec.Id, s => s.Round >= 1, TimeSpan.FromSeconds(120));
        _cluster[victim].KillHard(); // the next round is under way: the victim's clients never answer
        output.WriteLine($"{victim} ({Clients - survivors} clients) killed during round {(await StatusAsync(spec.Id)).Round + 1}");

        var done = await WaitAsync(spec.Id, s => s.State == "done", TimeSpan.FromSeconds(240));
        Assert.Equal(Enumerable.Range(1, 6), done.History.Select(h => h.Round)); // every round exactly once
        var hit = done.History.Where(h => h.Received < h.Sampled).ToList();
        Assert.NotEmpty(hit); // the round under way lost the victim's clients ...
        Assert.All(hit, h => Assert.True(h.Received >= survivors, $"round {h.Round}: {h.Received} of {h.Sampled}"));
        Assert.All(done.History.SkipWhile(h => h.Received == h.Sampled).Skip(1), h => Assert.Equal(survivors, h.Sampled)); // ... later rounds sample the survivor only
        foreach (var line in done.History) output.WriteLine($"round {line.Round}: {line.Received}/{line.Sampled} attempt {line.Attempt} accuracy {line.Accuracy:P1}");
    }

    [Fact]
    public async Task The_coordinators_datacenter_killed_mid_round_should_resume_on_the_other_without_double_applying()
    {
        var spec = Spec("dc-killed", rounds: 5, epochs: 15, publishAs: "fmnist-fed") with { PublishTolerance = 1 };
        var started = await _client.RequestAsync<IFederatedMessage>(new StartExperiment(spec));
        Assert.IsType<ExperimentAccepted>(started.Value);
        var before = await WaitAsync(spec.Id, s => s.Round >= 2, TimeSpan.FromSeconds(120));
        var host = new[] { "dc1", "dc2" }.Single(n => ReadLog(n).Contains("experiment dc-killed started", StringComparison.Ordinal));
        _cluster[host].KillHard();
        output.WriteLine($"{host} (coordinator) killed after round {before.Round}, attempt {before.Attempt}");

        var done = await WaitAsync(spec.Id, s => s.State == "done", TimeSpan.FromSeconds(240));
        Assert.Equal(Enumerable.Range(1, 5), done.History.Select(h => h.Round)); // no round lost, none applied twice
        var other = host == "dc1" ? "dc2" : "dc1";
        Assert.Contains("resuming experiment dc-killed", ReadLog(other));
        var resumed = done.History.Where(h => h.Round > before.Round).ToList();
        Assert.All(resumed, h => Assert.True(h.Attempt > before.Attempt, $"round {h.Round} attempt {h.Attempt} ≤ {before.Attempt}"));
        Assert.True(done.History[^1].Accuracy > done.History[0].Accuracy, "the resumed run kept learning from the committed model");
        var store = new FederationStore(Path.Combine(_dir, "federation.db")).Load(spec.Id)!;
        Assert.Equal(5, store.Round);
        Assert.Equal(done.History.Select(h => h.Accuracy), store.History.Select(h => h.Accuracy));

        // the model registry (a singleton on the same datacenter) failed over too, keeping its models: round r is
        // version r of fmnist-fed, before and after the failover, and the edge still running serves version 5
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var versions = done.History.Select(h => h.ModelVersion).ToArray();
        while (versions.Any(v => v == 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            versions = (await StatusAsync(spec.Id)).History.Select(h => h.ModelVersion).ToArray();
        }
        Assert.Equal([1, 2, 3, 4, 5], versions);
        var list = await _client.ListModelsAsync();
        Assert.Equal([1, 2, 3, 4, 5], list.Models.Where(m => m.Name == "fmnist-fed").Select(m => m.Version).Order());
    }

    [Fact]
    public async Task Federated_GBDT_over_two_edges_should_equal_the_centralised_GBDT_on_the_union()
    {
        var start = new StartGbdt("gbdt-mp", 10, Iterations: 8, MaxDepth: 3, LearningRate: 0.3f, MaxBins: 16, Lambda: 1, BinaryThreshold: 5, PublishAs: "");
        var status = await ExperimentCommand.RunJobAsync(_client, start, start.Id, output.WriteLine, TimeSpan.FromMinutes(3));
        double Value(string key) => status.ResultValues[Array.IndexOf(status.ResultKeys, key)];

        // the same model trained in this process on the union of what the clients uploaded (each edge's sketch is exact:
        // it holds fewer rows than the sketch sample limit, so both see the same bin edges)
        var rows = _parts.SelectMany(p => p).Order().ToArray();
        var pixels = new byte[rows.Length * TrainingFrames.FrameBytes];
        var labels = new byte[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            _train.Image(rows[i]).CopyTo(pixels.AsSpan(i * TrainingFrames.FrameBytes));
            labels[i] = _train.Labels[rows[i]];
        }
        var options = new Learning.Federated.Gbdt.GbdtOptions { Classes = 10, Iterations = 8, MaxDepth = 3, LearningRate = 0.3f, MaxBins = 16, Lambda = 1 };
        var central = Learning.Federated.Gbdt.GbdtTrainer.TrainCentral(Learning.Federated.Gbdt.FashionFeatures.Pool7x7(pixels, rows.Length), rows.Length,
            Learning.Federated.Gbdt.FashionFeatures.FeatureCount, labels, options);
        var test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, 2000); // the datacenter's eval-limit
        var centralAccuracy = central.Accuracy(Learning.Federated.Gbdt.FashionFeatures.Pool7x7(test.Images, test.Count), test.Labels, test.Count);
        output.WriteLine($"federated {Value("accuracy"):F4} (ONNX Runtime {Value("onnx_accuracy"):F4}), centralised {centralAccuracy:F4}, {Value("trees")} trees, {Value("rounds")} round trips");

        Assert.Equal(centralAccuracy, Value("accuracy"), 12);
        Assert.Equal(Value("accuracy"), Value("onnx_accuracy"), 3); // served by ONNX Runtime: the same predictions (ties aside)
        Assert.Equal(80, Value("trees")); // 8 iterations × 10 classes
        Assert.True(Value("accuracy") > 0.6, $"accuracy {Value("accuracy"):F3}");
    }

    [Fact]
    public async Task Federated_kmeans_should_group_devices_by_behaviour_and_flag_the_outliers()
    {
        var truth = await BehaviourTelemetry.SendAsync(_client, devices: 60, groups: 3, outliers: 2, seed: 4, output.WriteLine);
        var status = await ExperimentCommand.RunJobAsync(_client, new StartKMeans("kmeans-mp", 3, 30, 4, 4), "kmeans-mp", output.WriteLine, TimeSpan.FromMinutes(2));
        var assigned = status.Lines.Select(BehaviourTelemetry.ParseAssignment).OfType<(string Device, int Cluster, bool Outlier)>().ToList();
        var score = BehaviourTelemetry.Score(truth, assigned);

        Assert.Equal(62, assigned.Count); // every device, from both edges
        Assert.Equal(1.0, score.Purity);
        Assert.Equal(2, score.CorrectOutliers);
        Assert.Equal(2, score.Flagged);
    }

    [Fact]
    public async Task A_short_run_of_each_new_algorithm_should_learn_on_the_cluster()
    {
        foreach (var strategy in new[] { "fedavgm", "fedadam", "fedyogi", "fednova", "scaffold" })
        {
            var spec = Spec("learn-" + strategy, rounds: 3, epochs: 1) with
            {
                Strategy = strategy, ServerLearningRate = ExperimentCommand.ServerLrFor(strategy, null), LearningRateDecay = 0.9,
            };
            var rows = await ExperimentCommand.RunExperimentAsync(_client, spec, output.WriteLine);
            Assert.Equal([1, 2, 3], rows.Select(r => r.Round));
            Assert.All(rows, r => Assert.Equal(Clients, r.Clients));
            // 2,000 images, a 784-64-10 MLP, E = 1: chance is 10 %; every algorithm is well above it and still improving
            Assert.True(rows[^1].Accuracy >= 0.5, $"{strategy}: accuracy after 3 rounds {rows[^1].Accuracy:P1} is below the 50 % floor");
            Assert.True(rows[^1].Accuracy > rows[0].Accuracy, $"{strategy}: no improvement {rows[0].Accuracy:P1} → {rows[^1].Accuracy:P1}");
        }
    }

    [Fact]
    public async Task A_round_worse_than_the_active_version_should_not_be_published()
    {
        // a trained model is published under fmnist-gate ...
        var good = await ExperimentCommand.RunExperimentAsync(_client, Spec("gate-good", rounds: 2, epochs: 2, publishAs: "fmnist-gate"), output.WriteLine);
        Assert.True(good[^1].Published, "the trained model was published");
        var active = await WaitForVersionAsync("gate-good", 2);
        // ... then a run whose round is far worse (a learning rate too small to move the random initial weights)
        var bad = await ExperimentCommand.RunExperimentAsync(_client,
            Spec("gate-bad", rounds: 1, epochs: 1, publishAs: "fmnist-gate") with { LearningRate = 1e-7f }, output.WriteLine);
        var round = Assert.Single((await StatusAsync("gate-bad")).History);
        output.WriteLine($"gate-bad round 1: validation {round.ValidationAccuracy:F4}, test {round.Accuracy:F4}: {round.PublishReason}");
        Assert.False(round.Published);
        Assert.False(bad[0].Published);
        Assert.StartsWith("not published: validation", round.PublishReason);
        Assert.True(round.ValidationAccuracy < good[^1].Validation - 0.01, $"validation {round.ValidationAccuracy} vs {good[^1].Validation}");
        Assert.Equal(0, round.ModelVersion);
        // the registry still holds only the good run's versions: the bad round never reached the edges
        await Task.Delay(1000);
        var list = await _client.ListModelsAsync();
        Assert.Equal(active, list.Models.Where(m => m.Name == "fmnist-gate").Max(m => m.Version));
    }

    /// <summary>Waits until round <paramref name="round"/> of <paramref name="id"/> has its registry version; returns it.</summary>
    private async Task<int> WaitForVersionAsync(string id, int round)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var version = (await StatusAsync(id)).History.Single(h => h.Round == round).ModelVersion;
            if (version > 0) return version;
            Assert.True(DateTime.UtcNow < deadline, $"round {round} of {id} was not published within 30 s");
            await Task.Delay(500);
        }
    }

    [Fact]
    public async Task Secure_aggregation_should_learn_with_authenticated_keys_and_self_masks_and_give_the_same_models_as_plain_FedAvg()
    {
        var plain = await ExperimentCommand.RunExperimentAsync(_client, Spec("plain", rounds: 2, epochs: 1), output.WriteLine);
        var masked = await ExperimentCommand.RunExperimentAsync(_client, Spec("masked", rounds: 2, epochs: 1) with { SecureAggregation = true }, output.WriteLine);

        // the masked run finished, so every client answered with a masked update (a plain one is ignored in a masked round);
        // local training is deterministic per (seed, client, round), so only the fixed-point encoding (2^-24) differs
        Assert.Equal(2, masked.Count);
        for (var r = 0; r < 2; r++)
        {
            Assert.Equal(Clients, masked[r].Clients);
            Assert.True(Math.Abs(plain[r].Accuracy - masked[r].Accuracy) <= 0.002, $"round {r + 1}: plain {plain[r].Accuracy:F4}, masked {masked[r].Accuracy:F4}");
            Assert.Equal(plain[r].Loss, masked[r].Loss, 3);
        }
        // it learns: an untrained 10-class model scores about 0.1
        Assert.True(masked[1].Accuracy > 0.5, $"masked run accuracy {masked[1].Accuracy:F4} after 2 rounds");
        // with the SecAgg+ steps on: round keys signed by the edges' deployment certificates and checked against the CA,
        // and every survivor's self-mask removed from the sum (the coordinator runs on either datacenter)
        var coordinatorLogs = ReadLog("dc1") + ReadLog("dc2");
        Assert.Contains($"{Clients} round keys verified against the deployment CA", coordinatorLogs);
        Assert.Contains($"self-masks of {Clients} survivors removed", coordinatorLogs);
        Assert.DoesNotContain("round key refused", coordinatorLogs);
    }
}
