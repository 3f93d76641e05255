using EdgeActors.Actors.Ingestion;
using static EdgeActors.Tests.Ingestion.IngestionTestKit;

namespace EdgeActors.Tests.Ingestion;

public class FilterTests
{
    [Fact]
    public void Median_filter_should_remove_single_spike()
    {
        var p = new TelemetryPreprocessor(Settings(DenoiseKind.Median));
        var raw = new float[] { 10, 11, 10, 9, 10, 1000, 10, 11, 9, 10 };

        var denoised = DenoisedSeries(p, raw);

        Assert.All(denoised, y => Assert.InRange(y, 9.0, 11.0));
        var reference = ReferenceMedian(raw, 5);
        Assert.Equal((float)reference.Max(), p.Statistics()[0].Max);
        for (var i = 0; i < raw.Length; i++)
            Close(reference[i], denoised[i], 1e-9, $"reading {i}");
    }

    [Fact]
    public void Median_filter_without_filter_would_keep_the_spike()
    {
        // Control for the spike test: the same input through None keeps 1000.
        var p = new TelemetryPreprocessor(Settings(DenoiseKind.None));
        DenoisedSeries(p, [10, 11, 10, 9, 10, 1000, 10, 11, 9, 10]);
        Assert.Equal(1000f, p.Statistics()[0].Max);
    }

    [Fact]
    public void Median_window_should_use_available_values_at_start()
    {
        var p = new TelemetryPreprocessor(Settings(DenoiseKind.Median));
        var raw = new float[] { 5, 1, 3, 10, 2, 8, 7 };

        var denoised = DenoisedSeries(p, raw);

        // 5 | (1+5)/2 | 3 | (3+5)/2 | 3 | window [1,3,10,2,8] -> 3 | [3,10,2,8,7] -> 7
        double[] expected = [5, 3, 3, 4, 3, 3, 7];
        for (var i = 0; i < raw.Length; i++)
            Close(expected[i], denoised[i], 1e-12, $"reading {i}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(31)]
    public void Median_filter_should_match_sort_based_reference(int window)
    {
        var rng = new Random(window);
        var raw = new float[300];
        for (var i = 0; i < raw.Length; i++)
            raw[i] = (float)(rng.NextDouble() * 200 - 100) * (rng.Next(10) == 0 ? 50 : 1);
        raw[17] = raw[18] = raw[19]; // equal values exercise the removal path

        var p = new TelemetryPreprocessor(Settings(DenoiseKind.Median) with { MedianWindow = window });
        var denoised = DenoisedSeries(p, raw);

        var reference = ReferenceMedian(raw, window);
        for (var i = 0; i < raw.Length; i++)
            Close(reference[i], denoised[i], 1e-6, $"reading {i}");
    }

    [Fact]
    public void Ema_filter_should_match_recurrence()
    {
        const double alpha = 0.3;
        var rng = new Random(7);
        var raw = new float[200];
        for (var i = 0; i < raw.Length; i++)
            raw[i] = (float)(rng.NextDouble() * 100);

        var p = new TelemetryPreprocessor(Settings(DenoiseKind.Ema) with { EmaAlpha = alpha });
        var denoised = DenoisedSeries(p, raw);

        double y = raw[0];
        for (var i = 0; i < raw.Length; i++)
        {
            if (i > 0)
                y = alpha * raw[i] + (1 - alpha) * y;
            Close(y, denoised[i], 1e-9, $"reading {i}");
        }
    }

    [Fact]
    public void None_filter_should_pass_values_through()
    {
        var raw = new float[] { 3.5f, -2.25f, 1000f, 0f, 7.125f };
        var p = new TelemetryPreprocessor(Settings(DenoiseKind.None));

        var denoised = DenoisedSeries(p, raw);

        for (var i = 0; i < raw.Length; i++)
            Close(raw[i], denoised[i], 1e-12, $"reading {i}");
    }

    [Fact]
    public void Filters_should_be_independent_per_channel()
    {
        var p = new TelemetryPreprocessor(Settings(DenoiseKind.Median));
        p.Process(Batch(1, [1f, 100f], [1f, 100f], [50f, 100f], [1f, -500f], [1f, 100f]));

        var stats = p.Statistics();
        Assert.Equal(1f, stats[0].Max);  // the 50 spike on channel 0 is removed
        Assert.Equal(100f, stats[1].Min); // the -500 spike on channel 1 is removed
    }
}
