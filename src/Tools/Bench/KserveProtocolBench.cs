using System.Diagnostics;
using System.Globalization;
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

namespace EdgeActors.Tools.Bench;

/// <summary>
/// The KServe part of <c>bench protocols</c>: KServe v2 inference throughput over REST (JSON) and gRPC (raw_input_contents)
/// against a real node process, and the in-process inference actor with the same model, batch cap and requests (the
/// baseline), at each request size of <see cref="Options.Batches"/>. A request of more samples than the inference actor's
/// largest batch (<c>max-batch-size</c>, 32 on CPU) is split into parallel requests of at most that many: by the node for
/// REST and gRPC (<c>KserveBackend</c>), and the same way here for the actor. Each path is reported at its best request
/// size (the issue's "at its best batch"). The MLP (784-256-128-10, the edge model's architecture; throughput does not
/// depend on its weights) with uint8 input.
/// </summary>
public static class KserveProtocolBench
{
    public sealed record Options(double Seconds = 5, int Concurrency = 16, IReadOnlyList<int>? Batches = null, int BasePort = 4890, string? Dir = null)
    {
        public IReadOnlyList<int> Sizes => Batches is { Count: > 0 } b ? b : [32, 128, 512];
    }

    /// <summary>Samples/s of each path at one request size.</summary>
    public sealed record Point(int Batch, double RestPerS, double GrpcPerS, double ActorPerS);

    public sealed record Result(IReadOnlyList<Point> Points, int Concurrency)
    {
        public double RestPerS => Points.Max(p => p.RestPerS);
        public double GrpcPerS => Best(p => p.GrpcPerS).GrpcPerS;
        public double ActorPerS => Best(p => p.ActorPerS).ActorPerS;
        public double GrpcRatio => ActorPerS > 0 ? GrpcPerS / ActorPerS : 0;

        private Point Best(Func<Point, double> of) => Points.MaxBy(of)!;

        public string ResultLine => Inv($"RESULT kserve rest_per_s={RestPerS:0} grpc_per_s={GrpcPerS:0} actor_per_s={ActorPerS:0} grpc_ratio={GrpcRatio:0.00} grpc_batch={Best(p => p.GrpcPerS).Batch} actor_batch={Best(p => p.ActorPerS).Batch} concurrency={Concurrency}");
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Runs the measurements; null when the node did not come up or did not serve the model.</summary>
    public static async Task<Result?> RunAsync(Options o, Action<string> log)
    {
        var (seconds, concurrency, basePort) = (o.Seconds, o.Concurrency, o.BasePort);
        var sizes = o.Sizes;
        var dir = Path.GetFullPath(o.Dir ?? Path.Combine(".data", "bench-kserve"));

        var test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, limit: 512);
        var images = Enumerable.Range(0, test.Count).Select(test.ImageCopy).ToArray();
        var onnx = MlpOnnx.Export(new Mlp([784, 256, 128, 10], 1), "fmnist_mlp");
        byte[] Pixels(long k, int batch) => Enumerable.Range(0, batch).SelectMany(i => images[(k * batch + i) % images.Length]).ToArray();
        var points = sizes.ToDictionary(b => b, b => new Point(b, 0, 0, 0));

        // ------------------------------------------------------------------ baseline: the inference actor in this process
        var runtime = InferenceRuntimeSettings.FromConfig(null);
        var batching = BatchingSettings.FromConfig(null);
        using (var system = ActorSystem.Create("bench-kserve", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config)))
        {
            var served = ByteInput.Prepend(onnx);
            var info = new ModelInfo("fmnist-mlp", 1, [784], FashionLabels.Names, OnnxModel.Sha256(served), served.Length, 0, "bench");
            var model = OnnxModel.Load(served, info, runtime, batching);
            var actor = system.ActorOf(InferenceActor.Props("fmnist-mlp", batching, "bench"));
            await actor.Ask<InferenceActor.Swapped>(new InferenceActor.Swap(model), TimeSpan.FromMinutes(1));
            var max = batching.MaxBatchSizeFor(model.Provider);
            log($"bench protocols (kserve): model on {model.Provider}, max batch {max}, {concurrency} callers, requests of [{string.Join(", ", sizes)}] samples");
            foreach (var batch in sizes)
            {
                var pixels = Enumerable.Range(0, 64).Select(k => Pixels(k, batch)).ToArray();
                async Task ActorCall(long k)
                {
                    // split as the node splits a KServe request larger than the actor's largest batch
                    var all = pixels[k % pixels.Length];
                    var parts = new List<Task<object>>();
                    for (var start = 0; start < batch; start += max)
                    {
                        var n = Math.Min(max, batch - start);
                        parts.Add(actor.Ask<object>(Infer.Bytes("fmnist-mlp", k, n, all.AsSpan(start * 784, n * 784).ToArray(), InferencePriority.Normal), TimeSpan.FromSeconds(30)));
                    }
                    foreach (var reply in await Task.WhenAll(parts))
                        if (reply is not InferResult) throw new InvalidOperationException($"actor: {reply}");
                }
                await RunLoad(concurrency, 1, ActorCall);
                points[batch] = points[batch] with { ActorPerS = await RunLoad(concurrency, seconds, ActorCall) * batch };
                log(Inv($"  batch {batch,4}: in-process inference actor: {points[batch].ActorPerS,12:N0} samples/s"));
            }
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
        if (await ClusterProbe.WaitForMembersAsync(client, cluster, 1, TimeSpan.FromSeconds(90)) is null) return null;
        await client.PublishModelAsync(new PublishModel("fmnist-mlp", onnx, [784], FashionLabels.Names, "bench protocols"));
        if (!await ModelBootstrap.WaitUntilServedAsync(client, [spec.HostPort], "fmnist-mlp", TimeSpan.FromSeconds(60), log)) return null;

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = new Uri($"http://127.0.0.1:{spec.HttpPort}/") };
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{spec.GrpcPort}", new GrpcChannelOptions { MaxSendMessageSize = null, MaxReceiveMessageSize = null });
        var grpc = new V2.GRPCInferenceService.GRPCInferenceServiceClient(channel);
        foreach (var batch in sizes)
        {
            // REST: JSON bodies prepared up front (the client's cost of writing JSON is not the server's)
            var bodies = Enumerable.Range(0, 16).Select(k =>
                Encoding.UTF8.GetBytes($$"""{"inputs":[{"name":"input","shape":[{{batch}},784],"datatype":"UINT8","data":[{{string.Join(",", Pixels(k, batch))}}]}],"outputs":[{"name":"class"}]}""")).ToArray();
            async Task RestCall(long k)
            {
                using var content = new ByteArrayContent(bodies[k % bodies.Length]);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                using var response = await http.PostAsync("v2/models/fmnist-mlp/infer", content);
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"REST: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                await response.Content.ReadAsByteArrayAsync();
            }
            await RunLoad(concurrency, 1, RestCall);
            points[batch] = points[batch] with { RestPerS = await RunLoad(concurrency, seconds, RestCall) * batch };

            var requests = Enumerable.Range(0, 64).Select(k =>
            {
                var r = new V2.ModelInferRequest { ModelName = "fmnist-mlp" };
                var input = new V2.ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "UINT8" };
                input.Shape.Add([batch, 784]);
                r.Inputs.Add(input);
                r.Outputs.Add(new V2.ModelInferRequest.Types.InferRequestedOutputTensor { Name = "class" });
                r.RawInputContents.Add(ByteString.CopyFrom(Pixels(k, batch)));
                return r;
            }).ToArray();
            async Task GrpcCall(long k) => await grpc.ModelInferAsync(requests[k % requests.Length]);
            await RunLoad(concurrency, 1, GrpcCall);
            points[batch] = points[batch] with { GrpcPerS = await RunLoad(concurrency, seconds, GrpcCall) * batch };
            log(Inv($"  batch {batch,4}: KServe v2 REST (JSON, HTTP/1.1) {points[batch].RestPerS,10:N0} samples/s; gRPC (raw_input_contents, h2c) {points[batch].GrpcPerS,10:N0} samples/s"));
        }

        await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        return new Result(sizes.Select(b => points[b]).ToArray(), concurrency);
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
