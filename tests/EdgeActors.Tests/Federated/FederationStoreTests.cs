using EdgeActors.Storage;
using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using EdgeActors.Tests.Registry;
using EdgeActors.Tests.Serialization;
using EdgeActors.Tests.Storage;

namespace EdgeActors.Tests.Federated;

/// <summary>What every <see cref="IFederationStore"/> must do: <see cref="SqliteFederationStoreTests"/>, <see cref="PostgresFederationStoreTests"/>.</summary>
public abstract class FederationStoreContractTests : IDisposable
{
    private readonly List<IFederationStore> _opened = [];

    /// <summary>A (new) store on this test's own database; a second call opens the same database again.</summary>
    protected abstract IFederationStore OpenCore();

    protected abstract void Cleanup();

    protected IFederationStore Open()
    {
        var store = OpenCore();
        _opened.Add(store);
        return store;
    }

    public void Dispose()
    {
        foreach (var s in _opened) s.Dispose();
        Cleanup();
        GC.SuppressFinalize(this);
    }

    protected static RoundSummary Round(int r) => new(r, 1, 0.5 + r / 100.0, 1.0, 3, 3, 0, 0, 1.5, 0.1, 0, ["a", "b", "c"]);

    [Fact]
    public async Task CommitRound_should_apply_each_round_once_and_in_order()
    {
        var store = Open();
        var spec = SampleMessages.Spec();
        Assert.True(await store.CreateAsync(spec, [0f, 0f]));
        Assert.False(await store.CreateAsync(spec, [1f, 1f])); // the id is taken

        Assert.False(await store.CommitRoundAsync(spec.Id, Round(2), [9f, 9f], false)); // not the next round
        Assert.True(await store.CommitRoundAsync(spec.Id, Round(1), [1f, 2f], false));
        Assert.False(await store.CommitRoundAsync(spec.Id, Round(1), [5f, 5f], false)); // a second commit of round 1 (e.g. an old coordinator)
        await store.StartAttemptAsync(spec.Id, 4);
        await store.StartAttemptAsync(spec.Id, 3); // attempts never go back

        var loaded = (await store.LoadAsync(spec.Id))!;
        Assert.Equal(1, loaded.Round);
        Assert.Equal(4, loaded.Attempt);
        Assert.Equal([1f, 2f], loaded.Global);
        Assert.Equal("running", loaded.State);
        MessageAssert.Deep(Round(1), Assert.Single(loaded.History), "history");
        Assert.Equal([spec.Id], await store.RunningAsync());
        MessageAssert.Deep(spec, loaded.Spec, "spec");
    }

    [Fact]
    public async Task A_round_committed_by_two_coordinators_at_once_should_be_applied_once()
    {
        var spec = SampleMessages.Spec() with { Rounds = 3 };
        var first = Open();
        var second = Open();
        await first.CreateAsync(spec, [0f]);

        // an old and a new coordinator overlapping during a failover both commit round 1
        var results = await Task.WhenAll(
            Enumerable.Range(0, 6).Select(i => (i % 2 == 0 ? first : second).CommitRoundAsync(spec.Id, Round(1), [i + 1f], false)));

        Assert.Equal(1, results.Count(ok => ok));
        var loaded = (await second.LoadAsync(spec.Id))!;
        Assert.Equal(1, loaded.Round);
        Assert.Single(loaded.History);
        Assert.Equal([Array.IndexOf(results, true) + 1f], loaded.Global); // the weights of the commit that won
    }

    [Fact]
    public async Task A_second_store_on_the_same_database_should_see_the_committed_state()
    {
        var spec = SampleMessages.Spec() with { Rounds = 2 };
        var first = Open();
        await first.CreateAsync(spec, [0f]);
        await first.CommitRoundAsync(spec.Id, Round(1), [1f], false);
        await first.CommitRoundAsync(spec.Id, Round(2), [2f], finished: true);
        await first.SetModelVersionAsync(spec.Id, 2, 7);

        var second = Open();
        var loaded = (await second.LoadAsync(spec.Id))!;

        Assert.Equal("done", loaded.State);
        Assert.Empty(await second.RunningAsync());
        Assert.Equal(7, loaded.History[1].ModelVersion);
        Assert.Null(await second.LoadAsync("nope"));
    }

    [Fact]
    public async Task Fail_should_end_the_experiment_with_its_reason()
    {
        var store = Open();
        var spec = SampleMessages.Spec();
        await store.CreateAsync(spec, [0f]);

        await store.FailAsync(spec.Id, "diverged");

        var loaded = (await store.LoadAsync(spec.Id))!;
        Assert.Equal(("failed", "diverged"), (loaded.State, loaded.Detail));
        Assert.Empty(await store.RunningAsync());
    }

    private static StoredJob Job(string id) => new(id, "kmeans", """{"Id":"x"}""", ["akka.tcp://edge@127.0.0.1:1", "akka.tcp://edge@127.0.0.1:2"],
        "running", "", 0, 0, [1, 2, 3], ["line 1"], [], []);

    [Fact]
    public async Task The_server_optimiser_state_should_be_committed_with_its_round()
    {
        var store = Open();
        var spec = SampleMessages.Spec() with { Rounds = 3 };
        await store.CreateAsync(spec, [0f]);
        Assert.Empty((await store.LoadAsync(spec.Id))!.ServerState); // nothing committed yet

        await store.CommitRoundAsync(spec.Id, Round(1), [1f], false, [1, 2, 3]);
        Assert.False(await store.CommitRoundAsync(spec.Id, Round(1), [9f], false, [9, 9])); // a refused commit leaves the state

        Assert.Equal([1, 2, 3], (await Open().LoadAsync(spec.Id))!.ServerState);
        await store.CommitRoundAsync(spec.Id, Round(2), [2f], false, [4, 5]);
        Assert.Equal([4, 5], (await store.LoadAsync(spec.Id))!.ServerState);
    }

    [Fact]
    public async Task A_job_should_keep_its_request_workers_and_latest_checkpoint_until_it_ends()
    {
        var store = Open();
        Assert.True(await store.CreateJobAsync(Job("j1")));
        Assert.False(await store.CreateJobAsync(Job("j1") with { Kind = "gbdt" })); // the id is taken
        Assert.True(await store.CreateJobAsync(Job("j2")));

        Assert.True(await store.CheckpointJobAsync("j1", 1, 1, [7, 7], ["line 1", "line 2"]));
        Assert.True(await store.CheckpointJobAsync("j1", 2, 2, [8], ["line 1", "line 2", "line 3"]));
        Assert.False(await store.CheckpointJobAsync("j1", 2, 5, [0], [])); // not newer: an older coordinator's write
        Assert.False(await store.CheckpointJobAsync("j1", 1, 5, [0], []));
        Assert.False(await store.CheckpointJobAsync("nope", 1, 1, [0], []));

        var loaded = (await Open().LoadJobAsync("j1"))!; // a second store on the same database (the next coordinator)
        Assert.Equal(("j1", "kmeans", """{"Id":"x"}""", "running"), (loaded.Id, loaded.Kind, loaded.Request, loaded.State));
        Assert.Equal(Job("j1").Workers, loaded.Workers);
        Assert.Equal((2L, 2), (loaded.Sequence, loaded.Step));
        Assert.Equal([8], loaded.Checkpoint);
        Assert.Equal(["line 1", "line 2", "line 3"], loaded.Lines);
        Assert.Equal(["j1", "j2"], await store.RunningJobsAsync());
        Assert.Null(await store.LoadJobAsync("nope"));

        await store.EndJobAsync("j1", RunState.Done, "done in 3 s", ["accuracy", "nan"], [0.75, double.NaN], ["the end"]);
        await store.EndJobAsync("j1", RunState.Failed, "late failure", [], [], []); // an ended job stays as it ended
        Assert.False(await store.CheckpointJobAsync("j1", 3, 3, [0], [])); // and takes no checkpoint
        var ended = (await store.LoadJobAsync("j1"))!;
        Assert.Equal(("done", "done in 3 s"), (ended.State, ended.Detail));
        Assert.Equal(["accuracy", "nan"], ended.ResultKeys);
        Assert.Equal(0.75, ended.ResultValues[0]);
        Assert.True(double.IsNaN(ended.ResultValues[1]));
        Assert.Equal(["the end"], ended.Lines);
        Assert.Equal(["j2"], await store.RunningJobsAsync());
    }
}

public sealed class SqliteFederationStoreTests : FederationStoreContractTests
{
    private readonly TempDatabase _db = new();

    protected override IFederationStore OpenCore() => new FederationStore(_db.Path);

    protected override void Cleanup()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _db.Dispose();
    }
}

public sealed class PostgresFederationStoreTests : FederationStoreContractTests
{
    private readonly Lazy<PostgresTestSchema> _schema = new(() => new PostgresTestSchema());

    protected override IFederationStore OpenCore() => new PostgresFederationStore(_schema.Value.ConnectionString);

    protected override void Cleanup()
    {
        if (_schema.IsValueCreated) _schema.Value.Dispose();
    }

    [Fact]
    public async Task Rounds_should_be_one_row_each_in_the_federation_tables()
    {
        var store = Open();
        var spec = SampleMessages.Spec() with { Rounds = 2 };
        await store.CreateAsync(spec, [0f]);
        await store.CommitRoundAsync(spec.Id, Round(1), [1f], false);
        await store.CommitRoundAsync(spec.Id, Round(1), [1f], false);
        await store.CommitRoundAsync(spec.Id, Round(2), [2f], true);

        Assert.Equal(2L, _schema.Value.Scalar($"SELECT COUNT(*) FROM federation_rounds WHERE experiment = '{spec.Id}'"));
        Assert.Equal(2, _schema.Value.Scalar($"SELECT round FROM federation_experiments WHERE id = '{spec.Id}'"));
    }
}
