using System.Numerics.Tensors;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// Krum and multi-Krum (Blanchard et al., NeurIPS 2017). Each update's score is the sum of its squared distances to its
/// n − f − 2 nearest other updates; Krum returns the update with the lowest score, multi-Krum (m = KrumSelect &gt; 1) the
/// plain mean of the m lowest-scored ones. Ties go to the update added first. Weights are ignored.
/// The updates live in one pooled <see cref="UpdateMatrix"/>; the pairwise squared distances are computed as each update
/// arrives (against the rows already held) and kept as a lower triangle, so <see cref="Complete"/> only ranks.
/// </summary>
internal sealed class KrumAggregator : IUpdateAggregator
{
    private readonly UpdateMatrix _rows;
    private readonly int _byzantine;
    private readonly int _select;
    // squared distance of (i, j), j < i, at i·(i−1)/2 + j
    private readonly List<double> _lowerTriangle = [];
    private readonly float[] _difference = new float[DistanceChunk];
    private const int DistanceChunk = 2048;

    public KrumAggregator(int dimension, int expectedCount, AggregatorOptions options)
    {
        _rows = new UpdateMatrix(dimension, expectedCount);
        _byzantine = options.KrumByzantine;
        _select = options.KrumSelect;
    }

    public int Dimension => _rows.Dimension;
    public int Count => _rows.Rows;

    internal static int MinimumCount(int byzantine) => 2 * byzantine + 3;

    internal static string TooFewMessage(int count, int byzantine) =>
        $"Krum tolerating f = {byzantine} Byzantine client(s) needs n > 2f + 2, i.e. at least {MinimumCount(byzantine)} updates, "
        + $"but has {count}; collect more updates or lower KrumByzantine";

    public void Add(ReadOnlySpan<float> update, double weight)
    {
        ObjectDisposedException.ThrowIf(_rows.IsDisposed, this);
        Aggregators.CheckUpdate(update, weight, Dimension);
        _rows.Append(update, nameof(update));
        var i = _rows.Rows - 1;
        var row = _rows.Row(i);
        for (var j = 0; j < i; j++) _lowerTriangle.Add(SquaredDistance(row, _rows.Row(j), _difference));
    }

    /// <summary>
    /// ‖a − b‖² over chunks: the chunk's difference goes to an L1-sized scratch, its sum of squares (vectorised, float)
    /// is accumulated in double. One read of each row, and exact for small integers (unlike squaring a float distance).
    /// </summary>
    internal static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float[] scratch)
    {
        double sum = 0;
        for (var start = 0; start < a.Length; start += scratch.Length)
        {
            var length = Math.Min(scratch.Length, a.Length - start);
            var difference = scratch.AsSpan(0, length);
            TensorPrimitives.Subtract(a.Slice(start, length), b.Slice(start, length), difference);
            sum += TensorPrimitives.SumOfSquares(difference);
        }
        return sum;
    }

    private double SquaredDistance(int i, int j) =>
        i > j ? _lowerTriangle[i * (i - 1) / 2 + j] : _lowerTriangle[j * (j - 1) / 2 + i];

    /// <summary>Each update's Krum score for the updates added so far (needs n ≥ 2f + 3).</summary>
    internal double[] Scores()
    {
        var n = Count;
        if (n < MinimumCount(_byzantine)) throw new InvalidOperationException(TooFewMessage(n, _byzantine));
        var neighbours = n - _byzantine - 2;
        var scores = new double[n];
        var distances = new double[n - 1];
        for (var i = 0; i < n; i++)
        {
            var t = 0;
            for (var j = 0; j < n; j++)
            {
                if (j != i) distances[t++] = SquaredDistance(i, j);
            }
            Array.Sort(distances);
            double score = 0;
            for (var t2 = 0; t2 < neighbours; t2++) score += distances[t2];
            scores[i] = score;
        }
        return scores;
    }

    /// <summary>The indices of the selected updates, best first.</summary>
    internal int[] Select()
    {
        var scores = Scores();
        var n = scores.Length;
        var select = _select == 0 ? n - _byzantine : _select;
        if (select > n - _byzantine)
            throw new InvalidOperationException(
                $"multi-Krum cannot select m = {select} of {n} updates with f = {_byzantine}: m must be ≤ n − f = {n - _byzantine}");
        var order = Enumerable.Range(0, n).ToArray();
        Array.Sort(order, (a, b) => scores[a] != scores[b] ? scores[a].CompareTo(scores[b]) : a.CompareTo(b));
        return order[..select];
    }

    public void Complete(Span<float> result)
    {
        ObjectDisposedException.ThrowIf(_rows.IsDisposed, this);
        Aggregators.CheckResult(result, Dimension, Count);
        var chosen = Select();
        _rows.Row(chosen[0]).CopyTo(result);
        if (chosen.Length == 1) return;
        for (var t = 1; t < chosen.Length; t++) TensorPrimitives.Add(result, _rows.Row(chosen[t]), result);
        TensorPrimitives.Divide(result, chosen.Length, result);
    }

    public void Dispose() => _rows.Dispose();
}
