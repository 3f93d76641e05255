using System.Numerics.Tensors;

namespace EdgeActors.Learning.Models;

/// <summary>
/// NIID-Bench's "simple CNN" for 28×28 grey images (SimpleCNNMNIST): conv 1→6 5×5 → ReLU → maxpool 2×2 → conv 6→16 5×5
/// → ReLU → maxpool 2×2 → flatten (16·4·4 = 256, channel-major) → fc 256→120 → ReLU → fc 120→84 → ReLU → fc 84→10 → softmax,
/// trained on softmax cross-entropy with the same SGD as <see cref="MlpTrainer"/>.
/// <para>
/// <see cref="Parameters"/> holds every weight in one flat array, layer by layer, weights then biases:
/// conv1 W [6,1,5,5] (ONNX Conv layout [out, in, kh, kw], row-major) then b [6];
/// conv2 W [16,6,5,5] then b [16];
/// fc1 W [256,120] (in × out, row-major, <c>W[i*out + j]</c>, ONNX Gemm without transB, as <see cref="Mlp"/>) then b [120];
/// fc2 W [120,84] then b [84]; fc3 W [84,10] then b [10] — 44,426 floats. The offsets are the <c>…Offset</c> constants.
/// </para>
/// <para>
/// Convolutions run as im2col + register-tiled matrix products over groups of <see cref="CnnWorkspace.Group"/> images
/// (see <see cref="CnnWorkspace"/>); the fc layers as <see cref="Mlp"/>'s, with <see cref="TensorPrimitives"/>.
/// One epoch of 60,000 images (batch 64) took 6.2–7.2 s of CPU on one core of a loaded AMD EPYC (AVX-512) from a fresh
/// model, 3.7–4.3 s for the following epochs (the fc layers skip zero activations, which get more frequent as it learns).
/// Training is single-threaded and allocation-free per batch, so a seed fixes the result bit for bit (on one machine and
/// runtime). <see cref="Forward"/> may run concurrently with other forwards (per-thread scratch); training may not run
/// concurrently with anything else on the same model.
/// </para>
/// </summary>
public sealed class Cnn : ITrainableModel
{
    public const int Side = 28;
    public const int InputSize = Side * Side;
    public const int Classes = 10;
    public const int KernelSide = 5;

    internal const int Conv1Out = 6;
    internal const int Conv1K = 1 * KernelSide * KernelSide;        // 25
    internal const int Conv1Side = Side - KernelSide + 1;           // 24
    internal const int Pool1Side = Conv1Side / 2;                   // 12
    internal const int Pool1Size = Conv1Out * Pool1Side * Pool1Side; // 864 per image
    internal const int Conv2Out = 16;
    internal const int Conv2K = Conv1Out * KernelSide * KernelSide; // 150
    internal const int Conv2Side = Pool1Side - KernelSide + 1;      // 8
    internal const int Pool2Side = Conv2Side / 2;                   // 4
    public const int Flat = Conv2Out * Pool2Side * Pool2Side;       // 256
    public const int Hidden1 = 120;
    public const int Hidden2 = 84;

    public const int Conv1WeightOffset = 0;
    public const int Conv1BiasOffset = Conv1WeightOffset + Conv1Out * Conv1K;
    public const int Conv2WeightOffset = Conv1BiasOffset + Conv1Out;
    public const int Conv2BiasOffset = Conv2WeightOffset + Conv2Out * Conv2K;
    public const int Fc1WeightOffset = Conv2BiasOffset + Conv2Out;
    public const int Fc1BiasOffset = Fc1WeightOffset + Flat * Hidden1;
    public const int Fc2WeightOffset = Fc1BiasOffset + Hidden1;
    public const int Fc2BiasOffset = Fc2WeightOffset + Hidden1 * Hidden2;
    public const int Fc3WeightOffset = Fc2BiasOffset + Hidden2;
    public const int Fc3BiasOffset = Fc3WeightOffset + Hidden2 * Classes;
    /// <summary>44,426.</summary>
    public const int TotalParameters = Fc3BiasOffset + Classes;

    /// <summary>Images per inference chunk (and capacity of the per-thread inference scratch).</summary>
    private const int ForwardChunk = 64;

    [ThreadStatic] private static CnnWorkspace? t_inference;

    /// <summary>He-uniform weights, U(±sqrt(6 / fan_in)) with fan_in = in·kh·kw for convolutions, in for fc layers, drawn layer by layer from <c>new Random(seed)</c>; zero biases.</summary>
    public Cnn(int seed)
        : this(new float[TotalParameters])
    {
        var rng = new Random(seed);
        Init(rng, Conv1WeightOffset, Conv1Out * Conv1K, Conv1K);
        Init(rng, Conv2WeightOffset, Conv2Out * Conv2K, Conv2K);
        Init(rng, Fc1WeightOffset, Flat * Hidden1, Flat);
        Init(rng, Fc2WeightOffset, Hidden1 * Hidden2, Hidden1);
        Init(rng, Fc3WeightOffset, Hidden2 * Classes, Hidden2);
    }

    private Cnn(float[] parameters) => Parameters = parameters;

    private void Init(Random rng, int offset, int length, int fanIn)
    {
        var limit = Math.Sqrt(6.0 / fanIn);
        var w = Parameters.AsSpan(offset, length);
        for (var k = 0; k < w.Length; k++) w[k] = (float)((rng.NextDouble() * 2 - 1) * limit);
    }

    /// <summary>A model with a copy of <paramref name="parameters"/> (layout as <see cref="Parameters"/>).</summary>
    public static Cnn FromParameters(float[] parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Length != TotalParameters)
            throw new ArgumentException($"{parameters.Length} parameters given, the CNN needs {TotalParameters}", nameof(parameters));
        return new Cnn((float[])parameters.Clone());
    }

    public Cnn Clone() => new((float[])Parameters.Clone());

    public int ParameterCount => TotalParameters;

    /// <summary>The live weights (not a copy); layout in the class summary.</summary>
    public float[] Parameters { get; }

    /// <summary>Class probabilities (batch × 10) of <paramref name="batch"/> images of 784 floats; thread-safe against other forwards.</summary>
    public void Forward(ReadOnlySpan<float> images, int batch, Span<float> probabilities)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (images.Length < (long)batch * InputSize) throw new ArgumentException($"input holds {images.Length} floats, {batch * InputSize} needed", nameof(images));
        if (probabilities.Length < (long)batch * Classes) throw new ArgumentException($"output holds {probabilities.Length} floats, {batch * Classes} needed", nameof(probabilities));
        var ws = t_inference ??= new CnnWorkspace(ForwardChunk, training: false);
        for (var start = 0; start < batch; start += ForwardChunk)
        {
            var n = Math.Min(ForwardChunk, batch - start);
            var logits = ws.Forward(Parameters, images.Slice(start * InputSize, n * InputSize), n);
            var output = probabilities.Slice(start * Classes, n * Classes);
            logits.CopyTo(output);
            SoftmaxRows(output, n);
        }
    }

    /// <summary>Row-wise softmax in place: exp(v − max) / Σ exp(v − max), as ONNX Softmax(axis=1).</summary>
    internal static void SoftmaxRows(Span<float> v, int rows)
    {
        for (var r = 0; r < rows; r++)
        {
            var row = v.Slice(r * Classes, Classes);
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
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (images.Length < (long)count * InputSize) throw new ArgumentException($"{images.Length} floats hold fewer than {count} images", nameof(images));
        var result = new int[count];
        var probs = new float[ForwardChunk * Classes];
        for (var start = 0; start < count; start += ForwardChunk)
        {
            var n = Math.Min(ForwardChunk, count - start);
            Forward(images.AsSpan(start * InputSize, n * InputSize), n, probs);
            for (var s = 0; s < n; s++) result[start + s] = TensorPrimitives.IndexOfMax(probs.AsSpan(s * Classes, Classes));
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

    /// <inheritdoc cref="Train(float[], byte[], int, SgdOptions, Action{int, float}?)"/>
    public float[] Train(float[] images, byte[] labels, int count, SgdOptions options) => Train(images, labels, count, options, onEpoch: null);

    /// <summary>
    /// Trains in place on the first <paramref name="count"/> images (N × 784 floats in [0,1]) and labels, exactly as
    /// <see cref="MlpTrainer.Train"/> does: each epoch visits the images in an order shuffled with
    /// <c>new Random(Seed + epoch)</c> (epoch from 0), the last batch may be smaller; gradient of the mean cross-entropy,
    /// plus wd·w, plus μ·(w − w₀) (w₀ = the parameters on entry); heavy-ball momentum v = m·v + g, w −= lr·v.
    /// Returns the mean loss per epoch (before each step's update, FedProx/decay terms excluded);
    /// <paramref name="onEpoch"/> gets (epoch from 0, mean loss).
    /// </summary>
    public float[] Train(float[] images, byte[] labels, int count, SgdOptions options, Action<int, float>? onEpoch)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        Validate(images, labels, count);
        if (options.Epochs < 0) throw new ArgumentOutOfRangeException(nameof(options), "epochs must be ≥ 0");
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), "batch size must be ≥ 1");
        if (options.ProximalMu < 0) throw new ArgumentOutOfRangeException(nameof(options), "proximal mu must be ≥ 0");
        if (options.GradientCorrection is { } gc && gc.Length != ParameterCount)
            throw new ArgumentException($"the gradient correction has {gc.Length} values for a model of {ParameterCount}", nameof(options));

        var w = Parameters;
        var anchor = options.ProximalMu > 0 ? (float[])w.Clone() : null;
        var velocity = new float[w.Length];
        var scratch = anchor is null ? null : new float[w.Length];
        var batchSize = Math.Min(options.BatchSize, Math.Max(count, 1));
        var ws = new CnnWorkspace(batchSize, training: true);
        var order = new int[count];
        var batchLabels = new byte[batchSize];
        var losses = new float[options.Epochs];

        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            for (var k = 0; k < count; k++) order[k] = k;
            var rng = new Random(options.Seed + epoch);
            for (var k = count - 1; k > 0; k--)
            {
                var j = rng.Next(k + 1);
                (order[k], order[j]) = (order[j], order[k]);
            }
            double lossSum = 0;
            for (var start = 0; start < count; start += batchSize)
            {
                var n = Math.Min(batchSize, count - start);
                var x = ws.Input;
                for (var s = 0; s < n; s++)
                {
                    var idx = order[start + s];
                    images.AsSpan(idx * InputSize, InputSize).CopyTo(x.AsSpan(s * InputSize, InputSize));
                    batchLabels[s] = labels[idx];
                }
                lossSum += ws.ComputeGradient(w, x.AsSpan(0, n * InputSize), batchLabels, n) * n;

                SgdStep.Apply(w, ws.Gradient, velocity, anchor, scratch, options);
            }
            losses[epoch] = count == 0 ? 0f : (float)(lossSum / count);
            onEpoch?.Invoke(epoch, losses[epoch]);
        }
        return losses;
    }

    /// <summary>Gradient of the mean cross-entropy over <paramref name="batch"/> images with respect to <see cref="Parameters"/> (same layout).</summary>
    public float[] Gradient(float[] images, byte[] labels, int batch, out float loss)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        Validate(images, labels, batch);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch));
        var ws = new CnnWorkspace(batch, training: true);
        loss = ws.ComputeGradient(Parameters, images.AsSpan(0, batch * InputSize), labels, batch);
        return ws.Gradient;
    }

    private static void Validate(float[] images, byte[] labels, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (images.Length < (long)count * InputSize) throw new ArgumentException($"{images.Length} floats hold fewer than {count} images of {InputSize}", nameof(images));
        if (labels.Length < count) throw new ArgumentException($"{labels.Length} labels for {count} images", nameof(labels));
        for (var s = 0; s < count; s++)
            if (labels[s] >= Classes) throw new ArgumentException($"label {labels[s]} at {s} is outside 0..{Classes - 1}", nameof(labels));
    }

    /// <inheritdoc cref="CnnOnnx.Export"/>
    public byte[] ExportOnnx(string graphName) => CnnOnnx.Export(this, graphName);
}
