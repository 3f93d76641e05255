using EdgeActors.Client;
using EdgeActors.Learning.Federated.Gbdt;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Tools.Commands;
using EdgeActors.Tools.Experiments;
using Npgsql;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Durable GBDT jobs on real node processes: a seed, two datacenters on the PostgreSQL tier (separate data directories,
/// EDGEACTORS_TEST_POSTGRES) and two edges. The datacenter hosting the coordinator singleton is killed (SIGKILL) mid-job:
/// the other datacenter's coordinator resumes the job from its last iteration checkpoint and it finishes with the same
/// model as the centralised GBDT on the union of the edges' frames. Then an edge is killed and restarted mid-job: the job
/// retries that worker, restores it from the checkpoint (its frames survive in training.db) and finishes.
/// </summary>
public sealed class JobResumeTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Clients = 4;
    private const int PerClient = 250;
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private string _dir = "";
    private string _admin = "";
    private FashionMnist _train = null!;
    private int[][] _parts = [];
    private readonly string _schema = $"jobresume_{Environment.ProcessId}_{Guid.NewGuid():N}";

    private string Tier => new NpgsqlConnectionStringBuilder(_admin) { SearchPath = _schema }.ConnectionString;

    public async Task InitializeAsync()
    {
        _admin = Environment.GetEnvironmentVariable("EDGEACTORS_TEST_POSTGRES") is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                "EDGEACTORS_TEST_POSTGRES is not set: the job resume test needs a PostgreSQL server " +
                "(`export EDGEACTORS_TEST_POSTGRES=\"$(bash scripts/postgres-setup.sh | tail -n 1)\"`)");
        await ExecuteAsync(_admin, $"CREATE SCHEMA {_schema}");
        var ports = Ports.Free(5);
        _dir = TestCluster.FreshDirectory("jobresume", ports[0]);
        string[] quiet = ["--set", "edgeactors.federated.eval-limit = 2000", "--set", "edgeactors.federated.participant-timeout = 6s",
            "--set", "edgeactors.federated.job-step-timeout = 10s"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", ["seed"], ports[0], quiet),
            new NodeSpec("dc1", ["datacenter"], ports[1], quiet),
            new NodeSpec("dc2", ["datacenter"], ports[2], quiet),
            new NodeSpec("edge1", ["edge"], ports[3], quiet),
            new NodeSpec("edge2", ["edge"], ports[4], quiet),
        ], _dir) { DatacenterPostgres = Tier };
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, ports[1], ports[2], ports[3], ports[4]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(60),
        });
        var overview = await ClusterProbe.WaitForMembersAsync(_client, _cluster, 5, TimeSpan.FromSeconds(90));
        Assert.True(overview is not null, "cluster of 5 node processes did not form; node logs in " + _dir);
        _train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, Clients * PerClient);
        _parts = NiidPartitioner.Partition(_train.Labels, 10, Clients, new PartitionSpec("homo"), seed: 3);
        await ExperimentCommand.UploadAsync(_client, _train, _parts, output.WriteLine);
        var status = await ExperimentCommand.WaitForClientsAsync(_client, _parts, output.WriteLine, TimeSpan.FromSeconds(60));
        Assert.Equal(2, status.Participants.Count(p => p.Clients.Length > 0)); // the clients are spread over both edges
    }

    public async Task DisposeAsync()
    {
        await TestCluster.StopAsync(_client, _cluster, output);
        if (_admin.Length == 0) return;
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync(_admin, $"DROP SCHEMA IF EXISTS {_schema} CASCADE");
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>The job's row: (state, checkpoint sequence), or null before it is recorded.</summary>
    private async Task<(string State, long Sequence)?> StoredAsync(string id)
    {
        try
        {
            await using var c = new NpgsqlConnection(Tier);
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT state, seq FROM federation_jobs WHERE id = @id", c);
            cmd.Parameters.AddWithValue("id", id);
            await using var r = await cmd.ExecuteReaderAsync();
            return await r.ReadAsync() ? (r.GetString(0), r.GetInt64(1)) : null;
        }
        catch (PostgresException)
        {
            return null; // the table is created with the coordinator's first store call
        }
    }

    /// <summary>Starts the job and returns once its checkpoint sequence reached <paramref name="checkpoints"/> (the job still running).</summary>
    private async Task StartAndWaitForCheckpointAsync(StartGbdt start, long checkpoints)
    {
        var first = (await _client.RequestAsync<JobStatus>(start)).Value;
        Assert.NotEqual("failed", first.State);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var stored = await StoredAsync(start.Id);
            if (stored is { } s && s.Sequence >= checkpoints)
            {
                Assert.True(s.State == "running", $"job {start.Id} ended ({s.State}) before checkpoint {checkpoints}: make it longer");
                return;
            }
            Assert.True(DateTime.UtcNow < deadline, $"job {start.Id}: checkpoint {checkpoints} not reached within 90 s ({stored}); node logs in {_dir}");
            await Task.Delay(100);
        }
    }

    private string ReadLog(string node)
    {
        using var stream = new FileStream(_cluster[node].LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>Accuracy of the centralised GBDT on the union of the uploaded frames, on the datacenter's test slice.</summary>
    private double CentralAccuracy(StartGbdt g)
    {
        var rows = _parts.SelectMany(p => p).Order().ToArray();
        var pixels = new byte[rows.Length * TrainingFrames.FrameBytes];
        var labels = new byte[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            _train.Image(rows[i]).CopyTo(pixels.AsSpan(i * TrainingFrames.FrameBytes));
            labels[i] = (byte)(_train.Labels[rows[i]] >= g.BinaryThreshold ? 1 : 0);
        }
        var options = new GbdtOptions { Classes = 2, Iterations = g.Iterations, MaxDepth = g.MaxDepth, LearningRate = g.LearningRate, MaxBins = g.MaxBins, Lambda = g.Lambda };
        var central = GbdtTrainer.TrainCentral(FashionFeatures.Pool7x7(pixels, rows.Length), rows.Length, FashionFeatures.FeatureCount, labels, options);
        var test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, 2000); // the datacenters' eval-limit
        var testLabels = test.Labels.Select(l => (byte)(l >= g.BinaryThreshold ? 1 : 0)).ToArray();
        return central.Accuracy(FashionFeatures.Pool7x7(test.Images, test.Count), testLabels, test.Count);
    }

    private static StartGbdt Job(string id) => new(id, 2, Iterations: 120, MaxDepth: 3, LearningRate: 0.3f, MaxBins: 16, Lambda: 1, BinaryThreshold: 5, PublishAs: "");

    [Fact]
    public async Task A_GBDT_job_should_finish_after_its_coordinators_datacenter_and_then_an_edge_are_killed_mid_job()
    {
        // 1. SIGKILL of the datacenter that hosts the coordinator singleton, after 10 iteration checkpoints
        var job = Job("gbdt-failover");
        await StartAndWaitForCheckpointAsync(job, 10);
        var host = new[] { "dc1", "dc2" }.Single(n => ReadLog(n).Contains($"gbdt job {job.Id} on 2 edge nodes", StringComparison.Ordinal));
        var other = host == "dc1" ? "dc2" : "dc1";
        _cluster[host].KillHard();
        output.WriteLine($"{host} (coordinator) killed at checkpoint {(await StoredAsync(job.Id))?.Sequence}");

        var status = await ExperimentCommand.RunJobAsync(_client, new GetJobStatus(job.Id), job.Id, _ => { }, TimeSpan.FromMinutes(3));
        double Value(JobStatus s, string key) => s.ResultValues[Array.IndexOf(s.ResultKeys, key)];
        var central = CentralAccuracy(job);
        output.WriteLine($"after the failover: accuracy {Value(status, "accuracy"):F4} (ONNX Runtime {Value(status, "onnx_accuracy"):F4}), centralised {central:F4}, {Value(status, "trees")} trees");
        Assert.Contains($"resuming gbdt job {job.Id}", ReadLog(other));
        Assert.Contains(status.Lines, l => l.Contains("resumed by the coordinator", StringComparison.Ordinal));
        Assert.Equal(120, Value(status, "trees"));
        Assert.Equal(central, Value(status, "accuracy"), 12); // the same model as without a failover
        Assert.Equal(("done", true), ((await StoredAsync(job.Id))!.Value.State, true));

        // 2. SIGKILL and restart of an edge mid-job: its worker is retried, restored from the checkpoint, the job finishes
        var second = Job("gbdt-edge-restart");
        await StartAndWaitForCheckpointAsync(second, 10);
        _cluster["edge2"].KillHard();
        output.WriteLine($"edge2 killed at checkpoint {(await StoredAsync(second.Id))?.Sequence}");
        await Task.Delay(2000);
        _cluster.Start("edge2");
        var after = await ExperimentCommand.RunJobAsync(_client, new GetJobStatus(second.Id), second.Id, output.WriteLine, TimeSpan.FromMinutes(3));
        output.WriteLine($"after the edge restart: accuracy {Value(after, "accuracy"):F4}, centralised {central:F4}");
        Assert.Contains(after.Lines, l => l.Contains("worker on ", StringComparison.Ordinal) && l.Contains("retrying", StringComparison.Ordinal));
        Assert.Contains(after.Lines, l => l.Contains("restored from the checkpoint", StringComparison.Ordinal));
        Assert.Equal(120, Value(after, "trees"));
        Assert.True(Math.Abs(Value(after, "accuracy") - central) < 0.02, $"accuracy {Value(after, "accuracy"):F4} vs centralised {central:F4}");
    }
}
