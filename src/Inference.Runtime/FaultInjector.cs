namespace EdgeActors.Inference.Runtime;

/// <summary>Thrown by a primary session's Run when fault injection (edgeactors.inference.runtime.fault-injection) fails it.</summary>
public sealed class InjectedFaultException(InjectedFault kind, string message) : Exception(message)
{
    public InjectedFault Kind { get; } = kind;
}

/// <summary>
/// Fault injection on one model version's primary session (see <see cref="FaultInjectionSettings"/>): before each Run it
/// decides, from one seeded random sequence per model name, version and seed (so a run can be repeated), whether that Run
/// fails as a failing GPU would, and how. A <see cref="InjectedFault.Corrupt"/> fault marks the session it hit: every
/// later Run on that session fails too (also past the limit) until the session is replaced. Not thread-safe: the
/// model calls it under its primary Run lock.
/// </summary>
public sealed class FaultInjector
{
    private readonly FaultInjectionSettings _settings;
    private readonly Random _random;
    private readonly string _provider;
    /// <summary>The session a Corrupt fault hit (compared by reference; a rebuilt session is a new object).</summary>
    private object? _corrupt;

    private FaultInjector(FaultInjectionSettings settings, OnnxModelInfo info, string provider)
    {
        _settings = settings;
        _provider = provider;
        // one reproducible sequence per model version and seed
        var h = 17;
        foreach (var c in info.Name) h = unchecked(h * 31 + c);
        _random = new Random(unchecked(settings.Seed * 7919 + h * 131 + info.Version));
    }

    /// <summary>The injector for model <paramref name="info"/> served on <paramref name="provider"/>, or null when injection is off.</summary>
    public static FaultInjector? For(FaultInjectionSettings settings, OnnxModelInfo info, string provider) =>
        settings.Enabled ? new FaultInjector(settings, info, provider) : null;

    /// <summary>Faults injected so far (a Run failing on an already corrupt session is not a new one).</summary>
    public int Injected { get; private set; }

    /// <summary>
    /// Called before a Run on <paramref name="session"/>: throws <see cref="InjectedFaultException"/> when the session is
    /// corrupt or this Run is drawn to fail; returns when the Run may go ahead.
    /// </summary>
    public void BeforeRun(object session)
    {
        if (_corrupt is not null && !ReferenceEquals(session, _corrupt)) _corrupt = null; // replaced: the corrupt one never runs again
        if (ReferenceEquals(session, _corrupt))
            throw new InjectedFaultException(InjectedFault.Corrupt, Describe(InjectedFault.Corrupt) + " (the session is still corrupt)");
        if ((_settings.Limit == 0 || Injected < _settings.Limit) && _random.NextDouble() < _settings.FailureProbability)
        {
            Injected++;
            var kinds = _settings.Kinds;
            var kind = kinds[_random.Next(kinds.Length)];
            if (kind == InjectedFault.Corrupt) _corrupt = session;
            throw new InjectedFaultException(kind, Describe(kind));
        }
    }

    private string Describe(InjectedFault kind) => kind switch
    {
        InjectedFault.OutOfMemory => $"injected fault on the {_provider} session: out of memory: failed to allocate memory for requested buffer",
        InjectedFault.Corrupt => $"injected fault on the {_provider} session: an illegal memory access was encountered (session state corrupt)",
        _ => $"injected fault on the {_provider} session: unspecified launch failure",
    };
}
