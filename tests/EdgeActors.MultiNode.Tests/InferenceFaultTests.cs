using EdgeActors.Inference.Runtime;
using System.Diagnostics;
using EdgeActors.Actors.Inference;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Faults in real node processes: an edge whose primary inference session fails on purpose (fault injection, as a
/// failing GPU would) still answers every request with the clean result, and a stopped datacenter opens the edge's
/// circuit breaker (frames are acknowledged with the edge's prediction at once) until it is back. Requests and frames
/// are real Fashion-MNIST test images with their true labels, served by briefly trained MLPs, so the answers are checked
/// for accuracy, not only for lying in 0..9.
/// </summary>
public sealed class InferenceFaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private string _dir = "";
    private FashionMnist _test = null!;

    /// <summary>
    /// Lowest accuracy accepted on the test images: the edge MLP (2 epochs on 10,000 images) is right about 0.8 of the
    /// time; a model that answers one class is right about 0.1, an untrained or mis-scaled one not much more.
    /// </summary>
    private const double MinAccuracy = 0.7;

    private string Addr(int i) => _cluster.AddressOf(_ports[i]);

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(3);
        _dir = TestCluster.FreshDirectory("inference-faults", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", ["datacenter"], _ports[1], []),
            new NodeSpec("edge", ["edge"], _ports[2],
            [
                "--set", "edgeactors.inference.runtime.fault-injection.failure-probability = 0.2",
                "--set", "edgeactors.inference.runtime.session-recovery { retry-backoff-min = 300ms, retry-backoff-max = 1s }",
                "--set", "edgeactors.inference.escalation.confidence-threshold = 1",
                "--set", "edgeactors.inference.escalation.breaker { max-failures = 3, reset-timeout = 1s, max-reset-timeout = 2s }",
            ]),
        ], _dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(ClientOptions());
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 3, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + _dir);
        _test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false);
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster);

    private EdgeClientOptions ClientOptions() => TestCluster.ClientOptions(_cluster, _ports[2]) with
    {
        RequestTimeout = TimeSpan.FromSeconds(5),
        RetryDeadline = TimeSpan.FromSeconds(60),
    };

    /// <summary>
    /// The client library serves an Infer on the gateway its ClusterClient is connected to, and ClusterClient takes the
    /// first receptionist that answers among those the contact names (the edge or the datacenter): the burst is about the
    /// edge's faults, so the test connects again until its client is on the edge (a probe request says where it is).
    /// </summary>
    private async Task ConnectToEdgeAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var probe = Assert.IsType<InferResult>(await _client.InferAsync(new Infer("fmnist-mlp", -attempt, 1, new float[784], InferencePriority.Normal)));
            if (probe.Node == Addr(2)) return;
            Assert.True(attempt < 10, $"{attempt} clients in a row were connected to {probe.Node}, none to the edge");
            output.WriteLine($"the client is connected to {probe.Node}, not the edge: connecting again");
            await _client.DisposeAsync();
            _client = EdgeClient.Connect(ClientOptions());
        }
    }

    private async Task<InferenceStatus> EdgeStatus()
    {
        var s = await _client.GetInferenceStatusAsync($"127.0.0.1:{_ports[2]}");
        Assert.Equal(Addr(2), s.Node);
        return s;
    }

    private static byte[] Train(int hidden, int seed)
    {
        var train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, limit: 10_000);
        var mlp = new Mlp([784, hidden, 10], seed);
        MlpTrainer.Train(mlp, FashionLabels.ToFloats(train.Images, train.Count), train.Labels, train.Count, new SgdOptions(Epochs: 2, Seed: seed));
        return MlpOnnx.Export(mlp);
    }

    private long _sequence = DateTime.UtcNow.Ticks;
    /// <summary>The next test image to send as a frame (the burst of Infer requests uses the first ones).</summary>
    private int _nextImage = 1_000;

    /// <summary>Sends the next test image as a frame with its true label.</summary>
    private async Task<(IngestAck Ack, double Ms, int Label)> Frame(string camera)
    {
        var i = _nextImage++ % _test.Count;
        var frame = new CameraFrame(new DeviceId(camera), ++_sequence, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 28, 28, _test.ImageCopy(i), _test.Labels[i]);
        var sw = Stopwatch.StartNew();
        var ack = (await _client.SendFrameAsync(frame)).Value;
        return (ack, sw.Elapsed.TotalMilliseconds, _test.Labels[i]);
    }

    private static double Accuracy(IEnumerable<(int Predicted, int Label)> answers)
    {
        var a = answers.ToList();
        return a.Count == 0 ? double.NaN : a.Count(x => x.Predicted == x.Label) / (double)a.Count;
    }

    private static int ArgMax(ReadOnlySpan<float> scores)
    {
        var best = 0;
        for (var k = 1; k < scores.Length; k++)
        {
            if (scores[k] > scores[best]) best = k;
        }
        return best;
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? double.NaN : a[a.Length / 2];
    }

    [Fact]
    public async Task Edge_should_answer_through_GPU_faults_and_open_its_breaker_while_the_datacenter_is_down()
    {
        // ---- briefly trained MLPs: the edge serves fmnist-mlp, the datacenter also the larger fmnist-large
        var edgeModel = Train(32, 1);
        var large = Train(64, 2);
        await _client.PublishModelAsync(new PublishModel("fmnist-mlp", edgeModel, [784], FashionLabels.Names, "fault test"));
        await _client.PublishModelAsync(new PublishModel("fmnist-large", large, [784], FashionLabels.Names, "fault test large"));
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(_client, [$"127.0.0.1:{_ports[2]}"], "fmnist-mlp", TimeSpan.FromSeconds(60), output.WriteLine));
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(_client, [$"127.0.0.1:{_ports[1]}"], "fmnist-large", TimeSpan.FromSeconds(60), output.WriteLine));
        await ConnectToEdgeAsync();

        // ---- a burst of requests (test images 0..799) while the edge's primary session fails 20% of its runs: every
        // answer is the clean one, and right about as often as the model is
        var info = new ModelInfo("fmnist-mlp", 1, [784], FashionLabels.Names, OnnxModel.Sha256(edgeModel), edgeModel.Length, 0, "");
        using var clean = OnnxModel.Load(edgeModel, info, InferenceRuntimeSettings.Default, 8);
        const int workers = 4, perWorker = 50, count = 4;
        var answered = 0;
        var burstAnswers = new System.Collections.Concurrent.ConcurrentBag<(int Predicted, int Label)>();
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
        {
            for (var i = 0; i < perWorker; i++)
            {
                var first = (w * perWorker + i) * count;
                // pixel values (byte / 255): the node serves fmnist-mlp with a uint8 input (byte-input-models), exact for these
                var x = Enumerable.Range(first * 784, count * 784).Select(j => _test.Images[j] / 255f).ToArray();
                var reply = await _client.InferAsync(new Infer("fmnist-mlp", w * 1_000 + i, count, x, InferencePriority.Normal));
                var result = Assert.IsType<InferResult>(reply);
                Assert.Equal(Addr(2), result.Node);
                var expected = new float[count * 10];
                lock (clean) clean.Run(x, count, expected);
                for (var k = 0; k < expected.Length; k++)
                    Assert.True(Math.Abs(expected[k] - result.Output[k]) <= 1e-5f, $"request {w}/{i} output {k}: clean {expected[k]}, edge {result.Output[k]}");
                for (var s = 0; s < count; s++)
                    burstAnswers.Add((ArgMax(result.Output.AsSpan(s * 10, 10)), _test.Labels[first + s]));
                Interlocked.Increment(ref answered);
            }
        }));
        var burst = sw.Elapsed;
        var burstAccuracy = Accuracy(burstAnswers);
        var health = (await EdgeStatus()).Models.Single(m => m.Name == "fmnist-mlp").Session!;
        output.WriteLine($"FIGURE gpu-fault burst: {answered}/{workers * perWorker} infer requests answered correctly in {burst.TotalSeconds:0.0}s " +
                         $"(primary {health.Primary}: {health.PrimaryFailures} injected failures, {health.Recreations} recreations, " +
                         $"{health.FallbackBatches} CPU fallback batches, serving on {health.Serving})");
        output.WriteLine($"FIGURE gpu-fault burst accuracy against the true labels: {burstAccuracy:F3} over {burstAnswers.Count} images");
        Assert.Equal(workers * perWorker, answered);
        Assert.True(burstAccuracy >= MinAccuracy, $"accuracy {burstAccuracy:F3} over {burstAnswers.Count} images of the burst");
        Assert.True(health.PrimaryFailures > 0, "no injected failure in the burst");
        Assert.True(health.Recreations > 0, "the failed primary session was never recreated");
        Assert.True(health.FallbackBatches >= health.PrimaryFailures);

        // ---- frames with the datacenter up: escalated (every frame, threshold 1), the breaker closed
        var up = new List<double>();
        var upAnswers = new List<(int Predicted, int Label)>();
        for (var i = 0; i < 10; i++)
        {
            var (ack, ms, label) = await Frame("cam-up");
            Assert.True(ack.Prediction!.Escalated, $"frame not escalated: {ack.Prediction}");
            Assert.Equal(Addr(1), ack.Prediction.ServedBy);
            up.Add(ms);
            upAnswers.Add((ack.Prediction.Label, label));
        }
        Assert.Equal(CircuitState.Closed, (await EdgeStatus()).Datacenter!.State);

        // ---- the datacenter stops: every frame is still acknowledged with the edge's prediction; after 3 timeouts at
        // most the breaker opens and frames no longer wait out the escalation timeout; the edge's own answers (its primary
        // session still failing 20% of its runs) must be right about as often as the model is
        await _cluster["datacenter"].StopAsync(TimeSpan.FromSeconds(20));
        var down = new List<(IngestAck Ack, double Ms, int Label)>();
        for (var i = 0; i < 120; i++) down.Add(await Frame("cam-down"));
        Assert.All(down, d =>
        {
            Assert.Equal(1, d.Ack.Accepted);
            Assert.False(d.Ack.Prediction!.Escalated);
            Assert.Equal(PredictionNote.EscalationUnavailable, d.Ack.Prediction.Note);
            Assert.Equal(Addr(2), d.Ack.Prediction.ServedBy);
            Assert.InRange(d.Ack.Prediction.Label, 0, 9);
        });
        var downAccuracy = Accuracy(down.Select(d => (d.Ack.Prediction!.Label, d.Label)));
        output.WriteLine($"FIGURE frame accuracy against the true labels: datacenter up (fmnist-large) {Accuracy(upAnswers):F3} over {upAnswers.Count} frames; " +
                         $"datacenter down (the edge's fmnist-mlp under GPU faults) {downAccuracy:F3} over {down.Count} frames");
        Assert.True(downAccuracy >= MinAccuracy, $"accuracy {downAccuracy:F3} over {down.Count} frames answered by the edge");
        var breaker = (await EdgeStatus()).Datacenter!;
        output.WriteLine($"breaker after the datacenter stopped: {breaker}");
        Assert.NotEqual(CircuitState.Closed, breaker.State);
        Assert.True(breaker.Opens >= 1);
        Assert.True(breaker.FastAnswers >= 1, "no frame was answered at once by the open breaker");
        // the frames that waited for the escalation timeout vs those the open breaker answered at once (figures only)
        var waited = down.Take(3).Select(d => d.Ms).ToList();
        var fast = down.Skip(3).Select(d => d.Ms).ToList();
        output.WriteLine($"FIGURE frame latency: datacenter up (escalated) median {Median(up):0.0} ms; datacenter down, first 3 frames " +
                         $"(escalation timeout 1s) median {Median(waited):0.0} ms; next {fast.Count} frames (breaker open or trial) median {Median(fast):0.0} ms");

        // ---- the datacenter is back: a trial call succeeds and the breaker closes
        _cluster.Start("datacenter");
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(_client, [$"127.0.0.1:{_ports[1]}"], "fmnist-large", TimeSpan.FromSeconds(90), output.WriteLine),
            "the restarted datacenter did not serve fmnist-large; logs in " + _dir);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        IngestAck? escalated = null;
        while (escalated is null && DateTime.UtcNow < deadline)
        {
            var (ack, _, _) = await Frame("cam-back");
            if (ack.Prediction!.Escalated) escalated = ack;
            else await Task.Delay(200);
        }
        Assert.NotNull(escalated);
        Assert.Equal(Addr(1), escalated.Prediction!.ServedBy);
        var closed = (await EdgeStatus()).Datacenter!;
        output.WriteLine($"breaker after the datacenter came back: {closed}");
        Assert.Equal(CircuitState.Closed, closed.State);
    }
}
