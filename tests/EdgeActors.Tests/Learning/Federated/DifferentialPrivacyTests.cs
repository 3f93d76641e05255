using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Learning.Federated;

public sealed class DifferentialPrivacyTests
{
    [Fact]
    public void L2Norm_should_match_hand_computed_norms_including_huge_values()
    {
        Assert.Equal(5.0, DifferentialPrivacy.L2Norm([3f, 4f]));
        Assert.Equal(0.0, DifferentialPrivacy.L2Norm([]));
        // 1e20² overflows float: the chunk is redone in double
        Assert.Equal(Math.Sqrt(2) * 1e20, DifferentialPrivacy.L2Norm([1e20f, -1e20f]), 1e20 * 1e-6);
        var ones = Enumerable.Repeat(1f, 10_001).ToArray(); // several chunks and a tail
        Assert.Equal(Math.Sqrt(10_001), DifferentialPrivacy.L2Norm(ones), 1e-9);
    }

    [Fact]
    public void ClipL2_should_scale_a_long_update_onto_the_ball_and_return_its_norm()
    {
        var update = new[] { 3f, 4f };
        Assert.Equal(5.0, DifferentialPrivacy.ClipL2(update, 1.0));
        Assert.Equal(0.6f, update[0], 5);
        Assert.Equal(0.8f, update[1], 5);
        Assert.True(DifferentialPrivacy.L2Norm(update) <= 1.0);

        var rng = new Random(3);
        var big = Enumerable.Range(0, 100_000).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var original = (float[])big.Clone();
        var norm = DifferentialPrivacy.ClipL2(big, 0.5);
        Assert.Equal(DifferentialPrivacy.L2Norm(original), norm);
        var clipped = DifferentialPrivacy.L2Norm(big);
        Assert.InRange(clipped, 0.5 * (1 - 1e-5), 0.5);
        // the direction is kept: every value shrank by the same factor
        var factor = big[0] / original[0];
        for (var i = 0; i < big.Length; i += 997) Assert.Equal(factor, big[i] / original[i], 3);
    }

    [Fact]
    public void ClipL2_should_leave_a_short_update_untouched_and_reject_bad_input()
    {
        var update = new[] { 3f, 4f };
        Assert.Equal(5.0, DifferentialPrivacy.ClipL2(update, 10.0));
        Assert.Equal([3f, 4f], update);
        Assert.Throws<ArgumentOutOfRangeException>(() => DifferentialPrivacy.ClipL2(update, 0));
        Assert.Throws<ArgumentException>(() => DifferentialPrivacy.ClipL2(new[] { 1f, float.NaN }, 1));
    }

    [Fact]
    public void AddGaussianNoise_should_have_the_configured_scale_and_zero_mean()
    {
        const int n = 200_001; // odd: the last value takes one of a Box-Muller pair
        const double std = 0.7;
        var values = new float[n];
        DifferentialPrivacy.AddGaussianNoise(values, std, new Random(42));
        var mean = values.Average(v => (double)v);
        var sampleStd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        Assert.InRange(sampleStd, std * 0.98, std * 1.02);
        Assert.InRange(mean, -4 * std / Math.Sqrt(n), 4 * std / Math.Sqrt(n));
        // Gaussian tails: about 4.55 % beyond 2σ
        var beyondTwo = values.Count(v => Math.Abs(v) > 2 * std) / (double)n;
        Assert.InRange(beyondTwo, 0.040, 0.051);
    }

    [Fact]
    public void AddGaussianNoise_should_be_deterministic_for_a_seed_and_add_to_the_values()
    {
        var a = Enumerable.Repeat(5f, 1001).ToArray();
        var b = Enumerable.Repeat(5f, 1001).ToArray();
        var c = Enumerable.Repeat(5f, 1001).ToArray();
        DifferentialPrivacy.AddGaussianNoise(a, 0.01, new Random(9));
        DifferentialPrivacy.AddGaussianNoise(b, 0.01, new Random(9));
        DifferentialPrivacy.AddGaussianNoise(c, 0.01, new Random(10));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.InRange(a.Average(), 4.99, 5.01);
        var unchanged = new[] { 1f, 2f };
        DifferentialPrivacy.AddGaussianNoise(unchanged, 0, new Random(1));
        Assert.Equal([1f, 2f], unchanged);
        Assert.Throws<ArgumentOutOfRangeException>(() => DifferentialPrivacy.AddGaussianNoise(unchanged, -1, new Random(1)));
    }

    [Fact]
    public void DpSettings_should_give_the_noise_std_for_the_sum_and_validate()
    {
        Assert.Equal(1.2, new DpSettings(ClipNorm: 1.5, NoiseMultiplier: 0.8).NoiseStdForSum, 12);
        Assert.Equal(0.0, new DpSettings(1.0, 0.0).NoiseStdForSum);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DpSettings(0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DpSettings(1, -0.1));
    }
}
