using EdgeActors.Resilience;

namespace EdgeActors.Tests.Resilience;

/// <summary>The shared exponential backoff: first delay, doubling, cap, jitter range, the stateful counter and its reset.</summary>
public sealed class BackoffTests
{
    private static readonly TimeSpan Ms100 = TimeSpan.FromMilliseconds(100);

    [Fact]
    public void The_first_attempt_should_wait_the_minimum_and_each_next_one_twice_as_long()
    {
        var b = new Backoff(Ms100, TimeSpan.FromSeconds(10));
        Assert.Equal([100, 200, 400, 800, 1600], Enumerable.Range(1, 5).Select(a => b.Delay(a).TotalMilliseconds));
    }

    [Fact]
    public void Delays_should_stop_growing_at_the_maximum()
    {
        var b = new Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));
        Assert.Equal(TimeSpan.FromSeconds(16), b.Delay(6));
        Assert.Equal(TimeSpan.FromSeconds(30), b.Delay(7));
        Assert.Equal(TimeSpan.FromSeconds(30), b.Delay(int.MaxValue));
    }

    [Fact]
    public void Attempts_below_one_should_count_as_the_first()
    {
        var b = new Backoff(Ms100, TimeSpan.FromSeconds(1));
        Assert.Equal(Ms100, b.Delay(0));
        Assert.Equal(Ms100, b.Delay(-5));
    }

    [Fact]
    public void An_uncapped_backoff_should_not_overflow()
    {
        var b = new Backoff(TimeSpan.FromMilliseconds(200), TimeSpan.MaxValue, jitter: 0.5, random: () => 0.999999);
        Assert.Equal(TimeSpan.FromMilliseconds(200) * Math.Pow(2, 30), b.Base(1_000));
        Assert.True(b.Delay(1_000) > b.Base(1_000));
    }

    [Theory]
    [InlineData(0.0, 50)]
    [InlineData(0.5, 100)]
    [InlineData(0.999999, 150)]
    public void Jitter_should_spread_the_capped_delay_by_the_given_fraction(double random, double expectedMs)
    {
        var b = new Backoff(Ms100, TimeSpan.FromMilliseconds(400), jitter: 0.5, random: () => random);
        Assert.Equal(expectedMs, b.Delay(1).TotalMilliseconds, 3);
        Assert.Equal(expectedMs * 4, b.Delay(10).TotalMilliseconds, 3); // capped at 400 ms, then jittered
    }

    [Fact]
    public void Jittered_delays_should_stay_within_the_range()
    {
        var b = new Backoff(Ms100, TimeSpan.FromSeconds(2), jitter: 0.5, random: new Random(1).NextDouble);
        for (var attempt = 1; attempt <= 8; attempt++)
        {
            var center = b.Base(attempt).TotalMilliseconds;
            for (var i = 0; i < 100; i++)
            {
                var d = b.Delay(attempt).TotalMilliseconds;
                Assert.InRange(d, center * 0.5, center * 1.5);
            }
        }
    }

    [Fact]
    public void Next_should_count_attempts_and_reset_should_start_over()
    {
        var b = new Backoff(Ms100, TimeSpan.FromMilliseconds(300));
        Assert.Equal([100, 200, 300, 300], new[] { b.Next(), b.Next(), b.Next(), b.Next() }.Select(d => d.TotalMilliseconds));
        Assert.Equal(4, b.Attempt);
        b.Reset();
        Assert.Equal(0, b.Attempt);
        Assert.Equal(Ms100, b.Next());
    }

    [Fact]
    public void Invalid_settings_should_be_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(Ms100, TimeSpan.FromSeconds(1), jitter: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(Ms100, TimeSpan.FromSeconds(1), jitter: double.NaN));
    }
}
