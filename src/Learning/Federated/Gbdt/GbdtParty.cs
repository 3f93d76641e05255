namespace EdgeActors.Learning.Federated.Gbdt;

/// <summary>
/// One data holder. Its rows never leave it: it sends a <see cref="FeatureSketch"/> once and, per tree level,
/// gradient/hessian histograms. Not thread-safe; one call at a time.
/// </summary>
public sealed class GbdtParty
{
    private readonly float[] _features;
    private readonly byte[] _labels;
    private readonly int _trees;

    private BinEdges? _edges;
    private int[] _binOffsets = [];
    private byte[] _bins = [];

    private readonly double[] _scores;      // rows × trees, raw scores
    private readonly double[][] _gradHess;  // per tree: rows × (g, h)
    private readonly int[][] _order;        // per tree: rows grouped by node
    private readonly Dictionary<int, (int Start, int End)>[] _ranges; // per tree: heap node id → range in _order
    private readonly int[] _scratch;

    private int _lastIteration = -1;
    private int _lastDepth = -1;
    private LevelHistograms? _lastResponse;

    /// <param name="features">Row-major values, <paramref name="rows"/> × <paramref name="featureCount"/> (kept, not copied; do not change them).</param>
    /// <param name="rows">Rows this party holds (0 allowed).</param>
    /// <param name="featureCount">Features per row.</param>
    /// <param name="labels">One label 0..classes−1 per row.</param>
    /// <param name="classes">Number of classes (2 = binary).</param>
    public GbdtParty(float[] features, int rows, int featureCount, byte[] labels, int classes)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        if (features.Length != (long)rows * featureCount)
            throw new ArgumentException($"{rows} rows of {featureCount} features need {(long)rows * featureCount} values; got {features.Length}.", nameof(features));
        if (labels.Length != rows) throw new ArgumentException($"{rows} rows need {rows} labels; got {labels.Length}.", nameof(labels));
        for (var r = 0; r < rows; r++)
        {
            if (labels[r] >= classes) throw new ArgumentException($"label {labels[r]} of row {r} is outside 0..{classes - 1}.", nameof(labels));
        }
        _features = features;
        _labels = labels;
        Rows = rows;
        FeatureCount = featureCount;
        Classes = classes;
        _trees = classes == 2 ? 1 : classes;
        _scores = new double[(long)rows * _trees];
        _gradHess = new double[_trees][];
        _order = new int[_trees][];
        _ranges = new Dictionary<int, (int, int)>[_trees];
        for (var t = 0; t < _trees; t++)
        {
            _gradHess[t] = new double[2L * rows];
            _order[t] = new int[rows];
            _ranges[t] = [];
        }
        _scratch = new int[rows];
    }

    public int Rows { get; }
    public int FeatureCount { get; }
    public int Classes { get; }

    /// <summary>
    /// The distinct values of every feature with their row counts. When the party holds more than
    /// <paramref name="maxSamplesPerFeature"/> rows it summarises a uniform sample of that many rows (chosen with
    /// <paramref name="seed"/>) and scales the counts by rows/sampled; otherwise the sketch is exact.
    /// </summary>
    public FeatureSketch Sketch(int maxSamplesPerFeature, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSamplesPerFeature, 1);
        int[] rows;
        if (Rows <= maxSamplesPerFeature)
        {
            rows = new int[Rows];
            for (var r = 0; r < Rows; r++) rows[r] = r;
        }
        else
        {
            var all = new int[Rows];
            for (var r = 0; r < Rows; r++) all[r] = r;
            var rng = new Random(seed);
            for (var i = 0; i < maxSamplesPerFeature; i++)
            {
                var j = rng.Next(i, Rows);
                (all[i], all[j]) = (all[j], all[i]);
            }
            rows = all.AsSpan(0, maxSamplesPerFeature).ToArray();
            Array.Sort(rows);
        }
        var weight = rows.Length == 0 ? 1.0 : (double)Rows / rows.Length;

        var offsets = new int[FeatureCount + 1];
        var values = new List<float>();
        var weights = new List<double>();
        var column = new float[rows.Length];
        for (var f = 0; f < FeatureCount; f++)
        {
            var n = 0;
            foreach (var r in rows)
            {
                var v = _features[(long)r * FeatureCount + f];
                if (float.IsNaN(v)) continue;
                column[n++] = v == 0f ? 0f : v; // one zero (−0 becomes +0)
            }
            var span = column.AsSpan(0, n);
            span.Sort();
            for (var i = 0; i < n;)
            {
                var j = i + 1;
                while (j < n && span[j] == span[i]) j++;
                values.Add(span[i]);
                weights.Add((j - i) * weight);
                i = j;
            }
            offsets[f + 1] = values.Count;
        }
        return new FeatureSketch(FeatureCount, Rows, offsets, values.ToArray(), weights.ToArray());
    }

    /// <summary>Bins every row with the global edges (one byte per row and feature). Resets training state.</summary>
    public void SetBins(BinEdges edges)
    {
        ArgumentNullException.ThrowIfNull(edges);
        edges.Validate();
        if (edges.FeatureCount != FeatureCount)
            throw new ArgumentException($"bin edges cover {edges.FeatureCount} features; this party has {FeatureCount}.", nameof(edges));
        var bins = new byte[(long)Rows * FeatureCount];
        for (var r = 0; r < Rows; r++)
        {
            for (var f = 0; f < FeatureCount; f++)
            {
                var i = (long)r * FeatureCount + f;
                bins[i] = edges.Bin(f, _features[i]);
            }
        }
        var offsets = new int[FeatureCount];
        for (var f = 0; f < FeatureCount; f++) offsets[f] = edges.BinOffset(f);
        _edges = edges;
        _bins = bins;
        _binOffsets = offsets;
        Array.Clear(_scores);
        _lastIteration = -1;
        _lastDepth = -1;
        _lastResponse = null;
    }

    /// <summary>
    /// Continues from a coordinator's checkpoint at an iteration boundary: bins every row with <paramref name="edges"/>
    /// and sets the raw scores to those of <paramref name="trees"/> (the finished iterations, in order; summed in the
    /// same order as training added them, and a tree routes a row as its bins do, so the scores are the same as if this
    /// party had trained them). The next request it takes is iteration <c>trees.Count / trees per iteration</c>, depth 0.
    /// </summary>
    public void Restore(BinEdges edges, IReadOnlyList<GbdtTree> trees)
    {
        ArgumentNullException.ThrowIfNull(trees);
        _ = new GbdtModel(Classes, FeatureCount, trees); // checks the trees (whole iterations, features and children in range)
        SetBins(edges);
        for (var r = 0; r < Rows; r++)
        {
            var x = _features.AsSpan(r * FeatureCount, FeatureCount);
            for (var k = 0; k < trees.Count; k++) _scores[(long)r * _trees + k % _trees] += trees[k].Evaluate(x);
        }
        _lastIteration = trees.Count / _trees - 1;
        _lastDepth = int.MaxValue - 1; // no next level of that iteration: only iteration + 1, depth 0 follows
    }

    /// <summary>
    /// Handles one level (see <see cref="LevelRequest"/> for the steps). Requests must come in the coordinator's order;
    /// the same request again returns the same answer without changing state (a retried message).
    /// </summary>
    /// <exception cref="InvalidOperationException">No bins yet, or a request out of order.</exception>
    /// <exception cref="ArgumentException">The request names unknown trees, nodes, features or bins.</exception>
    public LevelHistograms Histograms(LevelRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var edges = _edges ?? throw new InvalidOperationException("GbdtParty: call SetBins before Histograms.");
        request.Validate();
        if (_lastResponse is not null && request.Iteration == _lastIteration && request.Depth == _lastDepth)
            return _lastResponse;
        var first = _lastIteration < 0 && request.Iteration == 0 && request.Depth == 0;
        var nextLevel = _lastIteration >= 0 && request.Iteration == _lastIteration && request.Depth == _lastDepth + 1;
        var nextIteration = _lastIteration >= 0 && request.Iteration == _lastIteration + 1 && request.Depth == 0;
        if (!first && !nextLevel && !nextIteration)
            throw new InvalidOperationException($"GbdtParty: got iteration {request.Iteration} depth {request.Depth} after iteration {_lastIteration} depth {_lastDepth}.");
        CheckRequest(request, edges);

        // 1. route rows to the children of last level's splits
        for (var i = 0; i < request.SplitTrees.Length; i++)
            Split(request.SplitTrees[i], request.SplitNodes[i], request.SplitFeatures[i], request.SplitBins[i]);

        // 2. add the finished trees' leaf values to the raw scores
        for (var i = 0; i < request.LeafTrees.Length; i++)
        {
            int t = request.LeafTrees[i], node = request.LeafNodes[i];
            var value = request.LeafValues[i];
            var (start, end) = Range(t, node);
            var order = _order[t];
            for (var p = start; p < end; p++) _scores[(long)order[p] * _trees + t] += value;
        }

        // 3. new trees: all rows at the root, fresh gradients
        if (request.Depth == 0)
        {
            for (var t = 0; t < _trees; t++)
            {
                var order = _order[t];
                for (var r = 0; r < Rows; r++) order[r] = r;
                _ranges[t].Clear();
                _ranges[t][0] = (0, Rows);
            }
            ComputeGradients();
        }

        // 4. histograms of the requested nodes
        var totalBins = edges.TotalBins;
        var values = new double[(long)request.Trees.Length * totalBins * 2];
        for (var s = 0; s < request.Trees.Length; s++)
            BuildHistogram(request.Trees[s], request.Nodes[s], values.AsSpan(s * totalBins * 2, totalBins * 2));

        _lastIteration = request.Iteration;
        _lastDepth = request.Depth;
        _lastResponse = new LevelHistograms(request.Iteration, request.Depth, (int[])request.Trees.Clone(), (int[])request.Nodes.Clone(), totalBins, values);
        return _lastResponse;
    }

    private void CheckRequest(LevelRequest request, BinEdges edges)
    {
        for (var i = 0; i < request.SplitTrees.Length; i++)
        {
            CheckTree(request.SplitTrees[i]);
            var f = request.SplitFeatures[i];
            if (f < 0 || f >= FeatureCount) throw new ArgumentException($"LevelRequest splits on feature {f}; this party has {FeatureCount}.", nameof(request));
            var b = request.SplitBins[i];
            if (b < 0 || b >= edges.BinCount(f) - 1) throw new ArgumentException($"LevelRequest splits feature {f} after bin {b}; it has {edges.BinCount(f)} bins.", nameof(request));
        }
        foreach (var t in request.LeafTrees) CheckTree(t);
        foreach (var t in request.Trees) CheckTree(t);
        foreach (var v in request.LeafValues)
        {
            if (!double.IsFinite(v)) throw new ArgumentException("LevelRequest carries a non-finite leaf value.", nameof(request));
        }
    }

    private void CheckTree(int t)
    {
        if (t < 0 || t >= _trees) throw new ArgumentException($"LevelRequest names tree {t}; an iteration has {_trees} trees.", "request");
    }

    private (int Start, int End) Range(int tree, int node) =>
        _ranges[tree].TryGetValue(node, out var range)
            ? range
            : throw new ArgumentException($"LevelRequest names node {node} of tree {tree}, which this party does not have.", "request");

    private void Split(int tree, int node, int feature, int bin)
    {
        var (start, end) = Range(tree, node);
        int left = 2 * node + 1, right = 2 * node + 2;
        if (left < 0 || _ranges[tree].ContainsKey(left))
            throw new ArgumentException($"LevelRequest splits node {node} of tree {tree} twice or beyond the supported depth.", "request");
        var order = _order[tree];
        var bins = _bins;
        var f = FeatureCount;
        int l = start, rcount = 0;
        for (var p = start; p < end; p++)
        {
            var row = order[p];
            if (bins[(long)row * f + feature] <= bin) order[l++] = row;
            else _scratch[rcount++] = row;
        }
        _scratch.AsSpan(0, rcount).CopyTo(order.AsSpan(l));
        _ranges[tree][left] = (start, l);
        _ranges[tree][right] = (l, end);
    }

    private void ComputeGradients()
    {
        if (_trees == 1)
        {
            var gh = _gradHess[0];
            for (var r = 0; r < Rows; r++)
            {
                var p = 1.0 / (1.0 + Math.Exp(-_scores[r]));
                gh[2 * r] = p - _labels[r];
                gh[2 * r + 1] = p * (1.0 - p);
            }
            return;
        }
        Span<double> p2 = stackalloc double[_trees];
        for (var r = 0; r < Rows; r++)
        {
            _scores.AsSpan(r * _trees, _trees).CopyTo(p2);
            GbdtModel.Softmax(p2);
            var y = _labels[r];
            for (var t = 0; t < _trees; t++)
            {
                var p = p2[t];
                _gradHess[t][2 * r] = p - (t == y ? 1.0 : 0.0);
                _gradHess[t][2 * r + 1] = p * (1.0 - p);
            }
        }
    }

    private void BuildHistogram(int tree, int node, Span<double> hist)
    {
        var (start, end) = Range(tree, node);
        var order = _order[tree].AsSpan(start, end - start);
        var gh = _gradHess[tree];
        var bins = _bins;
        var offsets = _binOffsets;
        var f = FeatureCount;
        foreach (var row in order)
        {
            var g = gh[2 * row];
            var h = gh[2 * row + 1];
            var rowBins = bins.AsSpan(row * f, f);
            for (var j = 0; j < rowBins.Length; j++)
            {
                var k = (offsets[j] + rowBins[j]) * 2;
                hist[k] += g;
                hist[k + 1] += h;
            }
        }
    }
}
