using EdgeActors.Tools.Experiments;

namespace EdgeActors.Tests.Experiments;

public sealed class NiidPartitionerTests
{
    private const int Classes = 10;
    private const int Parties = 10;

    /// <summary>A balanced label set, 600 per class, in a shuffled order (like Fashion-MNIST's 6000 per class, smaller).</summary>
    private static byte[] Labels(int perClass = 600, int seed = 7)
    {
        var labels = new byte[perClass * Classes];
        for (var i = 0; i < labels.Length; i++) labels[i] = (byte)(i % Classes);
        new Random(seed).Shuffle(labels);
        return labels;
    }

    private static int[,] Counts(int[][] parts, byte[] labels)
    {
        var counts = new int[parts.Length, Classes];
        for (var j = 0; j < parts.Length; j++)
            foreach (var i in parts[j]) counts[j, labels[i]]++;
        return counts;
    }

    private static void AssertDisjoint(int[][] parts, int n)
    {
        var seen = new bool[n];
        foreach (var part in parts)
            foreach (var i in part)
            {
                Assert.InRange(i, 0, n - 1);
                Assert.False(seen[i], $"index {i} is in two parts");
                seen[i] = true;
            }
    }

    public static TheoryData<string> CoveringKinds => ["homo", "dir"];

    [Theory]
    [MemberData(nameof(CoveringKinds))]
    public void Homo_and_dir_partitions_should_be_disjoint_and_cover_every_sample(string kind)
    {
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, Parties, PartitionSpec.Parse(kind, 0.5, 2), seed: 1);

        Assert.Equal(Parties, parts.Length);
        AssertDisjoint(parts, labels.Length);
        Assert.Equal(labels.Length, parts.Sum(p => p.Length));
    }

    [Fact]
    public void Label_partition_should_be_disjoint()
    {
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, 7, PartitionSpec.Parse("label", 0.5, 3), seed: 3);

        Assert.Equal(7, parts.Length);
        AssertDisjoint(parts, labels.Length);
    }

    [Theory]
    [InlineData(6000, 10)]
    [InlineData(6001, 7)]
    [InlineData(6009, 10)]
    public void Homo_part_sizes_should_differ_by_at_most_one(int n, int parties)
    {
        var labels = new byte[n];
        for (var i = 0; i < n; i++) labels[i] = (byte)(i % Classes);
        var parts = NiidPartitioner.Partition(labels, Classes, parties, PartitionSpec.Parse("homo", 0.5, 2), seed: 5);

        Assert.InRange(parts.Max(p => p.Length) - parts.Min(p => p.Length), 0, 1);
        Assert.Equal(n, parts.Sum(p => p.Length));
        // Shuffled, not handed out in order: the first part is not simply 0, 1, 2, ...
        Assert.NotEqual(Enumerable.Range(0, parts[0].Length), parts[0]);
    }

    [Fact]
    public void Dir_with_small_beta_should_give_most_parties_one_dominant_class()
    {
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, Parties, PartitionSpec.Parse("dir", 0.1, 2), seed: 11);
        var counts = Counts(parts, labels);

        var dominated = 0;
        for (var j = 0; j < Parties; j++)
        {
            var max = Enumerable.Range(0, Classes).Max(c => counts[j, c]);
            if (max > 0.5 * parts[j].Length) dominated++;
        }
        Assert.True(dominated >= Parties / 2 + 1,
            $"only {dominated} of {Parties} parties have a class above 50 %:\n{NiidPartitioner.Describe(parts, labels, Classes)}");
    }

    [Fact]
    public void Dir_with_large_beta_should_be_near_uniform()
    {
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, Parties, PartitionSpec.Parse("dir", 100, 2), seed: 11);
        var counts = Counts(parts, labels);

        var table = NiidPartitioner.Describe(parts, labels, Classes);
        for (var j = 0; j < Parties; j++)
        {
            Assert.InRange(parts[j].Length, 480, 720); // 600 each, within 20 %
            for (var c = 0; c < Classes; c++)
                Assert.True(counts[j, c] >= 0.05 * parts[j].Length && counts[j, c] <= 0.15 * parts[j].Length,
                    $"party {j} class {c}: {counts[j, c]} of {parts[j].Length}\n{table}");
        }
    }

    [Theory]
    [InlineData(0.1, 10, 40)]
    [InlineData(0.5, 20, 40)]
    [InlineData(0.5, 100, 600)]
    public void Dir_should_give_every_party_at_least_ten_samples(double beta, int parties, int perClass)
    {
        // Few samples per party, so that single draws often leave a party short and the resampling loop matters.
        var labels = Labels(perClass);
        for (var seed = 0; seed < 5; seed++)
        {
            var parts = NiidPartitioner.Partition(labels, Classes, parties, PartitionSpec.Parse("dir", beta, 2), seed);
            Assert.All(parts, p => Assert.True(p.Length >= NiidPartitioner.MinRequireSize, $"a party has {p.Length} samples"));
            Assert.Equal(labels.Length, parts.Sum(p => p.Length));
        }
    }

    [Fact]
    public void Dir_balance_trick_should_keep_full_parties_from_growing()
    {
        // With a tiny beta almost every class goes to one party; without the balance trick one party would take
        // several whole classes. A party can pass N/n only with the class that pushed it over.
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, Parties, PartitionSpec.Parse("dir", 0.01, 2), seed: 2);
        var fair = labels.Length / Parties;
        Assert.All(parts, p => Assert.True(p.Length < fair + 600, $"a party holds {p.Length} > N/n + one class"));
    }

    [Fact]
    public void Label_with_two_per_party_should_give_each_party_its_own_label_and_one_more()
    {
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, Parties, PartitionSpec.Parse("label", 0.5, 2), seed: 4);
        var counts = Counts(parts, labels);

        for (var j = 0; j < Parties; j++)
        {
            var held = Enumerable.Range(0, Classes).Where(c => counts[j, c] > 0).ToArray();
            Assert.Equal(2, held.Length);
            Assert.Contains(j % Classes, held); // NIID-Bench: party i first gets label i mod K
        }
    }

    [Fact]
    public void Label_should_split_each_label_evenly_among_its_holders()
    {
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, Parties, PartitionSpec.Parse("label", 0.5, 2), seed: 4);
        var counts = Counts(parts, labels);

        for (var c = 0; c < Classes; c++)
        {
            var holders = Enumerable.Range(0, Parties).Where(j => counts[j, c] > 0).Select(j => counts[j, c]).ToArray();
            Assert.NotEmpty(holders); // with 10 parties every label i is party i's first
            Assert.Equal(600, holders.Sum()); // all of the label's samples
            Assert.InRange(holders.Max() - holders.Min(), 0, 1);
        }
        // 10 parties x 2 labels = 20 holdings over 10 labels: some label has more than one holder.
        Assert.Contains(Enumerable.Range(0, Classes), c => Enumerable.Range(0, Parties).Count(j => counts[j, c] > 0) > 1);
    }

    [Fact]
    public void Label_with_k_equal_to_classes_should_give_every_party_every_label()
    {
        var labels = Labels();
        var parts = NiidPartitioner.Partition(labels, Classes, Parties, PartitionSpec.Parse("label", 0.5, Classes), seed: 4);
        var counts = Counts(parts, labels);

        for (var j = 0; j < Parties; j++)
            for (var c = 0; c < Classes; c++)
                Assert.Equal(60, counts[j, c]);
    }

    [Theory]
    [InlineData("homo")]
    [InlineData("dir")]
    [InlineData("label")]
    public void Same_seed_should_give_the_same_partition_and_another_seed_another(string kind)
    {
        var labels = Labels();
        var spec = PartitionSpec.Parse(kind, 0.5, 2);
        var a = NiidPartitioner.Partition(labels, Classes, Parties, spec, seed: 42);
        var b = NiidPartitioner.Partition(labels, Classes, Parties, spec, seed: 42);
        var c = NiidPartitioner.Partition(labels, Classes, Parties, spec, seed: 43);

        Assert.Equal(a.Length, b.Length);
        for (var j = 0; j < a.Length; j++) Assert.Equal(a[j], b[j]);
        Assert.Contains(Enumerable.Range(0, a.Length), j => !a[j].SequenceEqual(c[j]));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2.0)]
    public void Gamma_sampler_mean_and_variance_should_be_close_to_shape(double shape)
    {
        var rng = new Random(12345);
        const int n = 100_000;
        double sum = 0, sumSq = 0;
        for (var i = 0; i < n; i++)
        {
            var x = NiidPartitioner.SampleGamma(rng, shape);
            Assert.True(x >= 0 && double.IsFinite(x), $"draw {x}");
            sum += x;
            sumSq += x * x;
        }
        var mean = sum / n;
        var variance = sumSq / n - mean * mean;
        Assert.InRange(mean, shape * 0.98, shape * 1.02); // Gamma(a, 1): mean a
        Assert.InRange(variance, shape * 0.95, shape * 1.05); // and variance a
    }

    [Fact]
    public void Dirichlet_sample_should_sum_to_one()
    {
        var rng = new Random(9);
        var p = new double[10];
        for (var t = 0; t < 100; t++)
        {
            NiidPartitioner.SampleDirichlet(rng, 0.1, p);
            Assert.Equal(1.0, p.Sum(), 9);
            Assert.All(p, x => Assert.True(x >= 0));
        }
    }

    [Theory]
    [InlineData("iid")]
    [InlineData("noniid")]
    [InlineData("")]
    public void Parse_should_reject_an_unknown_kind_listing_the_known_ones(string kind)
    {
        var e = Assert.Throws<ArgumentException>(() => PartitionSpec.Parse(kind, 0.5, 2));
        Assert.Contains("homo|dir|label", e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void Parse_should_reject_a_beta_that_is_not_positive_for_dir(double beta)
    {
        var e = Assert.Throws<ArgumentException>(() => PartitionSpec.Parse("dir", beta, 2));
        Assert.Contains("beta", e.Message);
    }

    [Fact]
    public void Parse_should_normalise_case_and_keep_parameters()
    {
        Assert.Equal(new PartitionSpec("dir", 0.3, 2), PartitionSpec.Parse(" DIR ", 0.3, 2));
        Assert.Equal(new PartitionSpec("label", 0.5, 3), PartitionSpec.Parse("label", 0.5, 3));
    }

    [Fact]
    public void Label_count_outside_one_to_classes_should_be_rejected()
    {
        Assert.Throws<ArgumentException>(() => PartitionSpec.Parse("label", 0.5, 0));
        var e = Assert.Throws<ArgumentException>(() =>
            NiidPartitioner.Partition(Labels(), Classes, Parties, PartitionSpec.Parse("label", 0.5, 11), seed: 1));
        Assert.Contains("10", e.Message);
    }

    [Fact]
    public void Dir_should_give_up_with_an_error_when_no_draw_can_fill_every_party()
    {
        // Dir(0.1) over 100 parties with 600 per class: a party's expected share is about 60 Exp(1) samples, so
        // all 100 reach 10 with probability ~1e-7. NIID-Bench would loop forever; this stops with a message.
        var e = Assert.Throws<InvalidOperationException>(() =>
            NiidPartitioner.Partition(Labels(), Classes, 100, PartitionSpec.Parse("dir", 0.1, 2), seed: 1));
        Assert.Contains("10 samples", e.Message);
    }

    [Fact]
    public void Dir_should_refuse_when_parties_cannot_get_ten_samples_each()
    {
        var labels = new byte[50];
        Assert.Throws<ArgumentException>(() =>
            NiidPartitioner.Partition(labels, Classes, 6, PartitionSpec.Parse("dir", 0.5, 2), seed: 1));
    }

    [Fact]
    public void Describe_should_list_each_partys_label_counts()
    {
        byte[] labels = [0, 0, 1, 2, 2, 2];
        int[][] parts = [[0, 1, 2], [3, 4, 5]];
        var lines = NiidPartitioner.Describe(parts, labels, 3).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(4, lines.Length); // header, two parties, total
        Assert.Equal(["party", "size", "c0", "c1", "c2"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["0", "3", "2", "1", "0"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["1", "3", "0", "0", "3"], lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["all", "6", "2", "1", "3"], lines[3].Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }
}
