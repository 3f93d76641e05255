using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Learning.Federated;

/// <summary>The update aggregators against hand-computed results, plus their argument checks.</summary>
public sealed class AggregatorTests
{
    private static float[] Aggregate(AggregationStrategy strategy, float[][] updates, double[]? weights = null, AggregatorOptions? options = null,
        int? expectedCount = null)
    {
        using var aggregator = Aggregators.Create(strategy, updates[0].Length, expectedCount ?? updates.Length, options);
        for (var i = 0; i < updates.Length; i++) aggregator.Add(updates[i], weights?[i] ?? 1.0);
        Assert.Equal(updates.Length, aggregator.Count);
        var result = new float[updates[0].Length];
        aggregator.Complete(result);
        return result;
    }

    // four well-behaved updates and one outlier
    private static readonly float[][] Trim =
    [
        [1, 0, 5],
        [2, 4, 5],
        [4, 1, 6],
        [8, 9, 7],
        [-90, 50, 100],
    ];

    [Fact]
    public void FedAvg_should_return_the_weighted_mean()
    {
        float[][] updates = [[1, 2, 3, 4], [3, 0, -1, 8], [0, 4, 5, -4]];
        // Σ w·u = [1+6+0, 2+0+4, 3-2+5, 4+16-4] = [7, 6, 6, 16], Σ w = 4
        var result = Aggregate(AggregationStrategy.FedAvg, updates, [1, 2, 1]);
        Assert.Equal([1.75f, 1.5f, 1.5f, 4f], result);
    }

    [Fact]
    public void FedProx_should_aggregate_exactly_like_FedAvg()
    {
        float[][] updates = [[0.1f, -2.5f, 7], [3.3f, 0.25f, -1], [9, 4.5f, 0.125f]];
        double[] weights = [10, 3, 250];
        Assert.Equal(Aggregate(AggregationStrategy.FedAvg, updates, weights), Aggregate(AggregationStrategy.FedProx, updates, weights));
    }

    [Fact]
    public void Median_should_take_the_middle_value_per_coordinate_for_an_odd_count()
    {
        // columns sorted: (-90, 1, 2, 4, 8), (0, 1, 4, 9, 50), (5, 5, 6, 7, 100); the mean would be (-15, 12.8, 24.6)
        var result = Aggregate(AggregationStrategy.Median, Trim, weights: [1, 1, 1, 1, 1000]);
        Assert.Equal([2f, 4f, 6f], result);
    }

    [Fact]
    public void Median_should_average_the_two_middle_values_for_an_even_count()
    {
        // rows 1, 2, 3, 5 of Trim: columns (-90, 1, 2, 4), (0, 1, 4, 50), (5, 5, 6, 100)
        var result = Aggregate(AggregationStrategy.Median, [Trim[0], Trim[1], Trim[2], Trim[4]]);
        Assert.Equal([1.5f, 2.5f, 5.5f], result);
    }

    [Fact]
    public void TrimmedMean_should_drop_the_extremes_of_each_coordinate()
    {
        // β = 0.2, n = 5: drop one at each end -> (1, 2, 4), (1, 4, 9), (5, 6, 7)
        var result = Aggregate(AggregationStrategy.TrimmedMean, Trim, options: new AggregatorOptions(TrimFraction: 0.2));
        Assert.Equal([(float)(7.0 / 3), (float)(14.0 / 3), 6f], result);
    }

    [Fact]
    public void TrimmedMean_should_equal_the_mean_without_trimming_and_the_median_when_trimming_all_but_one()
    {
        var none = Aggregate(AggregationStrategy.TrimmedMean, Trim, options: new AggregatorOptions(TrimFraction: 0));
        Assert.Equal([(float)(-75.0 / 5), (float)(64.0 / 5), (float)(123.0 / 5)], none);
        // β = 0.4, n = 5: ⌊2⌋ dropped at each end leaves the median
        var most = Aggregate(AggregationStrategy.TrimmedMean, Trim, options: new AggregatorOptions(TrimFraction: 0.4));
        Assert.Equal(Aggregate(AggregationStrategy.Median, Trim), most);
    }

    // a, b, c, d close together, e far away. Squared distances:
    // a-b 1, a-c 4, a-d 2, a-e 300, b-c 5, b-d 1, b-e 281, c-d 2, c-e 264, d-e 262
    private static readonly float[][] KrumUpdates =
    [
        [0, 0, 0],    // a
        [1, 0, 0],    // b
        [0, 2, 0],    // c
        [1, 1, 0],    // d
        [10, 10, 10], // e
    ];

    [Fact]
    public void Krum_should_score_by_the_nearest_neighbours_and_pick_the_lowest()
    {
        // f = 1, n = 5: each score sums the n - f - 2 = 2 smallest squared distances
        // a: 1+2 = 3, b: 1+1 = 2, c: 2+4 = 6, d: 1+2 = 3, e: 262+264 = 526 -> b
        var options = new AggregatorOptions(KrumByzantine: 1);
        using (var krum = (KrumAggregator)Aggregators.Create(AggregationStrategy.Krum, 3, 5, options))
        {
            foreach (var u in KrumUpdates) krum.Add(u, 1);
            Assert.Equal([3.0, 2.0, 6.0, 3.0, 526.0], krum.Scores());
        }
        Assert.Equal([1f, 0f, 0f], Aggregate(AggregationStrategy.Krum, KrumUpdates, options: options));
    }

    [Fact]
    public void MultiKrum_should_average_the_best_scored_updates_with_ties_to_the_earlier_one()
    {
        // scores b 2, a 3, d 3, c 6, e 526: m = 2 takes b and a (a ties with d but came first), m = 3 adds d
        var two = Aggregate(AggregationStrategy.Krum, KrumUpdates, options: new AggregatorOptions(KrumByzantine: 1, KrumSelect: 2));
        Assert.Equal([0.5f, 0f, 0f], two);
        var three = Aggregate(AggregationStrategy.Krum, KrumUpdates, options: new AggregatorOptions(KrumByzantine: 1, KrumSelect: 3));
        Assert.Equal(2f / 3f, three[0], 6);
        Assert.Equal(1f / 3f, three[1], 6);
        Assert.Equal(0f, three[2]);
    }

    [Fact]
    public void MultiKrum_with_select_zero_should_average_all_but_f_of_the_updates_that_arrived()
    {
        var allButOne = Aggregate(AggregationStrategy.Krum, KrumUpdates, options: new AggregatorOptions(KrumByzantine: 1, KrumSelect: 0));
        var four = Aggregate(AggregationStrategy.Krum, KrumUpdates, options: new AggregatorOptions(KrumByzantine: 1, KrumSelect: 4));
        Assert.Equal(four, allButOne); // n = 5, f = 1: the four best (e, the outlier, is left out)
        Assert.NotEqual(Aggregate(AggregationStrategy.Krum, KrumUpdates, options: new AggregatorOptions(KrumByzantine: 1, KrumSelect: 1)), allButOne);
    }

    [Fact]
    public void Krum_should_refuse_too_few_updates_and_say_how_many_it_needs()
    {
        var options = new AggregatorOptions(KrumByzantine: 1);
        using var krum = Aggregators.Create(AggregationStrategy.Krum, 3, 0, options);
        foreach (var u in KrumUpdates[..4]) krum.Add(u, 1);
        var e = Assert.Throws<InvalidOperationException>(() => krum.Complete(new float[3]));
        Assert.Contains("at least 5", e.Message);
        Assert.Contains("has 4", e.Message);

        var early = Assert.Throws<ArgumentException>(() => Aggregators.Create(AggregationStrategy.Krum, 3, 6, new AggregatorOptions(KrumByzantine: 2)));
        Assert.Contains("at least 7", early.Message);
    }

    [Fact]
    public void MultiKrum_should_refuse_selecting_more_than_n_minus_f()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            Aggregate(AggregationStrategy.Krum, KrumUpdates, options: new AggregatorOptions(KrumByzantine: 1, KrumSelect: 5)));
        Assert.Contains("n − f = 4", e.Message);
    }

    [Theory]
    [InlineData(AggregationStrategy.Median)]
    [InlineData(AggregationStrategy.TrimmedMean)]
    public void Coordinate_wise_aggregators_should_match_a_naive_reference_across_blocks_and_buffer_growth(AggregationStrategy strategy)
    {
        // 600 coordinates = two full blocks of 256 and a partial one; 9 updates into a buffer sized for 1 (grows twice)
        const int dimension = 600, count = 9;
        var rng = new Random(7);
        var updates = Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, dimension).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray()).ToArray();
        var result = Aggregate(strategy, updates, options: new AggregatorOptions(TrimFraction: 0.25), expectedCount: 1);
        for (var c = 0; c < dimension; c++)
        {
            var column = updates.Select(u => (double)u[c]).Order().ToArray();
            // β = 0.25, n = 9: ⌊2.25⌋ = 2 dropped at each end
            var expected = strategy == AggregationStrategy.Median ? column[4] : column[2..7].Average();
            Assert.Equal((float)expected, result[c]);
        }
    }

    [Theory]
    [InlineData(AggregationStrategy.Median, 300)]
    [InlineData(AggregationStrategy.TrimmedMean, 300)]
    [InlineData(AggregationStrategy.Median, 2)]
    [InlineData(AggregationStrategy.TrimmedMean, 1)]
    public void Coordinate_wise_aggregators_should_match_a_naive_reference_for_unusual_counts(AggregationStrategy strategy, int count)
    {
        // 300 updates narrow the column blocks below 256; 1 and 2 updates need no or one compare-exchange
        const int dimension = 77;
        var rng = new Random(count);
        var updates = Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, dimension).Select(_ => (float)Math.Round(rng.NextDouble() * 100 - 50, 2)).ToArray()).ToArray();
        var result = Aggregate(strategy, updates, options: new AggregatorOptions(TrimFraction: 0.1));
        var trim = (int)Math.Floor(0.1 * count);
        for (var c = 0; c < dimension; c++)
        {
            var column = updates.Select(u => (double)u[c]).Order().ToArray();
            var expected = strategy == AggregationStrategy.TrimmedMean
                ? column[trim..^trim].Sum() / (count - 2 * trim)
                : count % 2 == 1 ? column[count / 2] : (column[count / 2 - 1] + column[count / 2]) / 2;
            Assert.Equal((float)expected, result[c]);
        }
    }

    [Fact]
    public void Sorting_network_should_sort_every_zero_one_input_up_to_14_and_random_inputs_up_to_70()
    {
        // the 0-1 principle: a comparator network that sorts all 2^n zero-one inputs sorts every input
        for (var n = 1; n <= 14; n++)
        {
            var network = CoordinateWiseAggregator.Network(n);
            for (var bits = 0; bits < 1 << n; bits++)
            {
                var v = new int[n];
                for (var i = 0; i < n; i++) v[i] = (bits >> i) & 1;
                foreach (var (low, high) in network)
                {
                    if (v[low] > v[high]) (v[low], v[high]) = (v[high], v[low]);
                }
                for (var i = 1; i < n; i++) Assert.True(v[i - 1] <= v[i], $"n = {n}, input {bits}");
            }
        }
        var rng = new Random(4);
        for (var n = 15; n <= 70; n++)
        {
            var v = Enumerable.Range(0, n).Select(_ => rng.Next(1000)).ToArray();
            var expected = v.Order().ToArray();
            foreach (var (low, high) in CoordinateWiseAggregator.Network(n))
            {
                if (v[low] > v[high]) (v[low], v[high]) = (v[high], v[low]);
            }
            Assert.Equal(expected, v);
        }
    }

    [Theory]
    [InlineData(AggregationStrategy.FedAvg)]
    [InlineData(AggregationStrategy.Median)]
    [InlineData(AggregationStrategy.TrimmedMean)]
    [InlineData(AggregationStrategy.Krum)]
    public void Aggregators_should_copy_the_update_so_the_caller_can_reuse_its_buffer(AggregationStrategy strategy)
    {
        var options = new AggregatorOptions(KrumByzantine: 1);
        using var aggregator = Aggregators.Create(strategy, 3, 5, options);
        var buffer = new float[3];
        foreach (var u in KrumUpdates)
        {
            u.CopyTo(buffer, 0);
            aggregator.Add(buffer, 1);
            Array.Fill(buffer, float.NaN);
        }
        var result = new float[3];
        aggregator.Complete(result);
        Assert.Equal(Aggregate(strategy, KrumUpdates, options: options), result);
        Assert.DoesNotContain(result, float.IsNaN);
    }

    [Theory]
    [InlineData(AggregationStrategy.FedAvg)]
    [InlineData(AggregationStrategy.Median)]
    [InlineData(AggregationStrategy.Krum)]
    public void Aggregators_should_reject_a_non_finite_update_and_stay_unchanged(AggregationStrategy strategy)
    {
        var options = new AggregatorOptions(KrumByzantine: 1);
        using var aggregator = Aggregators.Create(strategy, 3, 5, options);
        aggregator.Add(KrumUpdates[0], 1);
        var e = Assert.Throws<ArgumentException>(() => aggregator.Add([1, float.NaN, 2], 1));
        Assert.Contains("NaN", e.Message);
        Assert.Throws<ArgumentException>(() => aggregator.Add([1, float.PositiveInfinity, 2], 1));
        Assert.Equal(1, aggregator.Count);
        foreach (var u in KrumUpdates[1..]) aggregator.Add(u, 1);
        var result = new float[3];
        aggregator.Complete(result);
        Assert.Equal(Aggregate(strategy, KrumUpdates, options: options), result);
    }

    [Theory]
    [InlineData(AggregationStrategy.FedAvg)]
    [InlineData(AggregationStrategy.Median)]
    [InlineData(AggregationStrategy.TrimmedMean)]
    [InlineData(AggregationStrategy.Krum)]
    public void Aggregators_should_reject_a_dimension_mismatch_and_completing_without_updates(AggregationStrategy strategy)
    {
        using var aggregator = Aggregators.Create(strategy, 4, 0);
        Assert.Equal(4, aggregator.Dimension);
        var add = Assert.Throws<ArgumentException>(() => aggregator.Add(new float[3], 1));
        Assert.Contains("has 3 values but the aggregator's dimension is 4", add.Message);
        var empty = Assert.Throws<InvalidOperationException>(() => aggregator.Complete(new float[4]));
        Assert.Contains("no updates", empty.Message);
        aggregator.Add(new float[4], 1);
        var result = Assert.Throws<ArgumentException>(() => aggregator.Complete(new float[5]));
        Assert.Contains("dimension is 4", result.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => aggregator.Add(new float[4], -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => aggregator.Add(new float[4], double.NaN));
    }

    [Fact]
    public void FedAvg_should_refuse_a_zero_total_weight()
    {
        using var aggregator = Aggregators.Create(AggregationStrategy.FedAvg, 2, 2);
        aggregator.Add([1, 2], 0);
        var e = Assert.Throws<InvalidOperationException>(() => aggregator.Complete(new float[2]));
        Assert.Contains("total weight of 0", e.Message);
    }

    [Theory]
    [InlineData(AggregationStrategy.FedAvg)]
    [InlineData(AggregationStrategy.TrimmedMean)]
    [InlineData(AggregationStrategy.Krum)]
    public void Aggregators_should_refuse_use_after_dispose(AggregationStrategy strategy)
    {
        var aggregator = Aggregators.Create(strategy, 3, 5, new AggregatorOptions(KrumByzantine: 1));
        aggregator.Add([1, 2, 3], 1);
        aggregator.Dispose();
        aggregator.Dispose();
        Assert.Throws<ObjectDisposedException>(() => aggregator.Add([1, 2, 3], 1));
        Assert.Throws<ObjectDisposedException>(() => aggregator.Complete(new float[3]));
    }

    [Fact]
    public void Options_should_be_validated_when_creating()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Aggregators.Create(AggregationStrategy.TrimmedMean, 3, 5, new AggregatorOptions(TrimFraction: 0.5)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Aggregators.Create(AggregationStrategy.Krum, 3, 5, new AggregatorOptions(KrumByzantine: -1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Aggregators.Create(AggregationStrategy.Krum, 3, 5, new AggregatorOptions(KrumSelect: -1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Aggregators.Create(AggregationStrategy.FedAvg, 0, 5));
    }

    [Theory]
    [InlineData("fedavg", AggregationStrategy.FedAvg)]
    [InlineData("fedprox", AggregationStrategy.FedProx)]
    [InlineData("median", AggregationStrategy.Median)]
    [InlineData("trimmed-mean", AggregationStrategy.TrimmedMean)]
    [InlineData(" Krum ", AggregationStrategy.Krum)]
    [InlineData("FEDAVG", AggregationStrategy.FedAvg)]
    public void Parse_should_accept_the_documented_names(string name, AggregationStrategy expected)
    {
        Assert.Equal(expected, Aggregators.Parse(name));
        Assert.Equal(expected, Aggregators.Parse(Aggregators.NameOf(expected)));
    }

    [Fact]
    public void Parse_should_list_the_valid_names_for_an_unknown_one()
    {
        var e = Assert.Throws<ArgumentException>(() => Aggregators.Parse("trimmedmean"));
        Assert.Contains("'trimmedmean'", e.Message);
        Assert.Contains("fedavg, fedprox, median, trimmed-mean, krum", e.Message);
    }
}
