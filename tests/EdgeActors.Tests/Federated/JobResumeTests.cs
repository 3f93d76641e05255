using Akka.Actor;
using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Federated.Gbdt;
using EdgeActors.Messages;
using EdgeActors.Storage;

namespace EdgeActors.Tests.Federated;

/// <summary>
/// Durable k-means/GBDT jobs (<see cref="JobRunner"/>, <see cref="JobHost"/>) on the coordinator with a SQLite store and
/// virtual time: a job resumed by a new coordinator from its checkpoint, a worker that misses a step retried, a worker gone
/// for good failing the job after the stall timeout; the edges are real <see cref="JobParticipant"/>s over
/// <see cref="LocalTrainingSet"/>s.
/// </summary>
public sealed class JobResumeTests : RoundCoordinatorTestKit
{
    private static readonly FederationSettings JobSettings = new(HeartbeatInterval: TimeSpan.FromMilliseconds(200), ParticipantTimeout: TimeSpan.FromSeconds(30),
        ResumeGrace: TimeSpan.FromMilliseconds(300))
    {
        JobStepTimeout = TimeSpan.FromSeconds(5),
        JobStallTimeout = TimeSpan.FromSeconds(20),
    };

    private sealed record SetCoordinator(IActorRef Coordinator);

    /// <summary>An edge's worker: answers job steps with a real JobParticipant unless <c>drop</c> says to lose the step.</summary>
    private sealed class EdgeWorker : ReceiveActor
    {
        private IActorRef _coordinator;
        private JobParticipant? _participant;
        private string _job = "";

        public EdgeWorker(string node, LocalTrainingSet data, IActorRef coordinator, Func<string, JobStep, bool> drop)
        {
            _coordinator = coordinator;
            Receive<SetCoordinator>(s =>
            {
                _coordinator = s.Coordinator;
                _coordinator.Tell(new ParticipantHeartbeat(node, []), Self);
            });
            Receive<JobStep>(s =>
            {
                if (drop(node, s)) return;
                if (_participant is null || _job != s.JobId) (_participant, _job) = (new JobParticipant(s.Kind, data), s.JobId);
                try
                {
                    Sender.Tell(new JobStepReply(s.JobId, s.Step, node, _participant.Handle(s), ""));
                }
                catch (Exception e)
                {
                    Sender.Tell(new JobStepReply(s.JobId, s.Step, node, [], e.Message));
                }
            });
        }

        protected override void PreStart() => _coordinator.Tell(new ParticipantHeartbeat(Self.Path.Name, []), Self);
    }

    /// <summary>Three groups of devices in two behaviour features, spread over the edges (deterministic).</summary>
    private static LocalTrainingSet Behaviours(int edge)
    {
        var set = new LocalTrainingSet();
        var rng = new Random(100 + edge);
        (float X, float Y)[] centres = [(0, 0), (10, 0), (0, 10)];
        for (var i = 0; i < 24; i++)
        {
            var (x, y) = centres[i % 3];
            set.UpdateBehaviour(new DeviceId($"e{edge}-d{i}"), [x + (float)rng.NextDouble(), y + (float)rng.NextDouble()]);
        }
        return set;
    }

    private (IActorRef E1, IActorRef E2) Edges(IActorRef coordinator, Func<string, JobStep, bool> drop)
    {
        var e1 = Sys.ActorOf(Props.Create(() => new EdgeWorker("edge-1", Behaviours(1), coordinator, drop)), "edge-1");
        var e2 = Sys.ActorOf(Props.Create(() => new EdgeWorker("edge-2", Behaviours(2), coordinator, drop)), "edge-2");
        AwaitParticipants(coordinator);
        return (e1, e2);
    }

    /// <summary>Returns once both edges' heartbeats reached the coordinator.</summary>
    private void AwaitParticipants(IActorRef coordinator)
    {
        AwaitCondition(() =>
        {
            coordinator.Tell(GetFederationStatus.Instance, TestActor);
            return ExpectMsg<FederationStatus>(Wait).Participants.Length == 2;
        }, Wait);
    }

    private IActorRef JobCoordinator() => Sys.ActorOf(RoundCoordinator.Props(JobSettings, new FederationStore(Db.Path), Evaluation, null));

    private JobStatus JobState(IActorRef coordinator, string id)
    {
        coordinator.Tell(new GetJobStatus(id), TestActor);
        return ExpectMsg<JobStatus>(Wait);
    }

    /// <summary>
    /// Waits (real time) while the job makes progress on its own; when it has been quiet for a second, moves virtual time by
    /// one second (step timeouts, retry backoff); until the job has ended or 80 virtual seconds passed.
    /// </summary>
    private JobStatus RunToEnd(IActorRef coordinator, string id)
    {
        var status = JobState(coordinator, id);
        for (var i = 0; i < 80 && status.State == "running"; i++)
        {
            for (var quiet = 0; quiet < 10 && status.State == "running"; quiet++)
            {
                var before = (status.Lines.Length, status.Detail);
                Thread.Sleep(100);
                status = JobState(coordinator, id);
                if ((status.Lines.Length, status.Detail) != before) quiet = 0;
            }
            if (status.State != "running") break;
            Advance(coordinator, TimeSpan.FromSeconds(1));
            status = JobState(coordinator, id);
        }
        return status;
    }

    private static double Value(JobStatus s, string key) => s.ResultValues[Array.IndexOf(s.ResultKeys, key)];

    private static StartKMeans KMeans(string id) => new(id, 3, 20, 3, 1);

    [Fact]
    public void A_kmeans_job_should_be_resumed_by_the_next_coordinator_from_its_checkpoint_and_equal_an_uninterrupted_run()
    {
        var held = true;
        var c1 = JobCoordinator();
        var (e1, e2) = Edges(c1, (_, s) => held && s.Step >= 2);
        c1.Tell(KMeans("km"), TestActor);
        Assert.Equal("running", ExpectMsg<JobStatus>(Wait).State);
        // step 2 (the second Lloyd iteration) left after its checkpoint: the coordinator dies while the edges compute it
        var store = new FederationStore(Db.Path);
        AwaitCondition(() => store.LoadJob("km") is { Step: 2 }, Wait);
        Watch(c1);
        Sys.Stop(c1);
        ExpectTerminated(c1, Wait);

        held = false;
        var c2 = JobCoordinator();
        e1.Tell(new SetCoordinator(c2));
        e2.Tell(new SetCoordinator(c2));
        AwaitParticipants(c2);
        var resumed = RunToEnd(c2, "km");

        Assert.True(resumed.State == "done", $"{resumed.State}: {resumed.Detail}\n{string.Join("\n", resumed.Lines)}");
        Assert.Contains(resumed.Lines, l => l.Contains("resumed by the coordinator", StringComparison.Ordinal) && l.Contains("at step 2", StringComparison.Ordinal));
        Assert.Contains(resumed.Lines, l => l.Contains("iteration 1:", StringComparison.Ordinal)); // the lines before the failover were kept
        Assert.Equal("done", store.LoadJob("km")!.State);

        // the same job without a failover gives the same clustering
        c2.Tell(KMeans("km-ref"), TestActor);
        ExpectMsg<JobStatus>(Wait);
        var reference = RunToEnd(c2, "km-ref");
        Assert.Equal("done", reference.State);
        Assert.Equal(48, Value(resumed, "devices"));
        Assert.Equal(Value(reference, "inertia"), Value(resumed, "inertia"), 9);
        Assert.Equal(Value(reference, "iterations"), Value(resumed, "iterations"));
        Assert.Equal(reference.Lines.Where(l => l.Contains("device ", StringComparison.Ordinal)).Select(l => l[l.IndexOf("device ", StringComparison.Ordinal)..]),
            resumed.Lines.Where(l => l.Contains("device ", StringComparison.Ordinal)).Select(l => l[l.IndexOf("device ", StringComparison.Ordinal)..]));
    }

    [Fact]
    public void A_worker_that_misses_a_step_should_be_asked_again_and_the_job_should_finish()
    {
        var lost = 0;
        var c = JobCoordinator();
        Edges(c, (node, s) => node == "edge-2" && s.Step == 1 && Interlocked.Increment(ref lost) <= 2); // loses two tries of step 1
        c.Tell(KMeans("km-retry"), TestActor);
        ExpectMsg<JobStatus>(Wait);
        var status = RunToEnd(c, "km-retry");

        Assert.True(status.State == "done", $"{status.State}: {status.Detail}");
        Assert.Equal(48, Value(status, "devices"));
        Assert.Equal(2, status.Lines.Count(l => l.Contains("step 1: worker on edge-2: no answer within 5 s", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_worker_that_stays_away_should_fail_the_job_after_the_stall_timeout_naming_it()
    {
        var c = JobCoordinator();
        Edges(c, (node, s) => node == "edge-2" && s.Step >= 1);
        c.Tell(KMeans("km-stall"), TestActor);
        ExpectMsg<JobStatus>(Wait);
        var status = RunToEnd(c, "km-stall");

        Assert.True(status.State == "failed", $"{status.State}: {status.Detail}\n{string.Join("\n", status.Lines)}");
        Assert.Contains("worker on edge-2", status.Detail);
        Assert.Contains("job-stall-timeout 20 s", status.Detail);
        var store = new FederationStore(Db.Path);
        AwaitCondition(() => store.LoadJob("km-stall")!.State == "failed", Wait); // recorded (off the mailbox): a failover does not resume it
    }

    [Fact]
    public void A_GBDT_resumed_from_an_iteration_boundary_with_restored_parties_should_grow_the_same_trees()
    {
        var options = new GbdtOptions { Classes = 3, Iterations = 6, MaxDepth = 3, LearningRate = 0.3, MaxBins = 16, Lambda = 1 };
        GbdtParty[] Parties() => [Party(1, 150), Party(2, 120)];
        var uninterrupted = GbdtTrainer.TrainFederated(Parties(), options);

        // the same run, interrupted after iteration 2: a new grower and new parties continue from the checkpoint
        var parties = Parties();
        var grower = new GbdtTreeGrower(options, 6);
        var edges = grower.MergeSketches(parties.Select((p, i) => p.Sketch(int.MaxValue, i)).ToList());
        foreach (var p in parties) p.SetBins(edges);
        while (grower.Iteration < 2)
            grower.Accept(LevelHistograms.Sum(parties.Select(p => p.Histograms(grower.Next()!))));
        var trees = grower.FinishedTrees.ToArray();
        Assert.Equal(6, trees.Length);
        grower.Next(); // a level of iteration 2 left before the coordinator died: redone from the boundary

        var resumed = GbdtTreeGrower.Resume(options, 6, edges, trees);
        var restored = Parties();
        foreach (var p in restored) p.Restore(edges, trees);
        while (resumed.Next() is { } request) resumed.Accept(LevelHistograms.Sum(restored.Select(p => p.Histograms(request))));

        Assert.Equal(uninterrupted.Trees.Count, resumed.Model.Trees.Count);
        for (var k = 0; k < uninterrupted.Trees.Count; k++)
        {
            var (a, b) = (uninterrupted.Trees[k], resumed.Model.Trees[k]);
            Assert.Equal(a.Feature, b.Feature);
            Assert.Equal(a.Threshold, b.Threshold);
            Assert.Equal(a.Left, b.Left);
            Assert.Equal(a.Value, b.Value); // bit for bit: the restored scores are the trained ones
        }
    }

    private static GbdtParty Party(int seed, int rows)
    {
        var rng = new Random(seed);
        var features = new float[rows * 6];
        var labels = new byte[rows];
        for (var r = 0; r < rows; r++)
        {
            for (var f = 0; f < 6; f++) features[r * 6 + f] = MathF.Round((float)rng.NextDouble() * 20) / 2;
            labels[r] = (byte)((features[r * 6] + features[r * 6 + 1] > 10 ? 1 : 0) + (features[r * 6 + 2] > 7 ? 1 : 0));
        }
        return new GbdtParty(features, rows, 6, labels, 3);
    }

    [Theory]
    [InlineData("fedavgm")]
    [InlineData("fedadam")]
    [InlineData("fedyogi")]
    [InlineData("scaffold")]
    public async Task A_server_optimiser_restored_from_the_store_should_continue_as_the_uninterrupted_one(string strategy)
    {
        var kind = Aggregators.ServerOptimizerOf(Aggregators.Parse(strategy));
        var options = new ServerOptimizerOptions(0.5, 0.9, 0.99, 1e-3);
        const int dim = 7;
        var running = new ServerOptimizer(kind, dim, options);
        float[]? control = strategy == "scaffold" ? new float[dim] : null;
        var global = new float[dim];
        var rng = new Random(3);
        float[] Delta() => Enumerable.Range(0, dim).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        for (var round = 0; round < 3; round++)
        {
            running.Step(global, Delta());
            if (control is not null) Scaffold.ServerControl(control, Delta(), 2, 4);
        }

        // round 3 committed with its state; a coordinator after a failover loads it into a fresh optimiser
        var spec = Spec("opt-" + strategy) with { Strategy = strategy };
        var store = (IFederationStore)new FederationStore(Db.Path);
        await store.CreateAsync(spec, global);
        for (var r = 1; r <= 3; r++)
            Assert.True(await store.CommitRoundAsync(spec.Id, new RoundSummary(r, r, 0, 0, 1, 1, 0, 0, 1, 0, 0, []), global, false, ServerState.Encode(running, control)));
        var loaded = (await store.LoadAsync(spec.Id))!;
        var restored = new ServerOptimizer(kind, dim, options);
        var restoredControl = control is null ? null : new float[dim];
        ServerState.Restore(loaded.ServerState, restored, restoredControl);

        var next = Delta();
        var (a, b, fresh) = ((float[])global.Clone(), (float[])loaded.Global.Clone(), (float[])global.Clone());
        running.Step(a, next);
        restored.Step(b, next);
        new ServerOptimizer(kind, dim, options).Step(fresh, next); // what a failover did before: m = 0, v = τ²
        Assert.Equal(a, b);
        Assert.Equal(control, restoredControl);
        if (strategy != "scaffold") Assert.NotEqual(a, fresh);
    }

    [Fact]
    public void Server_state_of_another_optimiser_should_be_refused_naming_both()
    {
        var adam = new ServerOptimizer(ServerOptimizerKind.Adam, 3, new ServerOptimizerOptions());
        adam.Step(new float[3], [1f, 2f, 3f]);
        var blob = ServerState.Encode(adam, null);

        var e = Assert.Throws<InvalidDataException>(() => ServerState.Restore(blob, new ServerOptimizer(ServerOptimizerKind.Momentum, 3, new ServerOptimizerOptions()), null));
        Assert.Contains("Adam", e.Message);
        Assert.Contains("Momentum", e.Message);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => ServerState.Restore(blob[..10], new ServerOptimizer(ServerOptimizerKind.Adam, 3, new ServerOptimizerOptions()), null)).Message);
        ServerState.Restore([], adam, null); // an experiment of an earlier release: nothing stored, nothing changes
    }

    [Fact]
    public void Job_settings_should_be_read_and_validated_naming_the_key()
    {
        var s = FederationSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("job-step-timeout = 7s\njob-stall-timeout = 1m"));
        Assert.Equal((TimeSpan.FromSeconds(7), TimeSpan.FromMinutes(1)), (s.JobStepTimeout, s.JobStallTimeout));
        Assert.Equal((TimeSpan.FromSeconds(120), TimeSpan.FromMinutes(10)), (FederationSettings.Default.JobStepTimeout, FederationSettings.Default.JobStallTimeout));
        Assert.Contains("job-stall-timeout", Assert.Throws<ArgumentException>(() =>
            FederationSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("job-step-timeout = 30s\njob-stall-timeout = 10s"))).Message);
        Assert.Contains("job-step-timeout", Assert.Throws<ArgumentException>(() =>
            FederationSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("job-step-timeout = 0s"))).Message);
    }
}
