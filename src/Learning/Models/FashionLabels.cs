namespace EdgeActors.Learning.Models;

/// <summary>Fashion-MNIST class names and pixel scaling for the models in this namespace.</summary>
public static class FashionLabels
{
    public static readonly string[] Names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public const int ImageSize = 28 * 28;

    /// <summary>The first <paramref name="count"/> images (ImageSize bytes each) as floats in [0,1] (byte / 255).</summary>
    public static float[] ToFloats(byte[] images, int count)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var n = (long)count * ImageSize;
        if (images.Length < n) throw new ArgumentException($"{images.Length} bytes hold fewer than {count} images of {ImageSize} pixels", nameof(images));
        var result = new float[n];
        for (var k = 0; k < result.Length; k++) result[k] = images[k] / 255f;
        return result;
    }
}
