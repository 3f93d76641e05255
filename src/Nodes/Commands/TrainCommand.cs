using System.CommandLine;
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
    private static readonly Option<string> Model = CliOptions.Text("--model", "fmnist-mlp", "the model's name in the registry (the datacenter's larger one: --model fmnist-large --layers 784,512,256,10 --epochs 8)", "NAME");
    private static readonly Option<string> Layers = CliOptions.Text("--layers", "784,256,128,10", "layer widths (784 first, 10 last)", "N,N,...");
    private static readonly Option<int> Epochs = CliOptions.Int("--epochs", 5, "training epochs");
    private static readonly Option<int> Batch = CliOptions.Int("--batch", 64, "minibatch size");
    private static readonly Option<double> Lr = CliOptions.Double("--lr", 0.05, "learning rate");
    private static readonly Option<double> Momentum = CliOptions.Double("--momentum", 0.9, "SGD momentum");
    private static readonly Option<int> Seed = CliOptions.Int("--seed", 1, "random seed (training is deterministic for a seed)");
    private static readonly Option<string?> Out = CliOptions.Text("--out", "the ONNX file (default .data/models/<model>.onnx)", "FILE");
    private static readonly Option<bool> NoPublish = CliOptions.Flag("--no-publish", "only train and write the file");
    private static readonly Option<string[]> Contacts = CliOptions.Contacts();
    private static readonly Option<string?> Dataset = CliOptions.Text("--dataset", "Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)", "DIR");
    private static readonly CertsCommand.ClientOptions Credentials = new();

    public static Command Create() => Cli.Command("train", """
        train the Fashion-MNIST MLP, export ONNX, verify against ONNX Runtime, publish
        Trains an MLP on the 60,000 Fashion-MNIST training images (deterministic for a seed), reports test accuracy,
        exports ONNX (Gemm/Relu/Softmax), verifies that ONNX Runtime's predictions equal the C# forward pass on all
        10,000 test images, writes the file and publishes it to the cluster's model registry (unless --no-publish).
        """, [Model, Layers, Epochs, Batch, Lr, Momentum, Seed, Out, NoPublish, Contacts, Dataset, .. Credentials.All], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var model = args.GetValue(Model)!;
        var layers = args.GetValue(Layers)!.Split(',')
            .Select(s => int.TryParse(s, out var v) && v > 0 ? v : throw new CliException($"--layers: '{s}' is not a positive integer")).ToArray();
        if (layers.Length < 2 || layers[0] != 784 || layers[^1] != 10) throw new CliException("--layers must start with 784 and end with 10");
        var sgd = new SgdOptions(
            Epochs: args.GetValue(Epochs), BatchSize: args.GetValue(Batch), LearningRate: (float)args.GetValue(Lr),
            Momentum: (float)args.GetValue(Momentum), Seed: args.GetValue(Seed));
        var outPath = args.GetValue(Out) ?? Path.Combine(".data", "models", model + ".onnx");
        var publish = !args.GetValue(NoPublish);
        var contacts = args.GetValue(Contacts)!;
        var dataset = args.GetValue(Dataset);
        var credentials = Credentials.From(args);

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
