using EdgeActors.Actors.Federated;
using EdgeActors.Messages;
using EdgeActors.Tests.Serialization;

namespace EdgeActors.Tests.Federated;

/// <summary>The experiment spec checks on their own: a valid spec passes, each kind of problem is named.</summary>
public sealed class ExperimentSpecValidatorTests
{
    private static readonly ExperimentSpec Valid = SampleMessages.Spec() with
    {
        Id = "exp-1", Model = "mlp:784-4-10", Strategy = "fedavg", Rounds = 2, Fraction = 1, MinClients = 1, Quorum = 1, RoundTimeoutMs = 30_000,
        LateUpdates = "drop", ClipNorm = 0, NoiseMultiplier = 0, SecureAggregation = false, PoisonedClients = [], PublishAs = "", Seed = 5,
    };

    [Fact]
    public void A_valid_spec_should_have_no_problem()
    {
        Assert.Null(ExperimentSpecValidator.Problem(Valid));
        Assert.Null(RoundCoordinator.Validate(Valid));
    }

    public static TheoryData<string, Func<ExperimentSpec, ExperimentSpec>> Problems() => new()
    {
        { "experiment id", s => s with { Id = "" } },
        { "rounds = 0", s => s with { Rounds = 0 } },
        { "fraction = 0", s => s with { Fraction = 0 } },
        { "quorum = 1.5", s => s with { Quorum = 1.5 } },
        { "late updates = 'keep'", s => s with { LateUpdates = "keep" } },
        { "round timeout", s => s with { RoundTimeoutMs = 10 } },
        { "DP noise needs a clip norm", s => s with { NoiseMultiplier = 1 } },
        { "secure aggregation hides", s => s with { Strategy = "median", SecureAggregation = true } },
        { "late updates can only be folded", s => s with { Strategy = "krum", LateUpdates = "fold" } },
        { "publish-as", s => s with { PublishAs = "bad name/with slash" } },
    };

    [Theory]
    [MemberData(nameof(Problems))]
    public void A_bad_spec_should_be_refused_with_the_reason(string expected, Func<ExperimentSpec, ExperimentSpec> change)
    {
        var problem = ExperimentSpecValidator.Problem(change(Valid));
        Assert.NotNull(problem);
        Assert.Contains(expected, problem);
    }

    [Fact]
    public void An_unknown_model_or_strategy_should_be_refused()
    {
        Assert.NotNull(ExperimentSpecValidator.Problem(Valid with { Model = "nonsense" }));
        Assert.NotNull(ExperimentSpecValidator.Problem(Valid with { Strategy = "nonsense" }));
    }
}
