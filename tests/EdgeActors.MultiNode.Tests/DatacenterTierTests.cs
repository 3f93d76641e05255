using EdgeActors.Client;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Tools.Commands;
using EdgeActors.Tools.Experiments;
using Npgsql;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The datacenter tier in one PostgreSQL database (<c>edgeactors.datacenter.postgres</c>): a seed, two datacenter nodes
/// with separate data directories and no shared file, and an edge; all datacenter state in a fresh schema of the test
/// server (EDGEACTORS_TEST_POSTGRES). The datacenter hosting the singletons is killed (SIGKILL) mid-experiment: the model
/// registry keeps its versions and pin on the other node, and the experiment continues from its last committed round and
/// finishes with every round committed once (read from the federation tables).
/// </summary>
public sealed class DatacenterTierTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Clients = 4;
    private const int PerClient = 300;
    private LocalCluster _cluster = null!;
    private EdgeClient _client = null!;
    private string _dir = "";
    private string _admin = "";
    private readonly string _schema = $"dctier_{Environment.ProcessId}_{Guid.NewGuid():N}";

    private string Tier => new NpgsqlConnectionStringBuilder(_admin) { SearchPath = _schema }.ConnectionString;

    public async Task InitializeAsync()
    {
        _admin = Environment.GetEnvironmentVariable("EDGEACTORS_TEST_POSTGRES") is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                "EDGEACTORS_TEST_POSTGRES is not set: the datacenter tier test needs a PostgreSQL server " +
                "(`export EDGEACTORS_TEST_POSTGRES=\"$(bash scripts/postgres-setup.sh | tail -n 1)\"`)");
        await ExecuteAsync(_admin, $"CREATE SCHEMA {_schema}"); // a fresh schema per run: reruns start clean
        var ports = Ports.Free(4);
        _dir = TestCluster.FreshDirectory("dctier", ports[0]);
        string[] quiet = ["--set", "edgeactors.federated.eval-limit = 1000", "--set", "edgeactors.federated.participant-timeout = 6s"];
        _cluster = new LocalCluster(
        [
            new NodeSpec("seed", ["seed"], ports[0], quiet),
            new NodeSpec("dc1", ["datacenter"], ports[1], quiet),
            new NodeSpec("dc2", ["datacenter"], ports[2], quiet),
            new NodeSpec("edge1", ["edge"], ports[3], quiet),
        ], _dir) { DatacenterPostgres = Tier };
        _cluster.StartAll();
        _client = EdgeClient.Connect(TestCluster.ClientOptions(_cluster, ports[1], ports[2], ports[3]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(60),
        });
        var overview = await ClusterProbe.WaitForMembersAsync(_client, _cluster, 4, TimeSpan.FromSeconds(90));
        Assert.True(overview is not null, "cluster of 4 node processes did not form; node logs in " + _dir);
        var train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, Clients * PerClient);
        var parts = NiidPartitioner.Partition(train.Labels, 10, Clients, new PartitionSpec("homo"), seed: 3);
        await ExperimentCommand.UploadAsync(_client, train, parts, output.WriteLine);
        await ExperimentCommand.WaitForClientsAsync(_client, parts, output.WriteLine, TimeSpan.FromSeconds(60));
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

    private async Task<List<(int Round, long Rows)>> CommittedRoundsAsync(string id)
    {
        await using var c = new NpgsqlConnection(Tier);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT round, COUNT(*) FROM federation_rounds WHERE experiment = @id GROUP BY round ORDER BY round", c);
        cmd.Parameters.AddWithValue("id", id);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<(int, long)>();
        while (await r.ReadAsync()) rows.Add((r.GetInt32(0), r.GetInt64(1)));
        return rows;
    }

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var c = new NpgsqlConnection(Tier);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return await cmd.ExecuteScalarAsync();
    }

    private async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        for (var i = 0; ; i++)
        {
            try
            {
                return await call();
            }
            catch (EdgeClientException ex) when (i < 60)
            {
                output.WriteLine("retry: " + ex.Message);
                await Task.Delay(1000);
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
            status = await RetryAsync(() => _client.TryOnceAsync<ExperimentStatus>(new GetExperimentStatus(id), TimeSpan.FromSeconds(5)));
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
    public async Task Killing_the_singletons_datacenter_should_keep_registry_and_rounds_in_PostgreSQL_with_every_round_committed_once()
    {
        // the registry: two versions, the first pinned
        var v1 = await _client.PublishModelAsync(new PublishModel("tier-mlp", MlpOnnx.Export(new Mlp([784, 8, 10], 1)), [784], FashionLabels.Names, "v1"));
        var v2 = await _client.PublishModelAsync(new PublishModel("tier-mlp", MlpOnnx.Export(new Mlp([784, 8, 10], 2)), [784], FashionLabels.Names, "v2"));
        Assert.Equal((1, 2), (v1.Model.Version, v2.Model.Version));
        Assert.Equal(1, (await _client.SetModelPolicyAsync("tier-mlp", 1)).Policy.PinnedVersion);

        var spec = new ExperimentSpec("tier-fedavg", "mlp:784-32-10", "fedavg", Rounds: 4, Fraction: 1, MinClients: 1, LocalEpochs: 8, BatchSize: 32,
            LearningRate: 0.05f, Momentum: 0.9f, ProximalMu: 0, ServerLearningRate: 1, Seed: 11, RoundTimeoutMs: 60_000, Quorum: 0.5,
            LateUpdates: "drop", MaxStaleness: 0, ClipNorm: 0, NoiseMultiplier: 0, SecureAggregation: false, PoisonedClients: [], PoisonScale: 1,
            TrimFraction: 0.2, KrumByzantine: 1, PublishAs: "");
        Assert.IsType<ExperimentAccepted>((await _client.RequestAsync<IFederatedMessage>(new StartExperiment(spec))).Value);
        var before = await WaitAsync(spec.Id, s => s.Round >= 1, TimeSpan.FromSeconds(180));
        var host = new[] { "dc1", "dc2" }.Single(n => ReadLog(n).Contains($"experiment {spec.Id} started", StringComparison.Ordinal));
        var other = host == "dc1" ? "dc2" : "dc1";
        Assert.Contains("Model registry: database postgres://", ReadLog(host)); // the registry singleton lives there too, on PostgreSQL
        _cluster[host].KillHard();
        output.WriteLine($"{host} (singletons) killed after round {before.Round}, attempt {before.Attempt}");

        var done = await WaitAsync(spec.Id, s => s.State == "done", TimeSpan.FromSeconds(300));
        Assert.Equal([1, 2, 3, 4], done.History.Select(h => h.Round));
        Assert.Contains($"resuming experiment {spec.Id}", ReadLog(other));
        Assert.All(done.History.Where(h => h.Round > before.Round), h => Assert.True(h.Attempt > before.Attempt, $"round {h.Round} attempt {h.Attempt}"));

        // read the federation tables directly: every round committed once, the experiment done at round 4
        Assert.Equal([(1, 1L), (2, 1L), (3, 1L), (4, 1L)], await CommittedRoundsAsync(spec.Id));
        Assert.Equal(4, await ScalarAsync($"SELECT round FROM federation_experiments WHERE id = '{spec.Id}'"));
        Assert.Equal("done", await ScalarAsync($"SELECT state FROM federation_experiments WHERE id = '{spec.Id}'"));

        // the registry, now on the other datacenter, kept both versions and the pin (asked through the client)
        var list = await RetryAsync(() => _client.ListModelsAsync());
        Assert.Equal([1, 2], list.Models.Where(m => m.Name == "tier-mlp").Select(m => m.Version).Order());
        var policy = Assert.Single(list.Policies, p => p.Name == "tier-mlp");
        Assert.Equal((1, 1), (policy.PinnedVersion, policy.ActiveVersion));
        Assert.Contains("Model registry: database postgres://", ReadLog(other));

        // nothing of the datacenter state in files: no SQLite database anywhere in the cluster's directories
        var edgeFiles = Path.Combine(_dir, "edge1") + Path.DirectorySeparatorChar; // the edge's own outbox and sequences
        Assert.DoesNotContain(Directory.GetFiles(_dir, "*.db", SearchOption.AllDirectories), f => !f.StartsWith(edgeFiles, StringComparison.Ordinal));
        Assert.Equal((long)EdgeActors.Storage.PostgresSchema.Migrations.Count, await ScalarAsync("SELECT COUNT(*) FROM schema_migrations"));
    }
}
