using EdgeActors.Actors.Ingestion;

namespace EdgeActors.Tests.Ingestion;

public class SequenceTrackerTests
{
    [Fact]
    public void Fresh_tracker_should_report_nothing()
    {
        var t = new SequenceTracker(64);
        Assert.False(t.HasAny);
        Assert.Equal(-1, t.Last);
        Assert.Equal(-1, t.HighestContiguous);
        Assert.False(t.IsAccepted(0));
        Assert.False(t.IsResolved(0));
    }

    [Fact]
    public void HighestContiguous_should_follow_a_contiguous_run()
    {
        var t = new SequenceTracker(64);
        for (var s = 1; s <= 10; s++)
        {
            t.Mark(s, accepted: s % 3 != 0); // rejected answers count as answered
            Assert.Equal(s, t.HighestContiguous);
            Assert.Equal(s, t.Last);
        }
        Assert.True(t.IsAccepted(1));
        Assert.False(t.IsAccepted(3));
        Assert.True(t.IsResolved(3));
    }

    [Fact]
    public void Gap_should_hold_HighestContiguous_until_answered()
    {
        var t = new SequenceTracker(64);
        t.Mark(1, true);
        t.Mark(2, true);
        t.Mark(5, true);
        t.Mark(6, true);
        Assert.Equal(2, t.HighestContiguous);
        Assert.Equal(6, t.Last);
        Assert.False(t.IsResolved(3));
        Assert.False(t.IsAccepted(3));

        t.Mark(4, accepted: false); // late answer, still a gap at 3
        Assert.Equal(2, t.HighestContiguous);

        t.Mark(3, accepted: false); // the OutOfOrder answer releases it
        Assert.Equal(6, t.HighestContiguous);
        Assert.True(t.IsResolved(3));
        Assert.False(t.IsAccepted(3));
        Assert.Equal(6, t.Last);
    }

    [Fact]
    public void Window_should_give_up_gaps_that_slide_out()
    {
        var t = new SequenceTracker(8);
        t.Mark(1, true);
        for (var s = 3; s <= 9; s++)
            t.Mark(s, true);
        Assert.Equal(1, t.HighestContiguous); // gap at 2, still inside (9 - 8, 9]

        t.Mark(10, true); // 2 slides out: given up
        Assert.Equal(10, t.HighestContiguous);
        Assert.True(t.IsResolved(2));

        t.Mark(2, true); // too old: ignored
        Assert.False(t.IsAccepted(2));
        Assert.Equal(10, t.Last);
    }

    [Fact]
    public void Big_jump_should_clear_the_window_and_raise_HighestContiguous_to_its_floor()
    {
        var t = new SequenceTracker(16);
        for (var s = 1; s <= 16; s++)
            t.Mark(s, true);

        t.Mark(1000, true);

        Assert.Equal(984, t.HighestContiguous); // 1000 - 16; 985..999 never received
        Assert.False(t.IsAccepted(16));
        Assert.False(t.IsResolved(985));
        Assert.True(t.IsAccepted(1000));
        t.Mark(985, false);
        Assert.Equal(985, t.HighestContiguous);
    }

    [Fact]
    public void Fresh_tracker_should_start_at_its_first_sequence()
    {
        var t = new SequenceTracker(4096);
        t.Mark(1000, true);
        Assert.Equal(999, t.Baseline);
        Assert.Equal(1000, t.HighestContiguous);
        Assert.Equal(1000, t.Last);
        Assert.True(t.IsResolved(500)); // before the start: nothing to answer
        Assert.False(t.IsAccepted(999));

        t.Mark(999, true); // below the start: not tracked
        Assert.False(t.IsAccepted(999));
        t.Mark(1002, true);
        Assert.Equal(1000, t.HighestContiguous);
        t.Mark(1001, false);
        Assert.Equal(1002, t.HighestContiguous);
    }

    [Fact]
    public void Slots_should_not_leak_across_window_wrap()
    {
        var t = new SequenceTracker(4);
        t.Mark(1, true);
        t.Mark(2, false);
        t.Mark(3, true);
        t.Mark(4, true);
        t.Mark(6, false); // slot of 2 reused by 6, slot of 1 (=5) becomes a gap
        Assert.False(t.IsAccepted(5));
        Assert.False(t.IsResolved(5));
        Assert.False(t.IsAccepted(6));
        Assert.True(t.IsResolved(6));
        Assert.Equal(4, t.HighestContiguous);
        Assert.False(t.IsAccepted(1)); // out of the window now
    }

    [Fact]
    public void Accepted_should_be_sticky()
    {
        var t = new SequenceTracker(8);
        t.Mark(1, true);
        t.Mark(1, false);
        Assert.True(t.IsAccepted(1));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(100)]
    public void Window_must_be_a_power_of_two(int window) =>
        Assert.Throws<ArgumentException>(() => new SequenceTracker(window));

    [Fact]
    public void Tracker_should_allocate_no_bits_until_the_first_mark_and_grow_only_with_the_tracked_span()
    {
        var t = new SequenceTracker(4096);
        Assert.Equal(0, t.AllocatedBits);
        for (var s = 1000; s < 1010; s++) t.Mark(s, true);
        Assert.Equal(64, t.AllocatedBits);
        t.Mark(1200, true);
        Assert.Equal(256, t.AllocatedBits);
        Assert.True(t.IsAccepted(1005));
        Assert.False(t.IsResolved(1100));
        t.Mark(100_000, true);
        Assert.Equal(4096, t.AllocatedBits);
    }

    /// <summary>A growing tracker answers exactly like a naive model of the window rules (sets keyed by sequence).</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Growing_tracker_should_answer_like_a_naive_model(int seed)
    {
        const int window = 256;
        var rng = new Random(seed);
        var t = new SequenceTracker(window);
        var m = new NaiveTracker(window);
        long next = rng.Next(0, 1000);
        for (var op = 0; op < 3000; op++)
        {
            var roll = rng.Next(100);
            long seq = roll switch
            {
                < 50 => next + rng.Next(1, 4),
                < 55 => next + rng.Next(1, 600),
                < 95 => Math.Max(0, next - rng.Next(0, 300)),
                _ => next,
            };
            if (roll is >= 90 and < 95)
            {
                t.Unaccept(seq);
                m.Unaccept(seq);
            }
            else
            {
                var accepted = rng.Next(4) != 0;
                t.Mark(seq, accepted);
                m.Mark(seq, accepted);
            }
            next = Math.Max(next, seq);
            Assert.Equal(m.Last, t.Last);
            Assert.Equal(m.Hc, t.HighestContiguous);
            for (var q = Math.Max(0, m.Last - 300); q <= m.Last + 2; q++)
            {
                Assert.Equal(m.IsAccepted(q), t.IsAccepted(q));
                Assert.Equal(m.IsResolved(q), t.IsResolved(q));
                Assert.Equal(m.IsRetryable(q), t.IsRetryable(q));
            }
        }
        Assert.Equal(window, t.AllocatedBits);
    }

    private sealed class NaiveTracker(int window)
    {
        private readonly HashSet<long> _seen = [], _accepted = [], _retry = [];
        private bool _any;
        private long _baseline = -1;
        public long Last { get; private set; } = -1;
        public long Hc { get; private set; } = -1;

        private bool InWindow(long s) => _any && s <= Last && s > _baseline && s > Last - window;
        public bool IsAccepted(long s) => InWindow(s) && _accepted.Contains(s);
        public bool IsRetryable(long s) => InWindow(s) && _retry.Contains(s);
        public bool IsResolved(long s) => _any && (s <= Hc || (InWindow(s) && _seen.Contains(s)));

        public void Unaccept(long s)
        {
            if (!InWindow(s)) return;
            _accepted.Remove(s);
            _retry.Add(s);
        }

        public void Mark(long s, bool accepted)
        {
            if (!_any)
            {
                _any = true;
                _baseline = s - 1;
                Last = _baseline;
                Hc = _baseline;
            }
            if (s > Last)
            {
                for (var g = Last + 1; g <= s; g++)
                {
                    _seen.Remove(g);
                    _accepted.Remove(g);
                    _retry.Remove(g);
                }
                Last = s;
                Hc = Math.Max(Hc, s - window);
            }
            else if (s <= _baseline || s <= Last - window) return;
            _seen.Add(s);
            _retry.Remove(s);
            if (accepted) _accepted.Add(s);
            while (Hc < Last && _seen.Contains(Hc + 1)) Hc++;
        }
    }
}
