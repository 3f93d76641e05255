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
        Sys.ActorOf(RoundCoordinator.Props(Settings, store ?? new FederationStore(Db.Path), Evaluation, registry, Credentials));

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

    // ---------------------------------------------------------------- secure aggregation: test probes play the workers with real SecAggClients

    /// <summary>The deployment credentials of these tests: a fresh CA and one edge certificate it issued (every probe signs with it).</summary>
    private protected SecAggCredentials Credentials { get; } = NewCredentials();

    private static SecAggCredentials NewCredentials()
    {
        var ca = EdgeActors.Client.Security.Certificates.CreateAuthority("round-coordinator-test-ca");
        return new SecAggCredentials(ca, EdgeActors.Client.Security.Certificates.Issue(ca, "edge-test", TimeSpan.FromDays(1)));
    }

    /// <summary>
    /// SecAgg+ rounds 0 and 1 as real workers would play them: each probe answers its key request with signed round keys of
    /// fresh <see cref="SecAggClient"/>s, then its share request with their encrypted shares. Returns the clients by id.
    /// </summary>
    protected Dictionary<string, SecAggClient> SecAggKeysAndShares(IActorRef coordinator, params (TestProbe Worker, string[] Clients)[] workers)
    {
        var clients = new Dictionary<string, SecAggClient>(StringComparer.Ordinal);
        foreach (var (w, ids) in workers)
        {
            var k = w.ExpectMsg<MaskKeyRequest>(Wait);
            Assert.Equal(ids, k.Clients);
            var context = SecAggPlus.Context(k.ExperimentId, k.Round, k.Attempt);
            var keys = ids.Select(id => (clients[id] = new SecAggClient(id, context)).Advertise(Credentials.SigningKey, Credentials.Certificate)).ToArray();
            w.Send(coordinator, new SecAggKeys(k.ExperimentId, k.Round, k.Attempt, ids, keys.Select(x => x.CipherKey).ToArray(), keys.Select(x => x.MaskKey).ToArray(),
                keys.Select(x => x.Signature).ToArray(), Credentials.Certificate));
        }
        foreach (var (w, _) in workers)
        {
            var q = w.ExpectMsg<SecAggShareRequest>(Wait);
            var from = new List<string>();
            var to = new List<string>();
            var ciphertexts = new List<byte[]>();
            foreach (var id in q.Clients)
            foreach (var (peer, ct) in clients[id].ShareSecrets(q.Peers.Zip(q.CipherKeys).ToList(), q.Threshold))
            {
                from.Add(id);
                to.Add(peer);
                ciphertexts.Add(ct);
            }
            w.Send(coordinator, new SecAggShares(q.ExperimentId, q.Round, q.Attempt, from.ToArray(), to.ToArray(), ciphertexts.ToArray()));
        }
        return clients;
    }

    /// <summary>Client <paramref name="c"/>'s masked input for <paramref name="samples"/>·<paramref name="value"/> everywhere.</summary>
    protected static MaskedClientUpdate Masked(TrainRound t, SecAggClient c, int samples, float value) =>
        new(t.ExperimentId, t.Round, t.Attempt, c.ClientId, samples, 0.1f, c.Mask(Fill(value * samples), t.MaskPeers.Zip(t.MaskKeys).ToDictionary(p => p.First, p => p.Second)));

    /// <summary>SecAgg+ round 3 on probe <paramref name="w"/>: its clients reveal their shares; returns the request.</summary>
    protected static SecAggUnmaskRequest Unmask(TestProbe w, IActorRef coordinator, Dictionary<string, SecAggClient> clients)
    {
        var u = w.ExpectMsg<SecAggUnmaskRequest>(Wait);
        var holders = new List<string>();
        var shares = new List<SecAggShare>();
        var refused = new List<string>();
        foreach (var id in u.Clients)
        {
            var ciphertexts = u.To.Select((t, i) => (t, i)).Where(p => p.t == id).ToDictionary(p => u.From[p.i], p => u.Ciphertexts[p.i]);
            foreach (var share in clients[id].Unmask(u.Survivors, ciphertexts, refused))
            {
                holders.Add(id);
                shares.Add(share);
            }
        }
        Assert.Empty(refused);
        w.Send(coordinator, new SecAggUnmaskShares(u.ExperimentId, u.Round, u.Attempt, holders.ToArray(), shares.Select(s => s.Owner).ToArray(),
            shares.Select(s => (byte)s.Secret).ToArray(), shares.Select(s => s.X).ToArray(), shares.Select(s => s.Y).ToArray(), []));
        return u;
    }
}
