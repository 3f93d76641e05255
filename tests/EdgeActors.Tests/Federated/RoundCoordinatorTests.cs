using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.TestKit;
using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Registry;
using EdgeActors.Tests.Serialization;

namespace EdgeActors.Tests.Federated;

/// <summary>
/// The round coordinator as a plain actor on a temporary database, with test probes as the edge workers: sampling,
/// aggregation arithmetic, quorum and deadline, dropped workers, restarts, resumption from the store, secure aggregation
/// with a dropped client, late updates. Deadlines pass on the test scheduler's virtual time (<see cref="RoundCoordinatorTestKit"/>).
/// (Real processes: tests/EdgeActors.MultiNode.Tests/FederatedClusterTests.)
/// </summary>
public sealed class RoundCoordinatorTests : RoundCoordinatorTestKit
{
    protected override EvaluationSet? Evaluation()
    {
        var rng = new Random(3);
        var images = new float[40 * 784];
        for (var i = 0; i < images.Length; i++) images[i] = (float)rng.NextDouble();
        return new EvaluationSet(images, Enumerable.Range(0, 40).Select(i => (byte)(i % 10)).ToArray());
    }

    [Fact]
    public void FedAvg_should_weight_updates_by_samples_and_send_the_new_global_to_the_next_round()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("fedavg-weights");
        StartExperiment(coordinator, spec);

        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        var t2 = w2.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(["c0", "c1"], t1.Clients);
        Assert.Equal(["c2"], t2.Clients);
        Assert.Equal((1, spec.LocalEpochs), (t1.Round, t1.Training.Epochs));
        AssertClose(Initial(spec), t1.Global, 0);
        Reply(w1, coordinator, t1, "c0", 100, 1f);
        Reply(w1, coordinator, t1, "c1", 300, 2f);
        Reply(w2, coordinator, t2, "c2", 600, 4f);

        // (100·1 + 300·2 + 600·4) / 1000 = 3.1
        var next = w1.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(2, next.Round);
        AssertClose(Initial(spec).Select(v => v + 3.1f).ToArray(), next.Global);
        var status = Status(coordinator, spec.Id);
        Assert.Equal(1, status.Round);
        var r1 = Assert.Single(status.History);
        Assert.Equal((3, 3, 0), (r1.Sampled, r1.Received, r1.Dropped));
        Assert.Equal(["c0", "c1", "c2"], r1.Clients);
        Assert.InRange(r1.Accuracy, 0, 1);
    }

    [Fact]
    public void A_round_should_close_at_its_deadline_with_a_quorum_and_count_the_straggler_as_dropped()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("deadline", rounds: 2, quorum: 0.5, timeoutMs: 1_000);
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        w2.ExpectMsg<TrainRound>(Wait); // c2 never answers
        Reply(w1, coordinator, t1, "c0", 100, 1f);
        Reply(w1, coordinator, t1, "c1", 300, 2f);

        // the quorum alone does not close the round: round 2 starts at the deadline, not a moment before
        Advance(coordinator, Deadline(spec) - Ms);
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Advance(coordinator, Ms);
        var t2 = w1.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(2, t2.Round);
        var r1 = Assert.Single(Status(coordinator, spec.Id).History);
        Assert.Equal((3, 2, 1), (r1.Sampled, r1.Received, r1.Dropped));
        var stored = new FederationStore(Db.Path).Load(spec.Id)!;
        Assert.Equal(1, stored.Round);
        AssertClose(Initial(spec).Select(v => v + 1.75f).ToArray(), stored.Global); // (100·1 + 300·2) / 400
        AssertClose(stored.Global, t2.Global, 0);
    }

    [Fact]
    public void A_round_without_quorum_should_restart_as_a_new_attempt_and_ignore_the_old_attempts_updates()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("no-quorum", rounds: 1, quorum: 1, timeoutMs: 800);
        StartExperiment(coordinator, spec);
        var first = w1.ExpectMsg<TrainRound>(Wait);
        w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, first, "c0", 100, 1f); // c1 and c2 miss the deadline: 1 of 3, all needed

        Advance(coordinator, Deadline(spec) - Ms);
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // no new attempt before the deadline
        Advance(coordinator, Ms);
        var retry = w1.ExpectMsg<TrainRound>(Wait);
        var retry2 = w2.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(first.Round, retry.Round);
        Assert.True(retry.Attempt > first.Attempt);
        Reply(w1, coordinator, first, "c1", 300, 100f); // late answer to the old attempt: must not count
        Reply(w1, coordinator, retry, "c0", 100, 1f);
        Reply(w1, coordinator, retry, "c1", 300, 1f);
        Reply(w2, coordinator, retry2, "c2", 600, 1f);

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        AssertClose(Initial(spec).Select(v => v + 1f).ToArray(), new FederationStore(Db.Path).Load(spec.Id)!.Global);
    }

    [Fact]
    public void Metrics_should_count_timed_out_and_late_updates_the_attempt_and_the_round_duration()
    {
        var dropped = new Dictionary<string, long>();
        var durations = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == EdgeActors.Actors.Observability.FederatedMetrics.MeterName) l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
        {
            if (i.Name != EdgeActors.Actors.Observability.FederatedMetrics.DroppedUpdates) return;
            foreach (var t in tags)
                if (t.Key == "reason") lock (dropped) dropped[(string)t.Value!] = dropped.GetValueOrDefault((string)t.Value!) + value;
        });
        listener.SetMeasurementEventCallback<double>((i, _, _, _) =>
        {
            if (i.Name == EdgeActors.Actors.Observability.FederatedMetrics.RoundDuration) Interlocked.Increment(ref durations);
        });
        listener.Start();

        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("metrics", rounds: 1, quorum: 1, timeoutMs: 800);
        StartExperiment(coordinator, spec);
        var first = w1.ExpectMsg<TrainRound>(Wait);
        w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, first, "c0", 100, 1f); // c1 and c2 time out: the attempt restarts
        Advance(coordinator, Deadline(spec));
        var retry = w1.ExpectMsg<TrainRound>(Wait);
        var retry2 = w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, first, "c1", 300, 100f); // late: for the old attempt
        Reply(w1, coordinator, retry, "c0", 100, 1f);
        Reply(w1, coordinator, retry, "c1", 300, 1f);
        Reply(w2, coordinator, retry2, "c2", 600, 1f);
        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));

        listener.RecordObservableInstruments();
        lock (dropped)
        {
            Assert.True(dropped.GetValueOrDefault("timeout") >= 2, "timeout: " + string.Join(",", dropped));
            Assert.True(dropped.GetValueOrDefault("late") >= 1, "late: " + string.Join(",", dropped));
        }
        Assert.True(durations >= 1, "no round duration recorded");
    }

    [Fact]
    public void A_worker_that_stops_should_drop_its_clients_at_once_instead_of_blocking_the_round()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("crash", rounds: 1, quorum: 0.5, timeoutMs: 120_000);
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, t1, "c0", 100, 2f);
        Reply(w1, coordinator, t1, "c1", 300, 2f);
        Sys.Stop(w2.Ref); // the node of c2 goes away mid-round (Terminated, long before the 120 s deadline)

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var r1 = Assert.Single(Status(coordinator, spec.Id).History);
        Assert.Equal((2, 1), (r1.Received, r1.Dropped));
    }

    [Fact]
    public void A_new_coordinator_should_resume_after_the_last_committed_round_without_applying_anything_twice()
    {
        var store = new FederationStore(Db.Path);
        var first = Coordinator(store);
        var (w1, w2) = Workers(first);
        var spec = Spec("resume", rounds: 2);
        StartExperiment(first, spec);
        var r1a = w1.ExpectMsg<TrainRound>(Wait);
        var r1b = w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, first, r1a, "c0", 100, 1f);
        Reply(w1, first, r1a, "c1", 300, 1f);
        Reply(w2, first, r1b, "c2", 600, 1f);
        var r2 = w1.ExpectMsg<TrainRound>(Wait);
        w2.ExpectMsg<TrainRound>(Wait);
        Watch(first);
        Sys.Stop(first); // failover mid-round 2
        ExpectTerminated(first, Wait);

        var second = Coordinator(new FederationStore(Db.Path));
        w1.Send(second, new ParticipantHeartbeat("n1", [new ClientInfo("c0", 100), new ClientInfo("c1", 300)]));
        w2.Send(second, new ParticipantHeartbeat("n2", [new ClientInfo("c2", 600)]));
        // it waits the resume grace for the edges (the workers above have announced themselves by then)
        Advance(second, Settings.ResumeGrace - Ms);
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Advance(second, Ms);
        var again = w1.ExpectMsg<TrainRound>(Wait);
        var again2 = w2.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(2, again.Round);
        Assert.True(again.Attempt > r2.Attempt, $"attempt {again.Attempt} after {r2.Attempt}");
        AssertClose(Initial(spec).Select(v => v + 1f).ToArray(), again.Global); // round 1 applied exactly once
        Reply(w1, second, r2, "c0", 100, 50f); // the dead coordinator's attempt: ignored
        Reply(w1, second, again, "c0", 100, 2f);
        Reply(w1, second, again, "c1", 300, 2f);
        Reply(w2, second, again2, "c2", 600, 2f);

        AwaitAssert(() => Assert.Equal("done", Status(second, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var stored = new FederationStore(Db.Path).Load(spec.Id)!;
        Assert.Equal([1, 2], stored.History.Select(h => h.Round));
        AssertClose(Initial(spec).Select(v => v + 3f).ToArray(), stored.Global);
    }

    [Fact]
    public void Secure_aggregation_should_recover_the_masks_of_a_dropped_client_and_see_only_the_sum()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("secagg", rounds: 1, quorum: 0.5, timeoutMs: 2_000) with { SecureAggregation = true };
        StartExperiment(coordinator, spec);

        var clients = SecAggKeysAndShares(coordinator, (w1, ["c0", "c1"]), (w2, ["c2"]));
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        w2.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(["c0", "c1", "c2"], t1.MaskPeers);
        w1.Send(coordinator, Masked(t1, clients["c0"], 100, 1f));
        w1.Send(coordinator, Masked(t1, clients["c1"], 300, 2f));
        // c2 never sends its masked input: at the deadline the survivors reveal their shares of c2's mask key (and of each other's self-mask seed)
        Advance(coordinator, Deadline(spec) - Ms);
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Advance(coordinator, Ms);
        var unmask = Unmask(w1, coordinator, clients);
        Assert.Equal(["c0", "c1"], unmask.Survivors);

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        AssertClose(Initial(spec).Select(v => v + 1.75f).ToArray(), new FederationStore(Db.Path).Load(spec.Id)!.Global, 1e-4f);
        foreach (var c in clients.Values) c.Dispose();
    }

    [Fact]
    public void Secure_aggregation_should_refuse_a_round_key_not_signed_by_the_deployment_and_exclude_its_client()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("secagg-forged", rounds: 1, quorum: 0.5, timeoutMs: 2_000) with { SecureAggregation = true };
        StartExperiment(coordinator, spec);
        var k1 = w1.ExpectMsg<MaskKeyRequest>(Wait);
        var k2 = w2.ExpectMsg<MaskKeyRequest>(Wait);
        var context = SecAggPlus.Context(k1.ExperimentId, k1.Round, k1.Attempt);
        var clients = new[] { "c0", "c1", "c2" }.ToDictionary(c => c, c => new SecAggClient(c, context));
        var good = new[] { "c0", "c1" }.Select(c => clients[c].Advertise(Credentials.SigningKey, Credentials.Certificate)).ToArray();
        w1.Send(coordinator, new SecAggKeys(k1.ExperimentId, k1.Round, k1.Attempt, ["c0", "c1"], good.Select(x => x.CipherKey).ToArray(),
            good.Select(x => x.MaskKey).ToArray(), good.Select(x => x.Signature).ToArray(), Credentials.Certificate));
        // w2 signs c2's keys with a certificate of another CA
        using var otherCa = EdgeActors.Client.Security.Certificates.CreateAuthority("round-coordinator-test-ca");
        using var impostor = EdgeActors.Client.Security.Certificates.Issue(otherCa, "edge-test", TimeSpan.FromDays(1));
        using var impostorKey = impostor.GetECDsaPrivateKey()!;
        var forged = clients["c2"].Advertise(impostorKey, impostor.RawData);
        EventFilter.Warning(contains: "round key refused, client excluded: the round key of 'c2' is signed by a credential not from this deployment").ExpectOne(Wait, () =>
            w2.Send(coordinator, new SecAggKeys(k2.ExperimentId, k2.Round, k2.Attempt, ["c2"], [forged.CipherKey], [forged.MaskKey], [forged.Signature], impostor.RawData)));

        // only c0 and c1 share (c2 is not a peer); c2's worker gets no share request
        var q = w1.ExpectMsg<SecAggShareRequest>(Wait);
        Assert.Equal(["c0", "c1"], q.Peers);
        w2.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        foreach (var c in clients.Values) c.Dispose();
    }

    [Fact]
    public void Fold_mode_should_add_a_late_update_with_staleness_weight()
    {
        var coordinator = Coordinator();
        var w1 = CreateTestProbe();
        w1.Send(coordinator, new ParticipantHeartbeat("n1", [new ClientInfo("c0", 100), new ClientInfo("c1", 100)]));
        var spec = Spec("fold", rounds: 2, quorum: 0.5, timeoutMs: 1_000) with { LateUpdates = "fold", MaxStaleness = 2 };
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, t1, "c0", 100, 1f); // c1 is late for round 1
        Advance(coordinator, Deadline(spec)); // round 1 closes at its deadline with c0 alone
        var t2 = w1.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(2, t2.Round);
        Reply(w1, coordinator, t1, "c1", 100, 4f); // round-1 update arriving in round 2: staleness 1, weight 1/√2
        Reply(w1, coordinator, t2, "c0", 100, 2f);
        Reply(w1, coordinator, t2, "c1", 100, 2f);

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var history = Status(coordinator, spec.Id).History;
        Assert.Equal(1, history[1].Late);
        var w = 100 / Math.Sqrt(2);
        var round2 = (float)((100 * 2 + 100 * 2 + w * 4) / (200 + w));
        AssertClose(Initial(spec).Select(v => v + 1f + round2).ToArray(), new FederationStore(Db.Path).Load(spec.Id)!.Global, 1e-4f);
    }

    [Fact]
    public void Clipping_should_bound_each_update_and_weight_clients_equally()
    {
        var coordinator = Coordinator();
        var w1 = CreateTestProbe();
        w1.Send(coordinator, new ParticipantHeartbeat("n1", [new ClientInfo("c0", 100), new ClientInfo("c1", 900)]));
        var spec = Spec("clip", rounds: 1) with { ClipNorm = 1 };
        StartExperiment(coordinator, spec);
        var t = w1.ExpectMsg<TrainRound>(Wait);
        var big = new float[Dimension];
        big[0] = 30;
        big[1] = 40; // norm 50 → clipped to (0.6, 0.8)
        w1.Send(coordinator, new ClientUpdate(t.ExperimentId, 1, t.Attempt, "c0", 100, 0f, big));
        var small = new float[Dimension];
        small[0] = 0.2f; // norm 0.2 → unchanged
        w1.Send(coordinator, new ClientUpdate(t.ExperimentId, 1, t.Attempt, "c1", 900, 0f, small));

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var global = new FederationStore(Db.Path).Load(spec.Id)!.Global;
        var initial = Initial(spec);
        Assert.Equal(initial[0] + 0.4f, global[0], 5); // (0.6 + 0.2) / 2: equal weights under clipping
        Assert.Equal(initial[1] + 0.4f, global[1], 5); // 0.8 / 2
        Assert.Equal(initial[2], global[2]);
    }

    [Theory]
    [InlineData("median", true, "secure aggregation")]
    [InlineData("mean", false, "mean")]
    [InlineData("krum", false, null)]
    public void Start_should_refuse_an_invalid_experiment_naming_the_problem(string strategy, bool secure, string? problem)
    {
        var coordinator = Coordinator();
        coordinator.Tell(new StartExperiment(Spec("bad-" + strategy) with { Strategy = strategy, SecureAggregation = secure }), TestActor);
        if (problem is null)
        {
            ExpectMsg<ExperimentAccepted>(Wait);
            return;
        }
        var rejected = ExpectMsg<ExperimentRejected>(Wait);
        Assert.Contains(problem, rejected.Reason);
    }

    [Fact]
    public void Malformed_updates_should_be_refused_without_harming_the_round()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("malformed", rounds: 1, quorum: 0.3);
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        var t2 = w2.ExpectMsg<TrainRound>(Wait);
        var nan = Fill(1f);
        nan[17] = float.NaN;
        w1.Send(coordinator, new ClientUpdate(t1.ExperimentId, 1, t1.Attempt, "c0", 100, 0f, nan));
        w1.Send(coordinator, new ClientUpdate(t1.ExperimentId, 1, t1.Attempt, "c1", 300, 0f, new float[3]));
        w1.Send(coordinator, new ClientUpdate(t1.ExperimentId, 1, t1.Attempt, "not-sampled", 300, 0f, Fill(9f)));
        Reply(w2, coordinator, t2, "c2", 600, 2f);

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var r1 = Assert.Single(Status(coordinator, spec.Id).History);
        Assert.Equal((1, 2), (r1.Received, r1.Dropped));
        AssertClose(Initial(spec).Select(v => v + 2f).ToArray(), new FederationStore(Db.Path).Load(spec.Id)!.Global);
    }

    [Fact]
    public void A_diverged_global_model_should_end_the_experiment_as_failed_with_its_rounds_kept()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("diverge", rounds: 3) with { ServerLearningRate = 1e4f };
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        var t2 = w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, t1, "c0", 100, 3e35f); // finite updates with a finite mean, but 10⁴ × the mean overflows float
        Reply(w1, coordinator, t1, "c1", 300, 3e35f);
        Reply(w2, coordinator, t2, "c2", 600, 3e35f);

        AwaitAssert(() => Assert.Equal("failed", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var status = Status(coordinator, spec.Id);
        Assert.Contains("diverged at round 1", status.Detail);
        Assert.Single(status.History);
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // no round 2
        Assert.Equal("failed", new FederationStore(Db.Path).Load(spec.Id)!.State);
    }

    [Fact]
    public void A_failed_reload_after_a_lost_commit_should_be_retried_instead_of_leaving_the_coordinator_stuck()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("lost-commit", rounds: 3);
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        var t2 = w2.ExpectMsg<TrainRound>(Wait);

        // another coordinator commits round 1 first; its round row cannot be read back for now, so the reload fails
        var committed = Initial(spec).Select(v => v + 1f).ToArray();
        var theirs = new RoundSummary(1, t1.Attempt, 0.5, 1, 3, 3, 0, 0, 1, 0, 0, ["c0", "c1", "c2"]);
        Assert.True(new FederationStore(Db.Path).CommitRound(spec.Id, theirs, committed, false));
        var summary = (string)Sql("SELECT summary FROM rounds WHERE experiment = 'lost-commit' AND round = 1")!;
        Sql("UPDATE rounds SET summary = 'unreadable' WHERE experiment = 'lost-commit' AND round = 1");
        var logs = CreateTestProbe();
        Sys.EventStream.Subscribe(logs.Ref, typeof(Akka.Event.Warning));

        Reply(w1, coordinator, t1, "c0", 100, 5f);
        Reply(w1, coordinator, t1, "c1", 300, 5f);
        Reply(w2, coordinator, t2, "c2", 600, 5f);

        // the coordinator's commit is refused (round 1 is taken), its reload fails and is retried
        logs.FishForMessage<Akka.Event.Warning>(w => w.Message.ToString()!.Contains("reload", StringComparison.OrdinalIgnoreCase), Wait);
        Sql("UPDATE rounds SET summary = $s WHERE experiment = 'lost-commit' AND round = 1", ("$s", summary));

        // a retry after the reload backoff reads the committed state and, after the resume grace, the experiment carries on
        // from the other coordinator's round 1. While it reloads the coordinator answers nothing that would show its retry
        // timer is set, so time moves a backoff at a time until the round starts (no retry: no round, and this fails)
        AwaitAssert(() =>
        {
            Clock.Advance(RoundCoordinator.ReloadBackoff(1));
            Assert.True(w1.HasMessages, "no round after the reload backoff");
        }, Wait, TimeSpan.FromMilliseconds(100));
        var next = w1.ExpectMsg<TrainRound>(Wait);
        Assert.Equal(2, next.Round);
        AssertClose(committed, next.Global, 0);
        Assert.Equal(1, Status(coordinator, spec.Id).Round);
    }

    private object? Sql(string sql, params (string Name, object Value)[] parameters)
    {
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Db.Path}");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        return cmd.ExecuteScalar();
    }

    [Fact]
    public void Job_ids_that_escaped_alike_should_run_as_two_jobs_without_restarting_the_coordinator()
    {
        var coordinator = Coordinator();
        Workers(coordinator);

        coordinator.Tell(new StartKMeans("a b", 3, 5, 2.5, 7), TestActor);
        var first = ExpectMsg<JobStatus>(Wait);
        Assert.Equal("a b", first.Id);
        Assert.NotEqual("failed", first.State);
        coordinator.Tell(new StartKMeans("a_20b", 3, 5, 2.5, 7), TestActor);
        var second = ExpectMsg<JobStatus>(Wait);
        Assert.Equal("a_20b", second.Id);
        Assert.NotEqual("failed", second.State);

        // the coordinator did not restart: it still knows the first job
        coordinator.Tell(new GetJobStatus("a b"), TestActor);
        var again = ExpectMsg<JobStatus>(Wait);
        Assert.Equal("a b", again.Id);
        Assert.NotEqual("unknown", again.State);
    }

    [Fact]
    public void A_rejected_publish_should_leave_the_pending_publishes_and_an_accepted_one_should_set_the_model_version()
    {
        var registry = CreateTestProbe();
        var coordinator = Sys.ActorOf(RoundCoordinator.Props(Settings, new FederationStore(Db.Path), Evaluation, registry.Ref));
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("publish", rounds: 2) with { PublishAs = "fed-model" };
        StartExperiment(coordinator, spec);
        var t1 = w1.ExpectMsg<TrainRound>(Wait);
        var t2 = w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, t1, "c0", 100, 1f);
        Reply(w1, coordinator, t1, "c1", 300, 1f);
        Reply(w2, coordinator, t2, "c2", 600, 1f);

        var p1 = registry.ExpectMsg<PublishModel>(Wait);
        Assert.Equal("fed-model", p1.Name);
        registry.Reply(new ModelCommandRejected(p1.Name, "registry storage failure: disk full"));
        AwaitAssert(() =>
        {
            coordinator.Tell(RoundCoordinator.GetPendingPublishes.Instance, TestActor);
            Assert.Equal(0, ExpectMsg<int>(Wait));
        }, Wait, TimeSpan.FromMilliseconds(200));

        var r2a = w1.ExpectMsg<TrainRound>(Wait);
        var r2b = w2.ExpectMsg<TrainRound>(Wait);
        Reply(w1, coordinator, r2a, "c0", 100, 1f);
        Reply(w1, coordinator, r2a, "c1", 300, 1f);
        Reply(w2, coordinator, r2b, "c2", 600, 1f);
        var p2 = registry.ExpectMsg<PublishModel>(Wait);
        registry.Reply(new ModelPublished(new ModelInfo(p2.Name, 7, p2.InputShape, p2.Labels, "sha", p2.Onnx.Length, 1, p2.Description), true));

        AwaitAssert(() =>
        {
            var status = Status(coordinator, spec.Id);
            Assert.Equal("done", status.State);
            Assert.Equal([0, 7], status.History.Select(h => h.ModelVersion));
            coordinator.Tell(RoundCoordinator.GetPendingPublishes.Instance, TestActor);
            Assert.Equal(0, ExpectMsg<int>(Wait));
        }, Wait, TimeSpan.FromMilliseconds(200));
        AwaitAssert(() => Assert.Equal([0, 7], new FederationStore(Db.Path).Load(spec.Id)!.History.Select(h => h.ModelVersion)),
            Wait, TimeSpan.FromMilliseconds(200));
    }
}
