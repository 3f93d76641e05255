namespace EdgeActors.Learning.Models;

/// <summary>Exports an <see cref="Mlp"/> as ONNX: Gemm (+ Relu) per layer, Softmax(axis=1) last.</summary>
public static class MlpOnnx
{
    public const string InputName = "input";
    public const string OutputName = "probabilities";

    /// <summary>ONNX bytes with a float input [N, InputSize] named <see cref="InputName"/> and a float output [N, OutputSize] named <see cref="OutputName"/>.</summary>
    public static byte[] Export(Mlp model, string graphName = "fmnist_mlp")
    {
        ArgumentNullException.ThrowIfNull(model);
        var g = new OnnxGraphBuilder(graphName).Input(InputName, model.InputSize);
        var current = InputName;
        for (var l = 0; l < model.LayerCount; l++)
        {
            int nIn = model.LayerSizes[l], nOut = model.LayerSizes[l + 1];
            string w = $"W{l}", b = $"B{l}", gemm = $"gemm{l}";
            g.Initializer(w, model.Weights(l), nIn, nOut).Initializer(b, model.Biases(l), nOut);
            g.Node("Gemm", [current, w, b], [gemm]);
            current = gemm;
            if (l < model.LayerCount - 1)
            {
                var relu = $"relu{l}";
                g.Node("Relu", [current], [relu]);
                current = relu;
            }
        }
        g.Node("Softmax", [current], [OutputName], OnnxGraphBuilder.IntAttribute("axis", 1));
        g.Output(OutputName, model.OutputSize);
        return g.ToBytes();
    }
}
