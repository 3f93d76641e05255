using System.Numerics;
using System.Runtime.CompilerServices;

namespace EdgeActors.Actors.Ingestion;

/// <summary>
/// Sliding-window sequence tracker in the style of an IPsec anti-replay window: two bitsets, 'seen' (answered,
/// accepted or rejected) and 'accepted', over the last <see cref="Window"/> sequences ending at <see cref="Last"/>.
/// <para><b>Start.</b> A fresh tracker takes the first sequence it is given as its start: the baseline is
/// <c>first - 1</c>, and nothing at or below the baseline is ever tracked.</para>
/// <para><b>Window.</b> The window is <c>(Last - Window, Last]</c>. <see cref="Mark"/> with a sequence above
/// <see cref="Last"/> slides the window forward (the sequences skipped over become gaps); one at or below
/// <see cref="Last"/> records an answer for a gap if it is still inside the window and is ignored otherwise.
/// 'Accepted' is sticky: a later <c>Mark(seq, false)</c> does not un-accept a sequence.</para>
/// <para><b>HighestContiguous.</b> The highest <c>h</c> such that every sequence in <c>(baseline, h]</c> has
/// been answered. A gap (a sequence never received) holds it back until the gap is answered; sequences that
/// slide out of the window are given up, so it is always at least <c>Last - Window</c>. It never decreases.</para>
/// <para>Before the first <see cref="Mark"/>, <see cref="HasAny"/> is false and <see cref="Last"/> and
/// <see cref="HighestContiguous"/> are -1. Sequences should be non-negative. Not thread-safe.</para>
/// <para><b>Memory.</b> The bitsets grow on use: none until the first <see cref="Mark"/>, then 64 bits each, doubling
/// (up to <see cref="Window"/>) whenever the tracked span <c>(baseline, Last]</c> outgrows them. A device that sent a
/// few readings costs about a hundred bytes per tracker instead of 3 × Window bits.</para>
/// </summary>
public sealed class SequenceTracker
{
    private const int InitialBits = 64;

    private ulong[] _seen = [];
    private ulong[] _accepted = [];
    private ulong[] _retry = [];
    private long _mask; // bits per bitset - 1 (a power of two minus one, at most Window - 1)
    private long _baseline = -1;
    private long _last = -1;
    private long _highestContiguous = -1;

    /// <param name="window">Window size in sequences, a power of two (1 .. 2^24).</param>
    public SequenceTracker(int window)
    {
        if (window < 1 || window > IngestionSettings.CapacityLimit || !BitOperations.IsPow2(window))
            throw new ArgumentException($"sequence window {window} must be a power of two in 1..{IngestionSettings.CapacityLimit}", nameof(window));
        Window = window;
    }

    /// <summary>Bits each of the three bitsets holds now (0 before the first <see cref="Mark"/>, at most <see cref="Window"/>).</summary>
    public int AllocatedBits => _seen.Length == 0 ? 0 : (int)_mask + 1;

    /// <summary>
    /// Makes the bitsets hold at least <c>min(Window, span)</c> bits (a power of two), keeping the answers of the
    /// tracked sequences <c>(max(baseline, Last - bits), Last]</c>. Slots are <c>seq mod bits</c>, so as long as the
    /// tracked span fits, no two tracked sequences share a slot.
    /// </summary>
    private void EnsureBits(long span)
    {
        var need = (int)Math.Min(Window, Math.Max(InitialBits, span));
        if (_seen.Length != 0 && need <= _mask + 1) return;
        var bits = Math.Min(Window, (int)BitOperations.RoundUpToPowerOf2((uint)need));
        var words = (bits + 63) >> 6;
        ulong[] seen = new ulong[words], accepted = new ulong[words], retry = new ulong[words];
        if (_seen.Length != 0 && HasAny)
        {
            var oldBits = _mask + 1;
            var newMask = (long)bits - 1;
            for (var s = Math.Max(_baseline + 1, _last - oldBits + 1); s <= _last; s++)
            {
                var to = s & newMask;
                var bit = 1UL << (int)(to & 63);
                if (Get(_seen, s)) seen[to >> 6] |= bit;
                if (Get(_accepted, s)) accepted[to >> 6] |= bit;
                if (Get(_retry, s)) retry[to >> 6] |= bit;
            }
        }
        _seen = seen;
        _accepted = accepted;
        _retry = retry;
        _mask = bits - 1;
    }

    /// <summary>Window size in sequences.</summary>
    public int Window { get; }

    /// <summary>True once any sequence has been marked.</summary>
    public bool HasAny { get; private set; }

    /// <summary>The highest sequence marked so far; -1 when <see cref="HasAny"/> is false.</summary>
    public long Last => _last;

    /// <summary>The sequence before the first one marked (-1 when <see cref="HasAny"/> is false).</summary>
    public long Baseline => _baseline;

    /// <summary>Highest <c>h</c> with every sequence in <c>(baseline, h]</c> answered or given up; -1 when <see cref="HasAny"/> is false.</summary>
    public long HighestContiguous => _highestContiguous;

    /// <summary>True when <paramref name="seq"/> is in <c>(baseline, Last]</c> and inside the window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool InWindow(long seq) => HasAny && seq <= _last && seq > _baseline && seq > _last - Window;

    /// <summary>True when <paramref name="seq"/> is inside the window and was accepted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsAccepted(long seq) => InWindow(seq) && Get(_accepted, seq);

    /// <summary>
    /// True when <paramref name="seq"/> needs no answer any more: it is at or below
    /// <see cref="HighestContiguous"/> (answered, given up, or before the start), or inside the window and answered.
    /// </summary>
    public bool IsResolved(long seq) => HasAny && (seq <= _highestContiguous || (InWindow(seq) && Get(_seen, seq)));

    /// <summary>
    /// Records an answer for <paramref name="seq"/>. A sequence above <see cref="Last"/> advances
    /// <see cref="Last"/> (what it skips becomes gaps); one at or below it marks that gap answered when inside the
    /// window (and is ignored otherwise). Then <see cref="HighestContiguous"/> moves up as far as it can.
    /// </summary>
    public void Mark(long seq, bool accepted)
    {
        if (!HasAny)
        {
            HasAny = true;
            _baseline = seq - 1;
            _last = _baseline;
            _highestContiguous = _baseline;
            EnsureBits(InitialBits);
        }

        if (seq > _last)
        {
            if (seq - _baseline > _mask + 1 && _mask + 1 < Window)
                EnsureBits(seq - _baseline);
            var distance = seq - _last;
            if (distance >= Window)
            {
                Array.Clear(_seen);
                Array.Clear(_accepted);
                Array.Clear(_retry);
            }
            else
            {
                for (var s = _last + 1; s < seq; s++)
                {
                    Clear(_seen, s);
                    Clear(_accepted, s);
                    Clear(_retry, s);
                }
                Clear(_accepted, seq);
                Clear(_retry, seq);
            }
            _last = seq;
            var floor = seq - Window;
            if (_highestContiguous < floor)
                _highestContiguous = floor;
        }
        else if (seq <= _baseline || seq <= _last - Window)
        {
            return;
        }

        Set(_seen, seq);
        Clear(_retry, seq);
        if (accepted)
            Set(_accepted, seq);

        while (_highestContiguous < _last && Get(_seen, _highestContiguous + 1))
            _highestContiguous++;
    }

    /// <summary>
    /// Takes back an acceptance (the reading could not be made durable, e.g. the outbox was full): the sequence stays
    /// answered, and a resend of it is accepted as new (neither a Duplicate nor OutOfOrder) while it is in the window.
    /// </summary>
    public void Unaccept(long seq)
    {
        if (!InWindow(seq)) return;
        Clear(_accepted, seq);
        Set(_retry, seq);
    }

    /// <summary>
    /// Restores a fresh tracker from the sequences a durable store holds as accepted (a device entity re-created on
    /// another node, or back home). The stored sequences inside the window ending at the highest one become accepted
    /// (a resend of them is a Duplicate); the ones missing between them become answered-but-retryable: they do not hold
    /// <see cref="HighestContiguous"/> back, and a resend of one is accepted as new (it may never have been stored).
    /// Ignored once anything was marked; unsorted, repeated or negative input is tolerated.
    /// </summary>
    public void Restore(IReadOnlyCollection<long> stored)
    {
        if (HasAny || stored.Count == 0) return;
        var sorted = stored.Where(s => s >= 0).Distinct().Order().ToArray();
        if (sorted.Length == 0) return;
        var last = sorted[^1];
        var from = Math.Max(sorted[0], last - Window + 1);
        var i = Array.BinarySearch(sorted, from);
        if (i < 0) i = ~i;
        for (var seq = from; seq <= last; seq++)
        {
            if (i < sorted.Length && sorted[i] == seq)
            {
                Mark(seq, accepted: true);
                i++;
            }
            else
            {
                Mark(seq, accepted: false);
                Unaccept(seq);
            }
        }
    }

    /// <summary>True for a sequence whose acceptance was taken back: its resend is welcome.</summary>
    public bool IsRetryable(long seq) => InWindow(seq) && Get(_retry, seq);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]

    private bool Get(ulong[] bits, long seq)
    {
        var slot = seq & _mask;
        return (bits[slot >> 6] & (1UL << (int)(slot & 63))) != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Set(ulong[] bits, long seq)
    {
        var slot = seq & _mask;
        bits[slot >> 6] |= 1UL << (int)(slot & 63);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Clear(ulong[] bits, long seq)
    {
        var slot = seq & _mask;
        bits[slot >> 6] &= ~(1UL << (int)(slot & 63));
    }
}
