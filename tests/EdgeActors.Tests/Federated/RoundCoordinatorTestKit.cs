using EdgeActors.Client.Serialization;
using EdgeActors.Storage;
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
/// The set-up shared by the round coordinator's tests: the coordinator as a plain actor on a temporary database, test
/// probes as the edge workers, and virtual time (<see cref="VirtualTimeScheduler"/>). Round deadlines, key and reveal deadlines, the
/// resume grace and the reload backoff pass only when a test moves time (<see cref="Advance"/>), so an update the test
/// sends is never overtaken by a deadline on a slow machine, and a test about a deadline moves time to it.
/// </summary>
public abstract class RoundCoordinatorTestKit() : Akka.TestKit.Xunit2.TestKit(VirtualTimeScheduler.Config.WithFallback(EdgeSerialization.Config))
{
    protected const string Model = "mlp:784-4-10";
    protected const int Dimension = 784 * 4 + 4 + 4 * 10 + 10;
    protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    protected static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private protected TempDatabase Db { get; } = new();

    protected FederationSettings Settings { get; } = new(HeartbeatInterval: TimeSpan.FromMilliseconds(200), ParticipantTimeout: TimeSpan.FromSeconds(30),
        ResumeGrace: TimeSpan.FromMilliseconds(300));

    /// <summary>The held-out data the coordinator scores each new global model on (none: the train loss is reported).</summary>
    protected virtual EvaluationSet? Evaluation() => null;

    protected VirtualTimeScheduler Clock => (VirtualTimeScheduler)Sys.Scheduler;

    protected override void AfterAll()
    {
        base.AfterAll();
        Db.Dispose();
    }

    protected IActorRef Coordinator(FederationStore? store = null, IActorRef? registry = null) =>
        Sys.ActorOf(RoundCoordinator.Props(Settings, store ?? new FederationStore(Db.Path), Evaluation, registry));

    protected static ExperimentSpec Spec(string id, int rounds = 2, double quorum = 1, long timeoutMs = 30_000) =>
        SampleMessages.Spec() with
        {
            Id = id, Model = Model, Strategy = "fedavg", Rounds = rounds, Fraction = 1, MinClients = 1, Quorum = quorum, RoundTimeoutMs = timeoutMs,
            LateUpdates = "drop", ClipNorm = 0, NoiseMultiplier = 0, SecureAggregation = false, PoisonedClients = [], PublishAs = "", Seed = 5,
            ServerLearningRate = 1f,
        };

    protected static TimeSpan Deadline(ExperimentSpec spec) => TimeSpan.FromMilliseconds(spec.RoundTimeoutMs);

    protected static float[] Initial(ExperimentSpec spec) => FederatedModel.Create(spec.Model, spec.Seed).Parameters;

    protected static float[] Fill(float value) => Enumerable.Repeat(value, Dimension).ToArray();

    /// <summary>Two workers: w1 holds c0 (100 samples) and c1 (300), w2 holds c2 (600).</summary>
    protected (TestProbe W1, TestProbe W2) Workers(IActorRef coordinator)
    {
        var w1 = CreateTestProbe();
        var w2 = CreateTestProbe();
        w1.Send(coordinator, new ParticipantHeartbeat("n1", [new ClientInfo("c0", 100), new ClientInfo("c1", 300)]));
        w2.Send(coordinator, new ParticipantHeartbeat("n2", [new ClientInfo("c2", 600)]));
        return (w1, w2);
    }

    protected void StartExperiment(IActorRef coordinator, ExperimentSpec spec)
    {
        coordinator.Tell(new StartExperiment(spec), TestActor);
        Assert.Equal(spec.Id, ExpectMsg<ExperimentAccepted>(Wait).Id);
    }

    protected static void Reply(TestProbe worker, IActorRef coordinator, TrainRound t, string client, int samples, float value) =>
        worker.Send(coordinator, new ClientUpdate(t.ExperimentId, t.Round, t.Attempt, client, samples, 0.5f, Fill(value)));

    protected ExperimentStatus Status(IActorRef coordinator, string id)
    {
        coordinator.Tell(new GetExperimentStatus(id), TestActor);
        return ExpectMsg<ExperimentStatus>(Wait);
    }

    /// <summary>
    /// Returns once the coordinator has handled everything sent to it before (a status query answered through its mailbox;
    /// while it loads, the query waits in its stash until it has loaded), so every timer it started on the way runs.
    /// </summary>
    protected void Settle(IActorRef coordinator)
    {
        coordinator.Tell(GetFederationStatus.Instance, TestActor);
        ExpectMsg<FederationStatus>(Wait);
    }

    /// <summary>Moves virtual time by <paramref name="by"/> once the coordinator has handled what was sent to it.</summary>
    protected void Advance(IActorRef coordinator, TimeSpan by)
    {
        Settle(coordinator);
        Clock.Advance(by);
    }

    protected static void AssertClose(float[] expected, float[] actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"[{i}]: expected {expected[i]}, got {actual[i]}");
    }
}
