using EdgeActors.Messages;

namespace EdgeActors.Client;

/// <summary>What came back for camera frames: classifications, their accuracy against the known labels, and how they were served.</summary>
public sealed class PredictionTally
{
    private long _classified;
    private long _correct;
    private long _escalated;
    private long _overflowed;
    private long _escalationUnavailable;
    private long _notClassified;

    public long Classified => Interlocked.Read(ref _classified);
    public long Correct => Interlocked.Read(ref _correct);
    public long Escalated => Interlocked.Read(ref _escalated);
    public long Overflowed => Interlocked.Read(ref _overflowed);
    public long EscalationUnavailable => Interlocked.Read(ref _escalationUnavailable);
    public long NotClassified => Interlocked.Read(ref _notClassified);
    public double Accuracy => Classified == 0 ? 0 : (double)Correct / Classified;

    public void Record(Prediction? p, int knownLabel)
    {
        if (p is null || p.Note == PredictionNote.NotClassified)
        {
            Interlocked.Increment(ref _notClassified);
            return;
        }
        Interlocked.Increment(ref _classified);
        if (p.Label == knownLabel) Interlocked.Increment(ref _correct);
        if (p.Escalated) Interlocked.Increment(ref _escalated);
        if (p.Note == PredictionNote.Overflowed) Interlocked.Increment(ref _overflowed);
        if (p.Note == PredictionNote.EscalationUnavailable) Interlocked.Increment(ref _escalationUnavailable);
    }

    public string Summary() =>
        $"classified {Classified:N0} (accuracy {Accuracy:P1})  escalated {Escalated:N0}  overflowed {Overflowed:N0}  escalation unavailable {EscalationUnavailable:N0}  not classified {NotClassified:N0}";
}
