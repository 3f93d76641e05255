using EdgeActors.Inference.Runtime;

namespace EdgeActors.Tests.Inference.Runtime;

public sealed class FaultInjectorTests
{
    private static readonly OnnxModelInfo Info = new("lin", 3, [4]);

    /// <summary>For each of <paramref name="runs"/> runs on <paramref name="session"/>: the injected kind, or null when it went ahead.</summary>
    private static InjectedFault?[] Outcomes(FaultInjector injector, object session, int runs) =>
        Enumerable.Range(0, runs).Select(_ =>
        {
            try
            {
                injector.BeforeRun(session);
                return (InjectedFault?)null;
            }
            catch (InjectedFaultException ex)
            {
                return ex.Kind;
            }
        }).ToArray();

    [Fact]
    public void For_should_give_no_injector_when_injection_is_off()
    {
        Assert.Null(FaultInjector.For(FaultInjectionSettings.Off, Info, ExecutionProvider.Cpu));
        Assert.NotNull(FaultInjector.For(new FaultInjectionSettings { FailureProbability = 0.1 }, Info, ExecutionProvider.Cpu));
    }

    [Fact]
    public void The_same_seed_and_model_should_inject_the_same_faults_and_another_version_other_ones()
    {
        var settings = new FaultInjectionSettings { FailureProbability = 0.3, Kinds = [InjectedFault.Error, InjectedFault.OutOfMemory] };
        var a = Outcomes(FaultInjector.For(settings, Info, ExecutionProvider.Cpu)!, new object(), 200);
        var b = Outcomes(FaultInjector.For(settings, Info, ExecutionProvider.Cpu)!, new object(), 200);
        var other = Outcomes(FaultInjector.For(settings, Info with { Version = 4 }, ExecutionProvider.Cpu)!, new object(), 200);
        Assert.Equal(a, b);
        Assert.NotEqual(a, other);
        Assert.InRange(a.Count(o => o is not null), 30, 90); // about 30% of 200
        Assert.Contains(InjectedFault.Error, a.OfType<InjectedFault>());
        Assert.Contains(InjectedFault.OutOfMemory, a.OfType<InjectedFault>());
    }

    [Fact]
    public void Injection_should_stop_at_the_limit()
    {
        var injector = FaultInjector.For(new FaultInjectionSettings { FailureProbability = 1, Kinds = [InjectedFault.Error], Limit = 3 }, Info, ExecutionProvider.Cuda)!;
        var outcomes = Outcomes(injector, new object(), 10);
        Assert.Equal([InjectedFault.Error, InjectedFault.Error, InjectedFault.Error, null, null, null, null, null, null, null], outcomes);
        Assert.Equal(3, injector.Injected);
    }

    [Fact]
    public void A_corrupt_session_should_fail_every_run_past_the_limit_until_another_session_runs()
    {
        var injector = FaultInjector.For(new FaultInjectionSettings { FailureProbability = 1, Kinds = [InjectedFault.Corrupt], Limit = 1 }, Info, ExecutionProvider.Cuda)!;
        var session = new object();
        var first = Assert.Throws<InjectedFaultException>(() => injector.BeforeRun(session));
        Assert.Equal(InjectedFault.Corrupt, first.Kind);
        Assert.Contains("CUDA session", first.Message);
        var again = Assert.Throws<InjectedFaultException>(() => injector.BeforeRun(session));
        Assert.Contains("still corrupt", again.Message);
        Assert.Equal(1, injector.Injected);

        injector.BeforeRun(new object()); // a rebuilt session is not corrupt, and the limit is reached: it runs
    }
}
