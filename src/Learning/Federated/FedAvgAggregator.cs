using System.Buffers;
using System.Numerics.Tensors;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// FedAvg (and FedProx): one float accumulator of Σ w·u, no copies of the updates. The first update is written as w·u
/// (no clearing pass), each later one is fused in with one multiply-add pass; <see cref="Complete"/> scales by 1 / Σ w
/// (Σ w is kept in double).
/// </summary>
internal sealed class FedAvgAggregator : IUpdateAggregator
{
    private float[]? _sum;
    private double _totalWeight;

    public FedAvgAggregator(int dimension)
    {
        Dimension = dimension;
        _sum = ArrayPool<float>.Shared.Rent(dimension);
    }

    public int Dimension { get; }
    public int Count { get; private set; }

    public void Add(ReadOnlySpan<float> update, double weight)
    {
        var sum = Sum;
        Aggregators.CheckUpdate(update, weight, Dimension);
        // checked before touching the accumulator, so a rejected update leaves no trace
        if (!TensorPrimitives.IsFiniteAll(update)) throw Aggregators.NonFinite(nameof(update));
        var acc = sum.AsSpan(0, Dimension);
        if (Count == 0) TensorPrimitives.Multiply(update, (float)weight, acc);
        else TensorPrimitives.MultiplyAdd(update, (float)weight, acc, acc);
        _totalWeight += weight;
        Count++;
    }

    public void Complete(Span<float> result)
    {
        var sum = Sum;
        Aggregators.CheckResult(result, Dimension, Count);
        if (!(_totalWeight > 0))
            throw new InvalidOperationException($"cannot average: the {Count} update(s) have a total weight of 0");
        TensorPrimitives.Multiply(sum.AsSpan(0, Dimension), (float)(1.0 / _totalWeight), result);
        if (!TensorPrimitives.IsFiniteAll(result))
            throw new InvalidOperationException("the weighted sum overflowed float range (weights or values too large)");
    }

    private float[] Sum => _sum ?? throw new ObjectDisposedException(nameof(FedAvgAggregator));

    public void Dispose()
    {
        var sum = _sum;
        _sum = null;
        if (sum is not null) ArrayPool<float>.Shared.Return(sum);
    }
}
