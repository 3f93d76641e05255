using System.Diagnostics;
using System.Numerics.Tensors;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// Throughputs in GB/s of update bytes read (updates × dimension × 4 bytes / seconds; 1 GB = 10⁹ bytes), each the median
/// over the repetitions after warm-up, all measured in one run on the same vectors, round-robin (one repetition of each
/// variant in turn) so that changes in machine load hit every variant alike.
/// </summary>
/// <param name="BaselineGBps">Plain sum of the vectors with TensorPrimitives.Add into one accumulator.</param>
/// <param name="FedAvgGBps">FedAvg through <see cref="IUpdateAggregator"/>: Create, Add each (weighted), Complete, Dispose;
/// this includes the finite check each Add makes before touching the accumulator (a second read of the update).</param>
/// <param name="FedAvgToBaseline">FedAvgGBps / BaselineGBps.</param>
/// <param name="MaskExpandGBps">SecAgg mask generation (<see cref="SecAggMasks.Expand"/>) in GB/s of mask bytes, for reference.</param>
/// <param name="FedAvgMaxAbsError">Largest |FedAvg result − baseline sum / updates| (weights all 1): a sanity check.</param>
public sealed record AggregationBenchResult(
    int Dimension, int Updates, int Repetitions,
    double BaselineGBps, double FedAvgGBps, double MedianGBps, double TrimmedMeanGBps, double KrumGBps,
    double FedAvgToBaseline, double MaskExpandGBps, double FedAvgMaxAbsError)
{
    public override string ToString() =>
        $"aggregation of {Updates} updates × {Dimension:N0} floats ({Repetitions} repetitions, median): "
        + $"baseline sum {BaselineGBps:F2} GB/s, fedavg {FedAvgGBps:F2} GB/s ({FedAvgToBaseline:F2}× baseline), "
        + $"median {MedianGBps:F2} GB/s, trimmed-mean {TrimmedMeanGBps:F2} GB/s, krum {KrumGBps:F2} GB/s; "
        + $"secagg mask expansion {MaskExpandGBps:F2} GB/s";
}

/// <summary>Measures the aggregators against a plain vector sum (single thread, no actors).</summary>
public static class AggregationBench
{
    /// <param name="dimension">Floats per update; the default is the size of the project's 784-256-128-10 MLP.</param>
    /// <param name="updates">Updates per aggregation, at least 3 (Krum runs with f = 2, or less when fewer than 7 updates).</param>
    /// <param name="repetitions">Timed repetitions of each variant.</param>
    /// <param name="warmup">Untimed rounds first (at least this many, and for at least <paramref name="minWarmupSeconds"/>,
    /// so the JIT has replaced the first-tier code of the generic vector paths before timing starts).</param>
    public static AggregationBenchResult Run(int dimension = 235146, int updates = 10, int repetitions = 15, int warmup = 3,
        double minWarmupSeconds = 2.0, int seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repetitions);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        if (updates < KrumAggregator.MinimumCount(0))
            throw new ArgumentOutOfRangeException(nameof(updates), updates, "the benchmark needs at least 3 updates (Krum with f = 0)");
        // the default f = 2 where the updates allow it, else the largest f Krum accepts
        var krumOptions = new AggregatorOptions(KrumByzantine: Math.Min(2, (updates - 3) / 2));

        var rng = new Random(seed);
        var vectors = new float[updates][];
        for (var u = 0; u < updates; u++)
        {
            vectors[u] = new float[dimension];
            for (var i = 0; i < dimension; i++) vectors[u][i] = (float)(rng.NextDouble() * 2 - 1);
        }
        var accumulator = new float[dimension];
        var result = new float[dimension];
        var bytes = (double)updates * dimension * sizeof(float);

        void Baseline()
        {
            accumulator.AsSpan().Clear();
            foreach (var v in vectors) TensorPrimitives.Add(accumulator, v, accumulator);
        }

        Action Aggregate(AggregationStrategy strategy, AggregatorOptions? options = null) => () =>
        {
            using var aggregator = Aggregators.Create(strategy, dimension, updates, options);
            foreach (var v in vectors) aggregator.Add(v, 1.0);
            aggregator.Complete(result);
        };

        var seedBytes = new byte[32];
        rng.NextBytes(seedBytes);
        var mask = new ulong[dimension];
        var maskBytes = (double)dimension * sizeof(ulong);

        var gbps = Measure(
        [
            (Baseline, bytes),
            (Aggregate(AggregationStrategy.FedAvg), bytes),
            (Aggregate(AggregationStrategy.Median), bytes),
            (Aggregate(AggregationStrategy.TrimmedMean), bytes),
            (Aggregate(AggregationStrategy.Krum, krumOptions), bytes),
            (() => SecAggMasks.Expand(seedBytes, mask), maskBytes),
        ], repetitions, warmup, minWarmupSeconds);

        Aggregate(AggregationStrategy.FedAvg)();
        Baseline();
        double maxError = 0;
        for (var i = 0; i < dimension; i++) maxError = Math.Max(maxError, Math.Abs(result[i] - accumulator[i] / updates));

        return new AggregationBenchResult(dimension, updates, repetitions, gbps[0], gbps[1], gbps[2], gbps[3], gbps[4],
            gbps[1] / gbps[0], gbps[5], maxError);
    }

    /// <summary>
    /// Runs the variants round-robin (warm-up rounds, then timed rounds) so that a change in machine load hits them all
    /// alike; returns each variant's bytes / median seconds in GB/s.
    /// </summary>
    private static double[] Measure((Action Action, double Bytes)[] variants, int repetitions, int warmup, double minWarmupSeconds)
    {
        var warmupStart = Stopwatch.GetTimestamp();
        for (var w = 0; w < warmup || Stopwatch.GetElapsedTime(warmupStart).TotalSeconds < minWarmupSeconds; w++)
        {
            foreach (var (action, _) in variants) action();
        }
        var seconds = new double[variants.Length][];
        for (var v = 0; v < variants.Length; v++) seconds[v] = new double[repetitions];
        for (var r = 0; r < repetitions; r++)
        {
            for (var v = 0; v < variants.Length; v++)
            {
                var start = Stopwatch.GetTimestamp();
                variants[v].Action();
                var ticks = Math.Max(1, Stopwatch.GetTimestamp() - start);
                seconds[v][r] = (double)ticks / Stopwatch.Frequency;
            }
        }
        var gbps = new double[variants.Length];
        for (var v = 0; v < variants.Length; v++)
        {
            var sorted = seconds[v];
            Array.Sort(sorted);
            var mid = repetitions / 2;
            var median = (repetitions & 1) == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
            gbps[v] = variants[v].Bytes / median / 1e9;
        }
        return gbps;
    }
}
