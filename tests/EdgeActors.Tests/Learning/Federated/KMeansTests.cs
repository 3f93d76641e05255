using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Learning.Federated;

public sealed class KMeansTests
{
    // two centroids, six 2-D points: three near (0, 0), three near (10, 10)
    private static readonly float[] Centroids = [0, 0, 10, 10];
    private static readonly float[] Points =
    [
        1, 0,    // c0, d² 1
        0, 2,    // c0, d² 4
        -1, 1,   // c0, d² 2
        9, 10,   // c1, d² 1
        12, 10,  // c1, d² 4
        10, 13,  // c1, d² 9
    ];

    [Fact]
    public void Nearest_should_find_the_closest_centroid_with_ties_to_the_lower_index()
    {
        float[] centroids = [0, 0, 10, 0, 0, 10];
        Assert.Equal(1, KMeans.Nearest([6f, 1f], centroids, 3, out var d));
        Assert.Equal(17.0, d);
        Assert.Equal(0, KMeans.Nearest([5f, 0f], centroids, 3, out d));
        Assert.Equal(25.0, d);
        Assert.Equal(2, KMeans.Nearest([0f, 10f], centroids, 3, out d));
        Assert.Equal(0.0, d);
    }

    [Fact]
    public void LocalStats_should_sum_points_counts_and_distances_per_cluster()
    {
        var stats = KMeans.LocalStats(Points, 2, Centroids, 2);
        Assert.Equal(2, stats.K);
        Assert.Equal(2, stats.Dimension);
        Assert.Equal([0.0, 3.0, 31.0, 33.0], stats.Sums);
        Assert.Equal([3L, 3L], stats.Counts);
        Assert.Equal([7.0, 14.0], stats.SquaredDistanceSums);
        Assert.Equal(3 + Math.Sqrt(2), stats.DistanceSums[0], 12);
        Assert.Equal(6.0, stats.DistanceSums[1], 12);
    }

    [Fact]
    public void UpdateCentroids_should_move_to_the_means_and_keep_an_empty_clusters_centroid()
    {
        float[] centroids = [0, 0, 10, 10, 100, -100];
        var stats = KMeans.LocalStats(Points, 2, centroids, 3);
        Assert.Equal(0L, stats.Counts[2]);
        var updated = KMeans.UpdateCentroids(centroids, stats);
        Assert.Equal([0f, 1f, 31f / 3f, 11f, 100f, -100f], updated);
        Assert.Equal([0f, 0f, 10f, 10f, 100f, -100f], centroids);
    }

    [Fact]
    public void Merge_of_parts_should_equal_the_stats_of_the_union()
    {
        var rng = new Random(5);
        const int dimension = 3, k = 4;
        var points = Enumerable.Range(0, 300 * dimension).Select(_ => (float)(rng.NextDouble() * 10)).ToArray();
        var centroids = points[..(k * dimension)];
        var whole = KMeans.LocalStats(points, dimension, centroids, k);
        int[] cuts = [0, 40, 40, 170, 300]; // one party has no points
        var parts = Enumerable.Range(0, cuts.Length - 1)
            .Select(p => KMeans.LocalStats(points.AsSpan(cuts[p] * dimension, (cuts[p + 1] - cuts[p]) * dimension), dimension, centroids, k))
            .ToList();
        var merged = KMeansStats.Merge(parts);
        Assert.Equal(whole.Counts, merged.Counts);
        Assert.Equal(300L, merged.Counts.Sum());
        for (var i = 0; i < whole.Sums.Length; i++) Assert.Equal(whole.Sums[i], merged.Sums[i], 9);
        for (var c = 0; c < k; c++)
        {
            Assert.Equal(whole.SquaredDistanceSums[c], merged.SquaredDistanceSums[c], 9);
            Assert.Equal(whole.DistanceSums[c], merged.DistanceSums[c], 9);
        }
        Assert.Equal(KMeans.UpdateCentroids(centroids, whole), KMeans.UpdateCentroids(centroids, merged));
    }

    [Fact]
    public void Merge_should_refuse_mismatched_or_missing_parts()
    {
        Assert.Throws<ArgumentException>(() => KMeansStats.Merge([KMeansStats.Empty(2, 3), KMeansStats.Empty(3, 3)]));
        Assert.Throws<ArgumentException>(() => KMeansStats.Merge([]));
        var broken = KMeansStats.Empty(2, 3) with { Counts = new long[1] };
        Assert.Throws<ArgumentException>(() => KMeansStats.Merge([broken]));
    }

    [Fact]
    public void OutlierThreshold_should_be_mean_plus_z_std_of_the_distances()
    {
        var stats = KMeans.LocalStats(Points, 2, Centroids, 2);
        // cluster 1 distances 1, 2, 3: mean 2, population variance 14/3 − 4 = 2/3
        Assert.Equal(2 + 2 * Math.Sqrt(2.0 / 3), KMeans.OutlierThreshold(stats, 1, 2.0), 12);
        Assert.Equal(2.0, KMeans.OutlierThreshold(stats, 1, 0.0), 12);
        var empty = KMeans.LocalStats(Points, 2, [0, 0, 10, 10, 100, -100], 3);
        Assert.Equal(double.PositiveInfinity, KMeans.OutlierThreshold(empty, 2, 3.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => KMeans.OutlierThreshold(stats, 2, 1.0));
    }

    [Fact]
    public void InitPlusPlus_should_spread_the_centroids_over_separated_groups_deterministically()
    {
        // three tight groups of four candidates around (0, 0), (100, 0), (0, 100)
        var rng = new Random(1);
        float[][] groupCentres = [[0, 0], [100, 0], [0, 100]];
        var candidates = groupCentres
            .SelectMany(g => Enumerable.Range(0, 4).SelectMany(_ => new[] { g[0] + (float)rng.NextDouble(), g[1] + (float)rng.NextDouble() }))
            .ToArray();
        var centroids = KMeans.InitPlusPlus(candidates, 2, 3, seed: 8);
        Assert.Equal(centroids, KMeans.InitPlusPlus(candidates, 2, 3, seed: 8));
        var groups = Enumerable.Range(0, 3).Select(c => KMeans.Nearest(centroids.AsSpan(c * 2, 2), [0, 0, 100, 0, 0, 100], 3, out _)).ToArray();
        Assert.Equal([0, 1, 2], groups.Order());
        // every centroid is one of the candidates
        for (var c = 0; c < 3; c++)
        {
            var centroid = centroids.AsSpan(c * 2, 2).ToArray();
            Assert.Contains(Enumerable.Range(0, 12), i => candidates[2 * i] == centroid[0] && candidates[2 * i + 1] == centroid[1]);
        }
    }

    [Fact]
    public void InitPlusPlus_should_handle_duplicates_and_refuse_too_few_candidates()
    {
        float[] same = [1, 1, 1, 1, 1, 1];
        Assert.Equal([1f, 1f, 1f, 1f], KMeans.InitPlusPlus(same, 2, 2, seed: 3));
        var e = Assert.Throws<ArgumentException>(() => KMeans.InitPlusPlus(same, 2, 4, seed: 3));
        Assert.Contains("at least k = 4", e.Message);
    }
}
