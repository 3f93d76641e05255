using EdgeActors.Inference.Runtime;
using System.Diagnostics;
using EdgeActors.Actors.Inference;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Client;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Nodes.Commands;

/// <summary>Trains the Fashion-MNIST MLP in C#, exports it to ONNX, checks ONNX Runtime against the C# forward pass, publishes it.</summary>
public static class TrainCommand
{
    public const string Usage = """
        edgeactors train [--model fmnist-mlp] [--layers 784,256,128,10] [--epochs 5] [--batch 64] [--lr 0.05]
                         [--momentum 0.9] [--seed 1] [--out .data/models/<model>.onnx] [--no-publish] [--contacts host:port,...]
          Trains an MLP on the 60,000 Fashion-MNIST training images (System.Numerics.Tensors, deterministic for a
          seed), reports test accuracy on the 10,000 test images, exports ONNX (Gemm/Relu/Softmax), verifies that
          ONNX Runtime's predictions equal the C# forward pass on all 10,000 test images, writes the file and
          publishes it to the cluster's model registry (unless --no-publish).
          The datacenter's larger escalation model: --model fmnist-large --layers 784,512,256,10 --epochs 8
        """;

    public sealed record Options(string Model, int[] Layers, SgdOptions Sgd, string OutPath);

    public sealed record Trained(Mlp Model, byte[] Onnx, float TestAccuracy, float MaxAbsDiff, int Disagreements, string Description);

    public static async Task<int> RunAsync(CliArgs args)
    {
        var model = args.Get("model", "fmnist-mlp");
        var layers = args.Get("layers", "784,256,128,10").Split(',')
            .Select(s => int.TryParse(s, out var v) && v > 0 ? v : throw new CliException($"--layers: '{s}' is not a positive integer")).ToArray();
        if (layers.Length < 2 || layers[0] != 784 || layers[^1] != 10) throw new CliException("--layers must start with 784 and end with 10");
        var sgd = new SgdOptions(
            Epochs: args.Int("epochs", 5), BatchSize: args.Int("batch", 64), LearningRate: (float)args.Double("lr", 0.05),
            Momentum: (float)args.Double("momentum", 0.9), Seed: args.Int("seed", 1));
        var outPath = args.Get("out", Path.Combine(".data", "models", model + ".onnx"));
        var publish = !args.Flag("no-publish");
        var contacts = SimulateCommand.NodeConfigContacts(args);
        var dataset = args.Get("dataset");
        var credentials = CertsCommand.ClientCredentialsFrom(args);
        args.EnsureAllUsed();

        var trained = Train(new Options(model, layers, sgd, outPath), dataset, Console.WriteLine);
        if (!publish) return 0;
        await using var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = contacts, Credentials = credentials, RetryDeadline = TimeSpan.FromSeconds(30) });
        try
        {
            var published = await client.PublishModelAsync(new PublishModel(model, trained.Onnx, [784], FashionLabels.Names, trained.Description));
            Console.WriteLine($"train: published {published.Model.Name} v{published.Model.Version}{(published.Active ? " (active)" : "")}");
            return 0;
        }
        catch (EdgeClientException ex)
        {
            Console.Error.WriteLine($"train: could not publish: {ex.Message} (the model is saved at {outPath})");
            return 1;
        }
    }

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
