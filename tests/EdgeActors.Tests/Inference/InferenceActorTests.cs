using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using EdgeActors.Actors.Inference;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Tests.Inference.Runtime;

namespace EdgeActors.Tests.Inference;

/// <summary>
/// The per-model inference actor on real (small) ONNX models. Wire messages go through the EdgeSerializer
/// (<c>serialize-messages = on</c>); the local-only ones (Swap holds a live model) are exempt by type.
/// No assertion depends on wall-clock time: batching is driven by sample thresholds or by queue delays far longer
/// than it takes to send the requests.
/// </summary>
public sealed class InferenceActorTests : Akka.TestKit.Xunit2.TestKit
{
    private const string ModelName = "lin";
    private const string Node = "node-a";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static readonly Config TestConfig =
        ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config);

    public InferenceActorTests() : base(TestConfig)
    {
    }

    // ------------------------------------------------------------------ builders

    private sealed record Lin(OnnxModel Model, float[] W, float[] B, int Inputs, int Classes)
    {
        public float[] Reference(float[] x, int sample) =>
            TestModels.LinearReference(x[(sample * Inputs)..((sample + 1) * Inputs)], W, B, Inputs, Classes);
    }

    private static Lin Load(int version, int inputs = 16, int classes = 5, int seed = 3, int maxBatch = 32)
    {
        var (onnx, w, b) = TestModels.Linear(inputs, classes, seed);
        var model = OnnxModel.Load(onnx, TestModels.Info(ModelName, version, inputs, classes, onnx), InferenceRuntimeSettings.Default, maxBatch);
        return new Lin(model, w, b, inputs, classes);
    }

    private IActorRef Start(BatchingSettings settings, Lin? version)
    {
        var actor = Sys.ActorOf(InferenceActor.Props(ModelName, settings, Node), InferenceActorNames.For(ModelName));
        if (version is not null) SwapTo(actor, version);
        return actor;
    }

    private void SwapTo(IActorRef actor, Lin version)
    {
        actor.Tell(new InferenceActor.Swap(version.Model), TestActor);
        var swapped = ExpectMsg<InferenceActor.Swapped>(Wait);
        Assert.Equal(new InferenceActor.Swapped(ModelName, version.Model.Info.Version), swapped);
    }

    private LoadedModel StatsOf(IActorRef actor)
    {
        actor.Tell(InferenceActor.GetStats.Instance, TestActor);
        return ExpectMsg<LoadedModel>(Wait);
    }

    private static float[] RandomInput(Random rng, int count, int inputs) =>
        Enumerable.Range(0, count * inputs).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();

    private static Infer Request(long id, float[] input, int count, InferencePriority priority = InferencePriority.Normal) =>
        new(ModelName, id, count, input, priority);

    /// <summary>The next reply on <paramref name="probe"/> must be the result of <paramref name="sent"/>, computed by <paramref name="version"/>.</summary>
    private static InferResult ExpectResult(TestProbe probe, Infer sent, params Lin[] versions)
    {
        var reply = probe.ExpectMsg<IInferenceEvent>(Wait);
        if (reply is InferRejected rejected) Assert.Fail($"request {sent.RequestId} rejected: {rejected.Reason} {rejected.Detail}");
        var result = Assert.IsType<InferResult>(reply);
        Assert.Equal(sent.RequestId, result.RequestId);
        CheckResult(result, sent, versions);
        return result;
    }

    private static void CheckResult(InferResult result, Infer sent, params Lin[] versions)
    {
        var version = Assert.Single(versions, v => v.Model.Info.Version == result.Version);
        Assert.Equal(ModelName, result.Model);
        Assert.Equal(Node, result.Node);
        Assert.Equal(sent.Count, result.Count);
        Assert.Equal(version.Classes, result.OutputSize);
        Assert.Equal(sent.Count * version.Classes, result.Output.Length);
        for (var s = 0; s < sent.Count; s++)
        {
            var expected = version.Reference(sent.Input, s);
            for (var k = 0; k < version.Classes; k++)
            {
                var actual = result.Output[s * version.Classes + k];
                Assert.True(Math.Abs(expected[k] - actual) <= 1e-5f,
                    $"request {sent.RequestId} sample {s} class {k}: expected {expected[k]}, got {actual} (v{result.Version})");
            }
        }
    }

    private InferRejected ExpectRejected(TestProbe probe, long id, InferRejectReason reason)
    {
        var reply = probe.ExpectMsg<IInferenceEvent>(Wait);
        var rejected = Assert.IsType<InferRejected>(reply);
        Assert.Equal(id, rejected.RequestId);
        Assert.Equal(reason, rejected.Reason);
        Assert.Equal(ModelName, rejected.Model);
        return rejected;
    }

    // ------------------------------------------------------------------ tests

    [Fact]
    public void Concurrent_callers_should_each_get_their_own_results_in_order_from_shared_batches()
    {
        var v1 = Load(1);
        var actor = Start(BatchingSettings.Default, v1);
        const int callers = 20, perCaller = 30;
        var rng = new Random(42);
        var probes = Enumerable.Range(0, callers).Select(_ => CreateTestProbe()).ToArray();
        var sent = probes.Select(_ => new List<Infer>()).ToArray();
        for (var r = 0; r < perCaller; r++)
        {
            for (var c = 0; c < callers; c++)
            {
                var count = rng.Next(1, 4);
                var request = Request(c * 1000L + r, RandomInput(rng, count, v1.Inputs), count);
                sent[c].Add(request);
                actor.Tell(request, probes[c].Ref);
            }
        }

        for (var c = 0; c < callers; c++)
        {
            foreach (var request in sent[c]) ExpectResult(probes[c], request, v1);
        }
        for (var c = 0; c < callers; c++) Assert.False(probes[c].HasMessages, $"caller {c} got more than its {perCaller} replies");

        var stats = StatsOf(actor);
        Assert.Equal(callers * perCaller, stats.Served);
        Assert.Equal(0, stats.QueueDepth);
        Assert.Equal(0, stats.Overloaded);
        Assert.InRange(stats.Batches, 1, callers * perCaller / 3); // batching happened
        Assert.Equal("", stats.LastError);
    }

    [Fact]
    public void Full_queue_should_answer_Overloaded_at_once_and_serve_the_queued_requests_later()
    {
        var v1 = Load(1, maxBatch: 64);
        // nothing dispatches early: 5 samples never reach 64, and the delay is far longer than sending takes
        var settings = new BatchingSettings { MaxQueueLength = 5, MaxBatchSize = 64, MaxQueueDelay = TimeSpan.FromSeconds(3) };
        var actor = Start(settings, v1);
        var probe = CreateTestProbe();
        var rng = new Random(5);
        var sent = Enumerable.Range(0, 8).Select(i => Request(i, RandomInput(rng, 1, v1.Inputs), 1)).ToArray();
        foreach (var request in sent) actor.Tell(request, probe.Ref);

        // the three over the limit are answered before anything is served
        for (var i = 5; i < 8; i++)
        {
            var rejected = ExpectRejected(probe, i, InferRejectReason.Overloaded);
            Assert.Equal("queue full (5 waiting)", rejected.Detail);
        }
        var waiting = StatsOf(actor);
        Assert.Equal(5, waiting.QueueDepth);
        Assert.Equal(3, waiting.Overloaded);
        Assert.Equal(0, waiting.Served);

        for (var i = 0; i < 5; i++) ExpectResult(probe, sent[i], v1);
        var stats = StatsOf(actor);
        Assert.Equal(5, stats.Served);
        Assert.Equal(1, stats.Batches);
        Assert.Equal(3, stats.Overloaded);
        Assert.Equal(0, stats.QueueDepth);
    }

    [Fact]
    public void High_priority_requests_should_be_served_in_earlier_batches_than_queued_normal_ones()
    {
        var v1 = Load(1, maxBatch: 4);
        // batches of 4 samples; the delay never fires, so only full batches are dispatched
        var settings = new BatchingSettings { MaxBatchSize = 4, MaxQueueDelay = TimeSpan.FromMinutes(1) };
        var actor = Start(settings, v1);
        var probe = CreateTestProbe();
        var rng = new Random(9);
        Infer Send(long id, int count, InferencePriority priority)
        {
            var request = Request(id, RandomInput(rng, count, v1.Inputs), count, priority);
            actor.Tell(request, probe.Ref);
            return request;
        }

        var n1 = Send(1, 1, InferencePriority.Normal);
        var n2 = Send(2, 1, InferencePriority.Normal);
        var n3 = Send(3, 1, InferencePriority.Normal);   // 3 samples queued: below a batch
        var h1 = Send(4, 3, InferencePriority.High);     // 6 queued: batch [H1(3), N1(1)]
        var h2 = Send(5, 2, InferencePriority.High);     // 4 queued: batch [H2(2), N2(1), N3(1)]

        ExpectResult(probe, h1, v1);
        ExpectResult(probe, n1, v1);
        ExpectResult(probe, h2, v1);
        ExpectResult(probe, n2, v1);
        ExpectResult(probe, n3, v1);
        var stats = StatsOf(actor);
        Assert.Equal(2, stats.Batches);
        Assert.Equal(5, stats.Served);
    }

    [Fact]
    public void Lone_request_should_be_answered_after_the_queue_delay_in_one_batch()
    {
        var v1 = Load(1, maxBatch: 8);
        var settings = new BatchingSettings { MaxBatchSize = 8, PreferredBatchSizes = [4, 8], MaxQueueDelay = TimeSpan.FromMilliseconds(20) };
        var actor = Start(settings, v1);
        var probe = CreateTestProbe();
        var request = Request(1, RandomInput(new Random(1), 1, v1.Inputs), 1);
        actor.Tell(request, probe.Ref);
        ExpectResult(probe, request, v1);
        Assert.Equal(1, StatsOf(actor).Batches);
    }

    [Fact]
    public void Queue_reaching_the_largest_preferred_size_should_dispatch_without_waiting_for_the_delay()
    {
        var v1 = Load(1, maxBatch: 16);
        // a minute-long delay: if the 8 requests were not dispatched on reaching 8 samples, they would not be answered in time
        var settings = new BatchingSettings { MaxBatchSize = 16, PreferredBatchSizes = [8, 4], MaxQueueDelay = TimeSpan.FromMinutes(1) };
        var actor = Start(settings, v1);
        var probe = CreateTestProbe();
        var rng = new Random(2);
        var sent = Enumerable.Range(0, 8).Select(i => Request(i, RandomInput(rng, 1, v1.Inputs), 1)).ToArray();
        foreach (var request in sent) actor.Tell(request, probe.Ref);
        foreach (var request in sent) ExpectResult(probe, request, v1);
        Assert.Equal(1, StatsOf(actor).Batches);
    }

    [Fact]
    public void Flush_after_the_delay_should_cut_at_the_largest_preferred_size_that_fits()
    {
        var v1 = Load(1, maxBatch: 16);
        var settings = new BatchingSettings { MaxBatchSize = 16, PreferredBatchSizes = [4, 8], MaxQueueDelay = TimeSpan.FromSeconds(1.5) };
        var actor = Start(settings, v1);
        var probe = CreateTestProbe();
        var rng = new Random(3);
        // 6 samples queued (below 8): on the delay a batch of 4, then the remaining 2 (already overdue) at once
        var sent = Enumerable.Range(0, 6).Select(i => Request(i, RandomInput(rng, 1, v1.Inputs), 1)).ToArray();
        foreach (var request in sent) actor.Tell(request, probe.Ref);
        foreach (var request in sent) ExpectResult(probe, request, v1);
        var stats = StatsOf(actor);
        Assert.Equal(2, stats.Batches);
        Assert.Equal(6, stats.Served);
    }

    [Fact]
    public void Hot_swap_under_load_should_lose_no_request_and_serve_v2_after_Swapped()
    {
        var v1 = Load(1, inputs: 8, classes: 4, seed: 3);
        var v2 = Load(2, inputs: 8, classes: 4, seed: 4);
        var actor = Start(BatchingSettings.Default, v1);
        const int callers = 10, before = 20, during = 10, after = 10;
        var rng = new Random(77);
        var probes = Enumerable.Range(0, callers).Select(_ => CreateTestProbe()).ToArray();
        var sent = probes.Select(_ => new List<Infer>()).ToArray();
        void Round(int r)
        {
            for (var c = 0; c < callers; c++)
            {
                var count = rng.Next(1, 4);
                var request = Request(c * 1000L + r, RandomInput(rng, count, v1.Inputs), count);
                sent[c].Add(request);
                actor.Tell(request, probes[c].Ref);
            }
        }

        for (var r = 0; r < before; r++) Round(r);
        actor.Tell(new InferenceActor.Swap(v2.Model), TestActor);
        for (var r = before; r < before + during; r++) Round(r);
        Assert.Equal(new InferenceActor.Swapped(ModelName, 2), ExpectMsg<InferenceActor.Swapped>(Wait));
        for (var r = before + during; r < before + during + after; r++) Round(r); // sent after Swapped: all v2

        var versions = new Dictionary<int, int> { [1] = 0, [2] = 0 };
        for (var c = 0; c < callers; c++)
        {
            var last = 1;
            for (var r = 0; r < sent[c].Count; r++)
            {
                var result = ExpectResult(probes[c], sent[c][r], v1, v2);
                Assert.True(result.Version >= last, $"caller {c}: v{result.Version} after v{last}");
                last = result.Version;
                if (r >= before + during) Assert.Equal(2, result.Version);
                versions[result.Version]++;
            }
            Assert.False(probes[c].HasMessages);
        }
        Assert.True(versions[1] > 0, "the first batches ran before the swap");
        var stats = StatsOf(actor);
        Assert.Equal(2, stats.Version);
        Assert.Equal(callers * (before + during + after), stats.Served);
        Assert.Equal("", stats.LastError);
    }

    [Fact]
    public void Swap_to_a_different_input_size_should_reject_the_queued_requests_that_no_longer_fit()
    {
        var v1 = Load(1, inputs: 16, classes: 5);
        var v2 = Load(2, inputs: 8, classes: 5, seed: 4);
        var actor = Start(new BatchingSettings { MaxQueueDelay = TimeSpan.FromMinutes(1) }, v1);
        var probe = CreateTestProbe();
        var rng = new Random(4);
        actor.Tell(Request(1, RandomInput(rng, 1, 16), 1), probe.Ref);
        actor.Tell(Request(2, RandomInput(rng, 2, 16), 2), probe.Ref);
        SwapTo(actor, v2);
        Assert.Contains("expected 8", ExpectRejected(probe, 1, InferRejectReason.BadInput).Detail);
        Assert.Contains("expected 16", ExpectRejected(probe, 2, InferRejectReason.BadInput).Detail);
        Assert.Equal(0, StatsOf(actor).QueueDepth);

        // a full batch for the new version is served at once
        var fits = Request(3, RandomInput(rng, 32, 8), 32);
        actor.Tell(fits, probe.Ref);
        Assert.Equal(2, ExpectResult(probe, fits, v2).Version);
    }

    [Fact]
    public void Bad_input_should_be_rejected_at_once_with_the_numbers_and_no_model_with_NoModel()
    {
        var actor = Start(BatchingSettings.Default, null);
        var probe = CreateTestProbe();
        actor.Tell(Request(1, new float[16], 1), probe.Ref);
        Assert.Contains("no version of model 'lin'", ExpectRejected(probe, 1, InferRejectReason.NoModel).Detail);

        var v1 = Load(1, maxBatch: 8); // the model's own limit (8) is below the batching limit (32)
        SwapTo(actor, v1);
        actor.Tell(Request(2, new float[31], 2), probe.Ref);
        var wrongLength = ExpectRejected(probe, 2, InferRejectReason.BadInput).Detail;
        Assert.Contains("31", wrongLength);
        Assert.Contains("expected 32", wrongLength);

        actor.Tell(Request(3, [], 0), probe.Ref);
        Assert.Contains("count 0 is outside 1..8", ExpectRejected(probe, 3, InferRejectReason.BadInput).Detail);

        actor.Tell(Request(4, new float[9 * 16], 9), probe.Ref);
        Assert.Contains("count 9 is outside 1..8", ExpectRejected(probe, 4, InferRejectReason.BadInput).Detail);

        actor.Tell(new Infer("other", 5, 1, new float[16], InferencePriority.Normal), probe.Ref);
        var other = Assert.IsType<InferRejected>(probe.ExpectMsg<IInferenceEvent>(Wait));
        Assert.Equal(InferRejectReason.NoModel, other.Reason);
        Assert.Contains("'other'", other.Detail);

        var stats = StatsOf(actor);
        // the provider this machine should give (independent of the process's own decision), primary and serving
        var provider = MachineFacts.ExpectedProvider;
        Assert.Equal(new LoadedModel(ModelName, 1, 0, 0, 0, 0, 0, 0, "", new SessionHealth(provider, provider, 0, 0, 0, 0, "", 0)), stats);
    }

    [Fact]
    public void InferenceActor_batching_settings_should_bind_from_HOCON_and_name_a_bad_key()
    {
        var s = BatchingSettings.FromConfig(ConfigurationFactory.ParseString("""
            max-batch-size = 64
            max-queue-delay-us = 1500
            preferred-batch-sizes = [32, 8, 16, 8]
            max-queue-length = 100
            """));
        Assert.Equal(64, s.MaxBatchSize);
        Assert.Equal(TimeSpan.FromMicroseconds(1500), s.MaxQueueDelay);
        Assert.Equal([8, 16, 32], s.PreferredBatchSizes);
        Assert.Equal(100, s.MaxQueueLength);
        Assert.Same(BatchingSettings.Default, BatchingSettings.FromConfig(null));
        Assert.Equal(TimeSpan.FromMilliseconds(2), BatchingSettings.Default.MaxQueueDelay);

        Assert.Contains("max-batch-size", Assert.Throws<ArgumentException>(() =>
            BatchingSettings.FromConfig(ConfigurationFactory.ParseString("max-batch-size = 0"))).Message);
        Assert.Contains("preferred-batch-sizes", Assert.Throws<ArgumentException>(() =>
            BatchingSettings.FromConfig(ConfigurationFactory.ParseString("max-batch-size = 8\nmax-batch-size-cuda = 0\npreferred-batch-sizes = [4, 16]"))).Message);
        Assert.Contains("max-queue-delay-us", Assert.Throws<ArgumentException>(() =>
            BatchingSettings.FromConfig(ConfigurationFactory.ParseString("max-queue-delay-us = -1"))).Message);
        Assert.Contains("max-queue-length", Assert.Throws<ArgumentException>(() =>
            BatchingSettings.FromConfig(ConfigurationFactory.ParseString("max-queue-length = lots"))).Message);
    }
}
