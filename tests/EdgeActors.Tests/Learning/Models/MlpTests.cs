using EdgeActors.Learning.Models;

namespace EdgeActors.Tests.Learning.Models;

/// <summary>The hand-written MLP without data files: gradients, parameter layout, argument checks.</summary>
public sealed class MlpTests
{
    /// <summary>Mean cross-entropy in double precision, written independently of <see cref="Mlp"/>: the reference for gradients.</summary>
    private static double ReferenceLoss(int[] sizes, double[] p, float[] x, byte[] labels, int batch, double[]? probabilitiesOut = null)
    {
        double total = 0;
        for (var s = 0; s < batch; s++)
        {
            var a = x.Skip(s * sizes[0]).Take(sizes[0]).Select(v => (double)v).ToArray();
            var offset = 0;
            for (var l = 0; l + 1 < sizes.Length; l++)
            {
                int nIn = sizes[l], nOut = sizes[l + 1];
                var z = new double[nOut];
                for (var j = 0; j < nOut; j++)
                {
                    var sum = p[offset + nIn * nOut + j];
                    for (var i = 0; i < nIn; i++) sum += a[i] * p[offset + i * nOut + j];
                    z[j] = l + 2 < sizes.Length ? Math.Max(0, sum) : sum;
                }
                offset += nIn * nOut + nOut;
                a = z;
            }
            var max = a.Max();
            var logSum = Math.Log(a.Sum(v => Math.Exp(v - max))) + max;
            total += logSum - a[labels[s]];
            if (probabilitiesOut is not null)
                for (var k = 0; k < a.Length; k++) probabilitiesOut[s * a.Length + k] = Math.Exp(a[k] - logSum);
        }
        return total / batch;
    }

    [Fact]
    public void Analytic_gradient_should_match_central_finite_differences()
    {
        int[] sizes = [6, 5, 3];
        const int batch = 4;
        var model = new Mlp(sizes, seed: 11);
        var rng = new Random(5);
        var x = Enumerable.Range(0, batch * sizes[0]).Select(_ => (float)rng.NextDouble()).ToArray();
        byte[] labels = [0, 2, 1, 2];

        var analytic = MlpTrainer.Gradient(model, x, labels, batch, out var loss);
        Assert.Equal(model.ParameterCount, analytic.Length);

        var p = model.Parameters.Select(v => (double)v).ToArray();
        Assert.Equal(ReferenceLoss(sizes, p, x, labels, batch), loss, 1e-5);

        // central differences of a double-precision reference loss (eps 1e-3, truncation error ~1e-7) against the
        // float32 analytic gradient: relative 1e-2 plus 1e-5 absolute leaves ample room for float rounding
        const double eps = 1e-3;
        var checkedNonZero = 0;
        for (var k = 0; k < p.Length; k++)
        {
            var saved = p[k];
            p[k] = saved + eps;
            var plus = ReferenceLoss(sizes, p, x, labels, batch);
            p[k] = saved - eps;
            var minus = ReferenceLoss(sizes, p, x, labels, batch);
            p[k] = saved;
            var numeric = (plus - minus) / (2 * eps);
            var tolerance = 1e-2 * Math.Max(Math.Abs(numeric), Math.Abs(analytic[k])) + 1e-5;
            Assert.True(Math.Abs(numeric - analytic[k]) <= tolerance, $"parameter {k}: analytic {analytic[k]:G6}, numeric {numeric:G6}");
            if (Math.Abs(numeric) > 1e-3) checkedNonZero++;
        }
        // the check is not vacuous: most of the 48 parameters carry gradient
        Assert.True(checkedNonZero > p.Length / 2, $"only {checkedNonZero} of {p.Length} gradients are non-negligible");
    }

    [Fact]
    public void Forward_should_match_a_double_precision_reference()
    {
        int[] sizes = [10, 8, 7, 4];
        const int batch = 5;
        var model = new Mlp(sizes, seed: 2);
        var rng = new Random(9);
        for (var k = 0; k < model.ParameterCount; k++) model.Parameters[k] += (float)(rng.NextDouble() * 0.2 - 0.1); // non-zero biases too
        var x = Enumerable.Range(0, batch * sizes[0]).Select(_ => (float)rng.NextDouble()).ToArray();
        var probs = new float[batch * 4];
        model.Forward(x, batch, probs);
        var expected = new double[batch * 4];
        ReferenceLoss(sizes, model.Parameters.Select(v => (double)v).ToArray(), x, new byte[batch], batch, expected);
        for (var k = 0; k < probs.Length; k++) Assert.Equal(expected[k], probs[k], 1e-6);
        for (var s = 0; s < batch; s++) Assert.Equal(1f, probs.AsSpan(s * 4, 4).ToArray().Sum(), 1e-6f);
    }

    [Fact]
    public void Parameters_should_be_one_flat_array_that_the_model_reads_in_place()
    {
        var model = new Mlp([3, 2, 2], seed: 1);
        Assert.Equal(3 * 2 + 2 + 2 * 2 + 2, model.ParameterCount);
        Assert.Equal(model.ParameterCount, model.Parameters.Length);
        Assert.Equal([3, 2, 2], model.LayerSizes);
        Assert.True(model.Parameters.Take(6).All(w => w != 0f && Math.Abs(w) <= Math.Sqrt(6.0 / 3)), "He-uniform weights");
        Assert.All(model.Parameters.Skip(6).Take(2), b => Assert.Equal(0f, b));

        // zero every weight and set the last bias: the output no longer depends on the input
        Array.Clear(model.Parameters);
        model.Parameters[^1] = 5f;
        var probs = new float[2];
        model.Forward(new float[] { 1, 2, 3 }, 1, probs);
        Assert.Equal(1 / (1 + Math.Exp(-5)), probs[1], 1e-6);

        var copy = Mlp.FromParameters([3, 2, 2], model.Parameters);
        Assert.Equal(model.Parameters, copy.Parameters);
        Assert.NotSame(model.Parameters, copy.Parameters);
        var clone = model.Clone();
        clone.Parameters[0] = 42f;
        Assert.NotEqual(42f, model.Parameters[0]);
        Assert.Throws<ArgumentException>(() => Mlp.FromParameters([3, 2, 2], new float[5]));
    }

    [Fact]
    public void Same_seed_should_give_the_same_initial_parameters()
    {
        Assert.Equal(new Mlp([20, 8, 4], 3).Parameters, new Mlp([20, 8, 4], 3).Parameters);
        Assert.NotEqual(new Mlp([20, 8, 4], 3).Parameters, new Mlp([20, 8, 4], 4).Parameters);
    }

    [Fact]
    public void Onnx_export_should_declare_the_documented_input_and_output()
    {
        var bytes = MlpOnnx.Export(new Mlp([784, 16, 10], 1));
        var model = Onnx.ModelProto.Parser.ParseFrom(bytes);
        Assert.Equal("fmnist_mlp", model.Graph.Name);
        Assert.Equal(MlpOnnx.InputName, Assert.Single(model.Graph.Input).Name);
        Assert.Equal(MlpOnnx.OutputName, Assert.Single(model.Graph.Output).Name);
        Assert.Equal(["Gemm", "Relu", "Gemm", "Softmax"], model.Graph.Node.Select(n => n.OpType));
    }

    [Fact]
    public void ToFloats_should_scale_bytes_to_the_unit_interval()
    {
        var bytes = new byte[2 * 784];
        bytes[0] = 255;
        bytes[784 + 1] = 51;
        var x = FashionLabels.ToFloats(bytes, 2);
        Assert.Equal(2 * 784, x.Length);
        Assert.Equal(1f, x[0]);
        Assert.Equal(0.2f, x[785], 1e-7f);
        Assert.Equal(10, FashionLabels.Names.Length);
    }
}
