using System.CommandLine;
using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeActors.Nodes.Data;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Nodes.Commands;

public static class InferCommand
{
    private static readonly Option<int> Count = CliOptions.Int("--count", 1000, "test images to send");
    private static readonly Option<int> Concurrency = CliOptions.Int("--concurrency", 16, "requests in flight (simulated cameras with --via frames)");
    private static readonly Option<string> Via = CliOptions.Choice("--via", "frames", "frames: as camera frames, classified on their edge (escalation, overflow); model: straight to --model on the node the client is connected to", "frames", "model");
    private static readonly Option<string> Model = CliOptions.Text("--model", "fmnist-mlp", "the model for --via model", "NAME");
    private static readonly Option<string[]> Contacts = CliOptions.Contacts();
    private static readonly Option<string?> Dataset = CliOptions.Text("--dataset", "Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)", "DIR");
    private static readonly CertsCommand.ClientOptions Credentials = new();

    public static Command Create() => Cli.Command("infer", """
        classify Fashion-MNIST test images through the cluster (accuracy, latency)
        Sends Fashion-MNIST test images through the client and prints accuracy and latency.
        """, [Count, Concurrency, Via, Model, Contacts, Dataset, .. Credentials.All], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var count = args.GetValue(Count);
        var concurrency = args.GetValue(Concurrency);
        var via = args.GetValue(Via)!;
        var model = args.GetValue(Model)!;
        var contacts = args.GetValue(Contacts)!;
        var dataset = args.GetValue(Dataset);
        var credentials = Credentials.From(args);
        if (count < 1 || concurrency < 1) throw new CliException("--count and --concurrency must be positive");

        var data = FashionMnist.Load(FashionMnist.ResolveDirectory(dataset), train: false);
        count = Math.Min(count, data.Count);
        await using var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = contacts, Credentials = credentials });
        var latencies = new ConcurrentBag<double>();
        long correct = 0, answered = 0, escalated = 0, overflowed = 0, unavailable = 0, notClassified = 0, failed = 0;
        var providers = new ConcurrentDictionary<string, int>();
        var next = -1;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async w =>
        {
            var device = new DeviceId($"infer-camera-{w:D2}");
            long seq = DateTime.UtcNow.Ticks / 1000; // fresh sequence space per run
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var sw = Stopwatch.StartNew();
                try
                {
                    int label;
                    if (via == "frames")
                    {
                        var frame = new CameraFrame(device, ++seq, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 28, 28, data.ImageCopy(i), data.Labels[i]);
                        var ack = (await client.SendFrameAsync(frame)).Value;
                        var p = ack.Prediction;
                        if (p is null || p.Note == PredictionNote.NotClassified)
                        {
                            Interlocked.Increment(ref notClassified);
                            continue;
                        }
                        label = p.Label;
                        if (p.Escalated) Interlocked.Increment(ref escalated);
                        if (p.Note == PredictionNote.Overflowed) Interlocked.Increment(ref overflowed);
                        if (p.Note == PredictionNote.EscalationUnavailable) Interlocked.Increment(ref unavailable);
                        providers.AddOrUpdate($"{p.Model} v{p.Version} on {p.ServedBy.Split('@').Last()}", 1, (_, n) => n + 1);
                    }
                    else
                    {
                        var input = new float[784];
                        var img = data.Image(i);
                        for (var k = 0; k < 784; k++) input[k] = img[k] / 255f;
                        var reply = await client.InferAsync(new Infer(model, i, 1, input, InferencePriority.Normal));
                        if (reply is not InferResult r)
                        {
                            Interlocked.Increment(ref failed);
                            if (reply is InferRejected rej && Interlocked.Read(ref failed) <= 3) Console.Error.WriteLine($"infer: {rej.Reason}: {rej.Detail}");
                            continue;
                        }
                        label = 0;
                        for (var k = 1; k < r.OutputSize; k++) if (r.Output[k] > r.Output[label]) label = k;
                        providers.AddOrUpdate($"{r.Model} v{r.Version} on {r.Node.Split('@').Last()} ({r.Provider})", 1, (_, n) => n + 1);
                    }
                    latencies.Add(sw.Elapsed.TotalMilliseconds);
                    Interlocked.Increment(ref answered);
                    if (label == data.Labels[i]) Interlocked.Increment(ref correct);
                }
                catch (EdgeClientException ex)
                {
                    if (Interlocked.Increment(ref failed) <= 3) Console.Error.WriteLine($"infer: {ex.Message}");
                }
            }
        }).ToList();
        await Task.WhenAll(workers);
        var seconds = clock.Elapsed.TotalSeconds;
        var lat = latencies.Order().ToArray();
        double P(double q) => lat.Length == 0 ? 0 : lat[Math.Min(lat.Length - 1, (int)(q * lat.Length))];
        Console.WriteLine($"infer via {via}: {answered:N0} of {count:N0} images classified in {seconds:0.0}s ({answered / seconds:N0}/s), accuracy {(answered == 0 ? 0 : (double)correct / answered):P2}");
        Console.WriteLine($"  latency p50 {P(0.5):0.0} ms  p99 {P(0.99):0.0} ms  max {(lat.Length == 0 ? 0 : lat[^1]):0.0} ms");
        if (via == "frames") Console.WriteLine($"  escalated {escalated}  overflowed {overflowed}  escalation unavailable {unavailable}  not classified {notClassified}");
        if (failed > 0) Console.WriteLine($"  failed {failed}");
        foreach (var (served, n) in providers.OrderByDescending(kv => kv.Value)) Console.WriteLine($"  served by {served}: {n}");
        Console.WriteLine($"RESULT infer via={via} count={answered} accuracy={(answered == 0 ? 0 : (double)correct / answered):0.0000} p50_ms={P(0.5):0.0} p99_ms={P(0.99):0.0}");
        return answered > 0 ? 0 : 1;
    }
}
