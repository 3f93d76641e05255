using EdgeActors.Inference.Runtime;
using System.Diagnostics;
using EdgeActors.Learning.Models;
using EdgeActors.Actors.Inference;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Hosting;

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
        var contacts = args.Contacts();
        var dataset = args.Get("dataset");
        var credentials = CertsCommand.ClientCredentialsFrom(args);
        args.EnsureAllUsed();

        var trained = FashionTraining.Train(new FashionTraining.Options(model, layers, sgd, outPath), dataset, Console.WriteLine);
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
}
