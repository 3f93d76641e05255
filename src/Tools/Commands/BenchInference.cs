using EdgeActors.Client.Serialization;
using System.CommandLine;
using EdgeActors.Nodes;
using EdgeActors.Inference.Runtime;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Nodes.Data;
using EdgeActors.Actors.Inference;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tools.Bench;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Commands;

/// <summary>
/// <c>bench inference</c>, per model: raw ONNX Runtime throughput at doubling batch sizes until it stops rising; then
/// the inference actor (dynamic batching) under many concurrent single-sample callers, at doubling maximum batch sizes
/// until its throughput stops rising; then latency at 80 % of the actor's best throughput. Models are served as the
/// node serves camera frames: uint8 input normalised inside the graph (<c>--input float</c> for the old float path).
/// </summary>
public static class BenchInference
{
    public sealed record ModelResult(
        string Name, string Provider, double RawB1, double RawBest, int BestBatch, double Actor, int ActorBatches,
        double P50Ms, double P99Ms, double LoadPerS, double BatchMs, double DelayMs, IReadOnlyDictionary<int, double> RawByBatch,
        int ActorBatch = 0, IReadOnlyDictionary<int, double>? ActorByBatch = null, string Input = "bytes")
    {
        public double RatioBest => Actor / RawBest;
        public double RatioB1 => Actor / RawB1;
        /// <summary>Queue delay + 2 × the raw time of one batch at the actor's maximum batch size.</summary>
        public double P99TargetMs => DelayMs + 2 * BatchMs;
        public bool RatioOk => RatioBest >= 0.9;
        public bool P99Ok => P99Ms <= P99TargetMs;
    }

    /// <summary>A throughput counts as risen when it beats the best so far by this factor.</summary>
    private const double Rise = 1.03;

    private static readonly Option<double> Seconds = CliOptions.Double("--seconds", 3, "seconds per measurement", "SECONDS");
    private static readonly Option<string[]?> Models = CliOptions.List("--models", "models to measure: mlp, resnet18 (default both)", "MODEL,...");
    private static readonly Option<int> Callers = CliOptions.Int("--callers", 64, "concurrent callers of the inference actor");
    private static readonly Option<string> Out = BenchCommand.OutOption();
    private static readonly Option<bool> NoWrite = BenchCommand.NoWriteOption();
    private static readonly Option<int> IntraOp = CliOptions.Int("--intra-op-threads", 1, "ONNX Runtime intra-op threads");
    private static readonly Option<string> Input = CliOptions.Choice("--input", "bytes", "the input the session takes: bytes (0-255, scaled in the graph) or float", "bytes", "float");
    private static readonly Option<string> Cuda = CliOptions.Choice("--cuda", "on", "use CUDA where available", "on", "off");
    private static readonly Option<string> PinnedIo = CliOptions.Choice("--pinned-io", "on", "pinned host buffers for CUDA input and output", "on", "off");
    private static readonly Option<bool> CudaGraphs = CliOptions.Flag("--cuda-graphs", "capture CUDA graphs");
    private static readonly Option<bool> Fp16 = CliOptions.Flag("--fp16", "convert the models to float16");
    private static readonly Option<string> CudnnSearch = CliOptions.Text("--cudnn-conv-algo-search", "EXHAUSTIVE", "cuDNN convolution algorithm search: EXHAUSTIVE, HEURISTIC or DEFAULT", "MODE");
    private static readonly Option<int> MaxBatchMlp = CliOptions.Int("--max-batch-mlp", 0, "the MLP's batch cap (0: by execution provider)");
    private static readonly Option<int> MaxBatchResNet = CliOptions.Int("--max-batch-resnet18", 0, "ResNet18's batch cap (0: by execution provider)");
    private static readonly Option<string> Label = CliOptions.Text("--label", "", "a label for this run's figures", "TEXT");
    private static readonly Option<bool> RawOnly = CliOptions.Flag("--raw-only", "only the raw ONNX Runtime measurements");

    public static Command Create() => Cli.Command("inference", """
        ONNX Runtime and the inference actor: samples/s, batching, latency per model
        Per model: raw ONNX Runtime samples/s at batch 1 and at its best batch, the inference actor (dynamic batching)
        under many concurrent callers, and p50/p99 latency at 80% of its saturation throughput, with the execution
        provider. Ends with one RESULT line per model; writes docs/benchmarks.md unless --no-write.
        """, [Models, Seconds, Callers, IntraOp, Input, Cuda, PinnedIo, CudaGraphs, Fp16, CudnnSearch, MaxBatchMlp, MaxBatchResNet, Label, RawOnly, Out, NoWrite], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var seconds = args.GetValue(Seconds);
        var models = args.GetValue(Models) ?? ["mlp", "resnet18"];
        var callers = args.GetValue(Callers);
        var outPath = args.GetValue(Out)!;
        var write = !args.GetValue(NoWrite);
        var intraOp = args.GetValue(IntraOp);
        var input = args.GetValue(Input)!;
        var useCuda = args.GetValue(Cuda) != "off";
        var pinned = args.GetValue(PinnedIo) != "off";
        var graphs = args.GetValue(CudaGraphs);
        var fp16 = args.GetValue(Fp16);
        var search = args.GetValue(CudnnSearch)!;
        var maxMlp = args.GetValue(MaxBatchMlp);
        var maxResNet = args.GetValue(MaxBatchResNet);
        var label = args.GetValue(Label)!;
        var rawOnly = args.GetValue(RawOnly);
        var runtime = new InferenceRuntimeSettings
        {
            IntraOpThreads = intraOp, UseCuda = useCuda, PinnedIo = pinned, CudaGraphs = graphs, CudnnConvAlgoSearch = search, Fp16 = fp16,
        };
        ExecutionProvider.CreateOptions(runtime, Console.WriteLine).Dispose(); // decide the provider: the batch caps depend on it
        var cuda = ExecutionProvider.Current == ExecutionProvider.Cuda;
        var bytes = input == "bytes";
        var results = new List<ModelResult>();
        foreach (var m in models)
        {
            results.Add(m switch
            {
                "mlp" => await BenchModelAsync("fmnist-mlp", bytes ? ByteInput.Prepend(MlpBytes()) : MlpBytes(), [784], FashionInputs(), bytes,
                    maxMlp > 0 ? maxMlp : cuda ? 16384 : 1024, TimeSpan.FromMilliseconds(2), seconds, callers, runtime, rawOnly),
                "resnet18" => await BenchModelAsync("resnet18", bytes ? ResNet18.LoadWithByteInput() : ResNet18.Load(), ResNet18.InputShape, RandomPixels(3 * 224 * 224, 8), bytes,
                    maxResNet > 0 ? maxResNet : cuda ? 1024 : 32, TimeSpan.FromMilliseconds(20), seconds, callers, runtime, rawOnly),
                _ => throw new CliException($"unknown model '{m}' (mlp, resnet18)"),
            });
        }
        if (write && !rawOnly) WriteMarkdown(outPath, results, seconds, callers, label, Environment.GetCommandLineArgs().Skip(1));
        return 0;
    }

    /// <summary>The edge MLP's architecture (784-256-128-10); throughput does not depend on the weights, so it is not trained.</summary>
    private static byte[] MlpBytes() => MlpOnnx.Export(new Mlp([784, 256, 128, 10], 1), "fmnist_mlp");

    /// <summary>Fashion-MNIST test images as the camera sends them (bytes), or random pixels when the data set is absent.</summary>
    private static byte[][] FashionInputs()
    {
        try
        {
            var test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, limit: 512);
            return Enumerable.Range(0, test.Count).Select(test.ImageCopy).ToArray();
        }
        catch (FileNotFoundException)
        {
            return RandomPixels(784, 64);
        }
    }

    private static byte[][] RandomPixels(int size, int count)
    {
        var rng = new Random(5);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var b = new byte[size];
            rng.NextBytes(b);
            return b;
        }).ToArray();
    }

    private static ModelInfo Info(string name, int[] shape, byte[] onnx, int outputs) =>
        new(name, 1, shape, Enumerable.Range(0, outputs).Select(i => $"o{i}").ToArray(), OnnxModel.Sha256(onnx), onnx.Length, 0, "bench");

    /// <summary>Samples per second of back-to-back Run calls at one batch size, for about <paramref name="seconds"/>.</summary>
    private static double RawThroughput(OnnxModel model, byte[][] inputs, bool bytes, int batch, double seconds)
    {
        var sampleBytes = model.InputSize * model.InputElementSize;
        var x = new byte[batch * sampleBytes];
        for (var s = 0; s < batch; s++)
        {
            var pixels = inputs[s % inputs.Length];
            if (bytes) model.Pack(pixels, x.AsSpan(s * sampleBytes, sampleBytes));
            else model.Pack(pixels.Select(p => p / 255f).ToArray(), x.AsSpan(s * sampleBytes, sampleBytes));
        }
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

    /// <summary>Doubling sizes from <paramref name="from"/> to <paramref name="cap"/> until the measure stops rising (or <paramref name="cap"/>).</summary>
    private static async Task<Dictionary<int, double>> SweepAsync(int from, int cap, Func<int, Task<double>> measure)
    {
        var results = new Dictionary<int, double>();
        var best = 0.0;
        var flat = 0;
        for (var b = from; b <= cap; b = b < cap && b * 2 > cap ? cap : b * 2)
        {
            var v = await measure(b);
            results[b] = v;
            if (v >= best * Rise) flat = 0;
            else if (++flat >= 2) break; // two sizes in a row without a rise: stop
            best = Math.Max(best, v);
            if (b == cap) break;
        }
        return results;
    }

    private static async Task<ModelResult> BenchModelAsync(string name, byte[] onnx, int[] shape, byte[][] inputs, bool bytes, int cap, TimeSpan delay,
        double seconds, int callers, InferenceRuntimeSettings runtime, bool rawOnly = false)
    {
        int outputs;
        using (var probe = OnnxModel.Load(onnx, Info(name, shape, onnx, 1 << 12), runtime, 1))
            outputs = probe.OutputSize;
        var info = Info(name, shape, onnx, outputs);
        var model = OnnxModel.Load(onnx, info, runtime, cap);
        var provider = model.Provider;
        Console.WriteLine($"bench inference {name}: provider {provider}{(ExecutionProvider.Note.Length > 0 ? $" ({ExecutionProvider.Note})" : "")}, " +
                          $"{model.InputSize} {(model.InputIsBytes ? "uint8" : "float")} inputs, {model.OutputSize} outputs, " +
                          $"{(model.PinnedIo ? "pinned I/O binding, power-of-two buckets" : "GC-pinned OrtValues")}{(model.IoNote.Length > 0 ? $" ({model.IoNote})" : "")}, batch cap {cap}");
        var raw = await SweepAsync(1, cap, b =>
        {
            var v = RawThroughput(model, inputs, bytes, b, seconds / 2);
            Console.WriteLine($"  raw ONNX Runtime, batch {b,5}: {v,12:N0} samples/s  ({b / v * 1000:0.000} ms per batch)");
            return Task.FromResult(v);
        });
        var best = raw.MaxBy(kv => kv.Value);
        if (rawOnly)
        {
            Console.WriteLine(Inv($"RESULT inference-raw model={name} provider={provider} raw_best_per_s={best.Value:0} raw_best_batch={best.Key} raw_b1_per_s={raw[1]:0} input={(bytes ? "bytes" : "float")} pinned_io={(model.PinnedIo ? "on" : "off")} fp16={(runtime.Fp16 ? "on" : "off")} cuda_graphs={(runtime.CudaGraphs ? "on" : "off")}"));
            model.Dispose();
            return new ModelResult(name, provider, raw[1], best.Value, best.Key, 0, 0, 0, 0, 0, 0, delay.TotalMilliseconds, raw);
        }

        using var system = ActorSystem.Create("bench-inference", ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.actor.default-dispatcher.throughput = " + (Environment.GetEnvironmentVariable("TP") ?? "30")).WithFallback(EdgeSerialization.Config));
        try
        {
            Func<long, Infer> Request(int seq) => id =>
            {
                var pixels = inputs[id % inputs.Length];
                return bytes
                    ? Infer.Bytes(name, id, 1, pixels, InferencePriority.Normal)
                    : new Infer(name, id, 1, FloatsOf(pixels), InferencePriority.Normal);
            };
            // one model shared by the sweep's actors (one active at a time); each disposes it when the system stops (idempotent)
            var actors = new Dictionary<int, IActorRef>();
            async Task<IActorRef> ActorFor(int maxBatch)
            {
                if (actors.TryGetValue(maxBatch, out var existing)) return existing;
                var settings = new BatchingSettings { MaxBatchSize = maxBatch, MaxBatchSizeCuda = maxBatch, MaxQueueDelay = delay, MaxQueueLength = 1 << 20 };
                var a = system.ActorOf(InferenceActor.Props(name, settings, "bench"), $"{InferenceActorNames.For(name)}-{maxBatch}");
                await a.Ask<InferenceActor.Swapped>(new InferenceActor.Swap(model), TimeSpan.FromMinutes(1));
                actors[maxBatch] = a;
                return a;
            }

            // saturation: many callers, closed loop, each keeping enough requests in flight to fill a batch
            async Task<InferLoadResult> Closed(IActorRef actor, int maxBatch, int count)
            {
                var window = Math.Max(1, 4 * maxBatch / callers + 1);
                var per = Math.Max(1, count / callers);
                var tasks = Enumerable.Range(0, callers).Select(_ =>
                {
                    var tcs = new TaskCompletionSource<InferLoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                    system.ActorOf(ClosedLoopCaller.Props(actor, Request(0), per, window, tcs));
                    return tcs.Task;
                }).ToList();
                var sw = Stopwatch.StartNew();
                var parts = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(5));
                return new InferLoadResult(parts.Sum(p => p.Served), parts.Sum(p => p.Rejected), sw.Elapsed.TotalSeconds, parts.SelectMany(p => p.LatenciesMs).ToArray());
            }

            var batchesUsed = new Dictionary<int, long>();
            var actorFrom = Math.Max(1, best.Key / 4);
            var actorCap = raw.Keys.Max();
            var actorRates = await SweepAsync(actorFrom, actorCap, async mb =>
            {
                var actor = await ActorFor(mb);
                var total = Math.Max(callers * 4, (int)(raw.GetValueOrDefault(mb, best.Value) * seconds));
                await Closed(actor, mb, Math.Max(callers, total / 10)); // warm-up
                var before = await actor.Ask<LoadedModel>(InferenceActor.GetStats.Instance, TimeSpan.FromSeconds(10));
                var saturated = await Closed(actor, mb, total);
                var after = await actor.Ask<LoadedModel>(InferenceActor.GetStats.Instance, TimeSpan.FromSeconds(10));
                if (saturated.Rejected > 0) throw new InvalidOperationException($"bench: {saturated.Rejected} requests rejected at saturation");
                var used = after.Batches - before.Batches;
                batchesUsed[mb] = used;
                Console.WriteLine($"  actor path, max batch {mb,5}, {callers} callers: {saturated.PerSecond,12:N0} samples/s in {used:N0} batches (mean {(double)saturated.Served / Math.Max(1, used):0.0} per batch)");
                return saturated.PerSecond;
            });
            // the smallest maximum batch within 3 % of the best throughput: same throughput, shorter batches, lower latency
            var actorTop = actorRates.Values.Max();
            var actorBest = actorRates.Where(kv => kv.Value * Rise >= actorTop).MinBy(kv => kv.Key);
            var bestActor = await ActorFor(actorBest.Key);
            var batchMs = RawBatchMs(raw, actorBest.Key, model, inputs, bytes, seconds);

            // latency at 80 % of the actor's best, open loop; three runs, the median p99 is reported (noisy machines)
            var load = 0.8 * actorBest.Value;
            var runs = new List<InferLoadResult>();
            for (var run = 0; run < 3; run++)
            {
                var tcsOpen = new TaskCompletionSource<InferLoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                system.ActorOf(OpenLoopCaller.Props(bestActor, Request(1), load, TimeSpan.FromSeconds(seconds), tcsOpen));
                runs.Add(await tcsOpen.Task.WaitAsync(TimeSpan.FromMinutes(5)));
            }
            var open = runs.OrderBy(r => r.Percentile(0.99)).ElementAt(1);
            Console.WriteLine($"  open-loop p99 of the three runs: {string.Join(", ", runs.Select(r => r.Percentile(0.99).ToString("0.00", CultureInfo.InvariantCulture)))} ms");
            var result = new ModelResult(name, provider, raw[1], best.Value, best.Key, actorBest.Value, (int)batchesUsed[actorBest.Key],
                open.Percentile(0.5), open.Percentile(0.99), load, batchMs, delay.TotalMilliseconds, raw, actorBest.Key, actorRates, bytes ? "bytes" : "float");
            Console.WriteLine($"  latency at 80% load ({load:N0}/s, open loop, max batch {actorBest.Key}): p50 {result.P50Ms:0.00} ms  p99 {result.P99Ms:0.00} ms  (bound p99 <= delay {delay.TotalMilliseconds:0.##} ms + 2 x batch {batchMs:0.00} ms = {result.P99TargetMs:0.00} ms)");
            Console.WriteLine(ResultLine(result));
            return result;
        }
        finally
        {
            await system.Terminate();
            model.Dispose();
        }
    }

    private static float[] FloatsOf(byte[] pixels)
    {
        var f = new float[pixels.Length];
        for (var i = 0; i < f.Length; i++) f[i] = pixels[i] / 255f;
        return f;
    }

    /// <summary>Raw milliseconds of one batch of <paramref name="size"/> (measured in the sweep, else now).</summary>
    private static double RawBatchMs(Dictionary<int, double> raw, int size, OnnxModel model, byte[][] inputs, bool bytes, double seconds)
    {
        if (!raw.TryGetValue(size, out var perS)) perS = RawThroughput(model, inputs, bytes, size, seconds / 2);
        return size / perS * 1000;
    }

    private static string ResultLine(ModelResult r) =>
        Inv($"RESULT inference model={r.Name} provider={r.Provider} actor_per_s={r.Actor:0} raw_best_per_s={r.RawBest:0} raw_b1_per_s={r.RawB1:0} ratio_best={r.RatioBest:0.00} ratio_b1={r.RatioB1:0.00} p99_ms={r.P99Ms:0.00}") +
        Inv($" p99_bound_ms={r.P99TargetMs:0.00} p50_ms={r.P50Ms:0.00} raw_best_batch={r.BestBatch} actor_batch={r.ActorBatch} batch_ms={r.BatchMs:0.000} input={r.Input} ratio_ok={(r.RatioOk ? "yes" : "no")} p99_ok={(r.P99Ok ? "yes" : "no")}");

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private const string Begin = "<!-- bench inference: begin (written by `./edgeactors bench inference`) -->";
    private const string End = "<!-- bench inference: end -->";

    /// <summary>A labelled run (<c>--label gpu-h200</c>) has its own block, so a GPU run does not replace the CPU one.</summary>
    private static (string Begin, string End) Markers(string label) => label.Length == 0
        ? (Begin, End)
        : ($"<!-- bench inference {label}: begin (written by `./edgeactors bench inference --label {label}`) -->", $"<!-- bench inference {label}: end -->");

    private static void WriteMarkdown(string path, List<ModelResult> results, double seconds, int callers, string label, IEnumerable<string> command)
    {
        var (begin, end) = Markers(label);
        var sb = new StringBuilder();
        sb.AppendLine(begin);
        sb.AppendLine("## Inference (`bench inference`)" + (label.Length > 0 ? $" — {label}" : ""));
        sb.AppendLine();
        sb.AppendLine($"Command: `./edgeactors {string.Join(' ', command)}`  ");
        sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, provider {string.Join(", ", results.Select(r => r.Provider).Distinct())}" +
                      $"{(ExecutionProvider.Note.Length > 0 ? $" ({ExecutionProvider.Note})" : "")}, input {string.Join(", ", results.Select(r => r.Input).Distinct())}. " +
                      "Raw = back-to-back `Run` calls on one session (uint8 input normalised in the graph; on CUDA pinned host buffers bound with I/O binding, " +
                      "one per power-of-two batch bucket), batch sizes doubled until throughput stops rising; " +
                      "actor = the `InferenceActor` (dynamic batching, two batches in flight) fed by " + callers + " concurrent callers with single-sample requests, " +
                      "its maximum batch doubled from a quarter of the best raw batch until throughput stops rising; latency = open-loop load at 80 % of the actor's best " +
                      "throughput (three runs, the median p99 reported); bound = queue delay + 2 × the raw time of one batch at the actor's maximum batch.");
        sb.AppendLine();
        sb.AppendLine("| model | provider | raw batch 1 /s | raw best /s (batch) | actor best /s (max batch) | actor ÷ raw best | p50 ms @80% | p99 ms @80% | p99 bound ms |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
            sb.AppendLine(Inv($"| {r.Name} | {r.Provider} | {r.RawB1:N0} | {r.RawBest:N0} ({r.BestBatch}) | {r.Actor:N0} ({r.ActorBatch}) | {r.RatioBest:0.00} | {r.P50Ms:0.00} | {r.P99Ms:0.00} | {r.P99TargetMs:0.00} |"));
        sb.AppendLine();
        sb.AppendLine("Throughput by batch size (samples/s):");
        sb.AppendLine();
        foreach (var r in results)
        {
            sb.AppendLine($"- {r.Name} raw: " + string.Join(", ", r.RawByBatch.OrderBy(kv => kv.Key).Select(kv => Inv($"b{kv.Key} {kv.Value:N0}"))));
            if (r.ActorByBatch is { } a) sb.AppendLine($"- {r.Name} actor: " + string.Join(", ", a.OrderBy(kv => kv.Key).Select(kv => Inv($"max {kv.Key} {kv.Value:N0}"))));
        }
        sb.AppendLine();
        sb.AppendLine("```");
        foreach (var r in results) sb.AppendLine(ResultLine(r));
        sb.AppendLine("```");
        sb.AppendLine(end);
        Bench.BenchmarkDocs.WriteBlock(path, begin, end, sb.ToString());
    }
}
