using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Inference;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Inference;

/// <summary>
/// Session recovery of the inference actor on real ONNX models: fault injection makes the primary session's Run fail
/// as a failing GPU would; every answer is compared with a clean CPU session (no fault injection) run on the same input.
/// The retry backoff runs on the test scheduler: it passes only when the test advances it.
/// </summary>
public sealed class SessionRecoveryTests : Akka.TestKit.Xunit2.TestKit
{
    private const string ModelName = "lin";
    private const string Node = "node-a";
    private const int Inputs = 16, Classes = 5;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static readonly Config TestConfig =
        ConfigurationFactory.ParseString("""
            akka.actor.serialize-messages = on
            akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
            """).WithFallback(EdgeSerialization.Config);

    private readonly byte[] _onnx = TestModels.Linear(Inputs, Classes).Onnx;
    private readonly OnnxModel _clean;

    public SessionRecoveryTests() : base(TestConfig)
    {
        _clean = OnnxModel.Load(_onnx, TestModels.Info(ModelName, 1, Inputs, Classes, _onnx), InferenceRuntimeSettings.Default, 32);
    }

    protected override void AfterAll()
    {
        _clean.Dispose();
        base.AfterAll();
    }

    private IActorRef Start(FaultInjectionSettings faults, SessionRecoverySettings recovery)
    {
        var runtime = InferenceRuntimeSettings.Default with { FaultInjection = faults.Validate(), Recovery = recovery };
        var model = OnnxModel.Load(_onnx, TestModels.Info(ModelName, 1, Inputs, Classes, _onnx), runtime, 32);
        // a batch per request: the requests below are sent one at a time
        var actor = Sys.ActorOf(InferenceActor.Props(ModelName, BatchingSettings.Default with { MaxQueueDelay = TimeSpan.Zero }, Node, recovery));
        actor.Tell(new InferenceActor.Swap(model), TestActor);
        ExpectMsg<InferenceActor.Swapped>(Wait);
        return actor;
    }

    /// <summary>Sends one request and checks the answer equals the clean CPU session's output for the same input.</summary>
    private void InferAndCheck(IActorRef actor, long id, Random rng, int count = 2)
    {
        var input = Enumerable.Range(0, count * Inputs).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        actor.Tell(new Infer(ModelName, id, count, input, InferencePriority.Normal), TestActor);
        var reply = ExpectMsg<IInferenceEvent>(Wait);
        if (reply is InferRejected r) Assert.Fail($"request {id} rejected: {r.Reason} {r.Detail}");
        var result = Assert.IsType<InferResult>(reply);
        Assert.Equal(id, result.RequestId);
        var expected = new float[count * Classes];
        _clean.Run(input, count, expected);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - result.Output[i]) <= 1e-6f, $"request {id} output {i}: clean CPU gives {expected[i]}, got {result.Output[i]}");
    }

    private SessionHealth Health(IActorRef actor)
    {
        actor.Tell(InferenceActor.GetStats.Instance, TestActor);
        return ExpectMsg<LoadedModel>(Wait).Session ?? throw new InvalidOperationException("no session health with a model loaded");
    }

    [Fact]
    public void Injected_primary_failures_should_be_answered_with_the_clean_CPU_results_and_the_primary_recreated()
    {
        var actor = Start(new FaultInjectionSettings { FailureProbability = 0.3, Seed = 5 },
            new SessionRecoverySettings { FallbackAfter = 1_000, RetryMin = TimeSpan.FromSeconds(1) });
        var rng = new Random(11);
        for (var id = 1; id <= 120; id++)
        {
            InferAndCheck(actor, id, rng);
            // wait for a failed primary to be recreated, so every request's batch tries the primary first (and the
            // number of injected failures is the seeded sequence's, whatever the machine's load)
            AwaitAssert(() => Assert.Equal(Primary, Health(actor).Serving), Wait);
        }

        var h = Health(actor);
        Assert.True(h.PrimaryFailures >= 15, $"only {h.PrimaryFailures} injected failures in 120 primary runs at p = 0.3");
        // each failure made the primary unusable until it was rebuilt: one recreation and one CPU re-run per failure
        Assert.Equal(h.PrimaryFailures, h.Recreations);
        Assert.Equal(h.PrimaryFailures, h.FallbackBatches);
        Assert.Equal(EdgeActors.Tests.Inference.Runtime.MachineFacts.ExpectedProvider, h.Primary); // CPU on a machine without CUDA, and said so
        Assert.Contains("injected fault", h.FallbackReason);
    }

    [Fact]
    public void Repeated_primary_failures_should_fall_back_to_CPU_and_retry_the_primary_after_the_backoff()
    {
        // every primary Run fails until 3 faults were injected; corrupt: a session keeps failing until it is recreated
        var actor = Start(new FaultInjectionSettings { FailureProbability = 1, Kinds = [InjectedFault.Corrupt], Limit = 3 },
            new SessionRecoverySettings { FallbackAfter = 2, RetryMin = TimeSpan.FromMinutes(1), RetryMax = TimeSpan.FromMinutes(2) });
        var rng = new Random(12);

        InferAndCheck(actor, 1, rng); // failure 1: re-run on CPU, primary recreated
        AwaitAssert(() => Assert.Equal((1L, 1, 1L, Primary), Tuple(Health(actor))), Wait);

        InferAndCheck(actor, 2, rng); // failure 2 = fallback-after: serve from CPU, retry later
        var h = Health(actor);
        Assert.Equal((2L, 2, 1L, "CPU fallback"), Tuple(h));
        Assert.True(h.NextPrimaryRetryMs > 0, "no primary retry scheduled");
        Assert.Contains("illegal memory access", h.FallbackReason);

        InferAndCheck(actor, 3, rng); // on the CPU session: the primary is not touched
        h = Health(actor);
        Assert.Equal((2L, 2, 1L, "CPU fallback"), Tuple(h));
        Assert.Equal(3, h.FallbackBatches);

        // after the backoff the primary is recreated and tried again: it fails (fault 3) and backs off again
        Advance(TimeSpan.FromMinutes(1));
        AwaitAssert(() => Assert.Equal((2L, 2L, Primary), (Health(actor).PrimaryFailures, Health(actor).Recreations, Health(actor).Serving)), Wait);
        InferAndCheck(actor, 4, rng);
        Assert.Equal((3L, 3, 2L, "CPU fallback"), Tuple(Health(actor)));

        // twice as long this time; then the retry finds a working primary: the count resets and batches run on it again
        Advance(TimeSpan.FromMinutes(1));
        Assert.True(Health(actor).NextPrimaryRetryMs > 0, "retried after 1 min although the backoff doubled to 2 min");
        Advance(TimeSpan.FromMinutes(1));
        AwaitAssert(() => Assert.Equal((3L, Primary), (Health(actor).Recreations, Health(actor).Serving)), Wait);
        InferAndCheck(actor, 5, rng);
        h = Health(actor);
        Assert.Equal((3L, 0, 3L, Primary), Tuple(h));
        Assert.Equal(0, h.NextPrimaryRetryMs);
        Assert.Equal(4, h.FallbackBatches); // requests 1-4; request 5 ran on the primary
    }

    private static string Primary => ExecutionProvider.Current;

    private void Advance(TimeSpan by) => ((Akka.TestKit.TestScheduler)Sys.Scheduler).Advance(by);

    private static (long Failures, int Consecutive, long Recreations, string Serving) Tuple(SessionHealth h) =>
        (h.PrimaryFailures, h.ConsecutiveFailures, h.Recreations, h.Serving);

    [Fact]
    public void Corrupt_primary_session_should_keep_failing_until_rebuilt_while_the_CPU_session_serves()
    {
        var runtime = InferenceRuntimeSettings.Default with { FaultInjection = new FaultInjectionSettings { FailureProbability = 1, Kinds = [InjectedFault.Corrupt], Limit = 1 } };
        using var model = OnnxModel.Load(_onnx, TestModels.Info(ModelName, 1, Inputs, Classes, _onnx), runtime, 8);
        var x = new float[Inputs];
        var y = new float[Classes];
        var first = Assert.Throws<InjectedFaultException>(() => model.Run(x, 1, y));
        Assert.Equal(InjectedFault.Corrupt, first.Kind);
        Assert.Throws<InjectedFaultException>(() => model.Run(x, 1, y)); // the limit is reached, but the state stays corrupt
        model.RunOnCpu(x, 1, y);
        var expected = new float[Classes];
        _clean.Run(x, 1, expected);
        Assert.Equal(expected, y);

        model.RebuildPrimary();
        Array.Clear(y);
        model.Run(x, 1, y);
        Assert.Equal(expected, y);
    }

    [Fact]
    public void Recovery_and_fault_injection_settings_should_bind_from_HOCON_and_name_a_bad_key()
    {
        var runtime = InferenceRuntimeSettings.FromConfig(ConfigurationFactory.ParseString("""
            use-cuda = off
            session-recovery { fallback-after = 4, retry-backoff-min = 250ms, retry-backoff-max = 5s }
            fault-injection { failure-probability = 0.05, seed = 9, kinds = [out-of-memory], limit = 7 }
            """));
        Assert.Equal(new SessionRecoverySettings { FallbackAfter = 4, RetryMin = TimeSpan.FromMilliseconds(250), RetryMax = TimeSpan.FromSeconds(5) }, runtime.Recovery);
        Assert.Equal((0.05, 9, 7), (runtime.FaultInjection.FailureProbability, runtime.FaultInjection.Seed, runtime.FaultInjection.Limit));
        Assert.Equal(new[] { InjectedFault.OutOfMemory }, runtime.FaultInjection.Kinds);
        Assert.Equal(TimeSpan.FromSeconds(1), runtime.Recovery.Backoff(6)); // 250ms × 2^(6-4)
        Assert.Equal(TimeSpan.FromSeconds(5), runtime.Recovery.Backoff(40));

        var bad = Assert.Throws<ArgumentException>(() => InferenceRuntimeSettings.FromConfig(ConfigurationFactory.ParseString("fault-injection.failure-probability = 1.5")));
        Assert.Contains("edgeactors.inference.runtime.fault-injection.failure-probability", bad.Message);
        bad = Assert.Throws<ArgumentException>(() => InferenceRuntimeSettings.FromConfig(ConfigurationFactory.ParseString("fault-injection.kinds = [meltdown]")));
        Assert.Contains("edgeactors.inference.runtime.fault-injection.kinds", bad.Message);
        bad = Assert.Throws<ArgumentException>(() => InferenceRuntimeSettings.FromConfig(ConfigurationFactory.ParseString("session-recovery { retry-backoff-min = 2s, retry-backoff-max = 1s }")));
        Assert.Contains("edgeactors.inference.runtime.session-recovery.retry-backoff-max", bad.Message);
        bad = Assert.Throws<ArgumentException>(() => InferenceRuntimeSettings.FromConfig(ConfigurationFactory.ParseString("session-recovery.fallback-after = 0")));
        Assert.Contains("edgeactors.inference.runtime.session-recovery.fallback-after", bad.Message);
    }
}
