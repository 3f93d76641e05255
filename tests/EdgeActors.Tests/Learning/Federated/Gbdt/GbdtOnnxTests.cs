using EdgeActors.Learning.Federated.Gbdt;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeActors.Tests.Learning.Federated.Gbdt;

public sealed class GbdtOnnxTests
{
    private static (long[] Labels, float[] Probabilities) RunOnnx(byte[] onnx, float[] x, int rows, int features)
    {
        using var session = new InferenceSession(onnx);
        var input = new DenseTensor<float>(x, [rows, features]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(GbdtOnnx.InputName, input)]);
        var labels = results.Single(r => r.Name == GbdtOnnx.LabelName).AsTensor<long>();
        var probabilities = results.Single(r => r.Name == GbdtOnnx.ProbabilitiesName).AsTensor<float>();
        Assert.Equal([rows], labels.Dimensions.ToArray());
        return (labels.ToArray(), probabilities.ToArray());
    }

    [Theory]
    [InlineData(5)]
    [InlineData(2)]
    public void Onnx_runtime_should_compute_the_probabilities_and_labels_of_the_csharp_model(int classes)
    {
        var train = GbdtTestData.Make(rows: 800, features: 5, classes, seed: 21);
        var test = GbdtTestData.Make(rows: 300, features: 5, classes, seed: 22);
        var options = new GbdtOptions { Classes = classes, Iterations = 25, MaxDepth = 4, LearningRate = 0.4, MaxBins = 24, Lambda = 0.5 };
        var model = GbdtTrainer.TrainFederated([train.Party(0, 300), train.Party(300, 800)], options);
        // include values on thresholds and NaN: both must route like the C# trees (x ≤ t left, NaN right)
        var x = (float[])test.X.Clone();
        x[0] = model.Trees[0].Threshold[0];
        x[7] = float.NaN;

        var (labels, probabilities) = RunOnnx(GbdtOnnx.Export(model, "gbdt_test"), x, test.Rows, test.Features);

        Assert.Equal(test.Rows * classes, probabilities.Length);
        var agreeing = 0;
        for (var r = 0; r < test.Rows; r++)
        {
            var row = x.AsSpan(r * test.Features, test.Features);
            var expected = model.PredictProba(row);
            for (var c = 0; c < classes; c++)
                Assert.True(Math.Abs(expected[c] - probabilities[r * classes + c]) <= 1e-5, $"row {r} class {c}: C# {expected[c]} vs ORT {probabilities[r * classes + c]}");
            if (labels[r] == model.Predict(row)) agreeing++;
        }
        Assert.Equal(test.Rows, agreeing);
        // a model that learned something: probabilities are not all equal
        Assert.True(probabilities.Max() > 0.9f);
    }

    [Fact]
    public void The_exported_graph_should_declare_float_input_int64_label_and_float_probabilities()
    {
        var data = GbdtTestData.Make(rows: 100, features: 3, classes: 3, seed: 1);
        var model = GbdtTrainer.TrainCentral(data.X, data.Rows, data.Features, data.Y, new GbdtOptions { Classes = 3, Iterations = 2 });
        var proto = Onnx.ModelProto.Parser.ParseFrom(GbdtOnnx.Export(model, "g"));

        Assert.Equal("g", proto.Graph.Name);
        var input = Assert.Single(proto.Graph.Input);
        Assert.Equal("input", input.Name);
        Assert.Equal((int)Onnx.TensorProto.Types.DataType.Float, input.Type.TensorType.ElemType);
        Assert.Equal(3, input.Type.TensorType.Shape.Dim[1].DimValue);
        // probabilities first: the registry and the model host serve a model's first output (float [N, K])
        Assert.Equal(["probabilities", "label"], proto.Graph.Output.Select(o => o.Name));
        Assert.Equal((int)Onnx.TensorProto.Types.DataType.Float, proto.Graph.Output[0].Type.TensorType.ElemType);
        Assert.Equal(3, proto.Graph.Output[0].Type.TensorType.Shape.Dim[1].DimValue);
        Assert.Equal((int)Onnx.TensorProto.Types.DataType.Int64, proto.Graph.Output[1].Type.TensorType.ElemType);
        Assert.Equal(["Cast", "TreeEnsembleClassifier"], proto.Graph.Node.Select(n => n.OpType));
        var node = proto.Graph.Node[1];
        Assert.Equal("ai.onnx.ml", node.Domain);
        Assert.Equal("SOFTMAX", node.Attribute.Single(a => a.Name == "post_transform").S.ToStringUtf8());
        Assert.Contains(proto.OpsetImport, o => o.Domain == "ai.onnx.ml" && o.Version == 3);
        Assert.Contains(proto.OpsetImport, o => o.Domain == "" && o.Version == 13);
    }
}
