using System.Numerics.Tensors;

namespace EdgeActors.Learning.Models;

/// <summary>
/// Mini-batch SGD settings. <paramref name="Momentum"/> is heavy-ball momentum (v = m·v + g; w −= lr·v);
/// <paramref name="WeightDecay"/> adds wd·w to the gradient; <paramref name="ProximalMu"/> &gt; 0 adds the FedProx term
/// μ/2·‖w − w₀‖² (gradient μ·(w − w₀)), w₀ being the parameters when <see cref="MlpTrainer.Train"/> starts.
/// </summary>
public sealed record SgdOptions(
    int Epochs = 5,
    int BatchSize = 64,
    float LearningRate = 0.05f,
    float Momentum = 0.9f,
    float WeightDecay = 0f,
    int Seed = 1,
    float ProximalMu = 0f)
{
    /// <summary>SCAFFOLD's c − cᵢ: after every step w −= lr·(c − cᵢ), outside the momentum (null: none); length = the model's parameters.</summary>
    public float[]? GradientCorrection { get; init; }
}

/// <summary>
/// Trains an <see cref="Mlp"/> on softmax cross-entropy. Single-threaded and allocation-free per batch, so a seed
/// fixes the result bit for bit (on one machine and runtime).
/// </summary>
public static class MlpTrainer
{
    /// <summary>
    /// Trains <paramref name="model"/> in place on the first <paramref name="count"/> images (N × InputSize floats in
    /// [0,1]) and labels. Each epoch visits the images in an order shuffled with <c>new Random(Seed + epoch)</c>
    /// (epoch counted from 0); the last batch of an epoch may be smaller. Returns the mean loss per epoch (before each
    /// step's update, FedProx/decay terms excluded); <paramref name="onEpoch"/> gets (epoch from 0, mean loss).
    /// </summary>
    public static float[] Train(Mlp model, float[] images, byte[] labels, int count, SgdOptions options, Action<int, float>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        Validate(model, images, labels, count);
        if (options.Epochs < 0) throw new ArgumentOutOfRangeException(nameof(options), "epochs must be ≥ 0");
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), "batch size must be ≥ 1");
        if (options.ProximalMu < 0) throw new ArgumentOutOfRangeException(nameof(options), "proximal mu must be ≥ 0");
        if (options.GradientCorrection is { } gc && gc.Length != model.ParameterCount)
            throw new ArgumentException($"the gradient correction has {gc.Length} values for a model of {model.ParameterCount}", nameof(options));

        var w = model.Parameters;
        var anchor = options.ProximalMu > 0 ? (float[])w.Clone() : null;
        var velocity = new float[w.Length];
        var scratch = anchor is null ? null : new float[w.Length];
        var batchSize = Math.Min(options.BatchSize, Math.Max(count, 1));
        var ws = new Workspace(model, batchSize);
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
                var size = model.InputSize;
                for (var s = 0; s < n; s++)
                {
                    var idx = order[start + s];
                    images.AsSpan(idx * size, size).CopyTo(x.AsSpan(s * size, size));
                    batchLabels[s] = labels[idx];
                }
                lossSum += ws.ComputeGradient(batchLabels, n) * n;

                SgdStep.Apply(w, ws.Gradient, velocity, anchor, scratch, options);
            }
            losses[epoch] = count == 0 ? 0f : (float)(lossSum / count);
            onEpoch?.Invoke(epoch, losses[epoch]);
        }
        return losses;
    }

    /// <summary>
    /// Gradient of the mean cross-entropy over <paramref name="batch"/> samples with respect to
    /// <see cref="Mlp.Parameters"/> (same layout).
    /// </summary>
    public static float[] Gradient(Mlp model, float[] x, byte[] labels, int batch) => Gradient(model, x, labels, batch, out _);

    /// <inheritdoc cref="Gradient(Mlp, float[], byte[], int)"/>
    /// <param name="loss">The mean cross-entropy of the batch.</param>
    public static float[] Gradient(Mlp model, float[] x, byte[] labels, int batch, out float loss)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(labels);
        Validate(model, x, labels, batch);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch));
        var ws = new Workspace(model, batch);
        x.AsSpan(0, batch * model.InputSize).CopyTo(ws.Input);
        loss = ws.ComputeGradient(labels, batch);
        return ws.Gradient;
    }

    private static void Validate(Mlp model, float[] images, byte[] labels, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (images.Length < (long)count * model.InputSize) throw new ArgumentException($"{images.Length} floats hold fewer than {count} samples of {model.InputSize}", nameof(images));
        if (labels.Length < count) throw new ArgumentException($"{labels.Length} labels for {count} samples", nameof(labels));
        for (var s = 0; s < count; s++)
            if (labels[s] >= model.OutputSize) throw new ArgumentException($"label {labels[s]} at {s} is outside 0..{model.OutputSize - 1}", nameof(labels));
    }

    /// <summary>Preallocated activations, deltas and gradient for batches of up to <c>capacity</c> samples.</summary>
    private sealed class Workspace
    {
        private readonly Mlp _model;
        private readonly float[][] _acts; // _acts[0] = input, _acts[l] = post-ReLU of layer l-1, _acts[L] = probabilities
        private readonly float[] _deltaA;
        private readonly float[] _deltaB;

        public Workspace(Mlp model, int capacity)
        {
            _model = model;
            var sizes = model.LayerSizes;
            _acts = new float[sizes.Count][];
            for (var l = 0; l < sizes.Count; l++) _acts[l] = new float[capacity * sizes[l]];
            _deltaA = new float[capacity * model.MaxWidth];
            _deltaB = new float[capacity * model.MaxWidth];
            Gradient = new float[model.ParameterCount];
        }

        public float[] Input => _acts[0];
        public float[] Gradient { get; }

        /// <summary>Forward + backward over the first <paramref name="n"/> samples in <see cref="Input"/>; fills <see cref="Gradient"/>, returns the mean loss.</summary>
        public float ComputeGradient(ReadOnlySpan<byte> labels, int n)
        {
            var m = _model;
            var layers = m.LayerCount;
            for (var l = 0; l < layers; l++)
            {
                var y = _acts[l + 1].AsSpan(0, n * m.Out(l));
                m.Affine(l, _acts[l].AsSpan(0, n * m.In(l)), n, y);
                if (l < layers - 1) Mlp.Relu(y);
            }

            // softmax + cross-entropy; delta = (p − onehot) / n
            var classes = m.OutputSize;
            var probs = _acts[layers];
            var delta = _deltaA.AsSpan(0, n * classes);
            double loss = 0;
            var inv = 1f / n;
            for (var s = 0; s < n; s++)
            {
                var row = probs.AsSpan(s * classes, classes);
                var max = TensorPrimitives.Max(row);
                TensorPrimitives.Subtract(row, max, row);
                var shiftedTarget = row[labels[s]];
                TensorPrimitives.Exp(row, row);
                var sum = TensorPrimitives.Sum(row);
                loss += Math.Log(sum) - shiftedTarget;
                TensorPrimitives.Divide(row, sum, row);
                var d = delta.Slice(s * classes, classes);
                TensorPrimitives.Multiply(row, inv, d);
                d[labels[s]] -= inv;
            }

            Array.Clear(Gradient);
            var current = _deltaA;
            var other = _deltaB;
            for (var l = layers - 1; l >= 0; l--)
            {
                int nIn = m.In(l), nOut = m.Out(l);
                var a = _acts[l];
                var dz = current.AsSpan(0, n * nOut);
                var gW = Gradient.AsSpan(m.WeightOffset(l), nIn * nOut);
                var gB = Gradient.AsSpan(m.BiasOffset(l), nOut);
                for (var s = 0; s < n; s++) TensorPrimitives.Add(gB, dz.Slice(s * nOut, nOut), gB);
                // dW = aᵀ·dz, row i of dW = Σ_s a[s,i] · dz[s,:] (zero activations skipped)
                for (var i = 0; i < nIn; i++)
                {
                    var gRow = gW.Slice(i * nOut, nOut);
                    for (var s = 0; s < n; s++)
                    {
                        var ai = a[s * nIn + i];
                        if (ai == 0f) continue;
                        TensorPrimitives.FusedMultiplyAdd(dz.Slice(s * nOut, nOut), ai, gRow, gRow);
                    }
                }
                if (l == 0) break;
                // dz_prev = (dz·Wᵀ) ⊙ relu'(z_prev); relu'(z) = 1 where the post-ReLU activation is positive
                var w = m.Parameters.AsSpan(m.WeightOffset(l), nIn * nOut);
                var prev = other.AsSpan(0, n * nIn);
                for (var s = 0; s < n; s++)
                {
                    var dRow = dz.Slice(s * nOut, nOut);
                    for (var i = 0; i < nIn; i++)
                        prev[s * nIn + i] = a[s * nIn + i] > 0f ? TensorPrimitives.Dot(dRow, w.Slice(i * nOut, nOut)) : 0f;
                }
                (current, other) = (other, current);
            }
            return (float)(loss / n);
        }
    }
}

/// <summary>One SGD update shared by every trainer: weight decay, FedProx pull towards the anchor, heavy-ball momentum.</summary>
internal static class SgdStep
{
    /// <param name="g">The batch gradient; the decay and proximal terms are added to it in place.</param>
    /// <param name="anchor">FedProx anchor (null when μ = 0); <paramref name="scratch"/> is then a buffer of the same size.</param>
    public static void Apply(float[] w, float[] g, float[] velocity, float[]? anchor, float[]? scratch, SgdOptions options)
    {
        if (options.WeightDecay != 0f) TensorPrimitives.MultiplyAdd(w, options.WeightDecay, g, g);
        if (anchor is not null)
        {
            TensorPrimitives.Subtract(w, anchor, scratch!);
            TensorPrimitives.MultiplyAdd(scratch!, options.ProximalMu, g, g);
        }
        if (options.Momentum != 0f)
        {
            TensorPrimitives.MultiplyAdd(velocity, options.Momentum, g, velocity);
            TensorPrimitives.MultiplyAdd(velocity, -options.LearningRate, w, w);
        }
        else
        {
            TensorPrimitives.MultiplyAdd(g, -options.LearningRate, w, w);
        }
        // SCAFFOLD: w −= lr·(c − cᵢ) after the optimiser step, outside the momentum (as NIID-Bench's implementation)
        if (options.GradientCorrection is { } correction) TensorPrimitives.MultiplyAdd(correction, -options.LearningRate, w, w);
    }
}
