namespace EdgeActors.Learning.Federated.Gbdt;

/// <summary>
/// One regression tree. Node <c>i</c> is a leaf when <c>Left[i] &lt; 0</c> (its output is <c>Value[i]</c>, learning rate
/// included); otherwise rows with <c>x[Feature[i]] ≤ Threshold[i]</c> go to <c>Left[i]</c>, all others (NaN too) to
/// <c>Right[i]</c>. The root is node 0. Leaves have <c>Feature = -1</c>, <c>Right = -1</c>, <c>Threshold = 0</c>.
/// </summary>
public sealed record GbdtTree(int[] Feature, float[] Threshold, int[] Left, int[] Right, double[] Value)
{
    public int NodeCount => Feature.Length;

    public bool IsLeaf(int node) => Left[node] < 0;

    /// <summary>The leaf a sample reaches.</summary>
    public int LeafOf(ReadOnlySpan<float> x)
    {
        var n = 0;
        while (Left[n] >= 0) n = x[Feature[n]] <= Threshold[n] ? Left[n] : Right[n];
        return n;
    }

    /// <summary>The tree's output for a sample.</summary>
    public double Evaluate(ReadOnlySpan<float> x) => Value[LeafOf(x)];
}

/// <summary>
/// A trained ensemble. Tree <c>k</c> belongs to iteration <c>k / TreesPerIteration</c> and adds to the raw score of class
/// <c>k % TreesPerIteration</c> (binary: the single raw score is the log-odds of class 1).
/// Probabilities: softmax of the raw scores (multiclass) or [1 − σ(s), σ(s)] (binary).
/// </summary>
public sealed class GbdtModel
{
    public GbdtModel(int classes, int featureCount, IReadOnlyList<GbdtTree> trees, double[]? baseScores = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        ArgumentNullException.ThrowIfNull(trees);
        Classes = classes;
        FeatureCount = featureCount;
        TreesPerIteration = classes == 2 ? 1 : classes;
        if (trees.Count % TreesPerIteration != 0)
            throw new ArgumentException($"{trees.Count} trees is not a whole number of iterations of {TreesPerIteration} trees.", nameof(trees));
        BaseScores = baseScores ?? new double[TreesPerIteration];
        if (BaseScores.Length != TreesPerIteration)
            throw new ArgumentException($"baseScores needs {TreesPerIteration} entries; got {BaseScores.Length}.", nameof(baseScores));
        for (var k = 0; k < trees.Count; k++) Check(trees[k], k, featureCount);
        Trees = trees.ToArray();
    }

    public int Classes { get; }
    public int FeatureCount { get; }
    public int TreesPerIteration { get; }
    public int Iterations => Trees.Count / TreesPerIteration;
    public IReadOnlyList<GbdtTree> Trees { get; }

    /// <summary>Starting raw score per class (per tree slot); zeros unless a prior was used.</summary>
    public double[] BaseScores { get; }

    /// <summary>Raw scores (TreesPerIteration values: one log-odds for binary, one logit per class otherwise).</summary>
    public double[] RawScores(ReadOnlySpan<float> x)
    {
        if (x.Length != FeatureCount) throw new ArgumentException($"expected {FeatureCount} features; got {x.Length}.", nameof(x));
        var scores = (double[])BaseScores.Clone();
        for (var k = 0; k < Trees.Count; k++) scores[k % TreesPerIteration] += Trees[k].Evaluate(x);
        return scores;
    }

    /// <summary>Class probabilities (<see cref="Classes"/> values).</summary>
    public float[] PredictProba(ReadOnlySpan<float> x)
    {
        var scores = RawScores(x);
        var p = new float[Classes];
        if (TreesPerIteration == 1)
        {
            var p1 = 1.0 / (1.0 + Math.Exp(-scores[0]));
            p[0] = (float)(1.0 - p1);
            p[1] = (float)p1;
            return p;
        }
        Softmax(scores);
        for (var c = 0; c < Classes; c++) p[c] = (float)scores[c];
        return p;
    }

    /// <summary>The most probable class (the lower index on a tie).</summary>
    public int Predict(ReadOnlySpan<float> x)
    {
        var scores = RawScores(x);
        if (TreesPerIteration == 1) return scores[0] > 0 ? 1 : 0;
        var best = 0;
        for (var c = 1; c < scores.Length; c++) if (scores[c] > scores[best]) best = c;
        return best;
    }

    /// <summary>Fraction of <paramref name="rows"/> row-major samples whose prediction equals the label.</summary>
    public double Accuracy(float[] features, byte[] labels, int rows)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        if (features.Length < (long)rows * FeatureCount) throw new ArgumentException($"{rows} rows of {FeatureCount} features need {(long)rows * FeatureCount} values; got {features.Length}.", nameof(features));
        if (labels.Length < rows) throw new ArgumentException($"{rows} rows need {rows} labels; got {labels.Length}.", nameof(labels));
        var correct = 0;
        for (var r = 0; r < rows; r++)
        {
            if (Predict(features.AsSpan(r * FeatureCount, FeatureCount)) == labels[r]) correct++;
        }
        return (double)correct / rows;
    }

    /// <summary>Shape checks that also guarantee evaluation terminates: children always have higher indices than their parent.</summary>
    private static void Check(GbdtTree t, int k, int featureCount)
    {
        ArgumentNullException.ThrowIfNull(t, "trees");
        if (t.Feature is null || t.Threshold is null || t.Left is null || t.Right is null || t.Value is null)
            throw new ArgumentException($"tree {k} has a missing array.", "trees");
        var n = t.Feature.Length;
        if (n == 0 || t.Threshold.Length != n || t.Left.Length != n || t.Right.Length != n || t.Value.Length != n)
            throw new ArgumentException($"tree {k}: Feature, Threshold, Left, Right and Value must be non-empty and of equal length.", "trees");
        for (var i = 0; i < n; i++)
        {
            if (t.Left[i] < 0)
            {
                if (!double.IsFinite(t.Value[i])) throw new ArgumentException($"tree {k} leaf {i} has a non-finite value.", "trees");
                continue;
            }
            if (t.Feature[i] < 0 || t.Feature[i] >= featureCount)
                throw new ArgumentException($"tree {k} node {i} splits on feature {t.Feature[i]}, outside 0..{featureCount - 1}.", "trees");
            if (t.Left[i] <= i || t.Left[i] >= n || t.Right[i] <= i || t.Right[i] >= n)
                throw new ArgumentException($"tree {k} node {i} has children {t.Left[i]} and {t.Right[i]}; they must lie in {i + 1}..{n - 1}.", "trees");
        }
    }

    internal static void Softmax(Span<double> scores)
    {
        var max = double.NegativeInfinity;
        foreach (var s in scores) max = Math.Max(max, s);
        var sum = 0.0;
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = Math.Exp(scores[i] - max);
            sum += scores[i];
        }
        for (var i = 0; i < scores.Length; i++) scores[i] /= sum;
    }
}
