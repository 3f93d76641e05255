using Google.Protobuf;
using Onnx;

namespace EdgeActors.Learning.Models;

/// <summary>
/// Gives a float-input ONNX model a uint8 input (pixels 0..255) and normalises inside the graph, so frames travel and
/// are copied to the device as bytes (a quarter of the float size) and nobody converts pixels per frame:
/// <c>pixels (uint8) → Cast(float) → Div 255 [→ Sub mean → Div std, per channel]</c> → the original input.
/// For byte inputs this gives exactly what the float model computes on <c>byte / 255f</c> (IEEE division by 255).
/// </summary>
public static class ByteInput
{
    public const string InputName = "pixels";
    /// <summary>The names of the normalisation nodes start with this.</summary>
    public const string NodePrefix = "edgeactors_pixels_";

    /// <summary>ImageNet channel statistics (RGB) that torchvision-style ResNets expect after scaling to [0,1].</summary>
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>True when the model's (first non-initializer) input is already uint8.</summary>
    public static bool HasByteInput(byte[] onnx)
    {
        var model = ModelProto.Parser.ParseFrom(onnx);
        return RealInput(model.Graph).Type.TensorType.ElemType == (int)TensorProto.Types.DataType.Uint8;
    }

    /// <summary>
    /// The model with a uint8 input of the same shape replacing its float input. <paramref name="mean"/> and
    /// <paramref name="std"/> (one value per channel, dimension 1 of the input) are applied after the division by 255
    /// when given. A model whose input is already uint8 is returned unchanged.
    /// </summary>
    public static byte[] Prepend(byte[] onnx, float[]? mean = null, float[]? std = null)
    {
        ArgumentNullException.ThrowIfNull(onnx);
        if ((mean is null) != (std is null) || (mean is not null && mean.Length != std!.Length))
            throw new ArgumentException("mean and std must both be given, with one value per channel each");
        var model = ModelProto.Parser.ParseFrom(onnx);
        var g = model.Graph;
        var input = RealInput(g);
        var elem = input.Type.TensorType.ElemType;
        if (elem == (int)TensorProto.Types.DataType.Uint8) return onnx;
        if (elem != (int)TensorProto.Types.DataType.Float)
            throw new ArgumentException($"input '{input.Name}' is of ONNX type {elem}; only a float input can be given a uint8 one");
        var target = input.Name;
        var pixels = input.Clone();
        pixels.Name = Unique(g, InputName);
        pixels.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Uint8;
        var index = g.Input.IndexOf(input);
        g.Input[index] = pixels;

        var nodes = new List<NodeProto>();
        var initializers = new List<TensorProto>();
        string Name(string n) => Unique(g, "edgeactors_" + n);
        var asFloat = Name("pixels_float");
        var cast = Node("Cast", [pixels.Name], [asFloat]);
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
        nodes.Add(cast);
        var c255 = Name("255");
        initializers.Add(Tensor(c255, [255f], []));
        var scaled = mean is null ? target : Name("pixels_scaled");
        nodes.Add(Node("Div", [asFloat, c255], [scaled]));
        if (mean is not null)
        {
            var channels = mean.Length;
            long[] dims = input.Type.TensorType.Shape.Dim.Count == 4 ? [channels, 1, 1] : [channels];
            string meanName = Name("mean"), stdName = Name("std"), centred = Name("pixels_centred");
            initializers.Add(Tensor(meanName, mean, dims));
            initializers.Add(Tensor(stdName, std!, dims));
            nodes.Add(Node("Sub", [scaled, meanName], [centred]));
            nodes.Add(Node("Div", [centred, stdName], [target]));
        }
        for (var i = nodes.Count - 1; i >= 0; i--) g.Node.Insert(0, nodes[i]);
        g.Initializer.AddRange(initializers);
        return model.ToByteArray();
    }

    private static ValueInfoProto RealInput(GraphProto g)
    {
        var initializers = g.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return g.Input.FirstOrDefault(i => !initializers.Contains(i.Name)) ?? throw new ArgumentException("the model has no input");
    }

    private static string Unique(GraphProto g, string name)
    {
        var used = g.Input.Select(i => i.Name).Concat(g.Initializer.Select(t => t.Name)).Concat(g.Node.SelectMany(n => n.Output))
            .ToHashSet(StringComparer.Ordinal);
        var candidate = name;
        for (var k = 1; used.Contains(candidate); k++) candidate = $"{name}_{k}";
        return candidate;
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = op, Name = $"{NodePrefix}{op.ToLowerInvariant()}_{outputs[0]}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    private static TensorProto Tensor(string name, float[] values, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }
}
