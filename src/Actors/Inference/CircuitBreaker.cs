using EdgeActors.Messages;
using EdgeActors.Resilience;

namespace EdgeActors.Actors.Inference;

/// <summary>
/// The state machine of a circuit breaker on calls identified by a number (<see cref="BreakerSettings"/>), without
/// timers or actors: closed, it lets every call through and counts consecutive failures; after
/// <see cref="BreakerSettings.MaxFailures"/> it opens for <see cref="BreakerSettings.ResetTimeout"/>; when its owner
/// reports that time over (<see cref="ResetTimeoutElapsed"/>) it is half-open and lets exactly one trial call through;
/// the trial's success closes it, its failure opens it again for twice as long, up to
/// <see cref="BreakerSettings.MaxResetTimeout"/>. The clock only dates <see cref="HalfOpenAt"/> for the status.
/// One owner (e.g. an actor); not thread-safe.
/// </summary>
internal sealed class CircuitBreaker
{
    private readonly BreakerSettings _settings;
    private readonly Func<DateTimeOffset> _clock;
    private readonly Backoff _openFor;
    private long _trial = -1;

    public CircuitBreaker(BreakerSettings settings, Func<DateTimeOffset>? clock = null)
    {
        _settings = settings;
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
        _openFor = new Backoff(settings.ResetTimeout, settings.MaxResetTimeout);
    }

    public CircuitState State { get; private set; } = CircuitState.Closed;

    /// <summary>Consecutive failures (closed), or those that opened it plus failed trials (open, half-open).</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>How often it opened.</summary>
    public long Opens { get; private set; }

    /// <summary>Calls refused because it was open (or half-open with the trial under way).</summary>
    public long Refused { get; private set; }

    /// <summary>When it is due to turn half-open (open only).</summary>
    public DateTimeOffset? HalfOpenAt { get; private set; }

    public string LastFailure { get; private set; } = "";

    /// <summary>Whether call <paramref name="id"/> may go through; half-open lets exactly one trial through.</summary>
    public bool TryAcquire(long id)
    {
        switch (State)
        {
            case CircuitState.Closed:
                return true;
            case CircuitState.HalfOpen when _trial < 0:
                _trial = id;
                return true;
            default:
                Refused++;
                return false;
        }
    }

    /// <summary>Call <paramref name="id"/> succeeded; true if that closed the breaker (it was the trial).</summary>
    public bool Succeeded(long id)
    {
        if (State == CircuitState.Closed)
        {
            ConsecutiveFailures = 0;
        }
        else if (State == CircuitState.HalfOpen && id == _trial)
        {
            State = CircuitState.Closed;
            ConsecutiveFailures = 0;
            _trial = -1;
            _openFor.Reset();
            return true;
        }
        // open: a late answer to a call sent before it opened proves little; the trial decides
        return false;
    }

    /// <summary>Call <paramref name="id"/> failed because of <paramref name="why"/>; if that opened the breaker, for how long.</summary>
    public TimeSpan? Failed(long id, string why)
    {
        LastFailure = why;
        switch (State)
        {
            case CircuitState.Closed:
                ConsecutiveFailures++;
                if (ConsecutiveFailures < _settings.MaxFailures) return null;
                _openFor.Reset();
                return Open();
            case CircuitState.HalfOpen when id == _trial:
                ConsecutiveFailures++;
                return Open();
            default:
                return null;
        }
    }

    /// <summary>The open time is over: half-open (true), unless it is not open (false).</summary>
    public bool ResetTimeoutElapsed()
    {
        if (State != CircuitState.Open) return false;
        State = CircuitState.HalfOpen;
        HalfOpenAt = null;
        _trial = -1;
        return true;
    }

    public CircuitBreakerStatus Status() =>
        new(State, ConsecutiveFailures, Opens, Refused, HalfOpenAt?.ToUnixTimeMilliseconds() ?? 0, LastFailure);

    private TimeSpan Open()
    {
        var openFor = _openFor.Next();
        State = CircuitState.Open;
        Opens++;
        _trial = -1;
        HalfOpenAt = _clock() + openFor;
        return openFor;
    }
}
