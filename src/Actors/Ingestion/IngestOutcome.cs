using EdgeActors.Messages;

namespace EdgeActors.Actors.Ingestion;

/// <summary>
/// Result of processing one batch or frame: how many readings were accepted, the rejections (null when nothing
/// was rejected, so the common case allocates nothing) and the tracker's <c>HighestContiguous</c> afterwards.
/// </summary>
public readonly struct IngestOutcome
{
    public IngestOutcome(int accepted, List<Rejection>? rejected, long highestContiguous)
    {
        Accepted = accepted;
        Rejected = rejected;
        HighestContiguous = highestContiguous;
    }

    public int Accepted { get; }

    /// <summary>One entry per reading not accepted, in input order; null when none.</summary>
    public List<Rejection>? Rejected { get; }

    public long HighestContiguous { get; }

    /// <summary>Number of rejections (0 when <see cref="Rejected"/> is null).</summary>
    public int RejectedCount => Rejected?.Count ?? 0;
}
