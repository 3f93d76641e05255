using System.Buffers;
using System.Numerics.Tensors;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// The updates a robust aggregator must hold, as rows of ONE contiguous array rented from <see cref="ArrayPool{T}.Shared"/>
/// (row i at [i·dimension, (i+1)·dimension)). When a round brings more updates than expected the array is replaced by one
/// with twice the rows (the rows are copied once, the old array goes back to the pool).
/// </summary>
internal sealed class UpdateMatrix : IDisposable
{
    private const int MinimumRows = 4;
    private float[]? _data;
    private int _capacityRows;

    public UpdateMatrix(int dimension, int expectedRows)
    {
        Dimension = dimension;
        _capacityRows = Math.Max(expectedRows, MinimumRows);
        _data = ArrayPool<float>.Shared.Rent(Length(_capacityRows));
    }

    public int Dimension { get; }
    public int Rows { get; private set; }
    public bool IsDisposed => _data is null;

    public ReadOnlySpan<float> Row(int i) => Data.AsSpan(i * Dimension, Dimension);

    /// <summary>Rows [0, Rows) as one span.</summary>
    public ReadOnlySpan<float> All => Data.AsSpan(0, Rows * Dimension);

    /// <summary>Copies <paramref name="update"/> into the next row; a non-finite update is not kept.</summary>
    public void Append(ReadOnlySpan<float> update, string paramName)
    {
        var data = Data;
        if (Rows == _capacityRows)
        {
            var rows = (int)Math.Min(2L * _capacityRows, Array.MaxLength / Dimension);
            if (rows <= Rows) rows = Rows + 1; // Length throws with the sizes
            var grown = ArrayPool<float>.Shared.Rent(Length(rows));
            data.AsSpan(0, Rows * Dimension).CopyTo(grown);
            ArrayPool<float>.Shared.Return(data);
            _data = data = grown;
            _capacityRows = rows;
        }
        var row = data.AsSpan(Rows * Dimension, Dimension);
        update.CopyTo(row);
        // checked on the copy (just written, still in cache); the row only counts once it passed
        if (!TensorPrimitives.IsFiniteAll(row)) throw Aggregators.NonFinite(paramName);
        Rows++;
    }

    private int Length(int rows)
    {
        var length = (long)rows * Dimension;
        if (length > Array.MaxLength)
            throw new InvalidOperationException(
                $"{rows} updates of dimension {Dimension} do not fit one array ({length:N0} floats > {Array.MaxLength:N0})");
        return (int)length;
    }

    private float[] Data => _data ?? throw new ObjectDisposedException("aggregator");

    public void Dispose()
    {
        var data = _data;
        _data = null;
        if (data is not null) ArrayPool<float>.Shared.Return(data);
    }
}
