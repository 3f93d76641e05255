using EdgeActors.Actors.Inference;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Inference;

/// <summary>
/// The circuit breaker's state machine on its own (the frame classifier only runs its timer): failure counting, opening,
/// the single trial when half-open, closing, doubling open time up to the cap. The clock is a field the test sets.
/// </summary>
public sealed class CircuitBreakerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly BreakerSettings Settings = new()
    {
        MaxFailures = 3, ResetTimeout = TimeSpan.FromSeconds(10), MaxResetTimeout = TimeSpan.FromSeconds(30),
    };

    private DateTimeOffset _now = T0;

    private CircuitBreaker Breaker() => new(Settings, () => _now);

    /// <summary>Opens a closed breaker with MaxFailures failed calls 1..3; returns the open time.</summary>
    private static TimeSpan? FailThrice(CircuitBreaker b)
    {
        TimeSpan? opened = null;
        for (var id = 1; id <= 3; id++)
        {
            Assert.True(b.TryAcquire(id));
            opened = b.Failed(id, $"failure {id}");
        }
        return opened;
    }

    [Fact]
    public void A_closed_breaker_should_let_calls_through_and_open_only_after_max_consecutive_failures()
    {
        var b = Breaker();
        Assert.True(b.TryAcquire(1));
        Assert.Null(b.Failed(1, "a"));
        Assert.Null(b.Failed(2, "b"));
        Assert.True(b.Succeeded(3) is false);
        Assert.Equal(0, b.ConsecutiveFailures); // a success resets the count
        Assert.Equal(CircuitState.Closed, b.State);

        Assert.Equal(TimeSpan.FromSeconds(10), FailThrice(b));
        Assert.Equal(CircuitState.Open, b.State);
        Assert.Equal(1, b.Opens);
        Assert.Equal(3, b.ConsecutiveFailures);
        Assert.Equal("failure 3", b.LastFailure);
        Assert.Equal(T0 + TimeSpan.FromSeconds(10), b.HalfOpenAt);
    }

    [Fact]
    public void An_open_breaker_should_refuse_calls_and_count_them()
    {
        var b = Breaker();
        FailThrice(b);
        Assert.False(b.TryAcquire(10));
        Assert.False(b.TryAcquire(11));
        Assert.Equal(2, b.Refused);
        var status = b.Status();
        Assert.Equal(new CircuitBreakerStatus(CircuitState.Open, 3, 1, 2, (T0 + TimeSpan.FromSeconds(10)).ToUnixTimeMilliseconds(), "failure 3"), status);
    }

    [Fact]
    public void A_half_open_breaker_should_let_exactly_one_trial_through_and_close_when_it_succeeds()
    {
        var b = Breaker();
        FailThrice(b);
        _now += TimeSpan.FromSeconds(10);
        Assert.True(b.ResetTimeoutElapsed());
        Assert.Equal(CircuitState.HalfOpen, b.State);
        Assert.Null(b.HalfOpenAt);
        Assert.True(b.TryAcquire(20));
        Assert.False(b.TryAcquire(21)); // the trial is under way
        Assert.False(b.Succeeded(21)); // not the trial
        Assert.Equal(CircuitState.HalfOpen, b.State);
        Assert.True(b.Succeeded(20));
        Assert.Equal(CircuitState.Closed, b.State);
        Assert.Equal(0, b.ConsecutiveFailures);
        Assert.True(b.TryAcquire(22));
    }

    [Fact]
    public void A_failed_trial_should_open_again_for_twice_as_long_up_to_the_cap_and_a_close_should_reset_the_time()
    {
        var b = Breaker();
        Assert.Equal(TimeSpan.FromSeconds(10), FailThrice(b));
        var expected = new[] { 20, 30, 30 };
        var id = 100;
        foreach (var seconds in expected)
        {
            Assert.True(b.ResetTimeoutElapsed());
            Assert.True(b.TryAcquire(++id));
            Assert.Equal(TimeSpan.FromSeconds(seconds), b.Failed(id, "trial failed"));
            Assert.Equal(CircuitState.Open, b.State);
            Assert.Equal(_now + TimeSpan.FromSeconds(seconds), b.HalfOpenAt);
        }
        Assert.Equal(4, b.Opens);
        Assert.Equal(6, b.ConsecutiveFailures);

        Assert.True(b.ResetTimeoutElapsed());
        Assert.True(b.TryAcquire(++id));
        Assert.True(b.Succeeded(id));
        Assert.Equal(TimeSpan.FromSeconds(10), FailThrice(b)); // back to the reset timeout
    }

    [Fact]
    public void Late_answers_and_failures_of_other_calls_should_not_change_an_open_or_half_open_breaker()
    {
        var b = Breaker();
        FailThrice(b);
        Assert.False(b.Succeeded(2)); // a late answer to a call sent before it opened
        Assert.Null(b.Failed(2, "late failure"));
        Assert.Equal(CircuitState.Open, b.State);
        Assert.Equal(3, b.ConsecutiveFailures);

        Assert.True(b.ResetTimeoutElapsed());
        Assert.False(b.ResetTimeoutElapsed()); // only an open breaker turns half-open
        Assert.True(b.TryAcquire(50));
        Assert.Null(b.Failed(49, "not the trial"));
        Assert.Equal(CircuitState.HalfOpen, b.State);
    }
}
