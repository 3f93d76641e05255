namespace EdgeActors.Learning.Federated.Gbdt;

// Everything in this file crosses the wire between parties and the coordinator. Each record holds only
// ints, doubles and primitive arrays so that it can be serialised by hand. Arrays compare by reference
// (record equality is not content equality).

/// <summary>
/// A party's summary of its feature values, used by the coordinator to choose global bin edges.
/// Feature <c>f</c> owns <c>Values[Offsets[f]..Offsets[f+1])</c>: its distinct values (ascending, no NaN, −0 stored as 0)
/// and, in <c>Weights</c> at the same positions, how many of the party's rows each value stands for
/// (a count, scaled by rows/sampled when the party sampled its rows).
/// </summary>
/// <param name="FeatureCount">Number of features.</param>
/// <param name="Rows">Rows the party holds (not how many it sampled).</param>
/// <param name="Offsets">FeatureCount + 1 offsets into Values/Weights.</param>
/// <param name="Values">Distinct values per feature, ascending.</param>
/// <param name="Weights">Row weight per value.</param>
public sealed record FeatureSketch(int FeatureCount, int Rows, int[] Offsets, float[] Values, double[] Weights)
{
    /// <summary>Bytes of the primitive payload (for message-size reports).</summary>
    public long PayloadBytes => 8L + 4L * Offsets.Length + 4L * Values.Length + 8L * Weights.Length;

    /// <summary>Throws <see cref="ArgumentException"/> when the arrays do not describe a well-formed sketch.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Offsets);
        ArgumentNullException.ThrowIfNull(Values);
        ArgumentNullException.ThrowIfNull(Weights);
        if (FeatureCount < 1) throw new ArgumentException($"FeatureSketch.FeatureCount must be at least 1; got {FeatureCount}.", nameof(FeatureCount));
        if (Rows < 0) throw new ArgumentException($"FeatureSketch.Rows must not be negative; got {Rows}.", nameof(Rows));
        if (Offsets.Length != FeatureCount + 1) throw new ArgumentException($"FeatureSketch.Offsets must have FeatureCount + 1 = {FeatureCount + 1} entries; got {Offsets.Length}.", nameof(Offsets));
        if (Values.Length != Weights.Length) throw new ArgumentException($"FeatureSketch.Values ({Values.Length}) and Weights ({Weights.Length}) differ in length.", nameof(Weights));
        if (Offsets[0] != 0 || Offsets[FeatureCount] != Values.Length) throw new ArgumentException("FeatureSketch.Offsets must start at 0 and end at Values.Length.", nameof(Offsets));
        for (var f = 0; f < FeatureCount; f++)
        {
            if (Offsets[f + 1] < Offsets[f]) throw new ArgumentException($"FeatureSketch.Offsets decrease at feature {f}.", nameof(Offsets));
            for (var i = Offsets[f]; i < Offsets[f + 1]; i++)
            {
                if (float.IsNaN(Values[i])) throw new ArgumentException($"FeatureSketch.Values holds NaN for feature {f}.", nameof(Values));
                if (i > Offsets[f] && !(Values[i] > Values[i - 1])) throw new ArgumentException($"FeatureSketch.Values of feature {f} are not strictly ascending.", nameof(Values));
                if (!double.IsFinite(Weights[i]) || Weights[i] <= 0) throw new ArgumentException($"FeatureSketch.Weights must be finite and positive (feature {f}).", nameof(Weights));
            }
        }
    }
}

/// <summary>
/// Global bin edges. Feature <c>f</c> has the ascending thresholds <c>Thresholds[Offsets[f]..Offsets[f+1])</c> and
/// one more bin than thresholds. A value <c>v</c> falls in the first bin whose upper threshold is ≥ v, or in the
/// last bin when every threshold is below v (and when v is NaN); so "bin ≤ b" is exactly "v ≤ Thresholds[Offsets[f]+b]",
/// the ONNX <c>BRANCH_LEQ</c> test.
/// </summary>
/// <param name="FeatureCount">Number of features.</param>
/// <param name="Offsets">FeatureCount + 1 offsets into Thresholds.</param>
/// <param name="Thresholds">Upper thresholds of every bin but the last, per feature, strictly ascending.</param>
public sealed record BinEdges(int FeatureCount, int[] Offsets, float[] Thresholds)
{
    /// <summary>Bins of feature <paramref name="feature"/> (thresholds + 1, at least 1).</summary>
    public int BinCount(int feature) => Offsets[feature + 1] - Offsets[feature] + 1;

    /// <summary>Where feature <paramref name="feature"/>'s bins start in a histogram that lays all features' bins end to end.</summary>
    public int BinOffset(int feature) => Offsets[feature] + feature;

    /// <summary>Bins of all features together (the length of one node's histogram, in bins).</summary>
    public int TotalBins => Thresholds.Length + FeatureCount;

    /// <summary>The upper threshold of bin <paramref name="bin"/> of <paramref name="feature"/> (not the last bin).</summary>
    public float Threshold(int feature, int bin) => Thresholds[Offsets[feature] + bin];

    /// <summary>The bin of value <paramref name="value"/> for feature <paramref name="feature"/>.</summary>
    public byte Bin(int feature, float value)
    {
        int lo = Offsets[feature], hi = Offsets[feature + 1];
        var start = lo;
        // first threshold >= value; NaN compares false everywhere and lands in the last bin
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (Thresholds[mid] >= value) hi = mid;
            else lo = mid + 1;
        }
        if (float.IsNaN(value)) return (byte)(Offsets[feature + 1] - start);
        return (byte)(lo - start);
    }

    /// <summary>Bytes of the primitive payload.</summary>
    public long PayloadBytes => 4L + 4L * Offsets.Length + 4L * Thresholds.Length;

    /// <summary>Throws <see cref="ArgumentException"/> when the arrays do not describe well-formed edges.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Offsets);
        ArgumentNullException.ThrowIfNull(Thresholds);
        if (FeatureCount < 1) throw new ArgumentException($"BinEdges.FeatureCount must be at least 1; got {FeatureCount}.", nameof(FeatureCount));
        if (Offsets.Length != FeatureCount + 1) throw new ArgumentException($"BinEdges.Offsets must have FeatureCount + 1 = {FeatureCount + 1} entries; got {Offsets.Length}.", nameof(Offsets));
        if (Offsets[0] != 0 || Offsets[FeatureCount] != Thresholds.Length) throw new ArgumentException("BinEdges.Offsets must start at 0 and end at Thresholds.Length.", nameof(Offsets));
        for (var f = 0; f < FeatureCount; f++)
        {
            var n = Offsets[f + 1] - Offsets[f];
            if (n < 0 || n > 254) throw new ArgumentException($"BinEdges: feature {f} has {n} thresholds; 0..254 allowed.", nameof(Offsets));
            for (var i = Offsets[f]; i < Offsets[f + 1]; i++)
            {
                if (!float.IsFinite(Thresholds[i])) throw new ArgumentException($"BinEdges.Thresholds of feature {f} must be finite.", nameof(Thresholds));
                if (i > Offsets[f] && !(Thresholds[i] > Thresholds[i - 1])) throw new ArgumentException($"BinEdges.Thresholds of feature {f} are not strictly ascending.", nameof(Thresholds));
            }
        }
    }
}

/// <summary>
/// What the coordinator asks every party for one tree level. A party handles it in this order:
/// <list type="number">
/// <item>route its rows through <c>Split*</c>: in tree <c>SplitTrees[i]</c>, node <c>SplitNodes[i]</c>'s rows whose bin of
/// feature <c>SplitFeatures[i]</c> is ≤ <c>SplitBins[i]</c> go to the left child (node 2n+1), the others to the right child (2n+2);</item>
/// <item>add <c>LeafValues[i]</c> to the raw score (of tree <c>LeafTrees[i]</c>'s class) of every row in leaf <c>LeafNodes[i]</c>
/// (sent once, at depth 0 of the next iteration, for the trees just finished);</item>
/// <item>at depth 0, start new trees (every row in root node 0) and recompute gradients and hessians from the raw scores;</item>
/// <item>return histograms for the nodes <c>(Trees[i], Nodes[i])</c>, in that order.</item>
/// </list>
/// Trees are numbered within an iteration: 0 for binary, the class for multiclass. Nodes use heap numbering (root 0).
/// </summary>
public sealed record LevelRequest(
    int Iteration,
    int Depth,
    int[] SplitTrees,
    int[] SplitNodes,
    int[] SplitFeatures,
    int[] SplitBins,
    int[] LeafTrees,
    int[] LeafNodes,
    double[] LeafValues,
    int[] Trees,
    int[] Nodes)
{
    /// <summary>Bytes of the primitive payload.</summary>
    public long PayloadBytes => 8L + 4L * (SplitTrees.Length + SplitNodes.Length + SplitFeatures.Length + SplitBins.Length
        + LeafTrees.Length + LeafNodes.Length + Trees.Length + Nodes.Length) + 8L * LeafValues.Length;

    /// <summary>Throws <see cref="ArgumentException"/> when parallel arrays differ in length.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(SplitTrees);
        ArgumentNullException.ThrowIfNull(SplitNodes);
        ArgumentNullException.ThrowIfNull(SplitFeatures);
        ArgumentNullException.ThrowIfNull(SplitBins);
        ArgumentNullException.ThrowIfNull(LeafTrees);
        ArgumentNullException.ThrowIfNull(LeafNodes);
        ArgumentNullException.ThrowIfNull(LeafValues);
        ArgumentNullException.ThrowIfNull(Trees);
        ArgumentNullException.ThrowIfNull(Nodes);
        if (Iteration < 0 || Depth < 0) throw new ArgumentException($"LevelRequest: negative iteration {Iteration} or depth {Depth}.");
        if (SplitNodes.Length != SplitTrees.Length || SplitFeatures.Length != SplitTrees.Length || SplitBins.Length != SplitTrees.Length)
            throw new ArgumentException("LevelRequest: SplitTrees, SplitNodes, SplitFeatures and SplitBins differ in length.");
        if (LeafNodes.Length != LeafTrees.Length || LeafValues.Length != LeafTrees.Length)
            throw new ArgumentException("LevelRequest: LeafTrees, LeafNodes and LeafValues differ in length.");
        if (Nodes.Length != Trees.Length) throw new ArgumentException("LevelRequest: Trees and Nodes differ in length.");
    }
}

/// <summary>
/// Gradient/hessian histograms for the nodes of one level, from one party or summed over parties.
/// Slot <c>s</c> is node <c>(Trees[s], Nodes[s])</c>; global bin <c>k</c> (see <see cref="BinEdges.BinOffset"/>) has its
/// gradient sum at <c>Values[(s*TotalBins + k)*2]</c> and its hessian sum at the next index.
/// </summary>
public sealed record LevelHistograms(int Iteration, int Depth, int[] Trees, int[] Nodes, int TotalBins, double[] Values)
{
    /// <summary>Bytes of the primitive payload (what one party sends for this level).</summary>
    public long PayloadBytes => 12L + 4L * (Trees.Length + Nodes.Length) + 8L * Values.Length;

    /// <summary>The element-wise sum of this and <paramref name="other"/> (same level, same nodes, same bins).</summary>
    public LevelHistograms Add(LevelHistograms other)
    {
        ArgumentNullException.ThrowIfNull(other);
        CheckSameShape(other);
        var sum = new double[Values.Length];
        for (var i = 0; i < sum.Length; i++) sum[i] = Values[i] + other.Values[i];
        return this with { Values = sum };
    }

    /// <summary>Sums the histograms of all parties (at least one), in the order given.</summary>
    public static LevelHistograms Sum(IEnumerable<LevelHistograms> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        LevelHistograms? acc = null;
        double[]? sum = null;
        foreach (var part in parts)
        {
            ArgumentNullException.ThrowIfNull(part);
            if (acc is null)
            {
                part.Validate();
                acc = part;
                sum = (double[])part.Values.Clone();
                continue;
            }
            acc.CheckSameShape(part);
            for (var i = 0; i < sum!.Length; i++) sum[i] += part.Values[i];
        }
        if (acc is null) throw new ArgumentException("LevelHistograms.Sum needs at least one histogram.", nameof(parts));
        return acc with { Values = sum! };
    }

    /// <summary>
    /// Cuts this message into consecutive pieces of whole node slots, each with a payload of at most
    /// <paramref name="maxPayloadBytes"/> (but at least one slot per piece), e.g. to fit a transport's frame size.
    /// Pieces from different parties with the same slots add up with <see cref="Add"/>; <see cref="Concat"/> joins them.
    /// </summary>
    public IReadOnlyList<LevelHistograms> Split(int maxPayloadBytes)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPayloadBytes);
        var width = TotalBins * 2;
        var slotBytes = 8L + 8L * width;
        var perPiece = (int)Math.Clamp((maxPayloadBytes - 12L) / slotBytes, 1, Math.Max(1, Trees.Length));
        var pieces = new List<LevelHistograms>();
        for (var start = 0; start < Trees.Length || pieces.Count == 0; start += perPiece)
        {
            var count = Math.Min(perPiece, Trees.Length - start);
            pieces.Add(this with
            {
                Trees = Trees.AsSpan(start, count).ToArray(),
                Nodes = Nodes.AsSpan(start, count).ToArray(),
                Values = Values.AsSpan(start * width, count * width).ToArray(),
            });
        }
        return pieces;
    }

    /// <summary>Joins pieces made by <see cref="Split"/> (same level and bins), in the order given.</summary>
    public static LevelHistograms Concat(IEnumerable<LevelHistograms> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var list = pieces.ToList();
        if (list.Count == 0) throw new ArgumentException("LevelHistograms.Concat needs at least one piece.", nameof(pieces));
        foreach (var p in list)
        {
            ArgumentNullException.ThrowIfNull(p);
            p.Validate();
            if (p.Iteration != list[0].Iteration || p.Depth != list[0].Depth || p.TotalBins != list[0].TotalBins)
                throw new ArgumentException("LevelHistograms.Concat: pieces of different levels or bin layouts.", nameof(pieces));
        }
        return list[0] with
        {
            Trees = list.SelectMany(p => p.Trees).ToArray(),
            Nodes = list.SelectMany(p => p.Nodes).ToArray(),
            Values = list.SelectMany(p => p.Values).ToArray(),
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> when the arrays do not fit together.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Trees);
        ArgumentNullException.ThrowIfNull(Nodes);
        ArgumentNullException.ThrowIfNull(Values);
        if (Trees.Length != Nodes.Length) throw new ArgumentException("LevelHistograms: Trees and Nodes differ in length.");
        if (TotalBins < 1) throw new ArgumentException($"LevelHistograms.TotalBins must be positive; got {TotalBins}.");
        if (Values.Length != (long)Trees.Length * TotalBins * 2)
            throw new ArgumentException($"LevelHistograms.Values has {Values.Length} entries; {Trees.Length} nodes × {TotalBins} bins × 2 = {(long)Trees.Length * TotalBins * 2} expected.");
    }

    private void CheckSameShape(LevelHistograms other)
    {
        Validate();
        other.Validate();
        if (other.Iteration != Iteration || other.Depth != Depth)
            throw new ArgumentException($"LevelHistograms of iteration {other.Iteration} depth {other.Depth} cannot be added to iteration {Iteration} depth {Depth}.");
        if (other.TotalBins != TotalBins || !other.Trees.AsSpan().SequenceEqual(Trees) || !other.Nodes.AsSpan().SequenceEqual(Nodes))
            throw new ArgumentException("LevelHistograms cover different nodes or bins and cannot be added.");
    }
}
