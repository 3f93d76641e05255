using EdgeActors.Actors.Federated;
using EdgeActors.Tests.Serialization;

namespace EdgeActors.Tests.Federated;

/// <summary>The coordinator's per-round decisions that are plain functions: the publish gate and the learning-rate schedule.</summary>
public sealed class RoundCoordinatorGateTests
{
    [Fact]
    public void Gate_should_publish_only_rounds_not_worse_than_the_active_version_and_say_why()
    {
        var spec = SampleMessages.Spec() with { PublishTolerance = 0.01 };
        Assert.True(RoundCoordinator.Gate(spec, 0.70, null, hasValidationSet: true).Publish);
        Assert.True(RoundCoordinator.Gate(spec, 0.795, 0.80, hasValidationSet: true).Publish);
        var worse = RoundCoordinator.Gate(spec, 0.70, 0.80, hasValidationSet: true);
        Assert.False(worse.Publish);
        Assert.StartsWith("not published: validation 0.7000 < active 0.8000", worse.Reason);
        Assert.Contains("gate off", RoundCoordinator.Gate(spec, double.NaN, 0.80, hasValidationSet: false).Reason);
        Assert.False(RoundCoordinator.Gate(spec with { PublishAs = "" }, 0.9, null, hasValidationSet: true).Publish);
    }

    [Fact]
    public void Learning_rate_should_decay_per_round_from_the_first()
    {
        var spec = SampleMessages.Spec() with { LearningRate = 0.1f, LearningRateDecay = 0.5 };
        Assert.Equal(0.1f, RoundCoordinator.LearningRateOf(spec, 1));
        Assert.Equal(0.05f, RoundCoordinator.LearningRateOf(spec, 2));
        Assert.Equal(0.0125f, RoundCoordinator.LearningRateOf(spec, 4));
        Assert.Equal(0.1f, RoundCoordinator.LearningRateOf(spec with { LearningRateDecay = 1 }, 50));
    }
}
