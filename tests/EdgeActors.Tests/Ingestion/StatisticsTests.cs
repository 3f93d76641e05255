using EdgeActors.Actors.Ingestion;
using static EdgeActors.Tests.Ingestion.IngestionTestKit;

namespace EdgeActors.Tests.Ingestion;

public class StatisticsTests
{
    [Fact]
    public void Welford_stats_should_match_two_pass_reference_on_10000_values()
    {
        var rng = new Random(42);
        const int n = 10_000;
        var raw = new float[n];
        for (var i = 0; i < n; i++)
            raw[i] = (float)(rng.NextDouble() * 2000 - 1000 + 5000); // offset mean stresses naive sum-of-squares

        var p = new TelemetryPreprocessor(Settings(DenoiseKind.None));
        for (var b = 0; b < n; b += 100)
            Assert.Equal(100, p.Process(Scalar(b + 1, raw[b..(b + 100)])).Accepted);

        var xs = raw.Select(v => (double)v).ToArray();
        var (mean, variance) = TwoPass(xs, n);
        var s = p.Statistics()[0];
        Assert.Equal(n, s.Count);
        Close(mean, s.Mean, 1e-9, "mean");
        Close(variance, s.Variance, 1e-9, "variance");
        Assert.Equal(raw.Min(), s.Min);
        Assert.Equal(raw.Max(), s.Max);
        Assert.Equal(n, p.AcceptedReadings);
    }

    [Fact]
    public void Statistics_should_use_sample_variance()
    {
        var p = new TelemetryPreprocessor(Settings(DenoiseKind.None));
        p.Process(Scalar(1, 1, 2, 3, 4));
        // population variance would be 1.25
        Assert.Equal(5.0 / 3.0, p.Statistics()[0].Variance, 12);
    }

    [Fact]
    public void Statistics_should_be_empty_before_the_first_batch()
    {
        var p = new TelemetryPreprocessor(IngestionSettings.Default);
        Assert.Empty(p.Statistics());
        Assert.Equal(0, p.Channels);
    }

    [Fact]
    public void Normalised_values_in_buffer_should_equal_reference_at_each_step()
    {
        var rng = new Random(3);
        const int n = 1500;
        var ch0 = new float[n];
        var ch1 = new float[n];
        var readings = new float[n][];
        for (var i = 0; i < n; i++)
        {
            ch0[i] = (float)(rng.NextDouble() * 10);
            ch1[i] = (float)(rng.NextDouble() * 1000 - 300);
            readings[i] = [ch0[i], ch1[i]];
        }

        var p = new TelemetryPreprocessor(Settings(DenoiseKind.Median) with { BufferCapacity = 2048 });
        for (var b = 0; b < n; b += 100)
            p.Process(Batch(b + 1, readings[b..(b + 100)]));

        var seqs = new long[n];
        var ts = new long[n];
        var vals = new float[n * 2];
        Assert.Equal(n, p.Buffer.CopyLatest(n, seqs, ts, vals));

        for (var c = 0; c < 2; c++)
        {
            var denoised = ReferenceMedian(c == 0 ? ch0 : ch1, 5);
            for (var i = 0; i < n; i++)
            {
                var (mean, variance) = TwoPass(denoised, i + 1);
                var z = i < 1 || variance == 0 ? 0 : (denoised[i] - mean) / Math.Sqrt(variance);
                Assert.True(Math.Abs(z - vals[i * 2 + c]) <= 1e-5 * Math.Max(1, Math.Abs(z)),
                    $"channel {c} reading {i}: expected {z}, got {vals[i * 2 + c]}");
            }
        }
        Assert.Equal(Seqs(1, n), seqs);
        Assert.Equal(1001, ts[0]);
    }

    [Fact]
    public void Normalised_value_should_be_zero_for_constant_channel()
    {
        var p = new TelemetryPreprocessor(Settings(DenoiseKind.None));
        p.Process(Scalar(1, 4, 4, 4));
        var v = new float[3];
        p.Buffer.CopyLatest(3, new long[3], new long[3], v);
        Assert.Equal([0f, 0f, 0f], v);
    }
}
