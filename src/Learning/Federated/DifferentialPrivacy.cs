using System.Numerics.Tensors;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// Central differential privacy for federated averaging (DP-FedAvg, McMahan et al. 2018): every client update is clipped
/// to L2 norm C, the coordinator adds Gaussian noise of standard deviation σ = z·C to the SUM of the clipped updates
/// (<see cref="DpSettings.NoiseStdForSum"/>), then divides by the number of clients.
/// The noise comes from the <see cref="Random"/> passed in, so a seeded one reproduces a run; a deployment that needs the
/// formal guarantee should pass a cryptographically seeded generator, and note that floating-point Gaussian sampling is
/// not a perfect discrete mechanism (Mironov 2012).
/// </summary>
public static class DifferentialPrivacy
{
    private const int NormChunk = 4096;

    /// <summary>The Euclidean norm: float partial sums of squares (vectorised) over chunks, accumulated in double.</summary>
    public static double L2Norm(ReadOnlySpan<float> v)
    {
        double sumOfSquares = 0;
        for (var start = 0; start < v.Length; start += NormChunk)
        {
            var chunk = v.Slice(start, Math.Min(NormChunk, v.Length - start));
            double part = TensorPrimitives.SumOfSquares(chunk);
            if (double.IsInfinity(part))
            {
                // values beyond ~1.8e19 overflow a float square; redo this chunk in double
                part = 0;
                foreach (var x in chunk) part += (double)x * x;
            }
            sumOfSquares += part;
        }
        return Math.Sqrt(sumOfSquares);
    }

    /// <summary>
    /// Scales <paramref name="update"/> in place so that its L2 norm is at most <paramref name="clipNorm"/> (an update
    /// already within the bound is left untouched) and returns the norm it had before.
    /// </summary>
    public static double ClipL2(Span<float> update, double clipNorm)
    {
        if (!(clipNorm > 0) || !double.IsFinite(clipNorm))
            throw new ArgumentOutOfRangeException(nameof(clipNorm), clipNorm, "the clipping norm must be finite and > 0");
        var norm = L2Norm(update);
        if (!double.IsFinite(norm))
            throw new ArgumentException("update contains NaN or infinite values; it cannot be clipped", nameof(update));
        if (norm <= clipNorm) return norm;
        // a hair below C / ‖u‖ so that float rounding of the scaled values cannot push the norm back above C
        var factor = (float)(clipNorm / norm * (1 - 1.0 / (1 << 20)));
        TensorPrimitives.Multiply(update, factor, update);
        // practically never taken: the margin above exceeds the rounding of the products and of the norm
        while (L2Norm(update) > clipNorm) TensorPrimitives.Multiply(update, 1f - 1f / (1 << 20), update);
        return norm;
    }

    /// <summary>
    /// Adds independent N(0, <paramref name="stdDev"/>²) noise to every value (Box–Muller, two normals per pair of
    /// uniforms). Deterministic for a seeded <paramref name="rng"/>.
    /// </summary>
    public static void AddGaussianNoise(Span<float> values, double stdDev, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!(stdDev >= 0) || !double.IsFinite(stdDev))
            throw new ArgumentOutOfRangeException(nameof(stdDev), stdDev, "the noise standard deviation must be finite and ≥ 0");
        if (stdDev == 0) return;
        for (var i = 0; i < values.Length; i += 2)
        {
            var u1 = 1.0 - rng.NextDouble(); // (0, 1]: the log stays finite
            var u2 = rng.NextDouble();
            var radius = stdDev * Math.Sqrt(-2.0 * Math.Log(u1));
            var (sin, cos) = Math.SinCos(2.0 * Math.PI * u2);
            values[i] += (float)(radius * cos);
            if (i + 1 < values.Length) values[i + 1] += (float)(radius * sin);
        }
    }
}

/// <summary>Central DP parameters: per-update L2 clipping norm C and noise multiplier z.</summary>
public sealed record DpSettings(double ClipNorm, double NoiseMultiplier)
{
    public double ClipNorm { get; init; } = ClipNorm > 0 && double.IsFinite(ClipNorm)
        ? ClipNorm
        : throw new ArgumentOutOfRangeException(nameof(ClipNorm), ClipNorm, "the clipping norm must be finite and > 0");

    public double NoiseMultiplier { get; init; } = NoiseMultiplier >= 0 && double.IsFinite(NoiseMultiplier)
        ? NoiseMultiplier
        : throw new ArgumentOutOfRangeException(nameof(NoiseMultiplier), NoiseMultiplier, "the noise multiplier must be finite and ≥ 0");

    /// <summary>σ of the Gaussian noise added to the sum of the clipped updates: C·z.</summary>
    public double NoiseStdForSum => ClipNorm * NoiseMultiplier;
}
