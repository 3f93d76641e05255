using System.Diagnostics;
using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;
using V2 = global::Inference;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// One secure local cluster (TLS, client tokens) with HTTP on its gateway nodes, shared by the HTTP tests: a tiny
/// Fashion-MNIST MLP published as fmnist-mlp and loaded on the edge and the datacenter.
/// </summary>
public sealed class HttpClusterFixture : IAsyncLifetime
{
    public LocalCluster Cluster { get; private set; } = null!;
    public EdgeClient Client { get; private set; } = null!;
    public FashionMnist Test { get; private set; } = null!;
    public int EdgeHttp { get; private set; }
    public int DatacenterHttp { get; private set; }
    public string Dir { get; private set; } = "";
    public string Token { get; private set; } = "";
    public string CaFile => Path.Combine(Cluster.CertsDirectory, Certificates.CaCertificateFile);

    public async Task InitializeAsync()
    {
        var p = Ports.Free(5);
        Dir = TestCluster.FreshDirectory("http", p[0]);
        EdgeHttp = p[3];
        DatacenterHttp = p[4];
        Cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", p[0]),
            new NodeSpec("datacenter", "datacenter", p[1]) { HttpPort = DatacenterHttp },
            new NodeSpec("edge1", ["edge"], p[2], ["--set", "edgeactors.http.max-request-bytes = 1MiB"]) { HttpPort = EdgeHttp },
        ], Dir);
        Cluster.StartAll();
        Client = EdgeClient.Connect(TestCluster.ClientOptions(Cluster, p[1], p[2]) with
        {
            RequestTimeout = TimeSpan.FromSeconds(5),
            RetryDeadline = TimeSpan.FromSeconds(60),
        });
        Assert.True(await ClusterProbe.WaitForMembersAsync(Client, Cluster, 3, TimeSpan.FromSeconds(90)) is not null, "cluster did not form; logs in " + Dir);
        Test = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false);
        var train = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: true, limit: 5_000);
        var mlp = new Mlp([784, 32, 10], 7);
        MlpTrainer.Train(mlp, FashionLabels.ToFloats(train.Images, train.Count), train.Labels, train.Count, new SgdOptions(Epochs: 2, Seed: 7));
        await Client.PublishModelAsync(new PublishModel("fmnist-mlp", MlpOnnx.Export(mlp), [784], FashionLabels.Names, "tiny, for the HTTP tests"));
        Assert.True(await ModelBootstrap.WaitUntilServedAsync(Client, [$"127.0.0.1:{p[2]}", $"127.0.0.1:{p[1]}"], "fmnist-mlp", TimeSpan.FromSeconds(60), _ => { }),
            "model not served; logs in " + Dir);
        Token = File.ReadAllText(Certificates.ClientTokenPath(Cluster.CertsDirectory, LocalCluster.ClientName)).Trim();
    }

    public Task DisposeAsync() => TestCluster.StopAsync(Client, Cluster);

    /// <summary>A token signed with the deployment's key (e.g. expired, or with fewer scopes).</summary>
    public string IssueToken(string[] scopes, DateTimeOffset expires, string prefix = "") =>
        ClientTokens.Issue(ClientTokens.LoadKey(Path.Combine(Cluster.CertsDirectory, Certificates.TokenKeyFile)), new ClientClaims("http-test", scopes, prefix, expires));
}

/// <summary>
/// The node's HTTP and gRPC host against real node processes, with clients nobody here wrote: curl (/usr/bin/curl) on
/// the KServe v2 REST endpoints and the device REST API, and a gRPC client generated from the official v2 proto.
/// </summary>
public sealed class HttpClusterTests(HttpClusterFixture f, ITestOutputHelper output) : IClassFixture<HttpClusterFixture>
{
    private sealed record CurlResult(int Status, string Body);

    /// <summary>curl with the deployment's CA and (unless <paramref name="token"/> is "") a bearer token; body from a file or text.</summary>
    private async Task<CurlResult> Curl(string method, string url, string? body = null, string? token = null, string contentType = "application/json",
        string? bodyFile = null)
    {
        var psi = new ProcessStartInfo("/usr/bin/curl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = body is not null };
        foreach (var a in new[] { "-sS", "--max-time", "30", "--cacert", f.CaFile, "-X", method, "-w", "\n%{http_code}", "-H", $"Content-Type: {contentType}" })
            psi.ArgumentList.Add(a);
        token ??= f.Token;
        if (token.Length > 0)
        {
            psi.ArgumentList.Add("-H");
            psi.ArgumentList.Add($"Authorization: Bearer {token}");
        }
        if (body is not null)
        {
            psi.ArgumentList.Add("--data-binary");
            psi.ArgumentList.Add("@-");
        }
        if (bodyFile is not null)
        {
            psi.ArgumentList.Add("--data-binary");
            psi.ArgumentList.Add("@" + bodyFile);
        }
        psi.ArgumentList.Add(url);
        using var p = Process.Start(psi)!;
        if (body is not null)
        {
            await p.StandardInput.WriteAsync(body);
            p.StandardInput.Close();
        }
        var stdout = await p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var cut = stdout.LastIndexOf('\n');
        var status = int.Parse(stdout[(cut + 1)..]);
        var text = stdout[..Math.Max(0, cut)];
        output.WriteLine($"curl {method} {url} -> {status} {(text.Length > 300 ? text[..300] + "..." : text)} {stderr}");
        return new CurlResult(status, text);
    }

    private string Edge(string path) => $"https://127.0.0.1:{f.EdgeHttp}{path}";

    private string Datacenter(string path) => $"https://127.0.0.1:{f.DatacenterHttp}{path}";

    private static JsonElement Json(CurlResult r) => JsonDocument.Parse(r.Body).RootElement;

    private static string Error(CurlResult r) => Json(r).GetProperty("error").GetString()!;

    [Fact]
    public async Task Kserve_rest_should_describe_the_model_and_classify_real_images()
    {
        Assert.Equal(200, (await Curl("GET", Edge("/v2/health/live"))).Status);
        Assert.Equal(200, (await Curl("GET", Edge("/v2/health/ready"))).Status);
        var server = await Curl("GET", Edge("/v2"));
        Assert.Equal("edgeactors", Json(server).GetProperty("name").GetString());
        var meta = Json(await Curl("GET", Edge("/v2/models/fmnist-mlp")));
        Assert.Equal([-1L, 784L], meta.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal("FP32", meta.GetProperty("inputs")[0].GetProperty("datatype").GetString());
        Assert.Contains("1", meta.GetProperty("versions").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(200, (await Curl("GET", Edge("/v2/models/fmnist-mlp/versions/1/ready"))).Status);

        // 64 real test images in one request (UINT8 pixels, as a camera sends them), and 16 as FP32 one by one on the datacenter
        const int n = 64;
        var pixels = Enumerable.Range(0, n).SelectMany(i => f.Test.ImageCopy(i).Select(b => (int)b));
        var body = $$"""{"id":"batch-1","parameters":{"priority":"high"},"inputs":[{"name":"input","shape":[{{n}},784],"datatype":"UINT8","data":[{{string.Join(",", pixels)}}]}]}""";
        var result = await Curl("POST", Edge("/v2/models/fmnist-mlp/infer"), body);
        Assert.Equal(200, result.Status);
        var outputs = Json(result).GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        var classes = outputs["class"].GetProperty("data").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(n, classes.Length);
        var correct = classes.Where((c, i) => c == f.Test.Labels[i]).Count();
        output.WriteLine($"REST UINT8 batch: {correct}/{n} correct");
        Assert.True(correct >= n * 0.6, $"only {correct} of {n} images classified correctly");
        Assert.Equal(FashionLabels.Names[classes[0]], outputs["label"].GetProperty("data")[0].GetString());

        var fpCorrect = 0;
        for (var i = 0; i < 16; i++)
        {
            var floats = string.Join(",", f.Test.ImageCopy(i).Select(b => (b / 255f).ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
            var r = await Curl("POST", Datacenter("/v2/models/fmnist-mlp/versions/1/infer"),
                $$"""{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[{{floats}}]}],"outputs":[{"name":"class"}]}""");
            Assert.Equal(200, r.Status);
            if (Json(r).GetProperty("outputs")[0].GetProperty("data")[0].GetInt32() == f.Test.Labels[i]) fpCorrect++;
        }
        Assert.True(fpCorrect >= 10, $"FP32: only {fpCorrect} of 16 correct");
    }

    [Fact]
    public async Task Kserve_rest_should_refuse_bad_input_with_a_clear_error_and_keep_serving()
    {
        var infer = Edge("/v2/models/fmnist-mlp/infer");
        var malformed = await Curl("POST", infer, """{"inputs":[{"name":"input","shape":[1,784],""");
        Assert.Equal(400, malformed.Status);
        Assert.Contains("malformed JSON", Error(malformed));
        var shape = await Curl("POST", infer, """{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""");
        Assert.Equal(400, shape.Status);
        Assert.Contains("expects [-1,784]", Error(shape));
        var datatype = await Curl("POST", infer, """{"inputs":[{"name":"input","shape":[1,784],"datatype":"BOOL","data":[true]}]}""");
        Assert.Equal(400, datatype.Status);
        Assert.Contains("datatype 'BOOL'", Error(datatype));
        var unknown = await Curl("POST", Edge("/v2/models/no-such-model/infer"), """{"inputs":[]}""");
        Assert.Equal(404, unknown.Status);
        Assert.Contains("no-such-model", Error(unknown));
        var version = await Curl("GET", Edge("/v2/models/fmnist-mlp/versions/99"));
        Assert.Equal(404, version.Status);
        var big = Path.Combine(f.Dir, "big.json");
        await File.WriteAllTextAsync(big, "{\"inputs\":[{\"name\":\"input\",\"data\":[" + string.Join(",", Enumerable.Repeat("0.5", 600_000)) + "]}]}");
        var tooLarge = await Curl("POST", infer, bodyFile: big);
        Assert.Equal(413, tooLarge.Status);
        Assert.Contains("max-request-bytes", Error(tooLarge));

        var noToken = await Curl("GET", Edge("/v2/models/fmnist-mlp"), token: "");
        Assert.Equal(401, noToken.Status);
        Assert.Contains("Bearer", Error(noToken));
        var expired = await Curl("POST", infer, """{"inputs":[]}""", token: f.IssueToken(["infer"], DateTimeOffset.UtcNow.AddMinutes(-1)));
        Assert.Equal(401, expired.Status);
        Assert.Contains("expired", Error(expired));
        var forged = await Curl("GET", Edge("/v2"), token: f.Token[..^4] + "AAAA");
        Assert.Equal(401, forged.Status);
        var noScope = await Curl("POST", infer, """{"inputs":[]}""", token: f.IssueToken(["query"], DateTimeOffset.UtcNow.AddHours(1)));
        Assert.Equal(403, noScope.Status);
        Assert.Contains("scope 'infer'", Error(noScope));
        var route = await Curl("GET", Edge("/v3/nothing"));
        Assert.Equal(404, route.Status);

        // still serving after all that
        var ok = await Curl("POST", infer, $$"""{"inputs":[{"name":"input","shape":[1,784],"datatype":"UINT8","data":[{{string.Join(",", f.Test.ImageCopy(0))}}]}]}""");
        Assert.Equal(200, ok.Status);
    }

    private GrpcChannel Channel(int port)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(f.CaFile));
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
        {
            if (cert is null) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(cert));
        };
        return GrpcChannel.ForAddress($"https://127.0.0.1:{port}", new GrpcChannelOptions { HttpHandler = handler });
    }

    [Fact]
    public async Task Kserve_grpc_client_from_the_official_proto_should_infer_real_images()
    {
        using var channel = Channel(f.EdgeHttp);
        var client = new V2.GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var auth = new Metadata { { "authorization", "Bearer " + f.Token } };
        Assert.True((await client.ServerLiveAsync(new V2.ServerLiveRequest(), auth)).Live);
        Assert.True((await client.ServerReadyAsync(new V2.ServerReadyRequest(), auth)).Ready);
        Assert.True((await client.ModelReadyAsync(new V2.ModelReadyRequest { Name = "fmnist-mlp" }, auth)).Ready);
        var meta = await client.ModelMetadataAsync(new V2.ModelMetadataRequest { Name = "fmnist-mlp" }, auth);
        Assert.Equal([-1L, 784L], meta.Inputs[0].Shape);

        const int n = 32;
        var request = new V2.ModelInferRequest { ModelName = "fmnist-mlp", Id = "grpc-1" };
        var input = new V2.ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "UINT8" };
        input.Shape.Add([n, 784]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(Enumerable.Range(0, n).SelectMany(i => f.Test.ImageCopy(i)).ToArray()));
        var response = await client.ModelInferAsync(request, auth);
        Assert.Equal("grpc-1", response.Id);
        var classes = response.Outputs.Single(o => o.Name == "class").Contents.Int64Contents;
        var correct = classes.Where((c, i) => c == f.Test.Labels[i]).Count();
        output.WriteLine($"gRPC raw UINT8 batch: {correct}/{n} correct");
        Assert.True(correct >= n * 0.6, $"only {correct} of {n} correct");

        var typed = new V2.ModelInferRequest { ModelName = "fmnist-mlp" };
        var t = new V2.ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Contents = new V2.InferTensorContents() };
        t.Shape.Add([1, 784]);
        t.Contents.Fp32Contents.Add(f.Test.ImageCopy(0).Select(b => b / 255f));
        typed.Inputs.Add(t);
        Assert.Equal(classes[0], (await client.ModelInferAsync(typed, auth)).Outputs.Single(o => o.Name == "class").Contents.Int64Contents[0]);

        var badShape = new V2.ModelInferRequest { ModelName = "fmnist-mlp" };
        var b = new V2.ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Contents = new V2.InferTensorContents() };
        b.Shape.Add([1, 10]);
        b.Contents.Fp32Contents.Add(new float[10]);
        badShape.Inputs.Add(b);
        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(badShape, auth).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("expects [-1,784]", invalid.Status.Detail);
        var notFound = await Assert.ThrowsAsync<RpcException>(() => client.ModelMetadataAsync(new V2.ModelMetadataRequest { Name = "nope" }, auth).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, notFound.StatusCode);
        var unauthenticated = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);
    }

    [Fact]
    public async Task Rest_telemetry_should_answer_with_the_ack_and_be_counted_in_the_device_state()
    {
        var device = Uri.EscapeDataString($"edge1/http-sensor-{Environment.ProcessId}");
        var seq = DateTime.UtcNow.Ticks / 10_000;
        var ack = await Curl("POST", Datacenter($"/v1/devices/{device}/telemetry"), $$"""{"seq":{{seq}},"ts":{{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}},"values":[21.5,40]}""");
        Assert.Equal(200, ack.Status);
        Assert.Equal(1, Json(ack).GetProperty("accepted").GetInt32());
        Assert.Equal("DurableOnEdge", Json(ack).GetProperty("level").GetString());
        var batch = await Curl("POST", Edge($"/v1/devices/{device}/telemetry"),
            $$"""{"readings":[{"seq":{{seq + 1}},"values":[22,41]},{"seq":{{seq}},"values":[22,41]},{"seq":{{seq + 2}},"values":[null,41]}]}""");
        Assert.Equal(200, batch.Status);
        Assert.Equal(1, Json(batch).GetProperty("accepted").GetInt32());
        var reasons = Json(batch).GetProperty("rejections").EnumerateArray().Select(r => r.GetProperty("reason").GetString()!).Order().ToArray();
        Assert.Equal(["Duplicate", "NotANumber"], reasons);
        var state = await Curl("GET", Edge($"/v1/devices/{device}"));
        Assert.Equal(200, state.Status);
        Assert.Equal(2, Json(state).GetProperty("acceptedReadings").GetInt64());
        Assert.Equal(Uri.UnescapeDataString(device), Json(state).GetProperty("device").GetString());

        var frame = Path.Combine(f.Dir, "frame.raw");
        await File.WriteAllBytesAsync(frame, f.Test.ImageCopy(3));
        var camera = Uri.EscapeDataString($"edge1/http-cam-{Environment.ProcessId}");
        var framed = await Curl("POST", Edge($"/v1/devices/{camera}/frames?seq=1"), contentType: "application/octet-stream", bodyFile: frame);
        Assert.Equal(200, framed.Status);
        Assert.Equal(1, Json(framed).GetProperty("accepted").GetInt32());
        Assert.True(Json(framed).TryGetProperty("prediction", out _), "a frame's ack carries its prediction");

        var bad = await Curl("POST", Edge($"/v1/devices/{device}/telemetry"), """{"seq":1,"values":"x"}""");
        Assert.Equal(400, bad.Status);
        var noScope = await Curl("POST", Edge($"/v1/devices/{device}/telemetry"), """{"seq":1,"values":[1]}""", token: f.IssueToken(["query"], DateTimeOffset.UtcNow.AddHours(1)));
        Assert.Equal(403, noScope.Status);
        var otherDevice = await Curl("GET", Edge($"/v1/devices/{device}"), token: f.IssueToken(["query"], DateTimeOffset.UtcNow.AddHours(1), prefix: "site-b/"));
        Assert.Equal(403, otherDevice.Status);
        Assert.Contains("site-b/", Error(otherDevice));
    }

    [Fact]
    public async Task Sse_stream_should_receive_the_ack_of_a_reading_sent_while_it_follows_the_device()
    {
        var device = Uri.EscapeDataString($"edge1/sse-sensor-{Environment.ProcessId}");
        var psi = new ProcessStartInfo("/usr/bin/curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-sS", "-N", "--max-time", "20", "--cacert", f.CaFile, "-H", $"Authorization: Bearer {f.Token}", Edge($"/v1/devices/{device}/events") })
            psi.ArgumentList.Add(a);
        using var sse = Process.Start(psi)!;
        var lines = new List<string>();
        var gotAck = new TaskCompletionSource();
        var attached = new TaskCompletionSource();
        var reader = Task.Run(async () =>
        {
            while (await sse.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (lines) lines.Add(line);
                if (line == "event: twin") attached.TrySetResult(); // the entity's first message to a follower: it is attached
                if (line == "event: ack") gotAck.TrySetResult();
            }
        });
        var attach = await Task.WhenAny(attached.Task, Task.Delay(TimeSpan.FromSeconds(15)));
        Assert.True(attach == attached.Task, "the stream never said the follower is attached (no twin event): " + string.Join(" | ", lines));
        var seq = DateTime.UtcNow.Ticks / 10_000;
        Assert.Equal(200, (await Curl("POST", Edge($"/v1/devices/{device}/telemetry"), $$"""{"seq":{{seq}},"values":[1]}""")).Status);
        var done = await Task.WhenAny(gotAck.Task, Task.Delay(TimeSpan.FromSeconds(15)));
        try
        {
            if (!sse.HasExited) sse.Kill();
        }
        catch (InvalidOperationException)
        {
        }
        await reader;
        Assert.True(done == gotAck.Task, "no ack event; stream: " + string.Join(" | ", lines));
        Assert.Contains(lines, l => l.StartsWith("data: {", StringComparison.Ordinal) && l.Contains("\"accepted\":1"));
    }
}
