using EdgeActors.Inference.Runtime;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Inference;

/// <summary>Small real ONNX models with known weights, for tests that need ONNX Runtime to compute something checkable.</summary>
internal static class TestModels
{
    /// <summary>softmax(x · W + b) with x of <paramref name="inputs"/> features and <paramref name="classes"/> outputs; deterministic weights.</summary>
    public static (byte[] Onnx, float[] W, float[] B) Linear(int inputs, int classes, int seed = 3)
    {
        var rng = new Random(seed);
        var w = Enumerable.Range(0, inputs * classes).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var b = Enumerable.Range(0, classes).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var bytes = new OnnxGraphBuilder("linear")
            .Input("input", inputs)
            .Initializer("W", w, inputs, classes)
            .Initializer("B", b, classes)
            .Node("Gemm", ["input", "W", "B"], ["logits"])
            .Node("Softmax", ["logits"], ["probabilities"], OnnxGraphBuilder.IntAttribute("axis", 1))
            .Output("probabilities", classes)
            .ToBytes();
        return (bytes, w, b);
    }

    public static float[] LinearReference(float[] x, float[] w, float[] b, int inputs, int classes)
    {
        var logits = new double[classes];
        for (var k = 0; k < classes; k++)
        {
            double s = b[k];
            for (var i = 0; i < inputs; i++) s += x[i] * (double)w[i * classes + k];
            logits[k] = s;
        }
        var max = logits.Max();
        var exp = logits.Select(l => Math.Exp(l - max)).ToArray();
        var sum = exp.Sum();
        return exp.Select(e => (float)(e / sum)).ToArray();
    }

    public static ModelInfo Info(string name, int version, int inputs, int classes, byte[] onnx) =>
        new(name, version, [inputs], Enumerable.Range(0, classes).Select(i => $"class{i}").ToArray(),
            EdgeActors.Inference.Runtime.OnnxModel.Sha256(onnx), onnx.Length, 0, "test model");
}
