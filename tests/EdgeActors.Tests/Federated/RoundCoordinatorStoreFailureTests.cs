using EdgeActors.Storage;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Federated;

/// <summary>
/// The coordinator over a store that fails while "down" (PostgreSQL briefly unreachable): it must not lose the round's
/// result nor a running experiment, and must not restart; it retries after a backoff (virtual time).
/// </summary>
public sealed class RoundCoordinatorStoreFailureTests : RoundCoordinatorTestKit
{
    /// <summary>The SQLite store, with chosen calls failing while their flag is set.</summary>
    private sealed class FlakyFederationStore(IFederationStore inner) : IFederationStore
    {
        public volatile bool CommitDown;
        public volatile bool ReadDown;
        public volatile bool FailDown;
        public int FailCalls;
        public int CommitCalls;
        public int ReadCalls;
        public volatile bool Committed;

        public string Location => "flaky:" + inner.Location;

        private static Task<T> Down<T>() => Task.FromException<T>(new IOException("connection refused (database down)"));

        public Task<bool> CreateAsync(ExperimentSpec spec, float[] initial) => inner.CreateAsync(spec, initial);
        public Task StartAttemptAsync(string id, int attempt) => inner.StartAttemptAsync(id, attempt);

        public Task<bool> CommitRoundAsync(string id, RoundSummary summary, float[] global, bool finished, byte[]? serverState = null)
        {
            Interlocked.Increment(ref CommitCalls);
            return CommitDown ? Down<bool>() : Commit();

            async Task<bool> Commit()
            {
                var ok = await inner.CommitRoundAsync(id, summary, global, finished, serverState);
                Committed |= ok;
                return ok;
            }
        }

        public Task SetModelVersionAsync(string id, int round, int version) => inner.SetModelVersionAsync(id, round, version);
        public Task FailAsync(string id, string detail)
        {
            Interlocked.Increment(ref FailCalls);
            return FailDown ? Down<bool>() : inner.FailAsync(id, detail);
        }
        public Task FinishAsync(string id, string detail) => inner.FinishAsync(id, detail);
        public Task<double?> LastPublishedValidationAsync(string publishAs) => inner.LastPublishedValidationAsync(publishAs);
        public Task<StoredExperiment?> LoadAsync(string id) => ReadDown ? Down<StoredExperiment?>() : inner.LoadAsync(id);
        public Task<string[]> RunningAsync()
        {
            Interlocked.Increment(ref ReadCalls);
            return ReadDown ? Down<string[]>() : inner.RunningAsync();
        }
        public Task<bool> CreateJobAsync(StoredJob job) => inner.CreateJobAsync(job);
        public Task<bool> CheckpointJobAsync(string id, long sequence, int step, byte[] checkpoint, string[] lines) =>
            inner.CheckpointJobAsync(id, sequence, step, checkpoint, lines);
        public Task EndJobAsync(string id, RunState state, string detail, string[] resultKeys, double[] resultValues, string[] lines) =>
            inner.EndJobAsync(id, state, detail, resultKeys, resultValues, lines);
        public Task<StoredJob?> LoadJobAsync(string id) => inner.LoadJobAsync(id);
        public Task<string[]> RunningJobsAsync() => inner.RunningJobsAsync();
        public void Dispose() => inner.Dispose();
    }

    /// <summary>Moves virtual time a second at a time until <paramref name="condition"/> holds (a retry timer starts once the failure is handled).</summary>
    private void AdvanceUntil(Func<bool> condition) =>
        AwaitCondition(() =>
        {
            if (condition()) return true;
            Clock.Advance(TimeSpan.FromSeconds(1));
            return false;
        }, Wait, TimeSpan.FromMilliseconds(20));

    [Fact]
    public void A_commit_that_fails_should_be_retried_with_the_same_result_until_the_store_is_back()
    {
        var store = new FlakyFederationStore(new FederationStore(Db.Path)) { CommitDown = true };
        var coordinator = Sys.ActorOf(Actors.Federated.RoundCoordinator.Props(Settings, store, Evaluation, null));
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("commit-retry", rounds: 1);
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        var t2 = w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, t1, "c0", 100, 1f);
        Reply(w1, coordinator, t1, "c1", 300, 1f);
        Reply(w2, coordinator, t2, "c2", 600, 1f);

        AdvanceUntil(() => Volatile.Read(ref store.CommitCalls) >= 3); // tried, failed, tried again after a pause, ...
        Assert.Equal("running", Status(coordinator, spec.Id).State);

        store.CommitDown = false;
        AdvanceUntil(() => store.Committed);
        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(100));
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the round was not trained again: its result was kept
        var stored = new FederationStore(Db.Path).Load(spec.Id)!;
        Assert.Equal(1, Assert.Single(stored.History).Round);
        AssertClose(Initial(spec).Select(v => v + 1f).ToArray(), stored.Global);
    }

    [Fact]
    public void A_coordinator_starting_while_the_store_is_down_should_resume_the_running_experiment_once_it_is_back()
    {
        var spec = Spec("load-retry", rounds: 2);
        var sqlite = new FederationStore(Db.Path);
        sqlite.Create(spec, Initial(spec));
        Assert.True(sqlite.CommitRound(spec.Id, new RoundSummary(1, 1, 0, 0, 3, 3, 0, 0, 1, 0, 0, ["c0", "c1", "c2"]), Initial(spec), false));
        var store = new FlakyFederationStore(new FederationStore(Db.Path)) { ReadDown = true };

        var coordinator = Sys.ActorOf(Actors.Federated.RoundCoordinator.Props(Settings, store, Evaluation, null));
        var (w1, _) = Workers(coordinator);
        AdvanceUntil(() => Volatile.Read(ref store.ReadCalls) >= 3); // the load failed and was retried (failing) while it is down
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        store.ReadDown = false;
        TrainRound? t = null;
        AdvanceUntil(() => (t = w1.ReceiveOne(TimeSpan.Zero) as TrainRound) is not null); // the next load succeeds, then the resume grace passes
        Assert.Equal(2, t!.Round); // resumed after the committed round 1
    }

    [Fact]
    public void A_failed_experiment_should_be_recorded_as_failed_once_the_store_is_back()
    {
        var store = new FlakyFederationStore(new FederationStore(Db.Path)) { FailDown = true };
        var coordinator = Sys.ActorOf(Actors.Federated.RoundCoordinator.Props(Settings, store, Evaluation, null));
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("fail-retry", rounds: 3) with { ServerLearningRate = 1e4f };
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        var t2 = w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, t1, "c0", 100, 3e35f); // the global model overflows: the experiment fails
        Reply(w1, coordinator, t1, "c1", 300, 3e35f);
        Reply(w2, coordinator, t2, "c2", 600, 3e35f);

        AdvanceUntil(() => Volatile.Read(ref store.FailCalls) >= 3); // recording it failed, and was retried
        Assert.Equal("running", new FederationStore(Db.Path).Load(spec.Id)!.State); // a failover now would resume it

        store.FailDown = false;
        AdvanceUntil(() => new FederationStore(Db.Path).Load(spec.Id)!.State == "failed");
    }
}
