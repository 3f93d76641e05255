using Google.Protobuf;
using Onnx;

namespace EdgeActors.Learning.Models;

/// <summary>
/// The third-party heavy model: <c>ResNet18.onnx</c> from the NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (downloaded with PackageDownload and copied next to the executable
/// as <c>models/ResNet18.onnx</c>). It ships with a fixed batch of 1 and a [1,512,1,1] feature output; <see cref="Prepare"/>
/// makes the batch dimension dynamic and flattens the output to [N,512].
/// </summary>
public static class ResNet18
{
    public const string FileName = "ResNet18.onnx";
    public static readonly int[] InputShape = [3, 224, 224];
    public const int Features = 512;

    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "models", FileName);

    public static byte[] Prepare(byte[] original)
    {
        var model = ModelProto.Parser.ParseFrom(original);
        model.Graph.Clean();
        model.Graph.SetDim(); // leading dimension of inputs, value infos and outputs becomes 'N'
        var features = model.Graph.Output[0].Name;
        var flatten = new NodeProto { OpType = "Flatten", Name = "edgeactors_flatten" };
        flatten.Input.Add(features);
        flatten.Output.Add("features");
        flatten.Attribute.Add(OnnxGraphBuilder.IntAttribute("axis", 1));
        model.Graph.Node.Add(flatten);
        model.Graph.Output.Clear();
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = Features });
        model.Graph.Output.Add(new ValueInfoProto
        {
            Name = "features",
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        });
        return model.ToByteArray();
    }

    /// <summary>
    /// <see cref="Load"/> with a uint8 input [N,3,224,224] (RGB pixels 0..255) normalised inside the graph: / 255, then
    /// the ImageNet mean and standard deviation per channel (<see cref="ByteInput"/>).
    /// </summary>
    public static byte[] LoadWithByteInput(string? path = null) => ByteInput.Prepend(Load(path), ByteInput.ImageNetMean, ByteInput.ImageNetStd);

    public static byte[] Load(string? path = null)
    {
        path ??= DefaultPath;
        if (!File.Exists(path))
            throw new FileNotFoundException($"{FileName} not found at {path}; it comes from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (restore the solution)", path);
        return Prepare(File.ReadAllBytes(path));
    }
}
