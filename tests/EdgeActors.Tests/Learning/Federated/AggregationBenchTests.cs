using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Learning.Federated;

public sealed class AggregationBenchTests
{
    [Fact]
    public void Bench_should_report_consistent_figures_for_a_small_run()
    {
        var r = AggregationBench.Run(dimension: 1_000, updates: 7, repetitions: 3, warmup: 1, minWarmupSeconds: 0);
        Assert.Equal(1_000, r.Dimension);
        Assert.Equal(7, r.Updates);
        foreach (var gbps in new[] { r.BaselineGBps, r.FedAvgGBps, r.MedianGBps, r.TrimmedMeanGBps, r.KrumGBps, r.MaskExpandGBps })
            Assert.True(double.IsFinite(gbps) && gbps > 0, $"throughput {gbps}");
        Assert.Equal(r.FedAvgGBps / r.BaselineGBps, r.FedAvgToBaseline, 12);
        // FedAvg with unit weights is the plain mean
        Assert.InRange(r.FedAvgMaxAbsError, 0, 1e-6);
        Assert.Contains("fedavg", r.ToString());
        Assert.Throws<ArgumentOutOfRangeException>(() => AggregationBench.Run(dimension: 10, updates: 2));
    }
}
