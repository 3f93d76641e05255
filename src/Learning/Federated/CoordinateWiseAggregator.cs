using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// Coordinate-wise median (trimFraction null) or trimmed mean (β = trimFraction). Weights are ignored: every update
/// counts once. The updates are held in one pooled <see cref="UpdateMatrix"/>. <see cref="Complete"/> walks the
/// coordinates in column blocks (up to <see cref="MaxBlockWidth"/> wide, narrower for many updates so the block stays
/// cache resident): it copies each row's slice of the block into a scratch (n rows × block width) and sorts every column
/// of the block at once with a sorting network whose compare-exchanges are SIMD min/max over whole block rows; then row
/// ⌊n/2⌋ (and its neighbour) gives the medians and rows [k, n − k) the trimmed means (summed in double).
/// </summary>
internal sealed class CoordinateWiseAggregator : IUpdateAggregator
{
    internal const int MaxBlockWidth = 256;
    private const int BlockFloats = 1 << 16; // target scratch size: 256 KiB

    private static readonly ConcurrentDictionary<int, (int Low, int High)[]> Networks = new();

    private readonly UpdateMatrix _rows;
    private readonly double? _trimFraction;
    private readonly AggregatorOptions _options;

    public CoordinateWiseAggregator(int dimension, int expectedCount, double? trimFraction, AggregatorOptions options)
    {
        _rows = new UpdateMatrix(dimension, expectedCount);
        _trimFraction = trimFraction;
        _options = options;
    }

    public int Dimension => _rows.Dimension;
    public int Count => _rows.Rows;

    public void Add(ReadOnlySpan<float> update, double weight)
    {
        ObjectDisposedException.ThrowIf(_rows.IsDisposed, this);
        Aggregators.CheckUpdate(update, weight, Dimension);
        _rows.Append(update, nameof(update));
    }

    /// <summary>The block width for <paramref name="n"/> updates: a multiple of the SIMD width.</summary>
    internal static int BlockWidth(int n)
    {
        var lanes = Vector<float>.Count;
        var width = BlockFloats / n / lanes * lanes;
        return Math.Clamp(width, lanes, MaxBlockWidth);
    }

    public void Complete(Span<float> result)
    {
        ObjectDisposedException.ThrowIf(_rows.IsDisposed, this);
        Aggregators.CheckResult(result, Dimension, Count);
        int n = Count, dimension = Dimension;
        var trim = _trimFraction is null ? -1 : _options.TrimCount(n);
        var network = Network(n);
        var width = BlockWidth(n);
        var all = _rows.All;
        var scratch = ArrayPool<float>.Shared.Rent(width * n);
        try
        {
            var block = scratch.AsSpan(0, width * n);
            block.Clear(); // columns past the end of the last block stay finite
            for (var c0 = 0; c0 < dimension; c0 += width)
            {
                var used = Math.Min(width, dimension - c0);
                for (var i = 0; i < n; i++) all.Slice(i * dimension + c0, used).CopyTo(block.Slice(i * width));
                foreach (var (low, high) in network) CompareExchange(block.Slice(low * width, width), block.Slice(high * width, width));
                var target = result.Slice(c0, used);
                if (trim < 0) Median(block, width, n, target);
                else TrimmedMean(block, width, n, trim, target);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>low ← min(low, high), high ← max(low, high), lane by lane (length a multiple of the SIMD width).</summary>
    private static void CompareExchange(Span<float> low, Span<float> high)
    {
        var a = MemoryMarshal.Cast<float, Vector<float>>(low);
        var b = MemoryMarshal.Cast<float, Vector<float>>(high);
        for (var v = 0; v < a.Length; v++)
        {
            var x = a[v];
            var y = b[v];
            a[v] = Vector.Min(x, y);
            b[v] = Vector.Max(x, y);
        }
    }

    /// <summary>Per column of the sorted block: the middle row, or the mean of the two middle rows for an even n.</summary>
    private static void Median(ReadOnlySpan<float> sorted, int width, int n, Span<float> target)
    {
        var middle = sorted.Slice(n / 2 * width, width);
        if ((n & 1) == 1)
        {
            middle[..target.Length].CopyTo(target);
            return;
        }
        var below = sorted.Slice((n / 2 - 1) * width, width);
        for (var j = 0; j < target.Length; j++) target[j] = (float)(((double)below[j] + middle[j]) * 0.5);
    }

    /// <summary>Per column of the sorted block: the mean (in double) of rows [trim, n − trim).</summary>
    private static void TrimmedMean(ReadOnlySpan<float> sorted, int width, int n, int trim, Span<float> target)
    {
        Span<double> sums = stackalloc double[target.Length];
        for (var i = trim; i < n - trim; i++)
        {
            var row = sorted.Slice(i * width, target.Length);
            for (var j = 0; j < sums.Length; j++) sums[j] += row[j];
        }
        var kept = n - 2 * trim;
        for (var j = 0; j < target.Length; j++) target[j] = (float)(sums[j] / kept);
    }

    /// <summary>
    /// Batcher's odd–even merge sort network for <paramref name="n"/> inputs (O(n log² n) compare-exchanges, each
    /// (low, high) with low &lt; high), built for the next power of two with every comparator touching an index ≥ n left
    /// out — equivalent to padding with +∞, which never moves.
    /// </summary>
    internal static (int Low, int High)[] Network(int n) => Networks.GetOrAdd(n, static n =>
    {
        var comparators = new List<(int, int)>();
        for (var p = 1; p < n; p <<= 1)
        {
            for (var k = p; k >= 1; k >>= 1)
            {
                for (var j = k % p; j + k < n; j += 2 * k)
                {
                    for (var i = 0; i < k && i + j + k < n; i++)
                    {
                        if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) comparators.Add((i + j, i + j + k));
                    }
                }
            }
        }
        return comparators.ToArray();
    });

    public void Dispose() => _rows.Dispose();
}
