namespace EdgeActors.Learning.Federated;

/// <summary>
/// Fixed-point encoding of floats into the ring ℤ/2⁶⁴ for secure aggregation: x ↦ round(x·2^f) as a two's-complement
/// 64-bit integer. Sums of encodings (wrap-around ulong additions) decode to the sum of the rounded values as long as the
/// true sum stays within ±2^63 / 2^f (with f = 24: ±5.5·10¹¹ for the whole sum). Rounding is to nearest, ties to even,
/// so each value carries an error of at most 2^−(f+1).
/// </summary>
public static class FixedPoint
{
    public const int DefaultFractionBits = 24;
    public const int MaxFractionBits = 52;

    private const double TwoTo63 = 9223372036854775808.0;

    /// <summary>Encodes <paramref name="v"/> into <paramref name="dst"/> (same length).</summary>
    public static void Encode(ReadOnlySpan<float> v, Span<ulong> dst, int fractionBits)
    {
        CheckFractionBits(fractionBits);
        if (dst.Length != v.Length)
            throw new ArgumentException($"destination has {dst.Length} slots for {v.Length} values", nameof(dst));
        var scale = Math.ScaleB(1.0, fractionBits);
        for (var i = 0; i < v.Length; i++)
        {
            var x = Math.Round(v[i] * scale, MidpointRounding.ToEven);
            if (!(x >= -TwoTo63 && x < TwoTo63))
                throw new ArgumentOutOfRangeException(nameof(v), v[i],
                    $"value at {i} is not finite or too large for {fractionBits} fraction bits (|x| must be < 2^{63 - fractionBits})");
            dst[i] = unchecked((ulong)(long)x);
        }
    }

    /// <summary>Decodes ring elements (e.g. a sum of encodings) into floats (same length).</summary>
    public static void Decode(ReadOnlySpan<ulong> sum, Span<float> dst, int fractionBits)
    {
        CheckFractionBits(fractionBits);
        if (dst.Length != sum.Length)
            throw new ArgumentException($"destination has {dst.Length} slots for {sum.Length} values", nameof(dst));
        var scale = Math.ScaleB(1.0, -fractionBits);
        for (var i = 0; i < sum.Length; i++) dst[i] = (float)(unchecked((long)sum[i]) * scale);
    }

    private static void CheckFractionBits(int fractionBits)
    {
        if (fractionBits is < 0 or > MaxFractionBits)
            throw new ArgumentOutOfRangeException(nameof(fractionBits), fractionBits, $"fraction bits must lie in [0, {MaxFractionBits}]");
    }
}
