using System.Collections.Concurrent;
using EdgeActors.Nodes.Data;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Models served by real node processes: published to the datacenter's registry, fetched and loaded by the nodes,
/// hot-swapped under load, camera frames classified on their edge with escalation (edge1 escalates every frame) and
/// overflow (edge2 has a one-request queue) to the datacenter, and both degrading when the datacenter is killed.
/// </summary>
public sealed class InferenceClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private int[] _ports = [];
    private FashionMnist _test = null!;

    private string Addr(int i) => _cluster.AddressOf(_ports[i]);

    public async Task InitializeAsync()
    {
        _ports = Ports.Free(4);
        var dir = TestCluster.FreshDirectory("inference", _ports[0]);
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", _ports[0]),
            new NodeSpec("datacenter", ["datacenter"], _ports[1], []),
            new NodeSpec("edge1", ["edge"], _ports[2], ["--set", "edgeactors.inference.escalation.confidence-threshold = 1"]),
            new NodeSpec("edge2", ["edge"], _ports[3],
            [
                "--set", "edgeactors.inference.escalation.enabled = off",
                "--set", "edgeactors.inference.batching { max-batch-size = 2, max-queue-length = 1, max-queue-delay-us = 50000 }",
            ]),
        ], dir);
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, _ports[2], _ports[3]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(60),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(60)) is not null, "cluster did not form; logs in " + dir);
        _test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false);
    }

    public Task DisposeAsync() => TestCluster.StopAsync(_client, _cluster);

    private static byte[] TrainTiny(int hidden, int seed)
    {
        var train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, limit: 5_000);
        var mlp = new Mlp([784, hidden, 10], seed);
        MlpTrainer.Train(mlp, FashionLabels.ToFloats(train.Images, train.Count), train.Labels, train.Count, new SgdOptions(Epochs: 1, Seed: seed));
        return MlpOnnx.Export(mlp);
    }

    private sealed record Sent(DeviceId Device, int Label, IngestAck Ack);

    /// <summary>Streams frames from <paramref name="cameras"/> concurrent cameras, one request at a time per camera.</summary>
    private async Task<List<Sent>> StreamAsync(int cameras, int framesPerCamera, string prefix, Func<Task>? midway = null)
    {
        var results = new ConcurrentBag<Sent>();
        var sequence = DateTime.UtcNow.Ticks;
        var image = -1;
        var done = 0;
        var workers = Enumerable.Range(0, cameras).Select(async c =>
        {
            var device = new DeviceId($"{prefix}-cam-{c:D2}");
            for (var f = 0; f < framesPerCamera; f++)
            {
                var i = Interlocked.Increment(ref image) % _test.Count;
                var frame = new CameraFrame(device, sequence + f, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 28, 28, _test.ImageCopy(i), _test.Labels[i]);
                var ack = (await _client.SendFrameAsync(frame)).Value;
                results.Add(new Sent(device, _test.Labels[i], ack));
                Interlocked.Increment(ref done);
            }
        }).ToList();
        if (midway is not null)
        {
            while (Volatile.Read(ref done) < cameras * framesPerCamera / 3) await Task.Delay(20);
            await midway();
        }
        await Task.WhenAll(workers);
        return results.ToList();
    }

    private async Task<InferenceStatus> StatusOf(int port)
    {
        var s = await _client.GetInferenceStatusAsync($"127.0.0.1:{port}");
        Assert.EndsWith($":{port}", s.Node); // answered by that node, whichever gateway the client reached
        return s;
    }

    [Fact]
    public async Task Frames_should_be_classified_on_edges_escalated_overflowed_hot_swapped_and_degrade_without_the_datacenter()
    {
        // ---- models: publish, the nodes fetch, load and serve them
        var edgeV1 = TrainTiny(32, 1);
        var large = TrainTiny(64, 2);
        Assert.Equal(1, (await _client.PublishModelAsync(new PublishModel("fmnist-mlp", edgeV1, [784], FashionLabels.Names, "tiny v1"))).Model.Version);
        Assert.Equal(1, (await _client.PublishModelAsync(new PublishModel("fmnist-large", large, [784], FashionLabels.Names, "tiny large"))).Model.Version);
        var corrupt = await Assert.ThrowsAsync<EdgeClientException>(() =>
            _client.PublishModelAsync(new PublishModel("fmnist-mlp", edgeV1[..(edgeV1.Length / 3)], [784], FashionLabels.Names, "truncated")));
        Assert.Contains("cannot load", corrupt.Message);
        var contacts = new[] { 1, 2, 3 }.Select(i => $"127.0.0.1:{_ports[i]}").ToArray();
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(_client, contacts, "fmnist-mlp", TimeSpan.FromSeconds(60), output.WriteLine));
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(_client, [contacts[0]], "fmnist-large", TimeSpan.FromSeconds(60), output.WriteLine));
        Assert.Equal(1, (await StatusOf(_ports[2])).Models.Single(m => m.Name == "fmnist-mlp").Version); // the corrupt upload changed nothing

        // ---- 40 cameras; edge1 escalates everything, edge2 overflows; hot swap to v2 a third of the way through
        var edgeV2 = TrainTiny(32, 7);
        var swapped = 0;
        var sent = await StreamAsync(40, 15, "a", async () =>
        {
            var v2 = await _client.PublishModelAsync(new PublishModel("fmnist-mlp", edgeV2, [784], FashionLabels.Names, "tiny v2"));
            Assert.Equal(2, v2.Model.Version);
            Interlocked.Exchange(ref swapped, 1);
        });
        Assert.Equal(1, swapped);
        Assert.All(sent, s => Assert.Equal(1, s.Ack.Accepted));
        Assert.All(sent, s => Assert.NotNull(s.Ack.Prediction));
        Assert.DoesNotContain(sent, s => s.Ack.Prediction!.Note is PredictionNote.NotClassified or PredictionNote.EscalationUnavailable);
        var onEdge1 = sent.Where(s => s.Ack.Node == Addr(2)).ToList();
        var onEdge2 = sent.Where(s => s.Ack.Node == Addr(3)).ToList();
        output.WriteLine($"frames: edge1 {onEdge1.Count}, edge2 {onEdge2.Count}");
        Assert.NotEmpty(onEdge1);
        Assert.NotEmpty(onEdge2);
        // escalation: every frame of edge1 answered by the datacenter's larger model
        Assert.All(onEdge1, s =>
        {
            Assert.True(s.Ack.Prediction!.Escalated);
            Assert.Equal("fmnist-large", s.Ack.Prediction.Model);
            Assert.Equal(Addr(1), s.Ack.Prediction.ServedBy);
        });
        // overflow: edge2's one-request queue sends the excess to the datacenter's copy of the edge model
        var overflowed = onEdge2.Count(s => s.Ack.Prediction!.Note == PredictionNote.Overflowed);
        output.WriteLine($"edge2: {overflowed} of {onEdge2.Count} frames overflowed to the datacenter");
        Assert.True(overflowed > 0, "edge2's tiny queue should have overflowed");
        Assert.All(onEdge2.Where(s => s.Ack.Prediction!.Note == PredictionNote.Overflowed), s => Assert.Equal(Addr(1), s.Ack.Prediction!.ServedBy));
        Assert.Contains(onEdge2, s => s.Ack.Prediction!.Note == PredictionNote.None && s.Ack.Prediction.ServedBy == Addr(3));
        // hot swap: both versions served, no request failed, and after the swap settles every edge serves v2
        Assert.Contains(sent, s => s.Ack.Prediction!.Model == "fmnist-mlp" && s.Ack.Prediction.Version == 1);
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(_client, contacts, "fmnist-mlp", TimeSpan.FromSeconds(30), output.WriteLine));
        var edge2Status = await StatusOf(_ports[3]);
        var edge1Status = await StatusOf(_ports[2]);
        Assert.Equal(2, edge2Status.Models.Single(m => m.Name == "fmnist-mlp").Version);
        Assert.True(edge2Status.Models.Single(m => m.Name == "fmnist-mlp").Overflowed >= overflowed);
        Assert.True(edge1Status.Models.Single(m => m.Name == "fmnist-mlp").Escalated >= onEdge1.Count);
        Assert.Contains(edge1Status.Provider, new[] { "CPU", "CUDA" }); // the execution provider in use is reported
        var after = await StreamAsync(10, 3, "b");
        Assert.All(after.Where(s => s.Ack.Prediction!.Model == "fmnist-mlp"), s => Assert.Equal(2, s.Ack.Prediction!.Version));

        // rollback: edges go back to v1
        var rolledBack = await _client.RollbackModelAsync("fmnist-mlp");
        Assert.Equal(1, rolledBack.Active.Version);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await StatusOf(_ports[2])).Models.Single(m => m.Name == "fmnist-mlp").Version != 1 && DateTime.UtcNow < deadline) await Task.Delay(300);
        Assert.Equal(1, (await StatusOf(_ports[2])).Models.Single(m => m.Name == "fmnist-mlp").Version);

        // ---- the datacenter dies: edges keep classifying, escalations keep the edge answer, nothing is lost
        _cluster["datacenter"].KillHard();
        var degraded = await StreamAsync(20, 5, "c");
        Assert.All(degraded, s => Assert.Equal(1, s.Ack.Accepted));
        var degradedEdge1 = degraded.Where(s => s.Ack.Node == Addr(2)).ToList();
        output.WriteLine($"after the datacenter died: {degraded.Count} frames, edge1 {degradedEdge1.Count}, notes {string.Join(", ", degraded.GroupBy(s => s.Ack.Prediction!.Note).Select(g => $"{g.Key}={g.Count()}"))}");
        Assert.NotEmpty(degradedEdge1);
        Assert.All(degradedEdge1, s =>
        {
            Assert.False(s.Ack.Prediction!.Escalated);
            Assert.Equal(PredictionNote.EscalationUnavailable, s.Ack.Prediction.Note);
            Assert.Equal(Addr(2), s.Ack.Prediction.ServedBy);
            Assert.InRange(s.Ack.Prediction.Label, 0, 9);
        });
        // the labels are known: the edge's own answers must be right about as often as the model is (1 epoch on 5,000
        // images: about 0.7-0.8; an untrained or mis-scaled model is near 0.1)
        var accuracy = sent.Count(s => s.Ack.Prediction!.Label == s.Label) / (double)sent.Count;
        var degradedAccuracy = degradedEdge1.Count(s => s.Ack.Prediction!.Label == s.Label) / (double)degradedEdge1.Count;
        output.WriteLine($"accuracy against the true labels: {accuracy:F3} over {sent.Count} frames; {degradedAccuracy:F3} over {degradedEdge1.Count} with the datacenter down");
        Assert.True(accuracy >= 0.6, $"accuracy {accuracy:F3} over {sent.Count} frames");
        Assert.True(degradedAccuracy >= 0.5, $"accuracy {degradedAccuracy:F3} over {degradedEdge1.Count} frames with the datacenter down");
    }
}
