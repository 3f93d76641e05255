namespace EdgeActors.Learning.Federated.Gbdt;

/// <summary>Fashion-MNIST features for the GBDT: 28×28 grey bytes → 7×7 means of 4×4 blocks, scaled to [0, 1].</summary>
public static class FashionFeatures
{
    public const int ImageSide = 28;
    public const int ImageSize = ImageSide * ImageSide;
    public const int Side = 7;
    public const int FeatureCount = Side * Side;
    private const int Block = ImageSide / Side;
    private const float Scale = Block * Block * 255f;

    /// <summary>49 features of one image (row-major 7×7: feature <c>i*7+j</c> is the block at block-row i, block-column j).</summary>
    public static float[] Pool7x7(ReadOnlySpan<byte> pixels28x28)
    {
        var result = new float[FeatureCount];
        Pool7x7(pixels28x28, result);
        return result;
    }

    /// <summary>Writes the 49 features of one image into <paramref name="destination"/>.</summary>
    public static void Pool7x7(ReadOnlySpan<byte> pixels28x28, Span<float> destination)
    {
        if (pixels28x28.Length != ImageSize) throw new ArgumentException($"an image has {ImageSize} pixels; got {pixels28x28.Length}.", nameof(pixels28x28));
        if (destination.Length < FeatureCount) throw new ArgumentException($"destination needs {FeatureCount} values; has {destination.Length}.", nameof(destination));
        for (var bi = 0; bi < Side; bi++)
        {
            for (var bj = 0; bj < Side; bj++)
            {
                var sum = 0;
                for (var i = 0; i < Block; i++)
                {
                    var row = pixels28x28.Slice((bi * Block + i) * ImageSide + bj * Block, Block);
                    foreach (var p in row) sum += p;
                }
                destination[bi * Side + bj] = sum / Scale;
            }
        }
    }

    /// <summary>Features of <paramref name="count"/> concatenated images: <c>count × 49</c> values, row-major.</summary>
    public static float[] Pool7x7(ReadOnlySpan<byte> images, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (images.Length < (long)count * ImageSize) throw new ArgumentException($"{count} images need {(long)count * ImageSize} bytes; got {images.Length}.", nameof(images));
        var result = new float[(long)count * FeatureCount];
        for (var n = 0; n < count; n++)
            Pool7x7(images.Slice(n * ImageSize, ImageSize), result.AsSpan(n * FeatureCount, FeatureCount));
        return result;
    }
}
