using Google.Protobuf;
using Onnx;

namespace EdgeActors.Learning.Models;

/// <summary>
/// Builds ONNX models from the generated ONNX protobuf types (OnnxSharp), never from hand-rolled bytes.
/// Float tensors only; the first input and output get a dynamic batch dimension named <c>N</c>.
/// </summary>
public sealed class OnnxGraphBuilder
{
    public const int OpsetVersion = 13;
    public const long IrVersion = 8;

    private readonly GraphProto _graph;

    public OnnxGraphBuilder(string graphName) => _graph = new GraphProto { Name = graphName };

    private static ValueInfoProto FloatValue(string name, IEnumerable<long> perSampleDims, bool batched)
    {
        var shape = new TensorShapeProto();
        if (batched) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (var d in perSampleDims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    /// <summary>A float input of shape [N, perSampleDims...].</summary>
    public OnnxGraphBuilder Input(string name, params long[] perSampleDims)
    {
        _graph.Input.Add(FloatValue(name, perSampleDims, batched: true));
        return this;
    }

    /// <summary>A float output of shape [N, perSampleDims...].</summary>
    public OnnxGraphBuilder Output(string name, params long[] perSampleDims)
    {
        _graph.Output.Add(FloatValue(name, perSampleDims, batched: true));
        return this;
    }

    /// <summary>A constant float tensor (weights), stored as raw little-endian data.</summary>
    public OnnxGraphBuilder Initializer(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        var expected = dims.Aggregate(1L, (a, b) => a * b);
        if (expected != values.Length) throw new ArgumentException($"initializer {name}: {values.Length} values for dims [{string.Join(",", dims)}]");
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        tensor.RawData = ByteString.CopyFrom(bytes);
        _graph.Initializer.Add(tensor);
        return this;
    }

    public OnnxGraphBuilder Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = $"{opType.ToLowerInvariant()}_{_graph.Node.Count}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return this;
    }

    public static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto FloatAttribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public ModelProto Build(string producer = "EdgeActors")
    {
        var model = new ModelProto { IrVersion = IrVersion, ProducerName = producer, Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        return model;
    }

    public byte[] ToBytes(string producer = "EdgeActors") => Build(producer).ToByteArray();
}
