using Google.Protobuf;
using Onnx;

namespace EdgeActors.Learning.Federated.Gbdt;

/// <summary>
/// Exports a <see cref="GbdtModel"/> as one ai.onnx.ml <c>TreeEnsembleClassifier</c> (ai.onnx.ml opset 3, default
/// opset 13). The float input is cast to double first and thresholds and leaf weights go in as double tensors
/// (<c>nodes_values_as_tensor</c>, <c>class_weights_as_tensor</c>): ONNX Runtime picks the tree arithmetic from the
/// input type, so this makes it sum the trees in double, as <see cref="GbdtModel"/> does. Comparing the cast input
/// with a float threshold widened to double decides exactly as the float comparison would.
/// Input <see cref="InputName"/>: float [N, FeatureCount]. Outputs <see cref="LabelName"/>: int64 [N] and
/// <see cref="ProbabilitiesName"/>: float [N, Classes] (SOFTMAX for multiclass; LOGISTIC for binary, where the one
/// log-odds per leaf is expanded by the runtime to the two columns [1 − σ, σ]).
/// </summary>
public static class GbdtOnnx
{
    public const string InputName = "input";
    public const string LabelName = "label";
    public const string ProbabilitiesName = "probabilities";
    public const string MlDomain = "ai.onnx.ml";
    public const int MlOpsetVersion = 3;
    public const int DefaultOpsetVersion = 13;
    public const long IrVersion = 8;
    private const string CastName = "input_as_double";

    public static byte[] Export(GbdtModel model, string graphName = "gbdt")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(graphName);

        var treeIds = new List<long>();
        var nodeIds = new List<long>();
        var featureIds = new List<long>();
        var modes = new List<string>();
        var values = new List<double>();
        var trueIds = new List<long>();
        var falseIds = new List<long>();
        var classTreeIds = new List<long>();
        var classNodeIds = new List<long>();
        var classIds = new List<long>();
        var classWeights = new List<double>();

        for (var k = 0; k < model.Trees.Count; k++)
        {
            var tree = model.Trees[k];
            for (var i = 0; i < tree.NodeCount; i++)
            {
                treeIds.Add(k);
                nodeIds.Add(i);
                if (tree.IsLeaf(i))
                {
                    featureIds.Add(0);
                    modes.Add("LEAF");
                    values.Add(0);
                    trueIds.Add(0);
                    falseIds.Add(0);
                    classTreeIds.Add(k);
                    classNodeIds.Add(i);
                    classIds.Add(k % model.TreesPerIteration);
                    classWeights.Add(tree.Value[i]);
                }
                else
                {
                    featureIds.Add(tree.Feature[i]);
                    modes.Add("BRANCH_LEQ");
                    values.Add(tree.Threshold[i]);
                    trueIds.Add(tree.Left[i]);
                    falseIds.Add(tree.Right[i]);
                }
            }
        }

        var node = new NodeProto
        {
            OpType = "TreeEnsembleClassifier",
            Domain = MlDomain,
            Name = "tree_ensemble",
        };
        node.Input.Add(CastName);
        node.Output.Add(LabelName);
        node.Output.Add(ProbabilitiesName);
        node.Attribute.Add(Ints("nodes_treeids", treeIds));
        node.Attribute.Add(Ints("nodes_nodeids", nodeIds));
        node.Attribute.Add(Ints("nodes_featureids", featureIds));
        node.Attribute.Add(Strings("nodes_modes", modes));
        node.Attribute.Add(Doubles("nodes_values_as_tensor", values));
        node.Attribute.Add(Ints("nodes_truenodeids", trueIds));
        node.Attribute.Add(Ints("nodes_falsenodeids", falseIds));
        node.Attribute.Add(Ints("class_treeids", classTreeIds));
        node.Attribute.Add(Ints("class_nodeids", classNodeIds));
        node.Attribute.Add(Ints("class_ids", classIds));
        node.Attribute.Add(Doubles("class_weights_as_tensor", classWeights));
        node.Attribute.Add(Ints("classlabels_int64s", Enumerable.Range(0, model.Classes).Select(c => (long)c)));
        node.Attribute.Add(new AttributeProto
        {
            Name = "post_transform",
            Type = AttributeProto.Types.AttributeType.String,
            S = ByteString.CopyFromUtf8(model.TreesPerIteration == 1 ? "LOGISTIC" : "SOFTMAX"),
        });
        if (model.BaseScores.Any(b => b != 0))
            node.Attribute.Add(Doubles("base_values_as_tensor", model.BaseScores));

        var cast = new NodeProto { OpType = "Cast", Name = "to_double" };
        cast.Input.Add(InputName);
        cast.Output.Add(CastName);
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Double });

        var graph = new GraphProto { Name = graphName };
        graph.Node.Add(cast);
        graph.Node.Add(node);
        graph.Input.Add(Value(InputName, TensorProto.Types.DataType.Float, model.FeatureCount));
        // probabilities first: the model registry and the model host serve a model's first output, a float [N, K]
        graph.Output.Add(Value(ProbabilitiesName, TensorProto.Types.DataType.Float, model.Classes));
        graph.Output.Add(Value(LabelName, TensorProto.Types.DataType.Int64));

        var proto = new ModelProto { IrVersion = IrVersion, ProducerName = "EdgeActors", Graph = graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = DefaultOpsetVersion });
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MlDomain, Version = MlOpsetVersion });
        return proto.ToByteArray();
    }

    /// <summary>A tensor value [N, perSampleDims...] of the given element type.</summary>
    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, params long[] perSampleDims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (var d in perSampleDims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static AttributeProto Strings(string name, IEnumerable<string> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Strings };
        a.Strings.AddRange(values.Select(ByteString.CopyFromUtf8));
        return a;
    }

    private static AttributeProto Doubles(string name, IReadOnlyCollection<double> values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Double };
        tensor.Dims.Add(values.Count);
        tensor.DoubleData.AddRange(values);
        return new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = tensor };
    }
}
