using EdgeActors.Messages;

namespace EdgeActors.Actors.Ingestion;

/// <summary>Per-<see cref="RejectReason"/> counters indexed by the enum's byte value.</summary>
internal sealed class RejectionCounter
{
    private static readonly RejectReason[] Reasons = Enum.GetValues<RejectReason>();
    private readonly long[] _counts = new long[256];

    public void Add(RejectReason reason, long n = 1) => _counts[(byte)reason] += n;

    public long Get(RejectReason reason) => _counts[(byte)reason];

    /// <summary>Non-zero counts in enum order.</summary>
    public IEnumerable<(RejectReason, long)> All()
    {
        foreach (var r in Reasons)
        {
            var c = _counts[(byte)r];
            if (c != 0)
                yield return (r, c);
        }
    }
}
