namespace EdgeActors.Learning.Federated.Gbdt;

/// <summary>
/// Grows the trees level by level from histograms summed over parties: one round trip per tree level.
/// Use: <see cref="MergeSketches(IEnumerable{FeatureSketch})"/> (or <see cref="UseBins"/>), send the edges to every
/// party (<see cref="GbdtParty.SetBins"/>), then loop <c>while (Next() is { } req) Accept(Sum(parties' Histograms(req)))</c>.
/// Per split the coordinator asks only for the child with the smaller hessian sum and gets its sibling by subtracting
/// from the parent's histogram, so a level's message carries at most half of its open nodes (all roots at depth 0).
/// Leaf values −G/(H+λ)·learning rate come from the histogram totals (no extra trip); the raw score starts at 0.
/// Not thread-safe.
/// </summary>
public sealed class GbdtTreeGrower
{
    private const double GainTieTolerance = 1e-10;
    private const double RelativeHessianFloor = 1e-9;

    private readonly int _trees;
    private readonly List<GbdtTree> _finished = [];
    private readonly Dictionary<int, BuildNode>[] _building;
    private List<OpenNode> _open = [];
    private readonly List<(int Tree, int Node, int Feature, int Bin)> _splitsToSend = [];
    private readonly List<(int Tree, int Node, double Value)> _leavesToSend = [];
    private LevelRequest? _pending;
    private GbdtModel? _model;

    public GbdtTreeGrower(GbdtOptions options, int featureCount)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        Options = options;
        FeatureCount = featureCount;
        _trees = options.TreesPerIteration;
        _building = new Dictionary<int, BuildNode>[_trees];
        for (var t = 0; t < _trees; t++) _building[t] = [];
        StartIteration();
    }

    public GbdtOptions Options { get; }
    public int FeatureCount { get; }

    /// <summary>The global bin edges, once merged or set.</summary>
    public BinEdges? Edges { get; private set; }

    /// <summary>The iteration being grown (equals <see cref="GbdtOptions.Iterations"/> when done).</summary>
    public int Iteration { get; private set; }

    /// <summary>The depth whose histograms are asked for next.</summary>
    public int Depth { get; private set; }

    /// <summary>Round trips completed (levels accepted).</summary>
    public int LevelsAccepted { get; private set; }

    public bool Done => Iteration >= Options.Iterations;

    /// <summary>The trees of every finished iteration (all of them once <see cref="Done"/>).</summary>
    public GbdtModel Model => _model ??= new GbdtModel(Options.Classes, FeatureCount, _finished);

    /// <summary>
    /// A grower that continues from a checkpoint taken at an iteration boundary: the global <paramref name="edges"/> and the
    /// trees of every finished iteration. The next request is iteration <c>finished.Count / TreesPerIteration</c>, depth 0,
    /// without leaf values to send (the parties are restored with the same trees: <see cref="GbdtParty.Restore"/>).
    /// </summary>
    public static GbdtTreeGrower Resume(GbdtOptions options, int featureCount, BinEdges edges, IReadOnlyList<GbdtTree> finished)
    {
        ArgumentNullException.ThrowIfNull(finished);
        var grower = new GbdtTreeGrower(options, featureCount);
        grower.UseBins(edges);
        if (finished.Count % grower._trees != 0)
            throw new ArgumentException($"{finished.Count} trees is not a whole number of iterations of {grower._trees} trees.", nameof(finished));
        if (finished.Count / grower._trees > options.Iterations)
            throw new ArgumentException($"{finished.Count / grower._trees} finished iterations; the job has {options.Iterations}.", nameof(finished));
        _ = new GbdtModel(options.Classes, featureCount, finished); // checks every tree
        grower._finished.AddRange(finished);
        grower.Iteration = finished.Count / grower._trees;
        if (grower.Done) grower._open = [];
        return grower;
    }

    /// <summary>The trees of every finished iteration, in order (what a checkpoint stores).</summary>
    public IReadOnlyList<GbdtTree> FinishedTrees => _finished;

    /// <summary>Merges the parties' sketches into global edges with at most <see cref="GbdtOptions.MaxBins"/> bins per feature and keeps them.</summary>
    public BinEdges MergeSketches(IEnumerable<FeatureSketch> sketches)
    {
        var edges = MergeSketches(sketches, Options.MaxBins);
        UseBins(edges);
        return edges;
    }

    /// <summary>Uses edges chosen elsewhere (they must match the feature count and bin limit).</summary>
    public void UseBins(BinEdges edges)
    {
        ArgumentNullException.ThrowIfNull(edges);
        edges.Validate();
        if (edges.FeatureCount != FeatureCount) throw new ArgumentException($"bin edges cover {edges.FeatureCount} features; the coordinator has {FeatureCount}.", nameof(edges));
        for (var f = 0; f < FeatureCount; f++)
        {
            if (edges.BinCount(f) > Options.MaxBins) throw new ArgumentException($"feature {f} has {edges.BinCount(f)} bins; MaxBins is {Options.MaxBins}.", nameof(edges));
        }
        if (_pending is not null || LevelsAccepted > 0) throw new InvalidOperationException("GbdtTreeGrower: bins cannot change once training has started.");
        Edges = edges;
    }

    /// <summary>
    /// Global edges from sketches: per feature, the sketches' values are pooled (equal values' weights added), then
    /// cut greedily into at most <paramref name="maxBins"/> bins of about equal weight. Thresholds lie halfway between
    /// neighbouring distinct values. The result depends only on the pooled (value, weight) multiset, not on how rows
    /// were spread over parties (exact sketches of a split data set give the same edges as one sketch of the union).
    /// </summary>
    public static BinEdges MergeSketches(IEnumerable<FeatureSketch> sketches, int maxBins)
    {
        ArgumentNullException.ThrowIfNull(sketches);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBins, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxBins, 255);
        var list = sketches.ToList();
        if (list.Count == 0) throw new ArgumentException("MergeSketches needs at least one sketch.", nameof(sketches));
        foreach (var s in list)
        {
            ArgumentNullException.ThrowIfNull(s);
            s.Validate();
            if (s.FeatureCount != list[0].FeatureCount) throw new ArgumentException($"sketches cover {list[0].FeatureCount} and {s.FeatureCount} features.", nameof(sketches));
        }
        var featureCount = list[0].FeatureCount;
        var offsets = new int[featureCount + 1];
        var thresholds = new List<float>();
        var pooled = new List<(float Value, double Weight)>();
        var distinct = new List<float>();
        var weights = new List<double>();
        for (var f = 0; f < featureCount; f++)
        {
            pooled.Clear();
            foreach (var s in list)
            {
                for (var i = s.Offsets[f]; i < s.Offsets[f + 1]; i++) pooled.Add((s.Values[i], s.Weights[i]));
            }
            pooled.Sort((a, b) => a.Value != b.Value ? a.Value.CompareTo(b.Value) : a.Weight.CompareTo(b.Weight));
            distinct.Clear();
            weights.Clear();
            foreach (var (v, w) in pooled)
            {
                if (distinct.Count > 0 && distinct[^1] == v) weights[^1] += w;
                else
                {
                    distinct.Add(v);
                    weights.Add(w);
                }
            }
            Cut(distinct, weights, maxBins, thresholds);
            offsets[f + 1] = thresholds.Count;
        }
        return new BinEdges(featureCount, offsets, thresholds.ToArray());
    }

    private static void Cut(List<float> values, List<double> weights, int maxBins, List<float> thresholds)
    {
        var n = values.Count;
        if (n <= 1) return;
        if (n <= maxBins)
        {
            for (var i = 1; i < n; i++) thresholds.Add(Midpoint(values[i - 1], values[i]));
            return;
        }
        var remaining = 0.0;
        foreach (var w in weights) remaining += w;
        var binsLeft = maxBins;
        var acc = 0.0;
        for (var i = 0; i < n; i++)
        {
            if (i > 0 && acc > 0 && binsLeft > 1)
            {
                var target = remaining / binsLeft;
                var mustClose = n - i <= binsLeft - 1;
                var closerWithout = acc + weights[i] > target && acc + weights[i] - target > target - acc;
                if (mustClose || acc >= target || closerWithout)
                {
                    thresholds.Add(Midpoint(values[i - 1], values[i]));
                    remaining -= acc;
                    acc = 0;
                    binsLeft--;
                }
            }
            acc += weights[i];
        }
    }

    private static float Midpoint(float a, float b)
    {
        var m = (float)(((double)a + b) / 2);
        return m >= a && m < b ? m : a;
    }

    /// <summary>
    /// The request every party must answer next, or null when training is done. Until <see cref="Accept"/> is
    /// called, the same request is returned again.
    /// </summary>
    public LevelRequest? Next()
    {
        if (Done) return null;
        if (Edges is null) throw new InvalidOperationException("GbdtTreeGrower: merge sketches (or UseBins) before Next.");
        if (_pending is not null) return _pending;
        var requested = _open.Where(o => o.Requested).ToList();
        _pending = new LevelRequest(
            Iteration,
            Depth,
            _splitsToSend.Select(s => s.Tree).ToArray(),
            _splitsToSend.Select(s => s.Node).ToArray(),
            _splitsToSend.Select(s => s.Feature).ToArray(),
            _splitsToSend.Select(s => s.Bin).ToArray(),
            _leavesToSend.Select(l => l.Tree).ToArray(),
            _leavesToSend.Select(l => l.Node).ToArray(),
            _leavesToSend.Select(l => l.Value).ToArray(),
            requested.Select(o => o.Tree).ToArray(),
            requested.Select(o => o.Node).ToArray());
        return _pending;
    }

    /// <summary>Takes the histograms of the pending request, summed over all parties, and decides this level's splits and leaves.</summary>
    /// <exception cref="InvalidOperationException">No request is pending.</exception>
    /// <exception cref="ArgumentException">The histograms do not answer the pending request.</exception>
    public void Accept(LevelHistograms summedOverParties)
    {
        ArgumentNullException.ThrowIfNull(summedOverParties);
        var request = _pending ?? throw new InvalidOperationException("GbdtTreeGrower: Accept called with no pending request (call Next first).");
        var edges = Edges!;
        var h = summedOverParties;
        h.Validate();
        if (h.Iteration != request.Iteration || h.Depth != request.Depth)
            throw new ArgumentException($"histograms for iteration {h.Iteration} depth {h.Depth}; iteration {request.Iteration} depth {request.Depth} is pending.", nameof(summedOverParties));
        if (h.TotalBins != edges.TotalBins) throw new ArgumentException($"histograms have {h.TotalBins} bins per node; the edges have {edges.TotalBins}.", nameof(summedOverParties));
        if (!h.Trees.AsSpan().SequenceEqual(request.Trees) || !h.Nodes.AsSpan().SequenceEqual(request.Nodes))
            throw new ArgumentException("histograms cover other nodes than the pending request asked for.", nameof(summedOverParties));
        foreach (var v in h.Values)
        {
            if (!double.IsFinite(v)) throw new ArgumentException("histograms hold a non-finite value.", nameof(summedOverParties));
        }

        var width = edges.TotalBins * 2;
        var slot = 0;
        foreach (var o in _open)
        {
            if (!o.Requested) continue;
            o.Histogram = h.Values.AsSpan(slot * width, width).ToArray();
            slot++;
        }
        foreach (var o in _open)
        {
            if (o.Requested) continue;
            var hist = new double[width];
            var parent = o.ParentHistogram!;
            var sibling = o.Sibling!.Histogram!;
            for (var i = 0; i < width; i++) hist[i] = parent[i] - sibling[i];
            o.Histogram = hist;
            o.ParentHistogram = null;
        }

        _pending = null;
        _splitsToSend.Clear();
        _leavesToSend.Clear();
        LevelsAccepted++;

        var next = new List<OpenNode>();
        foreach (var o in _open)
        {
            var hist = o.Histogram!;
            double g = 0, hs = 0;
            for (var b = 0; b < edges.BinCount(0); b++)
            {
                g += hist[2 * b];
                hs += hist[2 * b + 1];
            }
            var split = Depth < Options.MaxDepth ? BestSplit(hist, g, hs, edges) : null;
            if (split is not { } s)
            {
                _building[o.Tree][o.Node] = BuildNode.Leaf(LeafValue(g, hs));
                continue;
            }
            _building[o.Tree][o.Node] = new BuildNode(s.Feature, s.Bin, edges.Threshold(s.Feature, s.Bin), 0);
            _splitsToSend.Add((o.Tree, o.Node, s.Feature, s.Bin));
            int left = 2 * o.Node + 1, right = 2 * o.Node + 2;
            if (Depth + 1 < Options.MaxDepth)
            {
                var leftIsSmaller = s.LeftH <= s.RightH;
                var l = new OpenNode(o.Tree, left, leftIsSmaller);
                var r = new OpenNode(o.Tree, right, !leftIsSmaller);
                var derived = leftIsSmaller ? r : l;
                derived.Sibling = leftIsSmaller ? l : r;
                derived.ParentHistogram = hist;
                next.Add(l);
                next.Add(r);
            }
            else
            {
                _building[o.Tree][left] = BuildNode.Leaf(LeafValue(s.LeftG, s.LeftH));
                _building[o.Tree][right] = BuildNode.Leaf(LeafValue(s.RightG, s.RightH));
            }
        }

        if (next.Count > 0)
        {
            _open = next;
            Depth++;
            return;
        }
        FinishIteration();
    }

    private double LeafValue(double g, double h)
    {
        var denominator = h + Options.Lambda;
        return denominator > 0 ? -g / denominator * Options.LearningRate : 0.0;
    }

    private Split? BestSplit(double[] hist, double g, double h, BinEdges edges)
    {
        var lambda = Options.Lambda;
        var minHessian = Math.Max(Options.MinChildHessian, RelativeHessianFloor * Math.Abs(h));
        if (minHessian <= 0) minHessian = double.Epsilon;
        var parentTerm = h + lambda > 0 ? g * g / (h + lambda) : 0.0;
        Split? best = null;
        var bestGain = 0.0;
        for (var f = 0; f < FeatureCount; f++)
        {
            var offset = edges.BinOffset(f);
            var bins = edges.BinCount(f);
            double gl = 0, hl = 0;
            for (var b = 0; b < bins - 1; b++)
            {
                gl += hist[2 * (offset + b)];
                hl += hist[2 * (offset + b) + 1];
                double gr = g - gl, hr = h - hl;
                if (hl < minHessian || hr < minHessian) continue;
                var gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parentTerm;
                var tolerance = GainTieTolerance * (Math.Abs(parentTerm) + Math.Abs(bestGain));
                if (best is null ? gain > 0 : gain > bestGain + tolerance)
                {
                    best = new Split(f, b, gl, hl, gr, hr);
                    bestGain = gain;
                }
            }
        }
        if (best is null || bestGain < Options.MinGain) return null;
        return best;
    }

    private void FinishIteration()
    {
        for (var t = 0; t < _trees; t++)
        {
            var nodes = _building[t];
            var tree = Compact(nodes);
            _finished.Add(tree);
            foreach (var (id, node) in nodes)
            {
                if (node.IsLeaf) _leavesToSend.Add((t, id, node.Value));
            }
            nodes.Clear();
        }
        _leavesToSend.Sort((a, b) => a.Tree != b.Tree ? a.Tree.CompareTo(b.Tree) : a.Node.CompareTo(b.Node));
        _model = null;
        Iteration++;
        Depth = 0;
        if (Done)
        {
            _leavesToSend.Clear();
            _splitsToSend.Clear();
            _open = [];
            return;
        }
        StartIteration();
    }

    private void StartIteration()
    {
        _open = [];
        for (var t = 0; t < _trees; t++) _open.Add(new OpenNode(t, 0, requested: true));
    }

    /// <summary>Heap-numbered build nodes → breadth-first compact arrays.</summary>
    private static GbdtTree Compact(Dictionary<int, BuildNode> nodes)
    {
        var heapIds = new List<int> { 0 };
        for (var i = 0; i < heapIds.Count; i++)
        {
            if (!nodes[heapIds[i]].IsLeaf)
            {
                heapIds.Add(2 * heapIds[i] + 1);
                heapIds.Add(2 * heapIds[i] + 2);
            }
        }
        var n = heapIds.Count;
        var index = new Dictionary<int, int>(n);
        for (var i = 0; i < n; i++) index[heapIds[i]] = i;
        var feature = new int[n];
        var threshold = new float[n];
        var left = new int[n];
        var right = new int[n];
        var value = new double[n];
        for (var i = 0; i < n; i++)
        {
            var node = nodes[heapIds[i]];
            if (node.IsLeaf)
            {
                feature[i] = -1;
                left[i] = -1;
                right[i] = -1;
                value[i] = node.Value;
            }
            else
            {
                feature[i] = node.Feature;
                threshold[i] = node.Threshold;
                left[i] = index[2 * heapIds[i] + 1];
                right[i] = index[2 * heapIds[i] + 2];
            }
        }
        return new GbdtTree(feature, threshold, left, right, value);
    }

    private readonly record struct Split(int Feature, int Bin, double LeftG, double LeftH, double RightG, double RightH);

    private readonly record struct BuildNode(int Feature, int Bin, float Threshold, double Value)
    {
        public bool IsLeaf => Feature < 0;
        public static BuildNode Leaf(double value) => new(-1, -1, 0f, value);
    }

    private sealed class OpenNode(int tree, int node, bool requested)
    {
        public int Tree { get; } = tree;
        public int Node { get; } = node;
        public bool Requested { get; } = requested;
        public OpenNode? Sibling { get; set; }
        public double[]? ParentHistogram { get; set; }
        public double[]? Histogram { get; set; }
    }
}
