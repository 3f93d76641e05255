using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Models;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Nodes.Bench;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Nodes.Commands;

/// <summary>
/// <c>bench inference</c>: raw ONNX Runtime throughput at batch 1 and at the best batch, then the inference actor
/// (dynamic batching) under many concurrent callers, then latency at 80 % of the actor's saturation throughput —
/// all in one run, per model.
/// </summary>
public static class BenchInference
{
    public sealed record ModelResult(
        string Name, string Provider, double RawB1, double RawBest, int BestBatch, double Actor, int ActorBatches,
        double P50Ms, double P99Ms, double LoadPerS, double BatchMs, double DelayMs, IReadOnlyDictionary<int, double> RawByBatch)
    {
        public double RatioBest => Actor / RawBest;
        public double RatioB1 => Actor / RawB1;
        public double P99TargetMs => DelayMs + 2 * BatchMs;
    }

    public static async Task<int> RunAsync(CliArgs args)
    {
        var seconds = args.Double("seconds", 3);
        var models = (args.Get("models") ?? "mlp,resnet18").Split(',', StringSplitOptions.TrimEntries);
        var callers = args.Int("callers", 64);
        var outPath = args.Get("out", Path.Combine("docs", "benchmarks.md"));
        var write = !args.Flag("no-write");
        var intraOp = args.Int("intra-op-threads", 1);
        args.EnsureAllUsed();
        var runtime = new InferenceRuntimeSettings { IntraOpThreads = intraOp };
        var results = new List<ModelResult>();
        foreach (var m in models)
        {
            results.Add(m switch
            {
                "mlp" => await BenchModelAsync("fmnist-mlp", MlpBytes(), [784], FashionInputs(), [1, 2, 4, 8, 16, 32, 64, 128], TimeSpan.FromMilliseconds(2), seconds, callers, runtime),
                "resnet18" => await BenchModelAsync("resnet18", ResNet18.Load(), ResNet18.InputShape, RandomInputs(3 * 224 * 224, 4), [1, 2, 4, 8], TimeSpan.FromMilliseconds(20), seconds, callers, runtime),
                _ => throw new CliException($"unknown model '{m}' (mlp, resnet18)"),
            });
        }
        if (write) WriteMarkdown(outPath, results, seconds, callers);
        return 0;
    }

    /// <summary>The edge MLP's architecture (784-256-128-10); throughput does not depend on the weights, so it is not trained.</summary>
    private static byte[] MlpBytes() => MlpOnnx.Export(new Mlp([784, 256, 128, 10], 1), "fmnist_mlp");

    private static float[][] FashionInputs()
    {
        try
        {
            var test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, limit: 512);
            return Enumerable.Range(0, test.Count).Select(i => FashionLabels.ToFloats(test.ImageCopy(i), 1)).ToArray();
        }
        catch (FileNotFoundException)
        {
            return RandomInputs(784, 64);
        }
    }

    private static float[][] RandomInputs(int size, int count)
    {
        var rng = new Random(5);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, size).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
    }

    private static ModelInfo Info(string name, int[] shape, byte[] onnx, int outputs) =>
        new(name, 1, shape, Enumerable.Range(0, outputs).Select(i => $"o{i}").ToArray(), OnnxModel.Sha256(onnx), onnx.Length, 0, "bench");

    /// <summary>Samples per second of back-to-back Run calls at one batch size, for about <paramref name="seconds"/>.</summary>
    private static double RawThroughput(OnnxModel model, float[][] inputs, int batch, double seconds)
    {
        var x = new float[batch * model.InputSize];
        for (var s = 0; s < batch; s++) inputs[s % inputs.Length].CopyTo(x, s * model.InputSize);
        var y = new float[batch * model.OutputSize];
        model.Run(x, batch, y); // warm this shape
        var sw = Stopwatch.StartNew();
        var runs = 0;
        while (sw.Elapsed.TotalSeconds < seconds || runs < 3)
        {
            model.Run(x, batch, y);
            runs++;
        }
        return runs * batch / sw.Elapsed.TotalSeconds;
    }

    private static async Task<ModelResult> BenchModelAsync(string name, byte[] onnx, int[] shape, float[][] inputs, int[] batches, TimeSpan delay, double seconds, int callers, InferenceRuntimeSettings runtime)
    {
        var maxBatch = batches.Max();
        int outputs;
        using (var probe = OnnxModel.Load(onnx, Info(name, shape, onnx, 1 << 12), runtime, 1))
            outputs = probe.OutputSize;
        var info = Info(name, shape, onnx, outputs);
        var raw = new Dictionary<int, double>();
        string provider;
        using (var model = OnnxModel.Load(onnx, info, runtime, maxBatch))
        {
            provider = model.Provider;
            Console.WriteLine($"bench inference {name}: provider {provider}{(ExecutionProvider.Note.Length > 0 ? $" ({ExecutionProvider.Note})" : "")}, {model.InputSize} inputs, {model.OutputSize} outputs");
            foreach (var b in batches)
            {
                raw[b] = RawThroughput(model, inputs, b, seconds / 2);
                Console.WriteLine($"  raw ONNX Runtime, batch {b,3}: {raw[b],10:N0} samples/s");
            }
        }
        var best = raw.MaxBy(kv => kv.Value);
        var batchMs = best.Key / best.Value * 1000;

        using var system = ActorSystem.Create("bench-inference", ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.actor.default-dispatcher.throughput = " + (Environment.GetEnvironmentVariable("TP") ?? "30")).WithFallback(EdgeSerialization.Config));
        try
        {
            var settings = new BatchingSettings { MaxBatchSize = best.Key, MaxQueueDelay = delay, MaxQueueLength = 1 << 16 };
            var actor = system.ActorOf(InferenceActor.Props(name, settings, "bench"), InferenceActorNames.For(name));
            var served = OnnxModel.Load(onnx, info, runtime, best.Key);
            await actor.Ask<InferenceActor.Swapped>(new InferenceActor.Swap(served), TimeSpan.FromMinutes(1));

            // saturation: many callers, closed loop; total sized to last about `seconds`
            var window = Math.Max(1, 4 * best.Key / callers + 1);
            var total = Math.Max(callers * 4, (int)(best.Value * seconds));
            async Task<InferLoadResult> Closed(int count)
            {
                var per = Math.Max(1, count / callers);
                var tasks = Enumerable.Range(0, callers).Select(_ =>
                {
                    var tcs = new TaskCompletionSource<InferLoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                    system.ActorOf(ClosedLoopCaller.Props(actor, name, inputs, per, window, tcs));
                    return tcs.Task;
                }).ToList();
                var sw = Stopwatch.StartNew();
                var parts = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(5));
                return new InferLoadResult(parts.Sum(p => p.Served), parts.Sum(p => p.Rejected), sw.Elapsed.TotalSeconds, parts.SelectMany(p => p.LatenciesMs).ToArray());
            }
            await Closed(Math.Max(callers, total / 10)); // warm-up
            var statsBefore = await actor.Ask<LoadedModel>(InferenceActor.GetStats.Instance, TimeSpan.FromSeconds(10));
            var saturated = await Closed(total);
            var statsAfter = await actor.Ask<LoadedModel>(InferenceActor.GetStats.Instance, TimeSpan.FromSeconds(10));
            if (saturated.Rejected > 0) throw new InvalidOperationException($"bench: {saturated.Rejected} requests rejected at saturation");
            var batchesUsed = (int)(statsAfter.Batches - statsBefore.Batches);
            Console.WriteLine($"  actor path, {callers} callers x {window} in flight: {saturated.PerSecond,10:N0} samples/s in {batchesUsed:N0} batches (mean {(double)saturated.Served / Math.Max(1, batchesUsed):0.0} per batch)");

            // latency at 80 % of saturation, open loop; three runs, the median p99 is reported (this 2-core machine is noisy)
            var load = 0.8 * saturated.PerSecond;
            var runs = new List<InferLoadResult>();
            for (var run = 0; run < 3; run++)
            {
                var tcsOpen = new TaskCompletionSource<InferLoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                system.ActorOf(OpenLoopCaller.Props(actor, name, inputs, load, TimeSpan.FromSeconds(seconds), tcsOpen));
                runs.Add(await tcsOpen.Task.WaitAsync(TimeSpan.FromMinutes(5)));
            }
            var open = runs.OrderBy(r => r.Percentile(0.99)).ElementAt(1);
            Console.WriteLine($"  open-loop p99 of the three runs: {string.Join(", ", runs.Select(r => r.Percentile(0.99).ToString("0.00", CultureInfo.InvariantCulture)))} ms");
            var result = new ModelResult(name, provider, raw[1], best.Value, best.Key, saturated.PerSecond, batchesUsed,
                open.Percentile(0.5), open.Percentile(0.99), load, batchMs, delay.TotalMilliseconds, raw);
            Console.WriteLine($"  latency at 80% load ({load:N0}/s, open loop): p50 {result.P50Ms:0.00} ms  p99 {result.P99Ms:0.00} ms  (target p99 <= delay {delay.TotalMilliseconds:0.##} ms + 2 x batch {batchMs:0.00} ms = {result.P99TargetMs:0.00} ms)");
            Console.WriteLine(Inv($"RESULT inference model={name} provider={provider} actor_per_s={result.Actor:0} raw_best_per_s={result.RawBest:0} raw_b1_per_s={result.RawB1:0} ratio_best={result.RatioBest:0.00} ratio_b1={result.RatioB1:0.00} p99_ms={result.P99Ms:0.00}"));
            return result;
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private const string Begin = "<!-- bench inference: begin (written by `./edgeactors bench inference`) -->";
    private const string End = "<!-- bench inference: end -->";

    private static void WriteMarkdown(string path, List<ModelResult> results, double seconds, int callers)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Begin);
        sb.AppendLine("## Inference (`bench inference`)");
        sb.AppendLine();
        sb.AppendLine(Inv($"Command: `./edgeactors bench inference --seconds {seconds} --callers {callers}`  "));
        sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, provider {string.Join(", ", results.Select(r => r.Provider).Distinct())}" +
                      $"{(ExecutionProvider.Note.Length > 0 ? $" ({ExecutionProvider.Note})" : "")}. Raw = back-to-back `Run` calls on one session with preallocated OrtValues; " +
                      "actor = the `InferenceActor` (dynamic batching, max batch = the best raw batch) fed by many concurrent callers with single-sample requests; latency = open-loop load at 80 % of the actor's saturation throughput (three runs, the median p99 reported).");
        sb.AppendLine();
        sb.AppendLine("| model | provider | raw batch 1 /s | raw best /s (batch) | actor /s | actor ÷ best | actor ÷ batch 1 | p50 ms @80% | p99 ms @80% | p99 target ms |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
            sb.AppendLine(Inv($"| {r.Name} | {r.Provider} | {r.RawB1:N0} | {r.RawBest:N0} ({r.BestBatch}) | {r.Actor:N0} | {r.RatioBest:0.00} | {r.RatioB1:0.00} | {r.P50Ms:0.00} | {r.P99Ms:0.00} | {r.P99TargetMs:0.00} |"));
        sb.AppendLine();
        sb.AppendLine("Raw throughput by batch size (samples/s):");
        sb.AppendLine();
        foreach (var r in results)
            sb.AppendLine($"- {r.Name}: " + string.Join(", ", r.RawByBatch.OrderBy(kv => kv.Key).Select(kv => Inv($"b{kv.Key} {kv.Value:N0}"))));
        sb.AppendLine();
        sb.AppendLine("```");
        foreach (var r in results)
            sb.AppendLine(Inv($"RESULT inference model={r.Name} provider={r.Provider} actor_per_s={r.Actor:0} raw_best_per_s={r.RawBest:0} raw_b1_per_s={r.RawB1:0} ratio_best={r.RatioBest:0.00} ratio_b1={r.RatioB1:0.00} p99_ms={r.P99Ms:0.00}"));
        sb.AppendLine("```");
        sb.AppendLine(End);
        Bench.BenchmarkDocs.WriteBlock(path, Begin, End, sb.ToString());
    }
}
