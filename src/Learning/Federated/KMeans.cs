namespace EdgeActors.Learning.Federated;

/// <summary>
/// One party's (or the merged) sufficient statistics of a k-means assignment step: per cluster the coordinate sums of its
/// points (<paramref name="Sums"/>, K × Dimension row-major), its point count, and the sums of the points' distance and
/// squared distance to the centroid they were assigned to (for the outlier threshold).
/// </summary>
public sealed record KMeansStats(int K, int Dimension, double[] Sums, long[] Counts, double[] SquaredDistanceSums, double[] DistanceSums)
{
    /// <summary>Empty statistics (all zero).</summary>
    public static KMeansStats Empty(int k, int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        return new(k, dimension, new double[k * dimension], new long[k], new double[k], new double[k]);
    }

    /// <summary>The element-wise sum of the parts: the statistics of the union of their points.</summary>
    public static KMeansStats Merge(IEnumerable<KMeansStats> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        KMeansStats? merged = null;
        foreach (var part in parts)
        {
            ArgumentNullException.ThrowIfNull(part, nameof(parts));
            part.Validate();
            merged ??= Empty(part.K, part.Dimension);
            if (part.K != merged.K || part.Dimension != merged.Dimension)
                throw new ArgumentException(
                    $"cannot merge k-means statistics of K={part.K}, dimension {part.Dimension} into K={merged.K}, dimension {merged.Dimension}",
                    nameof(parts));
            for (var i = 0; i < merged.Sums.Length; i++) merged.Sums[i] += part.Sums[i];
            for (var c = 0; c < merged.K; c++)
            {
                merged.Counts[c] += part.Counts[c];
                merged.SquaredDistanceSums[c] += part.SquaredDistanceSums[c];
                merged.DistanceSums[c] += part.DistanceSums[c];
            }
        }
        return merged ?? throw new ArgumentException("no k-means statistics to merge", nameof(parts));
    }

    /// <summary>Checks that the arrays have the lengths K and Dimension say (statistics may come off the wire).</summary>
    public void Validate()
    {
        if (K <= 0 || Dimension <= 0) throw new ArgumentException($"k-means statistics need K > 0 and dimension > 0 (K={K}, dimension {Dimension})");
        if (Sums is null || Sums.Length != (long)K * Dimension
            || Counts is null || Counts.Length != K
            || SquaredDistanceSums is null || SquaredDistanceSums.Length != K
            || DistanceSums is null || DistanceSums.Length != K)
            throw new ArgumentException($"k-means statistics arrays do not match K={K}, dimension {Dimension}");
    }
}

/// <summary>
/// Federated k-means (Lloyd's algorithm over parties): each party assigns its points to the current centroids and sends
/// <see cref="KMeansStats"/>; the coordinator merges them and moves each centroid to the mean of its points. Points and
/// centroids are flat row-major float arrays (n × dimension); distances are accumulated in double.
/// </summary>
public static class KMeans
{
    /// <summary>Assigns each point to its nearest centroid and sums up per cluster.</summary>
    public static KMeansStats LocalStats(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<float> centroids, int k)
    {
        CheckCentroids(centroids, dimension, k);
        if (points.Length % dimension != 0)
            throw new ArgumentException($"{points.Length} values are not a whole number of {dimension}-dimensional points", nameof(points));
        var stats = KMeansStats.Empty(k, dimension);
        for (var start = 0; start < points.Length; start += dimension)
        {
            var point = points.Slice(start, dimension);
            var c = Nearest(point, centroids, k, out var squared);
            var sums = stats.Sums.AsSpan(c * dimension, dimension);
            for (var j = 0; j < dimension; j++) sums[j] += point[j];
            stats.Counts[c]++;
            stats.SquaredDistanceSums[c] += squared;
            stats.DistanceSums[c] += Math.Sqrt(squared);
        }
        return stats;
    }

    /// <summary>The new centroids: each cluster's mean; an empty cluster keeps its old centroid.</summary>
    public static float[] UpdateCentroids(ReadOnlySpan<float> oldCentroids, KMeansStats merged)
    {
        ArgumentNullException.ThrowIfNull(merged);
        merged.Validate();
        int k = merged.K, dimension = merged.Dimension;
        CheckCentroids(oldCentroids, dimension, k);
        var result = oldCentroids.ToArray();
        for (var c = 0; c < k; c++)
        {
            var n = merged.Counts[c];
            if (n <= 0) continue;
            for (var j = 0; j < dimension; j++) result[c * dimension + j] = (float)(merged.Sums[c * dimension + j] / n);
        }
        return result;
    }

    /// <summary>
    /// k-means++ seeding over the candidate points the parties sent: the first centroid uniformly, each next one with
    /// probability proportional to its squared distance to the nearest centroid chosen so far (when every remaining
    /// candidate coincides with a chosen one, uniformly among the candidates not chosen yet). Deterministic for a seed.
    /// </summary>
    public static float[] InitPlusPlus(ReadOnlySpan<float> candidates, int dimension, int k, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (candidates.Length % dimension != 0)
            throw new ArgumentException($"{candidates.Length} values are not a whole number of {dimension}-dimensional points", nameof(candidates));
        var n = candidates.Length / dimension;
        if (n < k) throw new ArgumentException($"k-means++ needs at least k = {k} candidate points, got {n}", nameof(candidates));
        var rng = new Random(seed);
        var centroids = new float[k * dimension];
        var chosen = new bool[n];
        var nearest = new double[n];
        Array.Fill(nearest, double.PositiveInfinity);
        var pick = rng.Next(n);
        for (var c = 0; c < k; c++)
        {
            if (c > 0) pick = SampleProportional(nearest, chosen, rng);
            chosen[pick] = true;
            var centroid = candidates.Slice(pick * dimension, dimension);
            centroid.CopyTo(centroids.AsSpan(c * dimension));
            for (var i = 0; i < n; i++)
                nearest[i] = Math.Min(nearest[i], SquaredDistance(candidates.Slice(i * dimension, dimension), centroid));
        }
        return centroids;
    }

    private static int SampleProportional(double[] weights, bool[] chosen, Random rng)
    {
        double total = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            if (!chosen[i]) total += weights[i];
        }
        if (total > 0 && double.IsFinite(total))
        {
            var target = rng.NextDouble() * total;
            var last = -1;
            for (var i = 0; i < weights.Length; i++)
            {
                if (chosen[i] || weights[i] <= 0) continue;
                last = i;
                target -= weights[i];
                if (target < 0) return i;
            }
            return last; // rounding left a sliver of the total
        }
        var open = Enumerable.Range(0, weights.Length).Where(i => !chosen[i]).ToArray();
        return open[rng.Next(open.Length)];
    }

    /// <summary>The index of the centroid nearest to <paramref name="point"/> (ties to the lower index) and the squared distance.</summary>
    public static int Nearest(ReadOnlySpan<float> point, ReadOnlySpan<float> centroids, int k, out double squaredDistance)
    {
        var dimension = point.Length;
        CheckCentroids(centroids, dimension, k);
        var best = 0;
        squaredDistance = double.PositiveInfinity;
        for (var c = 0; c < k; c++)
        {
            var d = SquaredDistance(point, centroids.Slice(c * dimension, dimension));
            if (d < squaredDistance)
            {
                squaredDistance = d;
                best = c;
            }
        }
        return best;
    }

    /// <summary>
    /// Distances above mean + z·std of the cluster's point-to-centroid distances mark outliers (population std, from
    /// <see cref="KMeansStats.DistanceSums"/> and <see cref="KMeansStats.SquaredDistanceSums"/>). An empty cluster has no
    /// statistics: its threshold is +∞ (nothing is an outlier).
    /// </summary>
    public static double OutlierThreshold(KMeansStats merged, int cluster, double z)
    {
        ArgumentNullException.ThrowIfNull(merged);
        merged.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(cluster);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(cluster, merged.K);
        if (!double.IsFinite(z)) throw new ArgumentOutOfRangeException(nameof(z), z, "z must be finite");
        var n = merged.Counts[cluster];
        if (n <= 0) return double.PositiveInfinity;
        var mean = merged.DistanceSums[cluster] / n;
        var variance = Math.Max(0, merged.SquaredDistanceSums[cluster] / n - mean * mean);
        return mean + z * Math.Sqrt(variance);
    }

    private static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (var j = 0; j < a.Length; j++)
        {
            var d = (double)a[j] - b[j];
            sum += d * d;
        }
        return sum;
    }

    private static void CheckCentroids(ReadOnlySpan<float> centroids, int dimension, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (centroids.Length != (long)k * dimension)
            throw new ArgumentException($"{centroids.Length} centroid values are not k = {k} centroids of dimension {dimension}", nameof(centroids));
    }
}
