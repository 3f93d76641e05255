using EdgeActors.Inference.Runtime;

namespace EdgeActors.Tests.Inference.Runtime;

public sealed class BatchQueueTests
{
    /// <summary>A clock that moves only when told (ticks of 100 ns).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1_000_000;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _ticks;
        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(2);

    private static (BatchQueue<string> Queue, ManualClock Clock) Create(int maxLength = 100, int[]? preferred = null)
    {
        var clock = new ManualClock();
        return (new BatchQueue<string>(maxLength, Delay, preferred ?? [], clock), clock);
    }

    [Fact]
    public void TryEnqueue_should_refuse_a_request_once_max_length_requests_wait_and_count_the_refusal()
    {
        var (q, _) = Create(maxLength: 2);
        Assert.True(q.TryEnqueue("a", 1, high: false));
        Assert.True(q.TryEnqueue("b", 1, high: true));
        Assert.False(q.TryEnqueue("c", 1, high: true)); // both priorities count against the same bound
        Assert.False(q.TryEnqueue("d", 1, high: false));
        Assert.Equal((2, 2, 2L), (q.Depth, q.QueuedSamples, q.Refused));

        Assert.Equal(["b"], q.Take(1));
        Assert.True(q.TryEnqueue("e", 3, high: false)); // room again
        Assert.Equal((2, 4, 2L), (q.Depth, q.QueuedSamples, q.Refused));
    }

    [Fact]
    public void Take_should_put_High_requests_first_and_keep_arrival_order_within_a_level()
    {
        var (q, _) = Create();
        q.TryEnqueue("n1", 1, high: false);
        q.TryEnqueue("h1", 1, high: true);
        q.TryEnqueue("n2", 1, high: false);
        q.TryEnqueue("h2", 1, high: true);
        Assert.Equal(["h1", "h2", "n1", "n2"], q.Take(100));
        Assert.Equal((0, 0), (q.Depth, q.QueuedSamples));
    }

    [Fact]
    public void Take_should_cut_the_batch_at_the_target_without_splitting_a_request()
    {
        var (q, _) = Create();
        q.TryEnqueue("a", 3, high: false);
        q.TryEnqueue("b", 3, high: false);
        q.TryEnqueue("c", 3, high: false);
        Assert.Equal(["a", "b"], q.Take(7)); // 6 samples; c would make 9
        Assert.Equal((1, 3), (q.Depth, q.QueuedSamples));
        Assert.Equal(["c"], q.Take(7));
        Assert.Empty(q.Take(7));
    }

    [Fact]
    public void Take_should_always_take_the_first_request_even_when_it_is_larger_than_the_target()
    {
        var (q, _) = Create();
        q.TryEnqueue("big", 10, high: false);
        q.TryEnqueue("small", 1, high: false);
        Assert.Equal(["big"], q.Take(4));
        Assert.Equal(1, q.QueuedSamples);
    }

    [Fact]
    public void A_High_request_that_does_not_fit_should_block_the_Normal_ones_behind_it()
    {
        var (q, _) = Create();
        q.TryEnqueue("n1", 1, high: false);
        q.TryEnqueue("h1", 3, high: true);
        q.TryEnqueue("h2", 5, high: true);
        Assert.Equal(["h1"], q.Take(4)); // n1 would fit, but h2 is ahead of it
        Assert.Equal(["h2", "n1"], q.Take(8));
    }

    [Fact]
    public void Plan_should_be_idle_when_nothing_is_queued()
    {
        var (q, _) = Create();
        Assert.Equal(BatchPlanKind.Idle, q.Plan(8).Kind);
        q.TryEnqueue("a", 1, high: false);
        q.Take(8);
        Assert.Equal(BatchPlanKind.Idle, q.Plan(8, flushFor: 0).Kind);
    }

    [Fact]
    public void Plan_should_dispatch_at_once_when_the_queued_samples_fill_the_maximum_batch()
    {
        var (q, _) = Create();
        q.TryEnqueue("a", 2, high: false);
        Assert.Equal(BatchPlanKind.Wait, q.Plan(4).Kind);
        q.TryEnqueue("b", 3, high: false);
        Assert.Equal(BatchPlan.DispatchUpTo(4), q.Plan(4)); // 5 queued, no waiting
    }

    [Fact]
    public void Plan_should_wait_the_rest_of_the_oldest_requests_delay_then_dispatch_up_to_the_maximum()
    {
        var (q, clock) = Create();
        q.TryEnqueue("a", 1, high: false);
        clock.Advance(TimeSpan.FromMilliseconds(0.5));
        q.TryEnqueue("b", 1, high: false);
        Assert.Equal(BatchPlan.WaitFor(0, TimeSpan.FromMilliseconds(1.5)), q.Plan(8));
        clock.Advance(TimeSpan.FromMilliseconds(1.5));
        Assert.Equal(BatchPlan.DispatchUpTo(8), q.Plan(8));
        Assert.Equal(["a", "b"], q.Take(8));
    }

    [Fact]
    public void Plan_should_wait_for_the_oldest_request_of_either_priority()
    {
        var (q, clock) = Create();
        q.TryEnqueue("normal", 1, high: false);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        q.TryEnqueue("high", 1, high: true);
        Assert.Equal(BatchPlan.WaitFor(0, TimeSpan.FromMilliseconds(1)), q.Plan(8)); // the Normal one came first

        var (q2, clock2) = Create();
        q2.TryEnqueue("high", 1, high: true);
        clock2.Advance(TimeSpan.FromMilliseconds(1));
        q2.TryEnqueue("normal", 1, high: false);
        Assert.Equal(BatchPlan.WaitFor(0, TimeSpan.FromMilliseconds(1)), q2.Plan(8));
    }

    [Fact]
    public void Plan_should_dispatch_when_the_timer_of_the_oldest_request_fired_even_if_the_clock_is_a_little_short()
    {
        var (q, clock) = Create();
        q.TryEnqueue("a", 1, high: false);
        q.TryEnqueue("b", 1, high: false);
        clock.Advance(TimeSpan.FromMilliseconds(1.9));
        Assert.Equal(BatchPlanKind.Wait, q.Plan(8, flushFor: 1).Kind); // b's timer: not the oldest
        Assert.Equal(BatchPlan.DispatchUpTo(8), q.Plan(8, flushFor: 0));
    }

    [Fact]
    public void Plan_should_prefer_the_largest_preferred_size_within_the_maximum_batch()
    {
        var (q, _) = Create(preferred: [4, 2, 16, 4]);
        q.TryEnqueue("a", 3, high: false);
        Assert.Equal(BatchPlanKind.Wait, q.Plan(8).Kind); // threshold 4 (16 is above the maximum of 8)
        q.TryEnqueue("b", 1, high: false);
        Assert.Equal(BatchPlan.DispatchUpTo(4), q.Plan(8));
        Assert.Equal(BatchPlan.DispatchUpTo(2), q.Plan(3)); // a model allowing 3: the threshold is 2

        // due with fewer than the threshold: the largest preferred size within what is queued
        var (due, dueClock) = Create(preferred: [2, 4]);
        due.TryEnqueue("a", 3, high: false);
        dueClock.Advance(Delay);
        Assert.Equal(BatchPlan.DispatchUpTo(2), due.Plan(8));
        // ... unless no more than the smallest preferred size is queued: then anything up to the maximum
        var (few, fewClock) = Create(preferred: [2, 4]);
        few.TryEnqueue("a", 2, high: false);
        fewClock.Advance(Delay);
        Assert.Equal(BatchPlan.DispatchUpTo(8), few.Plan(8));
    }

    [Fact]
    public void RemoveWhere_should_return_the_removed_requests_with_their_reasons_and_keep_the_rest_in_order()
    {
        var (q, clock) = Create();
        q.TryEnqueue("n-keep", 1, high: false);
        q.TryEnqueue("n-drop", 2, high: false);
        q.TryEnqueue("h-drop", 3, high: true);
        q.TryEnqueue("h-keep", 4, high: true);
        var removed = q.RemoveWhere(item => item.EndsWith("drop", StringComparison.Ordinal) ? "too big: " + item : null);
        Assert.Equal([("h-drop", "too big: h-drop"), ("n-drop", "too big: n-drop")], removed);
        Assert.Equal((2, 5), (q.Depth, q.QueuedSamples));
        // the kept requests keep their place in time: n-keep (seq 0) is still the oldest
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(BatchPlan.WaitFor(0, TimeSpan.FromMilliseconds(1)), q.Plan(8));
        Assert.Equal(["h-keep", "n-keep"], q.Take(8));
    }

    [Fact]
    public void Clear_should_return_every_queued_request_High_first_and_leave_the_queue_empty()
    {
        var (q, _) = Create();
        q.TryEnqueue("n1", 1, high: false);
        q.TryEnqueue("h1", 2, high: true);
        q.TryEnqueue("n2", 3, high: false);
        Assert.Equal(["h1", "n1", "n2"], q.Clear());
        Assert.Equal((0, 0), (q.Depth, q.QueuedSamples));
        Assert.Equal(BatchPlanKind.Idle, q.Plan(8).Kind);
    }

    [Fact]
    public void Constructor_should_reject_a_bound_below_one_and_a_negative_delay()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchQueue<string>(0, Delay, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchQueue<string>(1, TimeSpan.FromTicks(-1), []));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchQueue<string>(1, Delay, [0, 4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchQueue<string>(1, Delay, []).TryEnqueue("empty", 0, high: false));
    }
}
