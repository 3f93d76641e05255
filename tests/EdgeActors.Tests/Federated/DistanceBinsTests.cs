using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Federated;

public sealed class DistanceBinsTests
{
    private static long[] Histogram(params double[] distances)
    {
        var counts = new long[DistanceBins.Count];
        foreach (var d in distances) counts[DistanceBins.Of(d)]++;
        return counts;
    }

    [Fact]
    public void Bins_should_be_ordered_and_their_centres_should_lie_within_five_percent()
    {
        var previous = -1;
        foreach (var d in new[] { 0.0, 0.0005, 0.001, 0.01, 0.1, 1, 2, 10, 1000 })
        {
            var bin = DistanceBins.Of(d);
            Assert.True(bin >= previous, $"{d} → bin {bin} before bin {previous}");
            previous = bin;
            if (d >= 0.001) Assert.InRange(DistanceBins.Centre(bin) / d, 1 / 1.05, 1.05);
        }
        Assert.Equal(DistanceBins.Count - 1, DistanceBins.Of(1e300));
    }

    [Fact]
    public void RobustThreshold_should_ignore_the_outliers_that_a_mean_and_std_would_follow()
    {
        // 20 devices at distance 0.2–0.39 and two outliers at 3: the outliers inflate the std so much that mean + 4·std passes them
        var distances = Enumerable.Range(0, 20).Select(i => 0.2 + 0.01 * i).Append(3.0).Append(3.0).ToArray();
        var mean = distances.Average();
        var std = Math.Sqrt(distances.Select(d => (d - mean) * (d - mean)).Average());
        var robust = DistanceBins.RobustThreshold(Histogram(distances), 4);

        Assert.True(mean + 4 * std > 3.0, "a mean/std threshold at z = 4 lets both outliers through");
        Assert.InRange(robust, 0.39, 1.0); // median ≈ 0.3, MAD ≈ 0.05: well below the outliers, above every normal device
        Assert.Equal(double.PositiveInfinity, DistanceBins.RobustThreshold(new long[DistanceBins.Count], 4));
    }
}
