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
/// Promises of the round coordinator not covered elsewhere: central DP noise of the configured scale on what it applies,
/// and secure aggregation's edge cases (a dropped client's late masked update, a survivor leaving during mask recovery).
/// The coordinator runs as a plain actor on a temporary database, test probes are the edge workers, deadlines pass on
/// virtual time (<see cref="RoundCoordinatorTestKit"/>).
/// </summary>
public sealed class RoundCoordinatorPromiseTests : RoundCoordinatorTestKit
{
    [Fact]
    public void Central_DP_should_add_gaussian_noise_of_scale_z_times_C_over_m_to_the_applied_mean()
    {
        const double clip = 2, z = 0.5;
        var coordinator = Coordinator();
        var w1 = CreateTestProbe();
        w1.Send(coordinator, new ParticipantHeartbeat("n1", [new ClientInfo("c0", 100), new ClientInfo("c1", 900)]));
        var spec = Spec("dp", rounds: 1) with { ClipNorm = clip, NoiseMultiplier = z };
        StartExperiment(coordinator, spec);
        var t = w1.ExpectMsg<TrainRound>(Wait);
        // both updates are inside the clipping norm (0.01·√3194 ≈ 0.57 and 1.7 < 2): the plain (uniform) mean is 0.02
        w1.Send(coordinator, new ClientUpdate(t.ExperimentId, t.Round, t.Attempt, "c0", 100, 0f, Fill(0.01f)));
        w1.Send(coordinator, new ClientUpdate(t.ExperimentId, t.Round, t.Attempt, "c1", 900, 0f, Fill(0.03f)));

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var global = new FederationStore(Db.Path).Load(spec.Id)!.Global;
        var initial = Initial(spec);
        var noise = global.Select((g, i) => (double)g - initial[i] - 0.02).ToArray();
        var mean = noise.Average();
        var std = Math.Sqrt(noise.Select(n => (n - mean) * (n - mean)).Sum() / (noise.Length - 1));
        var expected = z * clip / 2; // σ = z·C on the sum of the m = 2 clipped updates, z·C/m on their mean
        // 3194 samples: the sample σ is within ±10 % of the true one far beyond any chance, and the mean near 0
        Assert.InRange(std, 0.9 * expected, 1.1 * expected);
        Assert.InRange(mean, -0.05, 0.05);
    }

    /// <summary>Rounds 0–1 for c0, c1 (on w1) and c2 (on w2); returns the first training request of each worker.</summary>
    private (TrainRound T1, TrainRound T2, Dictionary<string, SecAggClient> Clients) SecureRound(IActorRef coordinator, TestProbe w1, TestProbe w2)
    {
        var clients = SecAggKeysAndShares(coordinator, (w1, ["c0", "c1"]), (w2, ["c2"]));
        return (w1.ExpectMsg<TrainRound>(Wait), w2.ExpectMsg<TrainRound>(Wait), clients);
    }

    [Fact]
    public void Secure_aggregation_should_ignore_the_late_masked_update_of_a_client_already_declared_dropped()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("secagg-late", rounds: 1, quorum: 0.5, timeoutMs: 2_000) with { SecureAggregation = true };
        StartExperiment(coordinator, spec);
        var (t1, t2, clients) = SecureRound(coordinator, w1, w2);
        w1.Send(coordinator, Masked(t1, clients["c0"], 100, 1f));
        w1.Send(coordinator, Masked(t1, clients["c1"], 300, 2f));

        // c2 misses the deadline: the survivor set {c0, c1} is fixed and unmasking starts
        Advance(coordinator, Deadline(spec));
        var unmask = w1.ExpectMsg<SecAggUnmaskRequest>(Wait);
        Assert.Equal(["c0", "c1"], unmask.Survivors);
        // now c2's masked input arrives, late: it must not count (the round goes on without it); its self-mask is never revealed
        w2.Send(coordinator, Masked(t2, clients["c2"], 600, 50f));
        var holders = new List<string>();
        var shares = new List<SecAggShare>();
        foreach (var id in unmask.Clients)
        {
            var ciphertexts = unmask.To.Select((t, i) => (t, i)).Where(p => p.t == id).ToDictionary(p => unmask.From[p.i], p => unmask.Ciphertexts[p.i]);
            foreach (var share in clients[id].Unmask(unmask.Survivors, ciphertexts, []))
            {
                holders.Add(id);
                shares.Add(share);
            }
        }
        Assert.DoesNotContain(shares, s => s.Owner == "c2" && s.Secret == SecAggSecret.SelfMask);
        w1.Send(coordinator, new SecAggUnmaskShares(unmask.ExperimentId, unmask.Round, unmask.Attempt, holders.ToArray(), shares.Select(s => s.Owner).ToArray(),
            shares.Select(s => (byte)s.Secret).ToArray(), shares.Select(s => s.X).ToArray(), shares.Select(s => s.Y).ToArray(), []));

        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(200));
        var global = new FederationStore(Db.Path).Load(spec.Id)!.Global;
        var initial = Initial(spec);
        for (var i = 0; i < Dimension; i += 97) Assert.Equal(initial[i] + 1.75f, global[i], 3); // (100·1 + 300·2) / 400
        var round = Assert.Single(Status(coordinator, spec.Id).History);
        Assert.Equal((2, 1), (round.Received, round.Dropped));
        foreach (var c in clients.Values) c.Dispose();
    }

    [Fact]
    public void Secure_aggregation_should_restart_the_round_when_a_survivor_leaves_during_mask_recovery()
    {
        var coordinator = Coordinator();
        var (w1, w2) = Workers(coordinator);
        var spec = Spec("secagg-survivor", rounds: 1, quorum: 0.5, timeoutMs: 2_000) with { SecureAggregation = true };
        StartExperiment(coordinator, spec);
        var (t1, t2, clients) = SecureRound(coordinator, w1, w2);
        // c0 (w1) and c2 (w2) send, c1 (w1) misses the deadline
        w1.Send(coordinator, Masked(t1, clients["c0"], 100, 1f));
        w2.Send(coordinator, Masked(t2, clients["c2"], 600, 3f));
        Advance(coordinator, Deadline(spec));
        Assert.Equal(["c0", "c2"], w1.ExpectMsg<SecAggUnmaskRequest>(Wait).Survivors);
        var unmask2 = w2.ExpectMsg<SecAggUnmaskRequest>(Wait);
        Assert.Equal(["c2"], unmask2.Clients);

        // the survivor c2's node goes away before revealing its shares: the coordinator restarts at once, for that reason
        // (not later, at the reveal deadline, for another: time stands still)
        EventFilter.Warning(contains: "left during mask recovery").ExpectOne(Wait, () => Sys.Stop(w2.Ref));

        // the attempt is abandoned (nothing applied) and the round starts again with whoever is left
        var again = w1.ExpectMsg<MaskKeyRequest>(Wait);
        Assert.Equal((t1.Round, t1.Attempt + 1), (again.Round, again.Attempt));
        var status = Status(coordinator, spec.Id);
        Assert.Equal(("running", 2), (status.State, status.Attempt));
        Assert.Empty(status.History); // nothing of the abandoned attempt was applied
        foreach (var c in clients.Values) c.Dispose();
    }
}
