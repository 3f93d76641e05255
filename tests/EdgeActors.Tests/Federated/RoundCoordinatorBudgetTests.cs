using EdgeActors.Learning.Federated;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Federated;

/// <summary>
/// Central DP's ε budget (<see cref="ExperimentSpec.EpsilonBudget"/>): the coordinator stops an experiment before the round
/// whose release would take the total ε above the budget. The coordinator runs as a plain actor on a temporary database,
/// a test probe is the edge worker (<see cref="RoundCoordinatorTestKit"/>).
/// </summary>
public sealed class RoundCoordinatorBudgetTests : RoundCoordinatorTestKit
{
    [Fact]
    public void An_epsilon_budget_should_stop_the_experiment_before_the_round_that_would_exceed_it()
    {
        const double z = 1.0, delta = 1e-5;
        // every round samples both clients of the one worker: q = 1; the budget lies between ε after 2 and after 3 rounds
        var after = new double[4];
        for (var rounds = 1; rounds <= 3; rounds++)
        {
            var a = new RdpAccountant();
            a.Compose(1.0, z, rounds);
            after[rounds] = a.Epsilon(delta);
        }
        var budget = (after[2] + after[3]) / 2;
        var coordinator = Coordinator();
        var w1 = CreateTestProbe();
        w1.Send(coordinator, new ParticipantHeartbeat("n1", [new ClientInfo("c0", 100), new ClientInfo("c1", 300)]));
        var spec = Spec("dp-budget", rounds: 5) with { ClipNorm = 1, NoiseMultiplier = z, EpsilonBudget = budget, Delta = delta };
        StartExperiment(coordinator, spec);

        for (var round = 1; round <= 2; round++)
        {
            var t = w1.ExpectMsg<TrainRound>(Wait);
            Assert.Equal(round, t.Round);
            Reply(w1, coordinator, t, "c0", 100, 0.001f);
            Reply(w1, coordinator, t, "c1", 300, 0.002f);
        }

        // round 3 would spend after[3] > budget: no third training request, the experiment is done and says why
        AwaitAssert(() => Assert.Equal("done", Status(coordinator, spec.Id).State), Wait, TimeSpan.FromMilliseconds(100));
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        var status = Status(coordinator, spec.Id);
        Assert.Equal(2, status.Round);
        Assert.Equal(2, status.History.Length);
        var total = status.History[^1].Epsilon;
        Assert.True(total <= budget, $"total ε {total} > budget {budget}");
        Assert.Equal(after[2], total, 9);
        Assert.Contains("stopped before round 3", status.Detail);
        Assert.Contains("budget", status.Detail);
        // the stored experiment says the same (a status read from the store after a failover)
        AwaitAssert(() =>
        {
            var stored = new EdgeActors.Storage.FederationStore(Db.Path).Load(spec.Id)!;
            Assert.Equal((2, "done"), (stored.Round, stored.State));
            Assert.Contains("stopped before round 3", stored.Detail);
        }, Wait, TimeSpan.FromMilliseconds(100));
    }
}
