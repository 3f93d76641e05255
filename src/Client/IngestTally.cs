using EdgeActors.Messages;

namespace EdgeActors.Client;

/// <summary>
/// Client-side accounting of what was sent and how the cluster answered, reading by reading. Thread-safe.
/// On a retried request, a <see cref="RejectReason.Duplicate"/> answer means an earlier attempt was accepted
/// (its reply was lost), so it counts as accepted; on a first attempt it is a genuine duplicate and counts as rejected.
/// </summary>
public sealed class IngestTally
{
    private long _sent;
    private long _accepted;
    private long _retriedRequests;
    private long _failedReadings;
    private readonly long[] _rejectedByReason = new long[Enum.GetValues<RejectReason>().Max(r => (int)r) + 1];

    public long Sent => Interlocked.Read(ref _sent);
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Rejected => _rejectedByReason.Sum(x => Interlocked.Read(ref x));
    public long RetriedRequests => Interlocked.Read(ref _retriedRequests);

    /// <summary>Readings whose request never got any reply before the retry deadline.</summary>
    public long Unanswered => Interlocked.Read(ref _failedReadings);

    /// <summary>sent − accepted − rejected: readings the client cannot account for.</summary>
    public long Lost => Sent - Accepted - Rejected;

    public long RejectedFor(RejectReason reason) => Interlocked.Read(ref _rejectedByReason[(int)reason]);

    public void AddSent(int readings) => Interlocked.Add(ref _sent, readings);

    public void AddUnanswered(int readings) => Interlocked.Add(ref _failedReadings, readings);

    /// <summary>Counts one reply; returns the number of readings it accepted (after the retry rule).</summary>
    public int Record(Reply<IngestAck> reply)
    {
        var accepted = reply.Value.Accepted;
        if (reply.Attempts > 1) Interlocked.Increment(ref _retriedRequests);
        foreach (var r in reply.Value.Rejected)
        {
            if (r.Reason == RejectReason.Duplicate && reply.Attempts > 1)
                accepted++;
            else
                Interlocked.Increment(ref _rejectedByReason[(int)r.Reason]);
        }
        Interlocked.Add(ref _accepted, accepted);
        return accepted;
    }

    public string RejectionSummary() =>
        string.Join(" ", Enum.GetValues<RejectReason>().Where(r => RejectedFor(r) > 0).Select(r => $"{r}={RejectedFor(r)}"));
}
