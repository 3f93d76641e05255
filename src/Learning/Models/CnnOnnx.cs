using Onnx;

namespace EdgeActors.Learning.Models;

/// <summary>
/// Exports a <see cref="Cnn"/> as ONNX (opset 13): input [N,784] → Reshape [N,1,28,28] → Conv 5×5 → Relu → MaxPool 2×2/2
/// → Conv 5×5 → Relu → MaxPool 2×2/2 → Flatten(axis=1) [N,256] (channel-major, as the C# flatten) → Gemm → Relu → Gemm
/// → Relu → Gemm → Softmax(axis=1) [N,10].
/// </summary>
public static class CnnOnnx
{
    public const string InputName = "input";
    public const string OutputName = "probabilities";

    /// <summary>ONNX bytes with a float input [N, 784] named "input" and a float output [N, 10] named "probabilities".</summary>
    public static byte[] Export(Cnn model, string graphName = "fmnist_cnn")
    {
        ArgumentNullException.ThrowIfNull(model);
        var p = model.Parameters.AsSpan();
        const int k = Cnn.KernelSide;
        var g = new OnnxGraphBuilder(graphName).Input(InputName, Cnn.InputSize);

        var shape = new TensorProto { Name = "image_shape", DataType = (int)TensorProto.Types.DataType.Int64 };
        shape.Dims.Add(4);
        shape.Int64Data.AddRange([-1, 1, Cnn.Side, Cnn.Side]);
        g.Node("Constant", [], ["image_shape"], new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = shape });
        g.Node("Reshape", [InputName, "image_shape"], ["image"]);

        g.Initializer("conv1_W", p.Slice(Cnn.Conv1WeightOffset, Cnn.Conv1Out * Cnn.Conv1K), Cnn.Conv1Out, 1, k, k)
         .Initializer("conv1_B", p.Slice(Cnn.Conv1BiasOffset, Cnn.Conv1Out), Cnn.Conv1Out);
        g.Node("Conv", ["image", "conv1_W", "conv1_B"], ["conv1"], Ints("kernel_shape", k, k));
        g.Node("Relu", ["conv1"], ["relu1"]);
        g.Node("MaxPool", ["relu1"], ["pool1"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));

        g.Initializer("conv2_W", p.Slice(Cnn.Conv2WeightOffset, Cnn.Conv2Out * Cnn.Conv2K), Cnn.Conv2Out, Cnn.Conv1Out, k, k)
         .Initializer("conv2_B", p.Slice(Cnn.Conv2BiasOffset, Cnn.Conv2Out), Cnn.Conv2Out);
        g.Node("Conv", ["pool1", "conv2_W", "conv2_B"], ["conv2"], Ints("kernel_shape", k, k));
        g.Node("Relu", ["conv2"], ["relu2"]);
        g.Node("MaxPool", ["relu2"], ["pool2"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
        g.Node("Flatten", ["pool2"], ["flat"], OnnxGraphBuilder.IntAttribute("axis", 1));

        (int WOffset, int BOffset, int In, int Out)[] fc =
        [
            (Cnn.Fc1WeightOffset, Cnn.Fc1BiasOffset, Cnn.Flat, Cnn.Hidden1),
            (Cnn.Fc2WeightOffset, Cnn.Fc2BiasOffset, Cnn.Hidden1, Cnn.Hidden2),
            (Cnn.Fc3WeightOffset, Cnn.Fc3BiasOffset, Cnn.Hidden2, Cnn.Classes),
        ];
        var current = "flat";
        for (var l = 0; l < fc.Length; l++)
        {
            var (wOffset, bOffset, nIn, nOut) = fc[l];
            string w = $"fc{l + 1}_W", b = $"fc{l + 1}_B", gemm = $"fc{l + 1}";
            g.Initializer(w, p.Slice(wOffset, nIn * nOut), nIn, nOut).Initializer(b, p.Slice(bOffset, nOut), nOut);
            g.Node("Gemm", [current, w, b], [gemm]);
            current = gemm;
            if (l < fc.Length - 1)
            {
                var relu = $"fc{l + 1}_relu";
                g.Node("Relu", [current], [relu]);
                current = relu;
            }
        }
        g.Node("Softmax", [current], [OutputName], OnnxGraphBuilder.IntAttribute("axis", 1));
        g.Output(OutputName, Cnn.Classes);
        return g.ToBytes();
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}
