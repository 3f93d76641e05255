namespace EdgeActors.Actors.Ingestion;

/// <summary>
/// Bounded ring buffer of accepted, preprocessed readings: preallocated arrays, oldest overwritten when full
/// (counted in <see cref="Overwritten"/>). <see cref="Append"/> never allocates. Not thread-safe.
/// </summary>
public sealed class ReadingBuffer
{
    private readonly long[] _sequences;
    private readonly long[] _timestamps;
    private float[] _values;
    private int _next;  // slot the next reading goes to

    /// <param name="capacity">Readings kept, at least 1.</param>
    /// <param name="channels">Values per reading, 0 or more.</param>
    public ReadingBuffer(int capacity, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(channels);
        Capacity = capacity;
        Channels = channels;
        _sequences = new long[capacity];
        _timestamps = new long[capacity];
        _values = new float[checked(capacity * channels)];
    }

    public int Capacity { get; }

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
        _values = new float[checked(Capacity * channels)];
    }

    /// <summary>Appends one reading, overwriting the oldest when full. <paramref name="values"/> must hold exactly <see cref="Channels"/> values.</summary>
    public void Append(long sequence, long timestamp, ReadOnlySpan<float> values)
    {
        if (values.Length != Channels)
            throw new ArgumentException($"values length {values.Length} != {Channels} channels", nameof(values));
        var slot = _next;
        _sequences[slot] = sequence;
        _timestamps[slot] = timestamp;
        values.CopyTo(_values.AsSpan(slot * Channels, Channels));
        _next = slot + 1 == Capacity ? 0 : slot + 1;
        if (Count < Capacity)
            Count++;
        else
            Overwritten++;
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
            start += Capacity;
        // Oldest part: [start, min(start + n, Capacity)), then the wrapped part from slot 0.
        var first = Math.Min(n, Capacity - start);
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
