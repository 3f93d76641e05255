using System.Numerics.Tensors;
using EdgeActors.Learning.Models;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// The models federated training can run: <c>mlp:784-256-128-10</c> (layer sizes, ReLU, softmax) or <c>cnn</c> (the
/// NIID-Bench simple CNN: conv 6@5×5, pool, conv 16@5×5, pool, fc 120, fc 84, fc 10).
/// </summary>
public static class FederatedModel
{
    public const string DefaultSpec = "mlp:784-256-128-10";

    /// <summary>Layer sizes of an MLP spec, or an exception naming what is wrong.</summary>
    public static int[] Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec) || !spec.StartsWith("mlp:", StringComparison.Ordinal))
            throw new ArgumentException($"model '{spec}': expected {CnnSpec} or mlp:<in>-<hidden>-…-<classes>, e.g. {DefaultSpec}");
        var parts = spec[4..].Split('-');
        var sizes = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out sizes[i]) || sizes[i] < 1 || sizes[i] > 65_536)
                throw new ArgumentException($"model '{spec}': layer size '{parts[i]}' is not a number in 1..65536");
        if (sizes.Length < 2) throw new ArgumentException($"model '{spec}': needs at least an input and an output size");
        if (sizes[0] != InputSize) throw new ArgumentException($"model '{spec}': the input must be {InputSize} (28×28 frames)");
        if (sizes[^1] != OutputSize) throw new ArgumentException($"model '{spec}': the output must be {OutputSize} classes");
        return sizes;
    }

    public const string CnnSpec = "cnn";

    /// <summary>Why <paramref name="spec"/> is not a model federated training can run (an exception), else nothing.</summary>
    public static void Validate(string spec)
    {
        if (spec != CnnSpec) Parse(spec);
    }

    public static ITrainableModel Create(string spec, int seed) =>
        spec == CnnSpec ? new Cnn(seed) : new MlpModel(new Mlp(Parse(spec), seed));

    public static ITrainableModel FromParameters(string spec, float[] parameters) =>
        spec == CnnSpec ? Cnn.FromParameters(parameters) : new MlpModel(Mlp.FromParameters(Parse(spec), parameters));

    // the training frames' size and classes (EdgeActors.Messages.TrainingFrames.FrameBytes and .Classes, which this
    // library cannot reference: a unit test checks they agree)
    internal const int InputSize = FashionLabels.ImageSize;
    internal const int OutputSize = 10;

    /// <summary>Accuracy and mean cross-entropy of <paramref name="model"/> on the first <paramref name="limit"/> samples.</summary>
    public static (double Accuracy, double Loss) Evaluate(ITrainableModel model, EvaluationSet data, int limit = int.MaxValue)
    {
        var count = Math.Min(limit, data.Count);
        if (count == 0) return (0, 0);
        const int chunk = 256;
        var probs = new float[chunk * OutputSize];
        var correct = 0;
        double loss = 0;
        for (var start = 0; start < count; start += chunk)
        {
            var n = Math.Min(chunk, count - start);
            model.Forward(data.Images.AsSpan(start * InputSize, n * InputSize), n, probs);
            for (var s = 0; s < n; s++)
            {
                var row = probs.AsSpan(s * OutputSize, OutputSize);
                var label = data.Labels[start + s];
                if (TensorPrimitives.IndexOfMax(row) == label) correct++;
                loss -= Math.Log(Math.Max(row[label], 1e-12f));
            }
        }
        return ((double)correct / count, loss / count);
    }

    /// <summary>A stable (process-independent) seed for a client's local training in a round.</summary>
    public static int ClientSeed(int seed, string clientId, int round)
    {
        var h = 2166136261u;
        foreach (var ch in clientId)
        {
            h ^= ch;
            h *= 16777619u;
        }
        return unchecked((int)(h ^ (uint)(seed * 7919) ^ (uint)(round * 104729)));
    }
}
