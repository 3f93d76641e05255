using EdgeActors.Messages;

namespace EdgeActors.Actors.Ingestion;

/// <summary>
/// Per-<see cref="RejectReason"/> counters indexed by the enum's byte value. Nothing is allocated until the first
/// rejection, then one slot per defined reason (two per device entity: 256 slots each would be 4 KB of an idle device).
/// </summary>
internal sealed class RejectionCounter
{
    private static readonly RejectReason[] Reasons = Enum.GetValues<RejectReason>();
    private static readonly int Slots = Reasons.Max(r => (int)(byte)r) + 1;
    private long[] _counts = [];

    public void Add(RejectReason reason, long n = 1)
    {
        var i = (byte)reason;
        if (i >= _counts.Length) Array.Resize(ref _counts, Math.Max(Slots, i + 1));
        _counts[i] += n;
    }

    public long Get(RejectReason reason) => (byte)reason < _counts.Length ? _counts[(byte)reason] : 0;

    /// <summary>Non-zero counts in enum order.</summary>
    public IEnumerable<(RejectReason, long)> All()
    {
        foreach (var r in Reasons)
        {
            var c = Get(r);
            if (c != 0)
                yield return (r, c);
        }
    }
}
