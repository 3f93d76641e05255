namespace EdgeActors.Resilience;

/// <summary>
/// Exponential backoff: the delay before try <c>attempt</c> (1-based) is <see cref="Min"/> · 2^(attempt-1), capped at
/// <see cref="Max"/>, then spread by ±<see cref="Jitter"/> (0.5: anywhere in [0.5, 1.5) times the capped delay, so many
/// callers that failed together do not retry together). Use <see cref="Delay(int)"/> with a counter of your own, or the
/// stateful <see cref="Next()"/> / <see cref="Reset"/>. Not thread-safe for the stateful use (one owner, e.g. an actor).
/// </summary>
public sealed class Backoff
{
    /// <summary>The exponent stops growing here (2^30 · Min is far beyond any sensible Max).</summary>
    private const int MaxDoublings = 30;
    private readonly Func<double> _random;

    /// <param name="min">The first delay (positive).</param>
    /// <param name="max">The largest delay before jitter (at least <paramref name="min"/>).</param>
    /// <param name="jitter">The relative spread, 0 (none) to 1.</param>
    /// <param name="random">A source of uniform numbers in [0, 1) for the jitter; <see cref="Random.Shared"/> by default.</param>
    public Backoff(TimeSpan min, TimeSpan max, double jitter = 0, Func<double>? random = null)
    {
        if (min <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(min), min, "the first delay must be positive");
        if (max < min) throw new ArgumentOutOfRangeException(nameof(max), max, $"must be >= the first delay {min}");
        if (!(jitter is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(jitter), jitter, "must be between 0 and 1");
        Min = min;
        Max = max;
        Jitter = jitter;
        _random = random ?? Random.Shared.NextDouble;
    }

    public TimeSpan Min { get; }
    public TimeSpan Max { get; }
    public double Jitter { get; }

    /// <summary>The tries counted by <see cref="Next()"/> since the last <see cref="Reset"/>.</summary>
    public int Attempt { get; private set; }

    /// <summary>The delay before try <paramref name="attempt"/> (1-based; below 1 counts as 1), without jitter.</summary>
    public TimeSpan Base(int attempt)
    {
        var ticks = Min.Ticks * Math.Pow(2, Math.Clamp(attempt - 1, 0, MaxDoublings));
        return ticks >= Max.Ticks ? Max : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The delay before try <paramref name="attempt"/> (1-based), with jitter.</summary>
    public TimeSpan Delay(int attempt)
    {
        var d = Base(attempt);
        return Jitter == 0 ? d : TimeSpan.FromTicks((long)(d.Ticks * (1 - Jitter + 2 * Jitter * _random())));
    }

    /// <summary>Counts one more try and returns its delay: <see cref="Min"/>, 2·Min, … up to <see cref="Max"/> (with jitter).</summary>
    public TimeSpan Next() => Delay(Attempt < int.MaxValue ? ++Attempt : Attempt);

    /// <summary>Starts over: the next <see cref="Next()"/> returns <see cref="Min"/> again.</summary>
    public void Reset() => Attempt = 0;
}
