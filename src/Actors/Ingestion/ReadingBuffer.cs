namespace EdgeActors.Actors.Ingestion;

/// <summary>
/// Bounded ring buffer of accepted, preprocessed readings, oldest overwritten when full (counted in
/// <see cref="Overwritten"/>). The arrays grow on use: they start at <see cref="InitialSlots"/> readings (or
/// <see cref="Capacity"/> if smaller) and double when full until they hold <see cref="Capacity"/>; from then on
/// <see cref="Append"/> never allocates. A device that sent a few readings costs a few hundred bytes instead of the
/// whole capacity (100,000 mostly idle entities per edge); the durable outbox, not this ring, is what keeps the data.
/// Not thread-safe.
/// </summary>
public sealed class ReadingBuffer
{
    /// <summary>Readings the arrays hold before the first growth.</summary>
    public const int InitialSlots = 16;

    private long[] _sequences;
    private long[] _timestamps;
    private float[] _values;
    private int _slots; // readings the arrays hold now (<= Capacity)
    private int _next;  // slot the next reading goes to

    /// <param name="capacity">Readings kept, at least 1.</param>
    /// <param name="channels">Values per reading, 0 or more.</param>
    public ReadingBuffer(int capacity, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(channels);
        Capacity = capacity;
        Channels = channels;
        _slots = Math.Min(capacity, InitialSlots);
        _sequences = new long[_slots];
        _timestamps = new long[_slots];
        _values = new float[checked(_slots * channels)];
    }

    /// <summary>Most readings kept (the configured <c>buffer-capacity</c>).</summary>
    public int Capacity { get; }

    /// <summary>Readings the arrays hold now: grows by doubling up to <see cref="Capacity"/>.</summary>
    public int Allocated => _slots;

    /// <summary>Readings held, at most <see cref="Capacity"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Values per reading.</summary>
    public int Channels { get; private set; }

    /// <summary>Readings dropped because the buffer was full when a newer one was appended.</summary>
    public long Overwritten { get; private set; }

    /// <summary>
    /// Sets the channel count of an empty buffer (the preprocessor learns it from the first well-formed batch),
    /// keeping this instance so that references to it stay valid.
    /// </summary>
    internal void SetChannels(int channels)
    {
        if (Count != 0)
            throw new InvalidOperationException("cannot change the channel count of a non-empty buffer");
        ArgumentOutOfRangeException.ThrowIfNegative(channels);
        if (channels == Channels)
            return;
        Channels = channels;
        _values = new float[checked(_slots * channels)];
    }

    /// <summary>Appends one reading, overwriting the oldest when full. <paramref name="values"/> must hold exactly <see cref="Channels"/> values.</summary>
    public void Append(long sequence, long timestamp, ReadOnlySpan<float> values)
    {
        if (values.Length != Channels)
            throw new ArgumentException($"values length {values.Length} != {Channels} channels", nameof(values));
        if (Count == _slots && _slots < Capacity)
            Grow();
        var slot = _next;
        _sequences[slot] = sequence;
        _timestamps[slot] = timestamp;
        values.CopyTo(_values.AsSpan(slot * Channels, Channels));
        _next = slot + 1 == _slots ? 0 : slot + 1;
        if (Count < Capacity)
            Count++;
        else
            Overwritten++;
    }

    /// <summary>Doubles the arrays (at most to <see cref="Capacity"/>); only called when full (copied oldest first).</summary>
    private void Grow()
    {
        var slots = (int)Math.Min(Capacity, (long)_slots * 2);
        var sequences = new long[slots];
        var timestamps = new long[slots];
        var values = new float[checked(slots * Channels)];
        CopyLatest(Count, sequences, timestamps, values);
        _sequences = sequences;
        _timestamps = timestamps;
        _values = values;
        _next = Count;
        _slots = slots;
    }

    /// <summary>
    /// Copies the latest <c>min(max, Count)</c> readings, oldest first: sequences, timestamps and their values
    /// (<see cref="Channels"/> per reading, consecutive). Returns how many readings were copied. Throws
    /// <see cref="ArgumentException"/> when a destination is too small for that many.
    /// </summary>
    public int CopyLatest(int max, Span<long> sequences, Span<long> timestamps, Span<float> values)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        var n = Math.Min(max, Count);
        if (sequences.Length < n)
            throw new ArgumentException($"sequences length {sequences.Length} < {n} readings", nameof(sequences));
        if (timestamps.Length < n)
            throw new ArgumentException($"timestamps length {timestamps.Length} < {n} readings", nameof(timestamps));
        if (values.Length < (long)n * Channels)
            throw new ArgumentException($"values length {values.Length} < {n} readings x {Channels} channels", nameof(values));
        if (n == 0)
            return 0;

        var start = _next - n;
        if (start < 0)
            start += _slots;
        // Oldest part: [start, min(start + n, slots)), then the wrapped part from slot 0.
        var first = Math.Min(n, _slots - start);
        var second = n - first;
        _sequences.AsSpan(start, first).CopyTo(sequences);
        _timestamps.AsSpan(start, first).CopyTo(timestamps);
        _values.AsSpan(start * Channels, first * Channels).CopyTo(values);
        if (second > 0)
        {
            _sequences.AsSpan(0, second).CopyTo(sequences[first..]);
            _timestamps.AsSpan(0, second).CopyTo(timestamps[first..]);
            _values.AsSpan(0, second * Channels).CopyTo(values[(first * Channels)..]);
        }
        return n;
    }
}
