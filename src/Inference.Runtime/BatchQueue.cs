namespace EdgeActors.Inference.Runtime;

/// <summary>What <see cref="BatchQueue{T}.Plan"/> advises: nothing queued, wait for the oldest request, or dispatch a batch.</summary>
public enum BatchPlanKind
{
    /// <summary>The queue is empty: no batch and no timer.</summary>
    Idle,
    /// <summary>Too few samples and the oldest request (<see cref="BatchPlan.OldestSeq"/>) is not due: wait <see cref="BatchPlan.Delay"/> for company.</summary>
    Wait,
    /// <summary>Take a batch of at most <see cref="BatchPlan.Target"/> samples now (<see cref="BatchQueue{T}.Take"/>).</summary>
    Dispatch,
}

/// <summary>The advice of <see cref="BatchQueue{T}.Plan"/>; only the members of its <see cref="Kind"/> are meaningful.</summary>
public readonly record struct BatchPlan(BatchPlanKind Kind, int Target, long OldestSeq, TimeSpan Delay)
{
    public static BatchPlan Idle => default;
    public static BatchPlan WaitFor(long oldestSeq, TimeSpan delay) => new(BatchPlanKind.Wait, 0, oldestSeq, delay);
    public static BatchPlan DispatchUpTo(int target) => new(BatchPlanKind.Dispatch, target, -1, TimeSpan.Zero);
}

/// <summary>
/// The dynamic-batching queue of one served model, without the actor around it: requests of one or more samples queued
/// by priority (High first, FIFO within a level, each with a sequence number in arrival order), a bound on the requests
/// waiting (both levels together; one more is refused), and the batching rule:
/// <list type="bullet">
/// <item>a batch is due when the queued samples reach the largest preferred batch size within the maximum batch (the
/// maximum batch itself without preferred sizes), or when the oldest request has waited <see cref="MaxDelay"/> (or its
/// flush timer fired); otherwise the caller should wait the rest of the oldest request's delay;</item>
/// <item>a due batch packs whole requests, never split, High ones first, while the total stays within the target (the
/// first request always goes); a High request that does not fit blocks the Normal ones behind it.</item>
/// </list>
/// Not thread-safe: the owner (the inference actor) calls it from one thread at a time. Akka-free, so it can be tested alone.
/// </summary>
/// <typeparam name="T">The request payload (for the actor: the request and whom to answer).</typeparam>
public sealed class BatchQueue<T>
{
    private readonly record struct Entry(T Item, int Samples, long Seq, long EnqueuedAt);

    private readonly Queue<Entry> _high = new();
    private readonly Queue<Entry> _normal = new();
    private readonly int[] _preferred;
    private readonly TimeProvider _time;
    private long _nextSeq;

    /// <param name="maxLength">Requests that may wait, both priorities together.</param>
    /// <param name="maxDelay">How long the oldest request waits for a fuller batch.</param>
    /// <param name="preferredBatchSizes">Batch sizes to prefer (any order, duplicates ignored); empty: any size up to the maximum batch.</param>
    /// <param name="time">The clock of the queue delay (tests pass a fake one); default the system's.</param>
    public BatchQueue(int maxLength, TimeSpan maxDelay, IEnumerable<int> preferredBatchSizes, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDelay, TimeSpan.Zero);
        _preferred = preferredBatchSizes.Distinct().Order().ToArray();
        if (_preferred.Length > 0) ArgumentOutOfRangeException.ThrowIfLessThan(_preferred[0], 1, nameof(preferredBatchSizes));
        MaxLength = maxLength;
        MaxDelay = maxDelay;
        _time = time ?? TimeProvider.System;
    }

    public int MaxLength { get; }
    public TimeSpan MaxDelay { get; }

    /// <summary>Requests waiting, both priorities.</summary>
    public int Depth => _high.Count + _normal.Count;

    /// <summary>Samples of the requests waiting.</summary>
    public int QueuedSamples { get; private set; }

    /// <summary>Requests refused by <see cref="TryEnqueue"/> because the queue was full.</summary>
    public long Refused { get; private set; }

    /// <summary>
    /// Queues <paramref name="item"/> of <paramref name="samples"/> samples behind those of its priority; false (and
    /// counted in <see cref="Refused"/>) when <see cref="MaxLength"/> requests are already waiting.
    /// </summary>
    public bool TryEnqueue(T item, int samples, bool high)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        if (Depth >= MaxLength)
        {
            Refused++;
            return false;
        }
        (high ? _high : _normal).Enqueue(new Entry(item, samples, _nextSeq++, _time.GetTimestamp()));
        QueuedSamples += samples;
        return true;
    }

    /// <summary>
    /// What to do now for a model whose batches hold at most <paramref name="maxBatch"/> samples.
    /// <paramref name="flushFor"/>: the sequence number whose delay timer fired (that request is due even if the clock
    /// says a little less); -1 for none.
    /// </summary>
    public BatchPlan Plan(int maxBatch, long flushFor = -1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        if (Depth == 0) return BatchPlan.Idle;
        var threshold = LargestPreferredAtMost(maxBatch) ?? maxBatch;
        if (QueuedSamples >= threshold) return BatchPlan.DispatchUpTo(threshold);
        var oldest = Oldest();
        var waited = _time.GetElapsedTime(oldest.EnqueuedAt);
        if (oldest.Seq != flushFor && waited < MaxDelay) return BatchPlan.WaitFor(oldest.Seq, MaxDelay - waited);
        var target = _preferred.Length > 0 && QueuedSamples > _preferred[0]
            ? LargestPreferredAtMost(Math.Min(QueuedSamples, maxBatch)) ?? maxBatch
            : maxBatch;
        return BatchPlan.DispatchUpTo(target);
    }

    /// <summary>
    /// Dequeues whole requests, High first then Normal, each FIFO, while their samples stay within <paramref name="target"/>
    /// (the first one always, whatever its size); a High request that does not fit blocks the Normal ones behind it.
    /// Empty when nothing is queued.
    /// </summary>
    public T[] Take(int target)
    {
        var taken = new List<T>();
        var samples = 0;
        if (Take(_high)) Take(_normal);
        QueuedSamples -= samples;
        return taken.ToArray();

        bool Take(Queue<Entry> queue)
        {
            while (queue.TryPeek(out var next))
            {
                if (taken.Count > 0 && samples + next.Samples > target) return false;
                queue.Dequeue();
                taken.Add(next.Item);
                samples += next.Samples;
            }
            return true;
        }
    }

    /// <summary>
    /// Removes every queued request for which <paramref name="reason"/> gives a reason (High ones first, each level in
    /// order), keeping the others in their order and with their place in time; returns the removed ones with their reasons.
    /// </summary>
    public List<(T Item, TReason Reason)> RemoveWhere<TReason>(Func<T, TReason?> reason) where TReason : class
    {
        var removed = new List<(T, TReason)>();
        if (Depth == 0) return removed;
        QueuedSamples = 0;
        foreach (var queue in new[] { _high, _normal })
        {
            for (var i = queue.Count; i > 0; i--)
            {
                var e = queue.Dequeue();
                if (reason(e.Item) is { } why)
                {
                    removed.Add((e.Item, why));
                    continue;
                }
                queue.Enqueue(e);
                QueuedSamples += e.Samples;
            }
        }
        return removed;
    }

    /// <summary>Empties the queue and returns what was in it, High first, each level in order.</summary>
    public T[] Clear()
    {
        var all = _high.Concat(_normal).Select(e => e.Item).ToArray();
        _high.Clear();
        _normal.Clear();
        QueuedSamples = 0;
        return all;
    }

    private Entry Oldest()
    {
        if (_high.Count == 0) return _normal.Peek();
        if (_normal.Count == 0) return _high.Peek();
        var h = _high.Peek();
        var n = _normal.Peek();
        return h.Seq < n.Seq ? h : n;
    }

    private int? LargestPreferredAtMost(int limit)
    {
        for (var i = _preferred.Length - 1; i >= 0; i--)
        {
            if (_preferred[i] <= limit) return _preferred[i];
        }
        return null;
    }
}
