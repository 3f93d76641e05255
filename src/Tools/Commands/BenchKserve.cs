using System.Diagnostics;
using System.Globalization;
using System.CommandLine;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Inference;
using EdgeActors.Client;
using EdgeActors.Inference.Runtime;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Client.Serialization;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using Google.Protobuf;
using Grpc.Net.Client;
using V2 = global::Inference;

namespace EdgeActors.Tools.Commands;

/// <summary>
/// <c>bench kserve</c>: KServe v2 inference throughput over REST (JSON) and gRPC (raw_input_contents) against a real node
/// process, and the in-process inference actor with the same model, batch cap and requests (the baseline). The MLP
/// (784-256-128-10, the edge model's architecture; throughput does not depend on its weights) with uint8 input.
/// </summary>
public static class BenchKserve
{
    private static readonly Option<double> Seconds = CliOptions.Double("--seconds", 5, "seconds per measurement", "SECONDS");
    private static readonly Option<int> Concurrency = CliOptions.Int("--concurrency", 16, "requests in flight (callers / HTTP and gRPC clients)");
    private static readonly Option<int> Batch = CliOptions.Int("--batch", 32, "samples per request (32 = the node's max-batch-size on CPU: the MLP's best batch there)");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4890, "the node's port (its HTTP and gRPC ports are the next two)");
    private static readonly Option<string?> Dir = CliOptions.Text("--dir", "node log and data (default .data/bench-kserve)", "DIR");

    public static Command Create() => Cli.Command("kserve", """
        KServe v2 REST and gRPC inference throughput vs the in-process inference actor
        One node process (seed, datacenter, edge; plain HTTP and h2c gRPC) serving the MLP; --concurrency clients send
        requests of --batch Fashion-MNIST images (UINT8) for --seconds over REST (JSON) and gRPC (raw_input_contents);
        the baseline is the inference actor in this process with the same model, batching settings and requests.
        Ends with `RESULT kserve rest_per_s= grpc_per_s= actor_per_s= grpc_ratio=` (samples/s; target grpc >= 0.5 x actor).
        """, [Seconds, Concurrency, Batch, BasePort, Dir], RunAsync);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var seconds = args.GetValue(Seconds);
        var concurrency = args.GetValue(Concurrency);
        var batch = args.GetValue(Batch);
        var basePort = args.GetValue(BasePort);
        var dir = Path.GetFullPath(args.GetValue(Dir) ?? Path.Combine(".data", "bench-kserve"));
        if (seconds <= 0 || concurrency < 1 || batch < 1) throw new CliException("--seconds, --concurrency and --batch must be positive");

        var test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, limit: 512);
        var images = Enumerable.Range(0, test.Count).Select(test.ImageCopy).ToArray();
        var onnx = MlpOnnx.Export(new Mlp([784, 256, 128, 10], 1), "fmnist_mlp");
        byte[] Pixels(long k) => Enumerable.Range(0, batch).SelectMany(i => images[(k * batch + i) % images.Length]).ToArray();

        // ------------------------------------------------------------------ baseline: the inference actor in this process
        var runtime = InferenceRuntimeSettings.FromConfig(null);
        var batching = BatchingSettings.FromConfig(null);
        var actorPerS = 0.0;
        using (var system = ActorSystem.Create("bench-kserve", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config)))
        {
            var served = ByteInput.Prepend(onnx);
            var info = new ModelInfo("fmnist-mlp", 1, [784], FashionLabels.Names, OnnxModel.Sha256(served), served.Length, 0, "bench");
            var model = OnnxModel.Load(served, info, runtime, batching);
            var actor = system.ActorOf(InferenceActor.Props("fmnist-mlp", batching, "bench"));
            await actor.Ask<InferenceActor.Swapped>(new InferenceActor.Swap(model), TimeSpan.FromMinutes(1));
            Console.WriteLine($"bench kserve: model on {model.Provider}, max batch {batching.MaxBatchSizeFor(model.Provider)}, {concurrency} callers x {batch} samples per request");
            async Task ActorCall(long k)
            {
                var reply = await actor.Ask<object>(Infer.Bytes("fmnist-mlp", k, batch, Pixels(k), InferencePriority.Normal), TimeSpan.FromSeconds(30));
                if (reply is not InferResult) throw new InvalidOperationException($"actor: {reply}");
            }
            await RunLoad(concurrency, 1, ActorCall);
            actorPerS = await RunLoad(concurrency, seconds, ActorCall) * batch;
            Console.WriteLine(Inv($"  in-process inference actor: {actorPerS,12:N0} samples/s"));
        }

        // ------------------------------------------------------------------ a node process with HTTP and h2c gRPC
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var spec = new NodeSpec("node", ["seed", "datacenter", "edge"], basePort, ["--set", "edgeactors.federated.enabled = off"])
        {
            HttpPort = basePort + 1, GrpcPort = basePort + 2,
        };
        await using var cluster = new LocalCluster([spec], dir, secure: false);
        cluster.StartAll();
        await using var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = [spec.HostPort], RetryDeadline = TimeSpan.FromSeconds(60) });
        if (await ClusterProbe.WaitForMembersAsync(client, cluster, 1, TimeSpan.FromSeconds(90)) is null) return 1;
        await client.PublishModelAsync(new PublishModel("fmnist-mlp", onnx, [784], FashionLabels.Names, "bench kserve"));
        if (!await ModelBootstrap.WaitUntilServedAsync(client, [spec.HostPort], "fmnist-mlp", TimeSpan.FromSeconds(60), Console.WriteLine)) return 1;

        // REST: JSON bodies prepared up front (the client's cost of writing JSON is not the server's)
        var bodies = Enumerable.Range(0, 64).Select(k =>
            Encoding.UTF8.GetBytes($$"""{"inputs":[{"name":"input","shape":[{{batch}},784],"datatype":"UINT8","data":[{{string.Join(",", Pixels(k))}}]}],"outputs":[{"name":"class"}]}""")).ToArray();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = new Uri($"http://127.0.0.1:{spec.HttpPort}/") };
        async Task RestCall(long k)
        {
            using var content = new ByteArrayContent(bodies[k % bodies.Length]);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync("v2/models/fmnist-mlp/infer", content);
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"REST: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            await response.Content.ReadAsByteArrayAsync();
        }
        await RunLoad(concurrency, 1, RestCall);
        var restPerS = await RunLoad(concurrency, seconds, RestCall) * batch;
        Console.WriteLine(Inv($"  KServe v2 REST (JSON, HTTP/1.1): {restPerS,12:N0} samples/s"));

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{spec.GrpcPort}");
        var grpc = new V2.GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var requests = Enumerable.Range(0, 64).Select(k =>
        {
            var r = new V2.ModelInferRequest { ModelName = "fmnist-mlp" };
            var input = new V2.ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "UINT8" };
            input.Shape.Add([batch, 784]);
            r.Inputs.Add(input);
            r.Outputs.Add(new V2.ModelInferRequest.Types.InferRequestedOutputTensor { Name = "class" });
            r.RawInputContents.Add(ByteString.CopyFrom(Pixels(k)));
            return r;
        }).ToArray();
        async Task GrpcCall(long k) => await grpc.ModelInferAsync(requests[k % requests.Length]);
        await RunLoad(concurrency, 1, GrpcCall);
        var grpcPerS = await RunLoad(concurrency, seconds, GrpcCall) * batch;
        Console.WriteLine(Inv($"  KServe v2 gRPC (raw_input_contents, h2c): {grpcPerS,12:N0} samples/s"));

        await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        var ratio = actorPerS > 0 ? grpcPerS / actorPerS : 0;
        Console.WriteLine(Inv($"RESULT kserve rest_per_s={restPerS:0} grpc_per_s={grpcPerS:0} actor_per_s={actorPerS:0} grpc_ratio={ratio:0.00} batch={batch} concurrency={concurrency}"));
        return 0;
    }

    /// <summary>Requests per second of <paramref name="concurrency"/> closed-loop callers over <paramref name="seconds"/>.</summary>
    private static async Task<double> RunLoad(int concurrency, double seconds, Func<long, Task> call)
    {
        long next = 0, done = 0;
        var sw = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (sw.Elapsed < until)
            {
                await call(Interlocked.Increment(ref next));
                Interlocked.Increment(ref done);
            }
        }));
        return done / sw.Elapsed.TotalSeconds;
    }
}
