using EdgeActors.Learning.Federated.Gbdt;

namespace EdgeActors.Tests.Learning.Federated.Gbdt;

public sealed class FashionFeaturesTests
{
    [Fact]
    public void Pooling_should_average_each_4x4_block_and_scale_to_unit_range()
    {
        var image = new byte[28 * 28];
        // block (0,0): all 255 → 1; block (6,6): one pixel of 160 → 160/16/255; block (2,3): a gradient
        for (var i = 0; i < 4; i++) for (var j = 0; j < 4; j++) image[i * 28 + j] = 255;
        image[27 * 28 + 27] = 160;
        var sum = 0;
        for (var i = 0; i < 4; i++) for (var j = 0; j < 4; j++)
        {
            var v = (byte)(i * 4 + j);
            image[(8 + i) * 28 + 12 + j] = v;
            sum += v;
        }

        var features = FashionFeatures.Pool7x7(image);

        Assert.Equal(49, features.Length);
        Assert.Equal(1f, features[0]);
        Assert.Equal(160f / 16 / 255, features[48], 6);
        Assert.Equal(sum / 16f / 255f, features[2 * 7 + 3], 6);
        Assert.Equal(46, features.Count(f => f == 0));
    }

    [Fact]
    public void The_batch_version_should_equal_pooling_image_by_image()
    {
        var rng = new Random(3);
        var images = new byte[3 * 784];
        rng.NextBytes(images);
        var batch = FashionFeatures.Pool7x7(images, 3);
        Assert.Equal(3 * 49, batch.Length);
        for (var n = 0; n < 3; n++)
            Assert.Equal(FashionFeatures.Pool7x7(images.AsSpan(n * 784, 784)), batch.AsSpan(n * 49, 49).ToArray());
        Assert.Throws<ArgumentException>(() => FashionFeatures.Pool7x7(images, 4));
        Assert.Throws<ArgumentException>(() => FashionFeatures.Pool7x7(new byte[783]));
    }
}
