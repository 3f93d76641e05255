using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Ingestion;

/// <summary>Builders and plain reference computations shared by the ingestion tests.</summary>
internal static class IngestionTestKit
{
    public static readonly DeviceId Device = new("dev-1");

    /// <summary>A batch of readings with consecutive sequences from <paramref name="firstSeq"/>; timestamps = 1000 + sequence.</summary>
    public static TelemetryBatch Batch(long firstSeq, params float[][] readings)
    {
        var seqs = new long[readings.Length];
        for (var i = 0; i < seqs.Length; i++)
            seqs[i] = firstSeq + i;
        return Batch(seqs, readings);
    }

    public static TelemetryBatch Batch(long[] sequences, params float[][] readings)
    {
        var channels = readings.Length == 0 ? 1 : readings[0].Length;
        var ts = new long[sequences.Length];
        var values = new float[readings.Length * channels];
        for (var i = 0; i < sequences.Length; i++)
        {
            ts[i] = 1000 + sequences[i];
            readings[i].CopyTo(values, i * channels);
        }
        return new TelemetryBatch(Device, channels, sequences, ts, values);
    }

    /// <summary>A single channel batch, one value per reading.</summary>
    public static TelemetryBatch Scalar(long firstSeq, params float[] values) =>
        new(Device, 1, Seqs(firstSeq, values.Length), Seqs(1000 + firstSeq, values.Length), values);

    public static long[] Seqs(long first, int n)
    {
        var s = new long[n];
        for (var i = 0; i < n; i++)
            s[i] = first + i;
        return s;
    }

    public static CameraFrame Frame(long seq, byte fill = 10, int width = 28, int height = 28, int label = 3, int? pixelCount = null) =>
        new(Device, seq, 5000 + seq, width, height, Enumerable.Repeat(fill, pixelCount ?? width * height).ToArray(), label);

    public static IngestionSettings Settings(DenoiseKind kind = DenoiseKind.None) => new() { Denoise = kind };

    /// <summary>
    /// Feeds single-channel values one reading per batch and recovers each denoised value from the running
    /// mean: y_k = k*mean_k - (k-1)*mean_(k-1).
    /// </summary>
    public static double[] DenoisedSeries(TelemetryPreprocessor p, float[] raw)
    {
        var result = new double[raw.Length];
        double previousSum = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            var outcome = p.Process(Scalar(i + 1, raw[i]));
            Assert.Equal(1, outcome.Accepted);
            var s = p.Statistics()[0];
            var sum = s.Mean * s.Count;
            result[i] = sum - previousSum;
            previousSum = sum;
        }
        return result;
    }

    /// <summary>Sort-based median of the last <paramref name="window"/> values up to index i (fewer at start).</summary>
    public static double[] ReferenceMedian(float[] raw, int window)
    {
        var result = new double[raw.Length];
        for (var i = 0; i < raw.Length; i++)
        {
            var start = Math.Max(0, i - window + 1);
            var slice = raw[start..(i + 1)];
            Array.Sort(slice);
            var m = slice.Length / 2;
            result[i] = slice.Length % 2 == 1 ? slice[m] : ((double)slice[m - 1] + slice[m]) / 2;
        }
        return result;
    }

    /// <summary>Two-pass mean and sample variance.</summary>
    public static (double Mean, double Variance) TwoPass(IReadOnlyList<double> xs, int count)
    {
        double sum = 0;
        for (var i = 0; i < count; i++)
            sum += xs[i];
        var mean = sum / count;
        double ss = 0;
        for (var i = 0; i < count; i++)
            ss += (xs[i] - mean) * (xs[i] - mean);
        return (mean, count < 2 ? 0 : ss / (count - 1));
    }

    public static void Close(double expected, double actual, double relTol, string? what = null)
    {
        var tol = relTol * Math.Max(1.0, Math.Abs(expected));
        Assert.True(Math.Abs(expected - actual) <= tol, $"{what}: expected {expected:R}, got {actual:R} (tol {tol:R})");
    }
}
