using System.Numerics.Tensors;

namespace EdgeActors.Learning.Models;

/// <summary>
/// A fully connected classifier: ReLU hidden layers, softmax output, float32 throughout.
/// All weights and biases live in one flat <see cref="Parameters"/> array, layer by layer: W (in × out, row-major,
/// <c>W[i*out + j]</c>) then b (out). Layers are views (offsets) into that array, so code that edits
/// <see cref="Parameters"/> in place (federated averaging) changes the model directly.
/// The forward pass computes exactly what the exported ONNX graph does (Gemm = x·W + b, Relu, Softmax(axis=1)).
/// Not thread-safe for concurrent training; <see cref="Forward"/> may run concurrently with other forwards.
/// </summary>
public sealed class Mlp
{
    private readonly int[] _sizes;
    private readonly int[] _weightOffsets;
    private readonly int[] _biasOffsets;

    /// <summary>Samples per block in the forward matrix product: the block's output rows stay in L1 while W streams once per block.</summary>
    internal const int ForwardBlock = 16;

    public Mlp(int[] layerSizes, int seed)
        : this(layerSizes, parameters: null)
    {
        // He-uniform: U(-sqrt(6/fan_in), +sqrt(6/fan_in)) for weights, zero biases
        var rng = new Random(seed);
        var p = Parameters;
        for (var l = 0; l < LayerCount; l++)
        {
            var fanIn = _sizes[l];
            var limit = Math.Sqrt(6.0 / fanIn);
            var w = p.AsSpan(_weightOffsets[l], fanIn * _sizes[l + 1]);
            for (var k = 0; k < w.Length; k++) w[k] = (float)((rng.NextDouble() * 2 - 1) * limit);
        }
    }

    private Mlp(int[] layerSizes, float[]? parameters)
    {
        ArgumentNullException.ThrowIfNull(layerSizes);
        if (layerSizes.Length < 2) throw new ArgumentException("an MLP needs at least an input and an output size", nameof(layerSizes));
        if (layerSizes.Any(s => s <= 0)) throw new ArgumentException($"layer sizes [{string.Join(",", layerSizes)}] must be positive", nameof(layerSizes));
        _sizes = (int[])layerSizes.Clone();
        _weightOffsets = new int[LayerCount];
        _biasOffsets = new int[LayerCount];
        long offset = 0;
        for (var l = 0; l < LayerCount; l++)
        {
            _weightOffsets[l] = checked((int)offset);
            offset += (long)_sizes[l] * _sizes[l + 1];
            _biasOffsets[l] = checked((int)offset);
            offset += _sizes[l + 1];
        }
        ParameterCount = checked((int)offset);
        if (parameters is not null && parameters.Length != ParameterCount)
            throw new ArgumentException($"{parameters.Length} parameters given, layers [{string.Join(",", layerSizes)}] need {ParameterCount}", nameof(parameters));
        Parameters = parameters ?? new float[ParameterCount];
    }

    /// <summary>A model with the given sizes and a copy of <paramref name="parameters"/> (layout as <see cref="Parameters"/>).</summary>
    public static Mlp FromParameters(int[] layerSizes, float[] parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return new Mlp(layerSizes, (float[])parameters.Clone());
    }

    public Mlp Clone() => new(_sizes, (float[])Parameters.Clone());

    public IReadOnlyList<int> LayerSizes => _sizes;
    public int ParameterCount { get; }
    public float[] Parameters { get; }

    /// <summary>Number of weight layers (sizes − 1).</summary>
    public int LayerCount => _sizes.Length - 1;
    public int InputSize => _sizes[0];
    public int OutputSize => _sizes[^1];
    /// <summary>The widest layer (input included): scratch buffers per sample need this many floats.</summary>
    internal int MaxWidth => _sizes.Max();

    internal int WeightOffset(int layer) => _weightOffsets[layer];
    internal int BiasOffset(int layer) => _biasOffsets[layer];
    internal int In(int layer) => _sizes[layer];
    internal int Out(int layer) => _sizes[layer + 1];

    public ReadOnlySpan<float> Weights(int layer) => Parameters.AsSpan(_weightOffsets[layer], _sizes[layer] * _sizes[layer + 1]);
    public ReadOnlySpan<float> Biases(int layer) => Parameters.AsSpan(_biasOffsets[layer], _sizes[layer + 1]);

    /// <summary>
    /// Class probabilities for <paramref name="batch"/> samples of <see cref="InputSize"/> floats each
    /// (writes batch × <see cref="OutputSize"/> floats).
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, int batch, Span<float> probabilities)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (x.Length < batch * InputSize) throw new ArgumentException($"input holds {x.Length} floats, {batch * InputSize} needed", nameof(x));
        if (probabilities.Length < batch * OutputSize) throw new ArgumentException($"output holds {probabilities.Length} floats, {batch * OutputSize} needed", nameof(probabilities));
        const int chunk = 256;
        var n = Math.Min(batch, chunk);
        var a = new float[n * MaxWidth];
        var b = new float[n * MaxWidth];
        for (var start = 0; start < batch; start += chunk)
        {
            var count = Math.Min(chunk, batch - start);
            ForwardInto(x.Slice(start * InputSize, count * InputSize), count, a, b, probabilities.Slice(start * OutputSize, count * OutputSize));
        }
    }

    /// <summary>Forward through ping-pong scratch buffers (each ≥ count × MaxWidth) into probabilities.</summary>
    private void ForwardInto(ReadOnlySpan<float> x, int count, float[] bufA, float[] bufB, Span<float> probabilities)
    {
        ReadOnlySpan<float> current = x;
        for (var l = 0; l < LayerCount; l++)
        {
            var last = l == LayerCount - 1;
            Span<float> next = last ? probabilities[..(count * Out(l))] : (l % 2 == 0 ? bufA : bufB).AsSpan(0, count * Out(l));
            Affine(l, current, count, next);
            if (!last) Relu(next);
            current = next;
        }
        SoftmaxRows(probabilities[..(count * OutputSize)], count, OutputSize);
    }

    /// <summary>
    /// y = x·W + b for layer <paramref name="layer"/>, rows of x being samples. Each output row starts at b and
    /// accumulates x_i · W_row_i in input order i = 0..in-1 with fused multiply-adds (zero inputs add nothing and are
    /// skipped). On CPUs without FMA, TensorPrimitives falls back to a slower scalar path with the same results.
    /// </summary>
    internal void Affine(int layer, ReadOnlySpan<float> x, int count, Span<float> y)
    {
        int nIn = In(layer), nOut = Out(layer);
        var w = Parameters.AsSpan(_weightOffsets[layer], nIn * nOut);
        var bias = Parameters.AsSpan(_biasOffsets[layer], nOut);
        for (var s = 0; s < count; s++) bias.CopyTo(y.Slice(s * nOut, nOut));
        for (var b0 = 0; b0 < count; b0 += ForwardBlock)
        {
            var b1 = Math.Min(count, b0 + ForwardBlock);
            for (var i = 0; i < nIn; i++)
            {
                var wRow = w.Slice(i * nOut, nOut);
                for (var s = b0; s < b1; s++)
                {
                    var xi = x[s * nIn + i];
                    if (xi == 0f) continue;
                    var yRow = y.Slice(s * nOut, nOut);
                    TensorPrimitives.FusedMultiplyAdd(wRow, xi, yRow, yRow);
                }
            }
        }
    }

    internal static void Relu(Span<float> v) => TensorPrimitives.Max(v, 0f, v);

    /// <summary>Row-wise softmax in place: exp(v − max) / Σ exp(v − max), as ONNX Softmax(axis=1).</summary>
    internal static void SoftmaxRows(Span<float> v, int rows, int cols)
    {
        for (var r = 0; r < rows; r++)
        {
            var row = v.Slice(r * cols, cols);
            var max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            TensorPrimitives.Exp(row, row);
            var sum = TensorPrimitives.Sum(row);
            TensorPrimitives.Divide(row, sum, row);
        }
    }

    /// <summary>The most probable class of each of the first <paramref name="count"/> images.</summary>
    public int[] Predict(float[] images, int count)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Length < count * InputSize) throw new ArgumentException($"{images.Length} floats hold fewer than {count} images", nameof(images));
        var result = new int[count];
        const int chunk = 256;
        var probs = new float[chunk * OutputSize];
        for (var start = 0; start < count; start += chunk)
        {
            var n = Math.Min(chunk, count - start);
            Forward(images.AsSpan(start * InputSize, n * InputSize), n, probs);
            for (var s = 0; s < n; s++) result[start + s] = TensorPrimitives.IndexOfMax(probs.AsSpan(s * OutputSize, OutputSize));
        }
        return result;
    }

    /// <summary>Fraction of the first <paramref name="limit"/> (default all) images whose predicted class is the label.</summary>
    public float Accuracy(float[] images, byte[] labels, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        var count = Math.Min(labels.Length, images.Length / InputSize);
        if (limit is { } l) count = Math.Min(count, l);
        if (count == 0) return 0f;
        var predicted = Predict(images, count);
        var correct = 0;
        for (var s = 0; s < count; s++)
            if (predicted[s] == labels[s]) correct++;
        return (float)correct / count;
    }
}
