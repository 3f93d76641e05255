namespace EdgeActors.Learning.Models;

/// <summary>
/// A Fashion-MNIST classifier that federated learning can train: all weights in one flat <see cref="Parameters"/> array
/// (edited in place by averaging), deterministic SGD for a seed, a forward pass equal to its ONNX export.
/// </summary>
public interface ITrainableModel
{
    int ParameterCount { get; }

    /// <summary>The live weights (not a copy).</summary>
    float[] Parameters { get; }

    /// <summary>Trains in place on the first <paramref name="count"/> images (N × 784 floats in [0,1]); the mean loss per epoch.</summary>
    float[] Train(float[] images, byte[] labels, int count, SgdOptions options);

    /// <summary>Class probabilities (batch × 10) of <paramref name="batch"/> images; may run concurrently with other forwards.</summary>
    void Forward(ReadOnlySpan<float> images, int batch, Span<float> probabilities);

    /// <summary>ONNX: input "input" float [N, 784], output "probabilities" float [N, 10].</summary>
    byte[] ExportOnnx(string graphName);
}

/// <summary>The MLP as an <see cref="ITrainableModel"/>.</summary>
public sealed class MlpModel(Mlp mlp) : ITrainableModel
{
    public Mlp Mlp { get; } = mlp;
    public int ParameterCount => Mlp.ParameterCount;
    public float[] Parameters => Mlp.Parameters;
    public float[] Train(float[] images, byte[] labels, int count, SgdOptions options) => MlpTrainer.Train(Mlp, images, labels, count, options);
    public void Forward(ReadOnlySpan<float> images, int batch, Span<float> probabilities) => Mlp.Forward(images, batch, probabilities);
    public byte[] ExportOnnx(string graphName) => MlpOnnx.Export(Mlp, graphName);
}
