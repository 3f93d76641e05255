using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Inference;
using EdgeActors.Tests.Inference.Runtime;

namespace EdgeActors.Tests.Registry;

/// <summary>
/// The model host with probes standing in for the registry proxy and the pub-sub mediator. Assertions go through
/// <see cref="GetInferenceStatus"/> and <see cref="Infer"/> round trips, not through the inference actor's internals.
/// </summary>
public sealed class ModelHostTests : Akka.TestKit.Xunit2.TestKit
{
    private const int Inputs = 16, Classes = 5, ChunkBytes = 100;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public ModelHostTests() : base(EdgeSerialization.Config)
    {
    }

    private sealed record Host(IActorRef Ref, TestProbe Registry, TestProbe PubSub);

    private Host Start(ModelHostSettings? settings = null, bool answerActive = true)
    {
        var registry = CreateTestProbe();
        var pubsub = CreateTestProbe();
        settings ??= new ModelHostSettings(["lin"])
        {
            ChunkBytes = ChunkBytes,
            ChunkTimeout = TimeSpan.FromSeconds(20),
            BackoffMin = TimeSpan.FromMinutes(5), // no automatic retry during a test unless it asks for one
            BackoffMax = TimeSpan.FromMinutes(5),
            ResyncInterval = TimeSpan.Zero,
        };
        var host = Sys.ActorOf(ModelHost.Props(settings, InferenceRuntimeSettings.Default, BatchingSettings.FromConfig(null), registry.Ref, pubsub.Ref));
        var subscribe = pubsub.ExpectMsg<Subscribe>(Wait);
        Assert.Equal(ModelTopics.Models, subscribe.Topic);
        Assert.Equal(host, subscribe.Ref);
        registry.ExpectMsg<GetActiveModels>(Wait);
        if (answerActive) registry.Reply(new ActiveModels([]));
        return new Host(host, registry, pubsub);
    }

    /// <summary>Plays the registry: answers every FetchModelChunk from <paramref name="bytes"/> until all were sent.</summary>
    private static void ServeChunks(TestProbe registry, ModelInfo info, byte[] bytes)
    {
        long sent = 0;
        while (sent < bytes.Length)
        {
            var fetch = registry.ExpectMsg<FetchModelChunk>(Wait);
            Assert.Equal((info.Name, info.Version, sent), (fetch.Name, fetch.Version, fetch.Offset));
            var data = bytes.AsSpan((int)sent, Math.Min(fetch.MaxBytes, bytes.Length - (int)sent)).ToArray();
            registry.Reply(new ModelChunk(info.Name, info.Version, sent, bytes.Length, data));
            sent += data.Length;
        }
    }

    private InferenceStatus StatusWhen(IActorRef host, Func<InferenceStatus, bool> condition)
    {
        var probe = CreateTestProbe();
        InferenceStatus? last = null;
        AwaitCondition(() =>
        {
            host.Tell(GetInferenceStatus.Instance, probe.Ref);
            last = probe.ExpectMsg<InferenceStatus>(Wait);
            return condition(last);
        }, Wait, TimeSpan.FromMilliseconds(100));
        return last!;
    }

    private InferResult Classify(IActorRef host, float[] x, long requestId)
    {
        var probe = CreateTestProbe();
        host.Tell(new Infer("lin", requestId, 1, x, InferencePriority.Normal), probe.Ref);
        return probe.ExpectMsg<InferResult>(Wait);
    }

    private static ModelInfo Info(int version, byte[] onnx) => TestModels.Info("lin", version, Inputs, Classes, onnx);

    private InferenceStatus LoadV1(Host host, (byte[] Onnx, float[] W, float[] B) v1, bool throughActiveModels)
    {
        var info = Info(1, v1.Onnx);
        if (throughActiveModels) host.Ref.Tell(new ActiveModels([info]), host.Registry.Ref);
        else host.Ref.Tell(new ModelActivated(info), host.PubSub.Ref);
        ServeChunks(host.Registry, info, v1.Onnx);
        return StatusWhen(host.Ref, s => s.Models.Single().Version == 1);
    }

    [Fact]
    public void On_start_it_should_subscribe_and_retry_GetActiveModels_until_answered()
    {
        var host = Start(new ModelHostSettings(["lin"]) { RegistryRetry = TimeSpan.FromMilliseconds(200), ResyncInterval = TimeSpan.Zero }, answerActive: false);

        host.Registry.ExpectMsg<GetActiveModels>(Wait); // retried by the timer
        host.Registry.Reply(new ActiveModels([]));

        // requests already on their way are drained; after that the retry timer is off (5 intervals of silence)
        host.Registry.ReceiveWhile(TimeSpan.FromMilliseconds(300), m => m as GetActiveModels);
        host.Registry.ExpectNoMsg(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void ActiveModels_should_fetch_load_and_serve_the_model()
    {
        var host = Start();
        var v1 = TestModels.Linear(Inputs, Classes, seed: 1);

        var status = LoadV1(host, v1, throughActiveModels: true);

        var model = Assert.Single(status.Models);
        Assert.Equal("lin", model.Name);
        Assert.Equal("", model.LastError);
        // against what this machine should give, not against the decision itself (which the status only repeats)
        Assert.Equal(MachineFacts.ExpectedProvider, status.Provider);
        var x = Enumerable.Range(0, Inputs).Select(i => i / 10f).ToArray();
        var result = Classify(host.Ref, x, 42);
        Assert.Equal((42L, "lin", 1, 1, Classes), (result.RequestId, result.Model, result.Version, result.Count, result.OutputSize));
        var expected = TestModels.LinearReference(x, v1.W, v1.B, Inputs, Classes);
        for (var k = 0; k < Classes; k++) Assert.Equal(expected[k], result.Output[k], 5);
    }

    [Fact]
    public void ModelActivated_for_a_new_version_should_swap_it_in()
    {
        var host = Start();
        var v1 = TestModels.Linear(Inputs, Classes, seed: 1);
        var v2 = TestModels.Linear(Inputs, Classes, seed: 2);
        LoadV1(host, v1, throughActiveModels: false);

        var info2 = Info(2, v2.Onnx);
        host.Ref.Tell(new ModelActivated(info2), host.PubSub.Ref);
        ServeChunks(host.Registry, info2, v2.Onnx);

        StatusWhen(host.Ref, s => s.Models.Single().Version == 2);
        var x = Enumerable.Repeat(0.5f, Inputs).ToArray();
        var result = Classify(host.Ref, x, 7);
        Assert.Equal(2, result.Version);
        Assert.Equal(TestModels.LinearReference(x, v2.W, v2.B, Inputs, Classes)[0], result.Output[0], 5);

        // the same announcement again (e.g. a policy change) does not download anything
        host.Ref.Tell(new ModelActivated(info2), host.PubSub.Ref);
        host.Registry.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_corrupt_chunk_should_keep_the_old_version_and_report_LastError()
    {
        var host = Start();
        var v1 = TestModels.Linear(Inputs, Classes, seed: 1);
        var v2 = TestModels.Linear(Inputs, Classes, seed: 2);
        LoadV1(host, v1, throughActiveModels: true);

        var info2 = Info(2, v2.Onnx);
        var corrupt = (byte[])v2.Onnx.Clone();
        corrupt[corrupt.Length / 2] ^= 0x40;
        host.Ref.Tell(new ModelActivated(info2), host.PubSub.Ref);
        ServeChunks(host.Registry, info2, corrupt);

        var status = StatusWhen(host.Ref, s => s.Models.Single().LastError.Length > 0);
        var model = status.Models.Single();
        Assert.Equal(1, model.Version);
        Assert.Contains("sha256 mismatch", model.LastError);
        Assert.Equal(1, Classify(host.Ref, new float[Inputs], 1).Version); // still serving v1
    }

    [Fact]
    public void A_model_that_does_not_load_should_report_LastError_and_not_be_retried()
    {
        var host = Start();
        var garbage = new byte[500];
        new Random(5).NextBytes(garbage);
        var info = Info(1, garbage);

        host.Ref.Tell(new ModelActivated(info), host.PubSub.Ref);
        ServeChunks(host.Registry, info, garbage);

        var model = StatusWhen(host.Ref, s => s.Models.Single().LastError.Length > 0).Models.Single();
        Assert.Equal(0, model.Version);
        Assert.Contains("ONNX Runtime cannot load", model.LastError);
        var probe = CreateTestProbe();
        host.Ref.Tell(new Infer("lin", 3, 1, new float[Inputs], InferencePriority.High), probe.Ref);
        var rejected = probe.ExpectMsg<InferRejected>(Wait);
        Assert.Equal(InferRejectReason.NoModel, rejected.Reason);
        // re-announcing the same bad version does not download it again
        host.Ref.Tell(new ModelActivated(info), host.PubSub.Ref);
        host.Registry.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_new_version_that_passes_sha256_but_fails_to_load_should_keep_the_old_one_serving_and_report_it()
    {
        var host = Start();
        var v1 = TestModels.Linear(Inputs, Classes, seed: 1);
        LoadV1(host, v1, throughActiveModels: true);

        // v2's bytes are what the registry declared (the sha256 matches), but they are not an ONNX model
        var garbage = new byte[600];
        new Random(9).NextBytes(garbage);
        var info2 = Info(2, garbage);
        host.Ref.Tell(new ModelActivated(info2), host.PubSub.Ref);
        ServeChunks(host.Registry, info2, garbage);

        var model = StatusWhen(host.Ref, s => s.Models.Single().LastError.Length > 0).Models.Single();
        Assert.Equal(1, model.Version);
        Assert.Contains("ONNX Runtime cannot load", model.LastError);
        Assert.DoesNotContain("sha256", model.LastError);
        var x = Enumerable.Repeat(0.25f, Inputs).ToArray();
        var result = Classify(host.Ref, x, 11);
        Assert.Equal(1, result.Version); // still serving v1, with v1's weights
        Assert.Equal(TestModels.LinearReference(x, v1.W, v1.B, Inputs, Classes)[0], result.Output[0], 5);
    }

    [Fact]
    public void A_missing_chunk_should_restart_the_download_after_a_backoff()
    {
        var host = Start(new ModelHostSettings(["lin"])
        {
            ChunkBytes = ChunkBytes,
            ChunkTimeout = TimeSpan.FromMilliseconds(300),
            BackoffMin = TimeSpan.FromMilliseconds(100),
            ResyncInterval = TimeSpan.Zero,
        });
        var v1 = TestModels.Linear(Inputs, Classes, seed: 1);
        var info = Info(1, v1.Onnx);
        host.Ref.Tell(new ModelActivated(info), host.PubSub.Ref);

        var first = host.Registry.ExpectMsg<FetchModelChunk>(Wait);
        host.Registry.Reply(new ModelChunk("lin", 1, 0, v1.Onnx.Length, v1.Onnx[..first.MaxBytes]));
        host.Registry.ExpectMsg<FetchModelChunk>(Wait); // offset 100: never answered

        ServeChunks(host.Registry, info, v1.Onnx); // the restart begins at offset 0 again

        Assert.Equal("", StatusWhen(host.Ref, s => s.Models.Single().Version == 1).Models.Single().LastError);
    }

    [Fact]
    public void Infer_for_a_model_not_served_here_should_be_rejected_with_NoModel()
    {
        var host = Start();
        var probe = CreateTestProbe();

        host.Ref.Tell(new Infer("resnet", 9, 1, [1f], InferencePriority.Normal), probe.Ref);

        var rejected = probe.ExpectMsg<InferRejected>(Wait);
        Assert.Equal((9L, "resnet", InferRejectReason.NoModel), (rejected.RequestId, rejected.Model, rejected.Reason));
        Assert.Contains("not served", rejected.Detail);
    }

    [Fact]
    public void Models_announced_but_not_served_here_should_be_ignored()
    {
        var host = Start();
        var (onnx, _, _) = TestModels.Linear(Inputs, Classes);

        host.Ref.Tell(new ModelActivated(TestModels.Info("other", 1, Inputs, Classes, onnx)), host.PubSub.Ref);

        host.Registry.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        var status = StatusWhen(host.Ref, _ => true);
        Assert.Equal(new LoadedModel("lin", 0, 0, 0, 0, 0, 0, 0, ""), Assert.Single(status.Models));
    }

    [Theory]
    [InlineData("ONNX Runtime: CUDA execution provider unavailable (OnnxRuntimeException: [ErrorCode:Fail] {0} missing {libcudnn}); running on CPU")]
    [InlineData("ONNX Runtime: model m v1: pinned I/O binding unavailable (OnnxRuntimeException: node {{Gemm_0}} shape {{1,16}}); pageable buffers")]
    [InlineData("ONNX Runtime: model m v1: pinned I/O binding unavailable (OnnxRuntimeException: unbalanced } and { braces); pageable buffers")]
    public void Runtime_text_with_braces_should_be_logged_verbatim(string text)
    {
        // what ONNX Runtime says when a provider or a model cannot load: native text the host does not control
        var logs = CreateTestProbe();
        Sys.EventStream.Subscribe(logs.Ref, typeof(Akka.Event.Info));

        ModelHost.RuntimeLog(Akka.Event.Logging.GetLogger(Sys, "runtime-log-test"))(text);

        var info = logs.FishForMessage<Akka.Event.Info>(i => i.LogSource.Contains("runtime-log-test"), Wait);
        Assert.Equal(text, info.Message.ToString());
        // a structured logger (an Akka.Hosting / Serilog bridge) renders a message's template with its arguments
        if (info.Message is Akka.Event.LogMessage message)
            Assert.Equal(text, Akka.Event.SemanticLogMessageFormatter.Instance.Format(message.Format, message.Parameters()));
    }
}
