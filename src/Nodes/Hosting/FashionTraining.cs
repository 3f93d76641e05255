using System.Diagnostics;
using EdgeActors.Actors.Inference;
using EdgeActors.Inference.Runtime;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;

namespace EdgeActors.Nodes.Hosting;

/// <summary>
/// Trains the Fashion-MNIST MLP in C#, exports it to ONNX and checks ONNX Runtime against the C# forward pass: for the
/// train command and for the demo's models (<see cref="ModelBootstrap"/>).
/// </summary>
public static class FashionTraining
{
    public sealed record Options(string Model, int[] Layers, SgdOptions Sgd, string OutPath);

    public sealed record Trained(Mlp Model, byte[] Onnx, float TestAccuracy, float MaxAbsDiff, int Disagreements, string Description);

    public static Trained Train(Options o, string? datasetDirectory, Action<string> log)
    {
        var dir = FashionMnist.ResolveDirectory(datasetDirectory);
        var train = FashionMnist.Load(dir, train: true);
        var test = FashionMnist.Load(dir, train: false);
        var xTrain = FashionLabels.ToFloats(train.Images, train.Count);
        var xTest = FashionLabels.ToFloats(test.Images, test.Count);
        var mlp = new Mlp(o.Layers, o.Sgd.Seed);
        log($"train {o.Model}: MLP {string.Join("-", o.Layers)} ({mlp.ParameterCount:N0} parameters), {o.Sgd.Epochs} epochs, batch {o.Sgd.BatchSize}, lr {o.Sgd.LearningRate}, momentum {o.Sgd.Momentum}, seed {o.Sgd.Seed}");
        var clock = Stopwatch.StartNew();
        var epochClock = Stopwatch.StartNew();
        MlpTrainer.Train(mlp, xTrain, train.Labels, train.Count, o.Sgd, (epoch, loss) =>
        {
            log($"  epoch {epoch + 1}/{o.Sgd.Epochs}: loss {loss:0.0000}, test accuracy {mlp.Accuracy(xTest, test.Labels):P2} ({epochClock.Elapsed.TotalSeconds:0.0}s)");
            epochClock.Restart();
        });
        var accuracy = mlp.Accuracy(xTest, test.Labels);
        log($"train {o.Model}: {clock.Elapsed.TotalSeconds:0.0}s, test accuracy {accuracy:P2}");

        var onnx = MlpOnnx.Export(mlp, o.Model.Replace('-', '_'));
        var (maxDiff, disagreements) = CompareWithOnnxRuntime(mlp, onnx, xTest, test.Count);
        log($"train {o.Model}: ONNX Runtime vs C# on {test.Count:N0} test images: {disagreements} different predictions, max |Δp| = {maxDiff:E2} ({ExecutionProvider.Current})");
        if (disagreements != 0) throw new InvalidOperationException($"exported model disagrees with the C# forward pass on {disagreements} images");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(o.OutPath))!);
        File.WriteAllBytes(o.OutPath, onnx);
        log($"train {o.Model}: wrote {o.OutPath} ({onnx.Length:N0} bytes)");
        var description = $"MLP {string.Join("-", o.Layers)}, {o.Sgd.Epochs} epochs, test accuracy {accuracy:0.0000}";
        return new Trained(mlp, onnx, accuracy, maxDiff, disagreements, description);
    }

    /// <summary>Runs every image through ONNX Runtime and the C# forward pass; returns the largest probability difference and the argmax disagreements.</summary>
    public static (float MaxAbsDiff, int Disagreements) CompareWithOnnxRuntime(Mlp mlp, byte[] onnx, float[] images, int count)
    {
        const int batch = 256;
        var info = new ModelInfo("check", 1, [784], FashionLabels.Names, OnnxModel.Sha256(onnx), onnx.Length, 0, "");
        using var session = OnnxModel.Load(onnx, info, InferenceRuntimeSettings.Default, batch);
        var ort = new float[batch * 10];
        var cs = new float[batch * 10];
        var maxDiff = 0f;
        var disagreements = 0;
        for (var start = 0; start < count; start += batch)
        {
            var n = Math.Min(batch, count - start);
            var x = images.AsSpan(start * 784, n * 784);
            session.Run(x, n, ort);
            mlp.Forward(x, n, cs);
            for (var s = 0; s < n; s++)
            {
                int a = 0, b = 0;
                for (var k = 0; k < 10; k++)
                {
                    maxDiff = Math.Max(maxDiff, Math.Abs(ort[s * 10 + k] - cs[s * 10 + k]));
                    if (ort[s * 10 + k] > ort[s * 10 + a]) a = k;
                    if (cs[s * 10 + k] > cs[s * 10 + b]) b = k;
                }
                if (a != b) disagreements++;
            }
        }
        return (maxDiff, disagreements);
    }
}
