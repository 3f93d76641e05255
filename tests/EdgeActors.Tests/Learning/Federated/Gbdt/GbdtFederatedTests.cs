using EdgeActors.Learning.Federated.Gbdt;

namespace EdgeActors.Tests.Learning.Federated.Gbdt;

public sealed class GbdtFederatedTests
{
    private static GbdtOptions Options(int classes) => new()
    {
        Classes = classes,
        Iterations = 8,
        MaxDepth = 4,
        LearningRate = 0.3,
        MaxBins = 16,
        Lambda = 1.0,
        MinChildHessian = 1e-3,
        MinGain = 0.0,
    };

    private static void AssertSameModel(GbdtModel expected, GbdtModel actual)
    {
        Assert.Equal(expected.Trees.Count, actual.Trees.Count);
        for (var k = 0; k < expected.Trees.Count; k++)
        {
            GbdtTree e = expected.Trees[k], a = actual.Trees[k];
            Assert.Equal(e.Feature, a.Feature);
            Assert.Equal(e.Threshold, a.Threshold);
            Assert.Equal(e.Left, a.Left);
            Assert.Equal(e.Right, a.Right);
            for (var i = 0; i < e.NodeCount; i++)
                Assert.True(Math.Abs(e.Value[i] - a.Value[i]) <= 1e-9, $"tree {k} node {i}: {e.Value[i]} vs {a.Value[i]}");
        }
    }

    private static void AssertNonTrivial(GbdtModel model)
    {
        // every tree is more than a stump of leaves, so "same splits" compares real structure
        Assert.All(model.Trees, t => Assert.True(t.NodeCount >= 7, $"a tree has only {t.NodeCount} nodes"));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    public void Federated_training_over_three_uneven_parties_should_grow_exactly_the_centralised_model(int classes)
    {
        var data = GbdtTestData.Make(rows: 600, features: 6, classes, seed: 11);
        var options = Options(classes);

        var central = GbdtTrainer.TrainCentral(data.X, data.Rows, data.Features, data.Y, options);
        var federated = GbdtTrainer.TrainFederated([data.Party(0, 70), data.Party(70, 250), data.Party(250, 600)], options);

        Assert.Equal(options.Iterations * options.TreesPerIteration, central.Trees.Count);
        AssertNonTrivial(central);
        AssertSameModel(central, federated);
        Assert.True(central.Accuracy(data.X, data.Y, data.Rows) > 0.7);
    }

    [Fact]
    public void Federated_training_should_not_depend_on_the_order_of_the_parties()
    {
        var data = GbdtTestData.Make(rows: 300, features: 5, classes: 3, seed: 5);
        var options = Options(3);
        var a = GbdtTrainer.TrainFederated([data.Party(0, 100), data.Party(100, 300)], options);
        var b = GbdtTrainer.TrainFederated([data.Party(100, 300), data.Party(0, 100)], options);
        AssertSameModel(a, b);
    }

    [Fact]
    public void One_feature_separable_labels_should_split_halfway_between_the_classes_with_the_newton_leaf_values()
    {
        // x = 1,2,3,4; y = 0,0,1,1. At score 0: p = ½, g = p − y = ±½, h = ¼ per row.
        // Split x ≤ 2.5: GL = 1, HL = ½, GR = −1, HR = ½ → leaves −GL/(HL+λ)·lr = −1/(½+λ)·lr and +1/(½+λ)·lr.
        float[] x = [1f, 2f, 3f, 4f];
        byte[] y = [0, 0, 1, 1];
        var options = new GbdtOptions { Classes = 2, Iterations = 1, MaxDepth = 1, LearningRate = 0.5, Lambda = 1.0, MaxBins = 8 };

        var model = GbdtTrainer.TrainCentral(x, 4, 1, y, options);

        var tree = Assert.Single(model.Trees);
        Assert.Equal(3, tree.NodeCount);
        Assert.Equal(0, tree.Feature[0]);
        Assert.Equal(2.5f, tree.Threshold[0]);
        var expected = 1.0 / (0.5 + 1.0) * 0.5;
        Assert.Equal(-expected, tree.Value[tree.Left[0]], 12);
        Assert.Equal(expected, tree.Value[tree.Right[0]], 12);
        var pHigh = 1 / (1 + Math.Exp(-expected));
        Assert.Equal(pHigh, model.PredictProba([4f])[1], 6);
        Assert.Equal(1 - pHigh, model.PredictProba([1f])[1], 6);
        Assert.Equal(1, model.Predict([3f]));
        Assert.Equal(0, model.Predict([2.4f]));
        Assert.Equal(1.0, model.Accuracy(x, y, 4));
    }

    [Fact]
    public void A_node_should_stay_a_leaf_when_the_best_gain_is_below_min_gain()
    {
        float[] x = [1f, 2f, 3f, 4f];
        byte[] y = [0, 0, 1, 1];
        // the only useful split has gain GL²/(HL+λ) + GR²/(HR+λ) − 0 = 2·1/(½+1) = 4/3
        var below = new GbdtOptions { Classes = 2, Iterations = 1, MaxDepth = 2, Lambda = 1.0, MinGain = 1.4 };
        var above = below with { MinGain = 1.3 };

        Assert.Equal(1, GbdtTrainer.TrainCentral(x, 4, 1, y, below).Trees[0].NodeCount);
        Assert.True(GbdtTrainer.TrainCentral(x, 4, 1, y, above).Trees[0].NodeCount >= 3);
    }

    [Fact]
    public void A_split_should_be_refused_when_a_child_hessian_is_below_min_child_hessian()
    {
        // x = 1..4, y = 0,1,1,1: the best split isolates one row (hessian ¼)
        float[] x = [1f, 2f, 3f, 4f];
        byte[] y = [0, 1, 1, 1];
        var strict = new GbdtOptions { Classes = 2, Iterations = 1, MaxDepth = 1, Lambda = 0.0, MinChildHessian = 0.6 };
        var loose = strict with { MinChildHessian = 0.2 };

        var tree = GbdtTrainer.TrainCentral(x, 4, 1, y, strict).Trees[0];
        Assert.Equal(1, tree.NodeCount); // both children would need ≥ 0.6 but have ¼ and ¾ at best
        var looseTree = GbdtTrainer.TrainCentral(x, 4, 1, y, loose).Trees[0];
        Assert.Equal(1.5f, looseTree.Threshold[0]);
    }

    [Fact]
    public void Max_depth_should_bound_every_tree_and_the_deepest_level_should_ask_for_half_the_open_nodes()
    {
        var data = GbdtTestData.Make(rows: 400, features: 4, classes: 3, seed: 2);
        var options = Options(3) with { Iterations = 2, MaxDepth = 3, MinChildHessian = 0 };
        var requests = new List<LevelRequest>();
        var model = GbdtTrainer.TrainFederated([data.Party(0, 400)], options, onLevel: (r, _) => requests.Add(r));

        foreach (var tree in model.Trees) Assert.True(Depth(tree, 0) <= 3);
        Assert.Equal(2 * 3, requests.Count); // levels 0, 1, 2 per iteration
        Assert.All(requests.Where(r => r.Depth == 0), r => Assert.Equal([0, 1, 2], r.Trees));
        Assert.All(requests.Where(r => r.Depth > 0), r =>
            Assert.True(r.Trees.Length * 2 <= 3 * (1 << r.Depth), $"depth {r.Depth} asks for {r.Trees.Length} nodes"));
        // the second iteration starts with the first one's leaf values and last-level splits
        var second = requests.Single(r => r.Iteration == 1 && r.Depth == 0);
        Assert.NotEmpty(second.LeafValues);
        Assert.NotEmpty(second.SplitTrees);
    }

    private static int Depth(GbdtTree t, int node) =>
        t.IsLeaf(node) ? 0 : 1 + Math.Max(Depth(t, t.Left[node]), Depth(t, t.Right[node]));

    [Fact]
    public void A_party_should_answer_a_retried_request_with_the_same_histograms_and_refuse_one_out_of_order()
    {
        var data = GbdtTestData.Make(rows: 200, features: 3, classes: 3, seed: 3);
        var options = Options(3);
        var party = data.Party(0, 200);
        var coordinator = new GbdtTreeGrower(options, data.Features);
        party.SetBins(coordinator.MergeSketches([party.Sketch(1000, 0)]));

        var first = coordinator.Next()!;
        var answer = party.Histograms(first);
        Assert.Same(first, coordinator.Next()); // still pending
        Assert.Equal(answer.Values, party.Histograms(first).Values);
        coordinator.Accept(answer);
        var second = coordinator.Next()!;
        Assert.Equal(1, second.Depth);
        Assert.Throws<InvalidOperationException>(() => party.Histograms(second with { Depth = 3 }));
        Assert.Throws<InvalidOperationException>(() => party.Histograms(second with { Iteration = 2, Depth = 0 }));
        Assert.Equal(1, party.Histograms(second).Depth); // the refused requests changed nothing
    }

    [Fact]
    public void The_coordinator_should_refuse_histograms_for_another_level_or_other_nodes()
    {
        var data = GbdtTestData.Make(rows: 100, features: 3, classes: 3, seed: 4);
        var party = data.Party(0, 100);
        var coordinator = new GbdtTreeGrower(Options(3), data.Features);
        party.SetBins(coordinator.MergeSketches([party.Sketch(1000, 0)]));
        Assert.Throws<InvalidOperationException>(() => coordinator.Accept(new LevelHistograms(0, 0, [], [], 1, [])));
        var request = coordinator.Next()!;
        var answer = party.Histograms(request);

        Assert.Throws<ArgumentException>(() => coordinator.Accept(answer with { Depth = 1 }));
        Assert.Throws<ArgumentException>(() => coordinator.Accept(answer with { Nodes = [0, 0, 1] }));
        coordinator.Accept(answer);
        Assert.Equal(1, coordinator.LevelsAccepted);
    }

    [Fact]
    public void Histograms_of_two_parties_should_add_bin_by_bin_and_refuse_other_shapes()
    {
        var a = new LevelHistograms(0, 0, [0], [0], 2, [1, 2, 3, 4]);
        var b = new LevelHistograms(0, 0, [0], [0], 2, [10, 20, 30, 40]);
        Assert.Equal([11.0, 22, 33, 44], a.Add(b).Values);
        Assert.Equal([12.0, 24, 36, 48], LevelHistograms.Sum([a, b, a]).Values);
        Assert.Equal([1.0, 2, 3, 4], a.Values); // inputs untouched
        Assert.Throws<ArgumentException>(() => a.Add(b with { Depth = 1 }));
        Assert.Throws<ArgumentException>(() => a.Add(b with { Nodes = [1] }));
        Assert.Throws<ArgumentException>(() => a.Add(new LevelHistograms(0, 0, [0], [0], 1, [1, 2])));
        Assert.Throws<ArgumentException>(() => LevelHistograms.Sum([]));
    }

    [Fact]
    public void Histograms_split_into_frames_should_add_piece_by_piece_and_join_back_to_the_whole_sum()
    {
        var data = GbdtTestData.Make(rows: 300, features: 4, classes: 5, seed: 8);
        var options = Options(5);
        GbdtParty a = data.Party(0, 120), b = data.Party(120, 300);
        var coordinator = new GbdtTreeGrower(options, data.Features);
        var edges = coordinator.MergeSketches([a.Sketch(1000, 0), b.Sketch(1000, 1)]);
        a.SetBins(edges);
        b.SetBins(edges);
        var request = coordinator.Next()!;
        LevelHistograms ha = a.Histograms(request), hb = b.Histograms(request);

        var slotBytes = 8 + 16 * edges.TotalBins;
        var piecesA = ha.Split(2 * slotBytes + 12);
        var piecesB = hb.Split(2 * slotBytes + 12);
        Assert.Equal(3, piecesA.Count); // 5 slots, 2 per piece
        Assert.All(piecesA, p => Assert.True(p.PayloadBytes <= 2 * slotBytes + 12));
        var joined = LevelHistograms.Concat(piecesA.Zip(piecesB, (x, y) => x.Add(y)));

        var whole = ha.Add(hb);
        Assert.Equal(whole.Trees, joined.Trees);
        Assert.Equal(whole.Nodes, joined.Nodes);
        Assert.Equal(whole.Values, joined.Values);
        Assert.Single(ha.Split(1)[0].Trees); // never less than one slot per piece
        coordinator.Accept(joined);
    }

    [Fact]
    public void A_model_should_refuse_trees_whose_children_do_not_come_after_their_parent()
    {
        var loop = new GbdtTree([0, -1, -1], [0.5f, 0, 0], [2, -1, -1], [0, -1, -1], [0, 1, 2]);
        var ex = Assert.Throws<ArgumentException>(() => new GbdtModel(2, 1, [loop]));
        Assert.Contains("children", ex.Message);
        var ok = loop with { Right = [1, -1, -1] };
        Assert.Equal(2.0, new GbdtModel(2, 1, [ok]).RawScores([0.1f])[0]);
        Assert.Throws<ArgumentException>(() => new GbdtModel(2, 1, [ok with { Feature = [3, -1, -1] }]));
    }

    [Fact]
    public void Bin_edges_should_put_a_value_in_the_first_bin_whose_threshold_is_at_least_the_value()
    {
        var edges = new BinEdges(2, [0, 3, 3], [0.5f, 1.5f, 2.5f]);
        Assert.Equal(4, edges.BinCount(0));
        Assert.Equal(1, edges.BinCount(1));
        Assert.Equal(5, edges.TotalBins);
        Assert.Equal(0, edges.Bin(0, -7f));
        Assert.Equal(0, edges.Bin(0, 0.5f)); // equal to the threshold: "x ≤ t" goes left
        Assert.Equal(1, edges.Bin(0, 0.50001f));
        Assert.Equal(2, edges.Bin(0, 2.5f));
        Assert.Equal(3, edges.Bin(0, 2.6f));
        Assert.Equal(3, edges.Bin(0, float.NaN));
        Assert.Equal(0, edges.Bin(1, 123f));
    }

    [Fact]
    public void Merged_sketches_should_cap_the_bins_and_equal_the_edges_of_the_union()
    {
        var data = GbdtTestData.Make(rows: 500, features: 3, classes: 2, seed: 9);
        var union = GbdtTreeGrower.MergeSketches([data.Party(0, 500).Sketch(int.MaxValue, 0)], 10);
        var split = GbdtTreeGrower.MergeSketches([data.Party(0, 123).Sketch(int.MaxValue, 0), data.Party(123, 500).Sketch(int.MaxValue, 1)], 10);

        Assert.Equal(union.Offsets, split.Offsets);
        Assert.Equal(union.Thresholds, split.Thresholds);
        for (var f = 0; f < 3; f++)
        {
            Assert.Equal(10, union.BinCount(f)); // 101 distinct values, cut to 10 bins
            // bins are roughly balanced: no bin holds more than a quarter of the rows
            var counts = new int[10];
            for (var r = 0; r < 500; r++) counts[union.Bin(f, data.X[r * 3 + f])]++;
            Assert.True(counts.Max() < 125, string.Join(",", counts));
        }
    }

    [Fact]
    public void A_sampled_sketch_should_weight_its_values_up_to_the_party_rows()
    {
        var data = GbdtTestData.Make(rows: 1000, features: 3, classes: 2, seed: 1);
        var sketch = data.Party(0, 1000).Sketch(maxSamplesPerFeature: 100, seed: 7);
        Assert.Equal(1000, sketch.Rows);
        for (var f = 0; f < 3; f++)
        {
            var total = 0.0;
            for (var i = sketch.Offsets[f]; i < sketch.Offsets[f + 1]; i++) total += sketch.Weights[i];
            Assert.Equal(1000.0, total, 9);
        }
        sketch.Validate();
    }
}
