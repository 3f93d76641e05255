namespace EdgeActors.Actors.Ingestion;

/// <summary>One accepted camera frame as kept by <see cref="FrameBuffer"/>, with its classification once known.</summary>
public readonly record struct BufferedFrame(long Sequence, long Timestamp, int Label, byte[] Pixels, EdgeActors.Messages.Prediction? Prediction = null);

/// <summary>
/// Bounded ring of accepted frames keeping the latest <see cref="Capacity"/>; the oldest is overwritten when full
/// (counted in <see cref="Overwritten"/>). Frames are stored as given: the pixel array is not copied (the
/// <see cref="FramePreprocessor"/> hands in its own copy). The slot array grows on use like
/// <see cref="ReadingBuffer"/>'s: none until the first frame (a sensor never pays for it), then
/// <see cref="InitialSlots"/>, doubling up to <see cref="Capacity"/>. Not thread-safe.
/// </summary>
public sealed class FrameBuffer
{
    /// <summary>Frames the slot array holds once the first frame arrives.</summary>
    public const int InitialSlots = 4;

    private BufferedFrame[] _frames = [];
    private int _next;

    public FrameBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>Most frames kept (the configured <c>frame-buffer-capacity</c>).</summary>
    public int Capacity { get; }

    /// <summary>Frames the slot array holds now: 0 until the first frame, then doubling up to <see cref="Capacity"/>.</summary>
    public int Allocated => _frames.Length;

    public int Count { get; private set; }

    public long Overwritten { get; private set; }

    public void Append(BufferedFrame f)
    {
        ArgumentNullException.ThrowIfNull(f.Pixels);
        if (Count == _frames.Length && _frames.Length < Capacity)
        {
            // full and below capacity: the frames are in order from _next (oldest) around the ring
            var grown = new BufferedFrame[_frames.Length == 0 ? Math.Min(Capacity, InitialSlots) : (int)Math.Min(Capacity, 2L * _frames.Length)];
            for (var i = 0; i < Count; i++)
                grown[i] = _frames[(_next + i) % _frames.Length];
            _frames = grown;
            _next = Count;
        }
        _frames[_next] = f;
        _next = _next + 1 == _frames.Length ? 0 : _next + 1;
        if (Count < Capacity)
            Count++;
        else
            Overwritten++;
    }

    /// <summary>
    /// Attaches a classification to the buffered frame with that sequence (searching from the newest); false when the
    /// frame has already been overwritten.
    /// </summary>
    public bool SetPrediction(long sequence, EdgeActors.Messages.Prediction prediction)
    {
        var slot = _next;
        for (var i = 0; i < Count; i++)
        {
            slot = slot == 0 ? _frames.Length - 1 : slot - 1;
            if (_frames[slot].Sequence != sequence) continue;
            _frames[slot] = _frames[slot] with { Prediction = prediction };
            return true;
        }
        return false;
    }

    /// <summary>The latest <c>min(max, Count)</c> frames, oldest first (a new array each call).</summary>
    public IReadOnlyList<BufferedFrame> Latest(int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        var n = Math.Min(max, Count);
        if (n == 0)
            return [];
        var result = new BufferedFrame[n];
        var slot = _next - n;
        if (slot < 0)
            slot += _frames.Length;
        for (var i = 0; i < n; i++)
        {
            result[i] = _frames[slot];
            slot = slot + 1 == _frames.Length ? 0 : slot + 1;
        }
        return result;
    }
}
