using EdgeActors.Tools.Experiments;

namespace EdgeActors.Tests.Tools.Experiments;

/// <summary>NIID-Bench's quantity skew and feature-noise partitions.</summary>
public sealed class NiidSkewPartitionTests
{
    private static byte[] Labels(int n) => Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();

    [Fact]
    public void Quantity_skew_should_cover_every_sample_once_with_sizes_far_from_equal()
    {
        var labels = Labels(6000);
        var parts = NiidPartitioner.Partition(labels, 10, 10, PartitionSpec.Parse("quantity", 0.5, 2), seed: 4);
        Assert.Equal(10, parts.Length);
        Assert.Equal(6000, parts.Sum(p => p.Length));
        var all = parts.SelectMany(p => p).ToArray();
        Assert.Equal(all.Length, all.Distinct().Count());                                  // disjoint
        Assert.True(parts.All(p => p.Length >= NiidPartitioner.MinRequireSize));
        Assert.True(parts.Max(p => p.Length) > 2 * parts.Min(p => p.Length), string.Join(",", parts.Select(p => p.Length)));
        // labels stay IID: every big part holds every class at roughly a tenth
        foreach (var p in parts.Where(p => p.Length >= 500))
            for (var c = 0; c < 10; c++)
                Assert.InRange(p.Count(i => labels[i] == c) / (double)p.Length, 0.05, 0.15);
        // same seed, same split
        Assert.Equal(parts, NiidPartitioner.Partition(labels, 10, 10, PartitionSpec.Parse("quantity", 0.5, 2), seed: 4));
    }

    [Fact]
    public void Noise_partition_should_split_like_homo_and_give_client_i_the_level_sigma_i_over_n()
    {
        var labels = Labels(1000);
        var noise = NiidPartitioner.Partition(labels, 10, 4, PartitionSpec.Parse("noise", 0.5, 2, sigma: 0.2), seed: 9);
        Assert.Equal(NiidPartitioner.Partition(labels, 10, 4, PartitionSpec.Parse("homo", 0.5, 2), seed: 9), noise);
        Assert.Equal([0, 0.05, 0.1, 0.15000000000000002], Enumerable.Range(0, 4).Select(i => NiidPartitioner.NoiseLevel(i, 4, 0.2)).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => NiidPartitioner.NoiseLevel(4, 4, 0.2));
        Assert.Throws<ArgumentException>(() => PartitionSpec.Parse("noise", 0.5, 2, sigma: -1));
    }

    [Fact]
    public void AddNoise_should_perturb_pixels_with_the_requested_standard_deviation()
    {
        var pixels = Enumerable.Repeat((byte)128, 20_000).ToArray();
        NiidPartitioner.AddNoise(pixels, 0.1, new Random(1));
        var values = pixels.Select(p => p / 255.0).ToArray();
        var mean = values.Average();
        var std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
        Assert.InRange(mean, 0.49, 0.515);
        Assert.InRange(std, 0.095, 0.105);
        var clean = Enumerable.Repeat((byte)128, 10).ToArray();
        NiidPartitioner.AddNoise(clean, 0, new Random(1));
        Assert.All(clean, p => Assert.Equal(128, p));
    }
}
