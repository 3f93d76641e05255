using Google.Protobuf;
using Onnx;

namespace EdgeActors.Learning.Models;

/// <summary>
/// Converts a float model to run in FP16 on the GPU (tensor cores, half the memory traffic): every float initializer
/// and Constant becomes float16, the first float tensor the network consumes is cast to float16 where it enters, and
/// each float output is cast back to float where it leaves; inputs and outputs keep their types, so callers see no
/// difference but precision (about 3 significant digits). For CUDA only: ONNX Runtime's CPU provider lacks FP16 kernels
/// for most operators. The uint8 normalisation prepended by <see cref="ByteInput"/> stays in float.
/// </summary>
public static class Fp16
{
    private const int Float = (int)TensorProto.Types.DataType.Float;
    private const int Half = (int)TensorProto.Types.DataType.Float16;

    public static byte[] Convert(byte[] onnx)
    {
        var model = ModelProto.Parser.ParseFrom(onnx);
        var g = model.Graph;
        // the float tensor where the network starts: the graph's float input, or the output of the byte normalisation
        var normalisation = g.Node.TakeWhile(n => n.Name.StartsWith(ByteInput.NodePrefix, StringComparison.Ordinal)).ToList();
        var start = normalisation.Count > 0
            ? normalisation[^1].Output[0]
            : g.Input.First(i => i.Type.TensorType.ElemType == Float && g.Initializer.All(t => t.Name != i.Name)).Name;
        var skip = normalisation.ToHashSet();
        foreach (var t in g.Initializer)
        {
            if (t.DataType == Float && !t.Name.StartsWith("edgeactors_", StringComparison.Ordinal)) ToHalf(t);
        }
        foreach (var n in g.Node)
        {
            if (skip.Contains(n)) continue;
            foreach (var a in n.Attribute)
            {
                if (a.T is { DataType: Float } t) ToHalf(t);
                if (n.OpType == "Cast" && a.Name == "to" && a.I == Float) a.I = Half;
            }
        }
        var startHalf = start + "_fp16";
        foreach (var n in g.Node)
        {
            if (skip.Contains(n)) continue;
            for (var i = 0; i < n.Input.Count; i++)
            {
                if (n.Input[i] == start) n.Input[i] = startHalf;
            }
        }
        var castIn = Cast(start, startHalf, Half);
        g.Node.Insert(normalisation.Count, castIn);
        foreach (var o in g.Output.Where(o => o.Type.TensorType.ElemType == Float))
        {
            var half = o.Name + "_fp16";
            foreach (var n in g.Node)
            {
                for (var i = 0; i < n.Output.Count; i++)
                {
                    if (n.Output[i] == o.Name && n != castIn) n.Output[i] = half;
                }
                for (var i = 0; i < n.Input.Count; i++)
                {
                    if (n.Input[i] == o.Name) n.Input[i] = half;
                }
            }
            g.Node.Add(Cast(half, o.Name, Float));
        }
        g.ValueInfo.Clear(); // intermediate types changed: let ONNX Runtime infer them
        return model.ToByteArray();
    }

    private static NodeProto Cast(string from, string to, int type)
    {
        var node = new NodeProto { OpType = "Cast", Name = $"fp16_cast_{to}" };
        node.Input.Add(from);
        node.Output.Add(to);
        node.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = type });
        return node;
    }

    private static void ToHalf(TensorProto t)
    {
        float[] values;
        if (t.RawData.Length > 0)
        {
            var raw = t.RawData.Span;
            values = new float[raw.Length / 4];
            for (var i = 0; i < values.Length; i++) values[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
        }
        else
        {
            values = t.FloatData.ToArray();
        }
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (System.Half)values[i]);
        t.FloatData.Clear();
        t.RawData = ByteString.CopyFrom(bytes);
        t.DataType = Half;
    }
}
