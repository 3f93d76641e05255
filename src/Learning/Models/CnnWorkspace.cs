using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static EdgeActors.Learning.Models.Cnn;

namespace EdgeActors.Learning.Models;

/// <summary>
/// Preallocated buffers and the forward/backward passes of <see cref="Cnn"/> for batches of up to <c>capacity</c> images.
/// <para>
/// Convolutions work on groups of up to <see cref="Group"/> images. im2col writes the group's patches as a matrix
/// cols [K, L] (K = in·5·5 rows ordered (c, ky, kx) like the weights; L = images·positions columns, image-major), so the
/// output Z [out, L] = W [out, K] · cols + b is a matrix product (<see cref="MatMul"/>, register-tiled); so is the
/// backward dcols = Wᵀ · dZ, and dW = dZ · colsᵀ
/// (<see cref="MatMulTransposedAdd"/>).
/// ReLU and the 2×2 max pool are fused; the pool remembers which input won (or −1 where the ReLU output is 0) for the
/// backward pass. Activations after the pools are stored per image in NCHW order, so the flatten before fc1 is
/// channel-major like ONNX Flatten. Backward recomputes the (cheap) im2col matrices instead of keeping them per batch.
/// </para>
/// </summary>
internal sealed class CnnWorkspace
{
    /// <summary>Images per convolution group: conv1's patch matrix (25 × 8·576 floats, 460 KB) and conv2's (150 × 8·64, 307 KB) stay in L2.</summary>
    internal const int Group = 8;

    private const int P1 = Conv1Side * Conv1Side; // 576 conv1 positions per image
    private const int P2 = Conv2Side * Conv2Side; // 64 conv2 positions per image
    /// <summary>Samples per block in the fc products: the block's output rows stay in L1 while W streams once per block.</summary>
    private const int FcBlock = 16;

    private readonly float[] _cols1 = new float[Conv1K * Group * P1];
    private readonly float[] _z1 = new float[Conv1Out * Group * P1];
    private readonly float[] _cols2 = new float[Conv2K * Group * P2];
    private readonly float[] _z2 = new float[Conv2Out * Group * P2];
    private readonly float[] _a1;   // pooled ReLU(conv1), capacity × 864, NCHW per image
    private readonly int[] _arg1;   // winner index into the group's _z1, −1 for a zero output
    private readonly float[] _a2;   // pooled ReLU(conv2), capacity × 256 = the flattened fc1 input
    private readonly int[] _arg2;
    private readonly float[] _a3;   // ReLU(fc1), capacity × 120
    private readonly float[] _a4;   // ReLU(fc2), capacity × 84
    private readonly float[] _logits; // capacity × 10 (probabilities after ComputeGradient)

    // backward only
    private readonly float[] _d5 = [];
    private readonly float[] _d4 = [];
    private readonly float[] _d3 = [];
    private readonly float[] _dA2 = [];
    private readonly float[] _dz2 = [];
    private readonly float[] _dCols2 = [];
    private readonly float[] _dA1 = [];
    private readonly float[] _dz1 = [];
    private readonly float[] _w2Transposed = [];

    public CnnWorkspace(int capacity, bool training)
    {
        Capacity = capacity;
        _a1 = new float[capacity * Pool1Size];
        _arg1 = new int[capacity * Pool1Size];
        _a2 = new float[capacity * Flat];
        _arg2 = new int[capacity * Flat];
        _a3 = new float[capacity * Hidden1];
        _a4 = new float[capacity * Hidden2];
        _logits = new float[capacity * Classes];
        Input = [];
        Gradient = [];
        if (!training) return;
        Input = new float[capacity * InputSize];
        Gradient = new float[TotalParameters];
        _d5 = new float[capacity * Classes];
        _d4 = new float[capacity * Hidden2];
        _d3 = new float[capacity * Hidden1];
        _dA2 = new float[capacity * Flat];
        _dz2 = new float[Conv2Out * Group * P2];
        _dCols2 = new float[Conv2K * Group * P2];
        _dA1 = new float[Group * Pool1Size];
        _dz1 = new float[Conv1Out * Group * P1];
        _w2Transposed = new float[Conv2K * Conv2Out];
    }

    public int Capacity { get; }

    /// <summary>Room for a training batch (capacity × 784); empty for inference workspaces.</summary>
    public float[] Input { get; }

    /// <summary>The gradient of the last <see cref="ComputeGradient"/> (layout of <see cref="Cnn.Parameters"/>).</summary>
    public float[] Gradient { get; }

    /// <summary>Logits (n × 10) of <paramref name="n"/> images; the span stays valid until the next call.</summary>
    public ReadOnlySpan<float> Forward(float[] p, ReadOnlySpan<float> x, int n)
    {
        for (var s0 = 0; s0 < n; s0 += Group)
        {
            var ng = Math.Min(Group, n - s0);
            Im2Col(x.Slice(s0 * InputSize, ng * InputSize), 1, Side, ng, _cols1);
            Conv(p, Conv1WeightOffset, Conv1BiasOffset, Conv1Out, Conv1K, _cols1, ng * P1, _z1);
            ReluPool(_z1, Conv1Out, ng, Conv1Side, _a1.AsSpan(s0 * Pool1Size, ng * Pool1Size), _arg1.AsSpan(s0 * Pool1Size, ng * Pool1Size));
            Im2Col(_a1.AsSpan(s0 * Pool1Size, ng * Pool1Size), Conv1Out, Pool1Side, ng, _cols2);
            Conv(p, Conv2WeightOffset, Conv2BiasOffset, Conv2Out, Conv2K, _cols2, ng * P2, _z2);
            ReluPool(_z2, Conv2Out, ng, Conv2Side, _a2.AsSpan(s0 * Flat, ng * Flat), _arg2.AsSpan(s0 * Flat, ng * Flat));
        }
        var a3 = _a3.AsSpan(0, n * Hidden1);
        Affine(p, Fc1WeightOffset, Fc1BiasOffset, Flat, Hidden1, _a2, n, a3);
        TensorPrimitives.Max(a3, 0f, a3);
        var a4 = _a4.AsSpan(0, n * Hidden2);
        Affine(p, Fc2WeightOffset, Fc2BiasOffset, Hidden1, Hidden2, _a3, n, a4);
        TensorPrimitives.Max(a4, 0f, a4);
        var logits = _logits.AsSpan(0, n * Classes);
        Affine(p, Fc3WeightOffset, Fc3BiasOffset, Hidden2, Classes, _a4, n, logits);
        return logits;
    }

    /// <summary>Forward + backward over <paramref name="n"/> images; fills <see cref="Gradient"/>, returns the mean cross-entropy.</summary>
    public float ComputeGradient(float[] p, ReadOnlySpan<float> x, ReadOnlySpan<byte> labels, int n)
    {
        Forward(p, x, n);

        // softmax + cross-entropy; delta = (p − onehot) / n
        double loss = 0;
        var inv = 1f / n;
        for (var s = 0; s < n; s++)
        {
            var row = _logits.AsSpan(s * Classes, Classes);
            var max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            var shiftedTarget = row[labels[s]];
            TensorPrimitives.Exp(row, row);
            var sum = TensorPrimitives.Sum(row);
            loss += Math.Log(sum) - shiftedTarget;
            TensorPrimitives.Divide(row, sum, row);
            var d = _d5.AsSpan(s * Classes, Classes);
            TensorPrimitives.Multiply(row, inv, d);
            d[labels[s]] -= inv;
        }

        var g = Gradient;
        Array.Clear(g);
        for (var o = 0; o < Conv2Out; o++)
            for (var k = 0; k < Conv2K; k++) _w2Transposed[k * Conv2Out + o] = p[Conv2WeightOffset + o * Conv2K + k];
        AffineBackward(p, g, Fc3WeightOffset, Fc3BiasOffset, Hidden2, Classes, _a4, _d5, n, _d4);
        AffineBackward(p, g, Fc2WeightOffset, Fc2BiasOffset, Hidden1, Hidden2, _a3, _d4, n, _d3);
        AffineBackward(p, g, Fc1WeightOffset, Fc1BiasOffset, Flat, Hidden1, _a2, _d3, n, _dA2);

        for (var s0 = 0; s0 < n; s0 += Group)
        {
            var ng = Math.Min(Group, n - s0);

            // conv2: dZ2 from the pool winners, then dW2 = dZ2 · cols2ᵀ, db2 = Σ dZ2, dcols2 = W2ᵀ · dZ2 → col2im → dA1
            var l2 = ng * P2;
            var dz2 = _dz2.AsSpan(0, Conv2Out * l2);
            Unpool(_dA2.AsSpan(s0 * Flat, ng * Flat), _arg2.AsSpan(s0 * Flat, ng * Flat), dz2);
            Im2Col(_a1.AsSpan(s0 * Pool1Size, ng * Pool1Size), Conv1Out, Pool1Side, ng, _cols2);
            ConvWeightGradient(g, Conv2WeightOffset, Conv2BiasOffset, Conv2Out, Conv2K, _cols2, dz2, l2);
            MatMul(_w2Transposed, Conv2K, Conv2Out, dz2, l2, _dCols2.AsSpan(0, Conv2K * l2), []);
            var dA1 = _dA1.AsSpan(0, ng * Pool1Size);
            Col2Im(_dCols2, Conv1Out, Pool1Side, ng, dA1);

            // conv1: dZ1 from the pool winners, dW1 = dZ1 · cols1ᵀ, db1 = Σ dZ1 (no input gradient needed)
            var l1 = ng * P1;
            var dz1 = _dz1.AsSpan(0, Conv1Out * l1);
            Unpool(dA1, _arg1.AsSpan(s0 * Pool1Size, ng * Pool1Size), dz1);
            Im2Col(x.Slice(s0 * InputSize, ng * InputSize), 1, Side, ng, _cols1);
            ConvWeightGradient(g, Conv1WeightOffset, Conv1BiasOffset, Conv1Out, Conv1K, _cols1, dz1, l1);
        }
        return (float)(loss / n);
    }

    /// <summary>
    /// Patches of <paramref name="ng"/> images (cin × side × side each, NCHW) as cols[k, g·P + y·o + x] with
    /// k = (c·5 + ky)·5 + kx, o = side − 4, P = o².
    /// </summary>
    private static void Im2Col(ReadOnlySpan<float> src, int cin, int side, int ng, float[] cols)
    {
        var o = side - KernelSide + 1;
        var positions = o * o;
        var l = ng * positions;
        var imageSize = cin * side * side;
        for (var c = 0; c < cin; c++)
            for (var ky = 0; ky < KernelSide; ky++)
                for (var kx = 0; kx < KernelSide; kx++)
                {
                    var row = cols.AsSpan(((c * KernelSide + ky) * KernelSide + kx) * l, l);
                    for (var g = 0; g < ng; g++)
                    {
                        var from = g * imageSize + c * side * side + ky * side + kx;
                        var to = g * positions;
                        for (var y = 0; y < o; y++)
                            src.Slice(from + y * side, o).CopyTo(row.Slice(to + y * o, o));
                    }
                }
    }

    /// <summary>The transpose of <see cref="Im2Col"/>: adds each column entry back onto the pixel it came from (dst is overwritten).</summary>
    private static void Col2Im(float[] cols, int cin, int side, int ng, Span<float> dst)
    {
        var o = side - KernelSide + 1;
        var positions = o * o;
        var l = ng * positions;
        var imageSize = cin * side * side;
        dst.Clear();
        for (var c = 0; c < cin; c++)
            for (var ky = 0; ky < KernelSide; ky++)
                for (var kx = 0; kx < KernelSide; kx++)
                {
                    var row = cols.AsSpan(((c * KernelSide + ky) * KernelSide + kx) * l, l);
                    for (var g = 0; g < ng; g++)
                    {
                        var to = g * imageSize + c * side * side + ky * side + kx;
                        var from = g * positions;
                        for (var y = 0; y < o; y++)
                        {
                            var d = dst.Slice(to + y * side, o);
                            TensorPrimitives.Add(d, row.Slice(from + y * o, o), d);
                        }
                    }
                }
    }

    /// <summary>Z[o, :] = b[o] + Σ_k W[o, k] · cols[k, :] over rows of <paramref name="l"/> floats.</summary>
    private static void Conv(float[] p, int wOffset, int bOffset, int cout, int kk, float[] cols, int l, float[] z) =>
        MatMul(p.AsSpan(wOffset, cout * kk), cout, kk, cols.AsSpan(0, kk * l), l, z.AsSpan(0, cout * l), p.AsSpan(bOffset, cout));

    /// <summary>
    /// c[r, j] = init[r] + Σ_k a[r, k] · b[k, j] (row-major a [m, kk], b [kk, l], c [m, l]; init = <paramref name="bias"/>,
    /// or 0 when it is empty). A register-tiled kernel: 4 rows × 2 vectors of c stay in registers over the whole k loop,
    /// so each k costs 2 vector loads of b and 4 broadcasts for 8 fused multiply-adds. Each element accumulates in k
    /// order with fused multiply-adds, so the result does not depend on the vector width or the tiling.
    /// </summary>
    internal static void MatMul(ReadOnlySpan<float> a, int m, int kk, ReadOnlySpan<float> b, int l, Span<float> c, ReadOnlySpan<float> bias)
    {
        if (a.Length < m * kk || b.Length < kk * l || c.Length < m * l || (!bias.IsEmpty && bias.Length < m))
            throw new ArgumentException("matrix spans too short");
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rc = ref MemoryMarshal.GetReference(c);
        var width = Vector<float>.Count;
        var tile = 2 * width;
        var vectorEnd = l - l % tile;
        for (var j = 0; j < vectorEnd; j += tile)
        {
            var r = 0;
            for (; r + 4 <= m; r += 4)
            {
                Vector<float> c00, c01, c10, c11, c20, c21, c30, c31;
                if (bias.IsEmpty)
                {
                    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = Vector<float>.Zero;
                }
                else
                {
                    c00 = c01 = new Vector<float>(bias[r]);
                    c10 = c11 = new Vector<float>(bias[r + 1]);
                    c20 = c21 = new Vector<float>(bias[r + 2]);
                    c30 = c31 = new Vector<float>(bias[r + 3]);
                }
                nint a0 = r * kk, a1 = a0 + kk, a2 = a1 + kk, a3 = a2 + kk;
                nint bk = j;
                for (var k = 0; k < kk; k++, bk += l)
                {
                    var b0 = Vector.LoadUnsafe(ref rb, (nuint)bk);
                    var b1 = Vector.LoadUnsafe(ref rb, (nuint)(bk + width));
                    var w0 = new Vector<float>(Unsafe.Add(ref ra, a0 + k));
                    c00 = Vector.FusedMultiplyAdd(b0, w0, c00);
                    c01 = Vector.FusedMultiplyAdd(b1, w0, c01);
                    var w1 = new Vector<float>(Unsafe.Add(ref ra, a1 + k));
                    c10 = Vector.FusedMultiplyAdd(b0, w1, c10);
                    c11 = Vector.FusedMultiplyAdd(b1, w1, c11);
                    var w2 = new Vector<float>(Unsafe.Add(ref ra, a2 + k));
                    c20 = Vector.FusedMultiplyAdd(b0, w2, c20);
                    c21 = Vector.FusedMultiplyAdd(b1, w2, c21);
                    var w3 = new Vector<float>(Unsafe.Add(ref ra, a3 + k));
                    c30 = Vector.FusedMultiplyAdd(b0, w3, c30);
                    c31 = Vector.FusedMultiplyAdd(b1, w3, c31);
                }
                nint c0 = r * l + j;
                c00.StoreUnsafe(ref rc, (nuint)c0);
                c01.StoreUnsafe(ref rc, (nuint)(c0 + width));
                c10.StoreUnsafe(ref rc, (nuint)(c0 + l));
                c11.StoreUnsafe(ref rc, (nuint)(c0 + l + width));
                c20.StoreUnsafe(ref rc, (nuint)(c0 + 2 * l));
                c21.StoreUnsafe(ref rc, (nuint)(c0 + 2 * l + width));
                c30.StoreUnsafe(ref rc, (nuint)(c0 + 3 * l));
                c31.StoreUnsafe(ref rc, (nuint)(c0 + 3 * l + width));
            }
            for (; r < m; r++)
            {
                var c00 = bias.IsEmpty ? Vector<float>.Zero : new Vector<float>(bias[r]);
                var c01 = c00;
                nint a0 = r * kk;
                nint bk = j;
                for (var k = 0; k < kk; k++, bk += l)
                {
                    var w0 = new Vector<float>(Unsafe.Add(ref ra, a0 + k));
                    c00 = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref rb, (nuint)bk), w0, c00);
                    c01 = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref rb, (nuint)(bk + width)), w0, c01);
                }
                c00.StoreUnsafe(ref rc, (nuint)(r * l + j));
                c01.StoreUnsafe(ref rc, (nuint)(r * l + j + width));
            }
        }
        for (var j = vectorEnd; j < l; j++)
            for (var r = 0; r < m; r++)
            {
                var sum = bias.IsEmpty ? 0f : bias[r];
                for (var k = 0; k < kk; k++) sum = MathF.FusedMultiplyAdd(b[k * l + j], a[r * kk + k], sum);
                c[r * l + j] = sum;
            }
    }

    /// <summary>dW[o, k] += dZ[o, :] · cols[k, :], db[o] += Σ dZ[o, :].</summary>
    private static void ConvWeightGradient(float[] g, int wOffset, int bOffset, int cout, int kk, float[] cols, ReadOnlySpan<float> dz, int l)
    {
        for (var o = 0; o < cout; o++) g[bOffset + o] += TensorPrimitives.Sum(dz.Slice(o * l, l));
        MatMulTransposedAdd(dz, cout, cols.AsSpan(0, kk * l), kk, l, g.AsSpan(wOffset, cout * kk));
    }

    /// <summary>
    /// c[r, q] += Σ_j a[r, j] · b[q, j] (row-major a [m, l], b [n, l], c [m, n]): 4 rows of a × 2 rows of b at a time,
    /// 8 vector accumulators over j, then one horizontal sum each; the rest through <see cref="TensorPrimitives.Dot"/>.
    /// </summary>
    internal static void MatMulTransposedAdd(ReadOnlySpan<float> a, int m, ReadOnlySpan<float> b, int n, int l, Span<float> c)
    {
        if (a.Length < m * l || b.Length < n * l || c.Length < m * n) throw new ArgumentException("matrix spans too short");
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        var width = Vector<float>.Count;
        var vectorEnd = l - l % width;
        var r = 0;
        for (; r + 4 <= m; r += 4)
        {
            var q = 0;
            for (; q + 2 <= n; q += 2)
            {
                Vector<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
                nint a0 = r * l, b0 = q * l;
                for (nint j = 0; j < vectorEnd; j += width)
                {
                    var x0 = Vector.LoadUnsafe(ref rb, (nuint)(b0 + j));
                    var x1 = Vector.LoadUnsafe(ref rb, (nuint)(b0 + l + j));
                    var y = Vector.LoadUnsafe(ref ra, (nuint)(a0 + j));
                    s00 = Vector.FusedMultiplyAdd(y, x0, s00);
                    s01 = Vector.FusedMultiplyAdd(y, x1, s01);
                    y = Vector.LoadUnsafe(ref ra, (nuint)(a0 + l + j));
                    s10 = Vector.FusedMultiplyAdd(y, x0, s10);
                    s11 = Vector.FusedMultiplyAdd(y, x1, s11);
                    y = Vector.LoadUnsafe(ref ra, (nuint)(a0 + 2 * l + j));
                    s20 = Vector.FusedMultiplyAdd(y, x0, s20);
                    s21 = Vector.FusedMultiplyAdd(y, x1, s21);
                    y = Vector.LoadUnsafe(ref ra, (nuint)(a0 + 3 * l + j));
                    s30 = Vector.FusedMultiplyAdd(y, x0, s30);
                    s31 = Vector.FusedMultiplyAdd(y, x1, s31);
                }
                float t00 = Vector.Sum(s00), t01 = Vector.Sum(s01), t10 = Vector.Sum(s10), t11 = Vector.Sum(s11);
                float t20 = Vector.Sum(s20), t21 = Vector.Sum(s21), t30 = Vector.Sum(s30), t31 = Vector.Sum(s31);
                for (var j = vectorEnd; j < l; j++)
                {
                    float x0 = b[q * l + j], x1 = b[(q + 1) * l + j];
                    t00 += a[r * l + j] * x0; t01 += a[r * l + j] * x1;
                    t10 += a[(r + 1) * l + j] * x0; t11 += a[(r + 1) * l + j] * x1;
                    t20 += a[(r + 2) * l + j] * x0; t21 += a[(r + 2) * l + j] * x1;
                    t30 += a[(r + 3) * l + j] * x0; t31 += a[(r + 3) * l + j] * x1;
                }
                c[r * n + q] += t00; c[r * n + q + 1] += t01;
                c[(r + 1) * n + q] += t10; c[(r + 1) * n + q + 1] += t11;
                c[(r + 2) * n + q] += t20; c[(r + 2) * n + q + 1] += t21;
                c[(r + 3) * n + q] += t30; c[(r + 3) * n + q + 1] += t31;
            }
            for (; q < n; q++)
                for (var i = r; i < r + 4; i++) c[i * n + q] += TensorPrimitives.Dot(a.Slice(i * l, l), b.Slice(q * l, l));
        }
        for (; r < m; r++)
            for (var q = 0; q < n; q++) c[r * n + q] += TensorPrimitives.Dot(a.Slice(r * l, l), b.Slice(q * l, l));
    }

    /// <summary>
    /// ReLU then 2×2/2 max pool of Z [c, ng·side²] (per image side × side) into <paramref name="output"/> (ng × c × half²,
    /// NCHW), remembering the first maximal input in <paramref name="winner"/> (−1 where the output is 0).
    /// </summary>
    private static void ReluPool(float[] z, int channels, int ng, int side, Span<float> output, Span<int> winner)
    {
        var positions = side * side;
        var l = ng * positions;
        var half = side / 2;
        var pooled = half * half;
        for (var c = 0; c < channels; c++)
            for (var g = 0; g < ng; g++)
            {
                var outBase = (g * channels + c) * pooled;
                var inBase = c * l + g * positions;
                for (var py = 0; py < half; py++)
                    for (var px = 0; px < half; px++)
                    {
                        var i = inBase + 2 * py * side + 2 * px;
                        var best = i;
                        var v = z[i];
                        if (z[i + 1] > v) { v = z[i + 1]; best = i + 1; }
                        if (z[i + side] > v) { v = z[i + side]; best = i + side; }
                        if (z[i + side + 1] > v) { v = z[i + side + 1]; best = i + side + 1; }
                        var at = outBase + py * half + px;
                        if (v > 0f)
                        {
                            output[at] = v;
                            winner[at] = best;
                        }
                        else
                        {
                            output[at] = 0f;
                            winner[at] = -1;
                        }
                    }
            }
    }

    /// <summary>dZ = 0 except at the pool winners, which get the pooled output's gradient.</summary>
    private static void Unpool(ReadOnlySpan<float> dOutput, ReadOnlySpan<int> winner, Span<float> dz)
    {
        dz.Clear();
        for (var j = 0; j < winner.Length; j++)
        {
            var w = winner[j];
            if (w >= 0) dz[w] = dOutput[j];
        }
    }

    /// <summary>y = x·W + b (W in × out, row-major), zero inputs skipped, as <see cref="Mlp"/>'s layers.</summary>
    private static void Affine(float[] p, int wOffset, int bOffset, int nIn, int nOut, float[] x, int count, Span<float> y)
    {
        var w = p.AsSpan(wOffset, nIn * nOut);
        var bias = p.AsSpan(bOffset, nOut);
        for (var s = 0; s < count; s++) bias.CopyTo(y.Slice(s * nOut, nOut));
        for (var b0 = 0; b0 < count; b0 += FcBlock)
        {
            var b1 = Math.Min(count, b0 + FcBlock);
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

    /// <summary>
    /// Gradients of an fc layer from dz (n × out): db += Σ_s dz, dW += aᵀ·dz, and the input gradient
    /// dx = (dz·Wᵀ) ⊙ [a &gt; 0] (every fc input is a ReLU or ReLU-then-pool output, so a &gt; 0 is the ReLU's mask).
    /// </summary>
    private static void AffineBackward(float[] p, float[] g, int wOffset, int bOffset, int nIn, int nOut, float[] a, float[] dzAll, int n, float[] dx)
    {
        var dz = dzAll.AsSpan(0, n * nOut);
        var gW = g.AsSpan(wOffset, nIn * nOut);
        var gB = g.AsSpan(bOffset, nOut);
        for (var s = 0; s < n; s++) TensorPrimitives.Add(gB, dz.Slice(s * nOut, nOut), gB);
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
        var w = p.AsSpan(wOffset, nIn * nOut);
        for (var s = 0; s < n; s++)
        {
            var dRow = dz.Slice(s * nOut, nOut);
            for (var i = 0; i < nIn; i++)
                dx[s * nIn + i] = a[s * nIn + i] > 0f ? TensorPrimitives.Dot(dRow, w.Slice(i * nOut, nOut)) : 0f;
        }
    }
}
