using System.Globalization;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Ingestion;

/// <summary>
/// Per-device camera frame preprocessing with its own <see cref="SequenceTracker"/>. Content checks:
/// null pixels or a label outside <c>-1..255</c> is <see cref="RejectReason.Malformed"/>; a size other than
/// 28x28, or a pixel array whose length is not <c>Width*Height</c>, is <see cref="RejectReason.WrongFrameSize"/>.
/// The sequence rules are those of <see cref="TelemetryPreprocessor"/> (negative sequence: Malformed, not tracked;
/// already accepted: Duplicate; at or below Last: content reason or OutOfOrder, marked answered; otherwise
/// marked with accepted = content ok). An accepted frame's pixels are copied into <see cref="Buffer"/> (the sender
/// may reuse its array) and its mean intensity feeds <see cref="Brightness"/>. Not thread-safe.
/// </summary>
public sealed class FramePreprocessor
{
    private readonly RejectionCounter _rejections = new();
    private long _n;
    private double _mean;
    private double _m2;
    private float _min;
    private float _max;

    public FramePreprocessor(IngestionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Sequences = new SequenceTracker(settings.SequenceWindow);
        Buffer = new FrameBuffer(settings.FrameBufferCapacity);
    }

    public SequenceTracker Sequences { get; }

    /// <summary>The latest accepted frames.</summary>
    public FrameBuffer Buffer { get; }

    public long AcceptedFrames { get; private set; }

    /// <summary>Restores sequence state and the accepted count from a durable store (a fresh device entity only).</summary>
    public void Restore(KindHistory stored)
    {
        if (Sequences.HasAny) return;
        Sequences.Restore(stored.Sequences);
        AcceptedFrames = Math.Max(0, stored.Count);
    }

    public long RejectedCount(RejectReason reason) => _rejections.Get(reason);

    /// <summary>Non-zero rejection counts in <see cref="RejectReason"/> order.</summary>
    public IEnumerable<(RejectReason, long)> RejectionCounts() => _rejections.All();

    /// <summary>
    /// Welford statistics over each accepted frame's mean pixel intensity (0..255): count, mean, SAMPLE variance
    /// (0 while count &lt; 2), min, max (0 while count is 0).
    /// </summary>
    public ChannelStats Brightness() =>
        new(_n, _mean, _n < 2 ? 0.0 : _m2 / (_n - 1), _n == 0 ? 0f : _min, _n == 0 ? 0f : _max);

    public IngestOutcome Process(CameraFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var seq = frame.Sequence;
        var tracker = Sequences;
        if (seq < 0)
            return Reject(seq, RejectReason.Malformed, Inv($"sequence {seq} is negative"));
        if (tracker.IsAccepted(seq))
            return Reject(seq, RejectReason.Duplicate, Inv($"sequence {seq} already accepted"));

        var (bad, detail) = CheckContent(frame);
        if (tracker.HasAny && seq <= tracker.Last && !tracker.IsRetryable(seq))
        {
            var last = tracker.Last;
            tracker.Mark(seq, accepted: false);
            return bad != 0
                ? Reject(seq, bad, detail!)
                : Reject(seq, RejectReason.OutOfOrder, Inv($"sequence {seq} arrived after {last}"));
        }
        if (bad != 0)
        {
            tracker.Mark(seq, accepted: false);
            return Reject(seq, bad, detail!);
        }

        tracker.Mark(seq, accepted: true);
        var pixels = frame.Pixels;
        var copy = GC.AllocateUninitializedArray<byte>(pixels.Length);
        pixels.AsSpan().CopyTo(copy);
        Buffer.Append(new BufferedFrame(seq, frame.Timestamp, frame.Label, copy));

        long sum = 0;
        foreach (var p in copy)
            sum += p;
        var brightness = copy.Length == 0 ? 0.0 : (double)sum / copy.Length;
        var n = ++_n;
        var delta = brightness - _mean;
        _mean += delta / n;
        _m2 += delta * (brightness - _mean);
        var bf = (float)brightness;
        if (n == 1 || bf < _min) _min = bf;
        if (n == 1 || bf > _max) _max = bf;

        AcceptedFrames++;
        return new IngestOutcome(1, null, tracker.HighestContiguous);
    }

    private static (RejectReason, string?) CheckContent(CameraFrame f)
    {
        if (f.Pixels is null)
            return (RejectReason.Malformed, "pixels array is null");
        if (f.Width != CameraFrame.ExpectedWidth || f.Height != CameraFrame.ExpectedHeight)
            return (RejectReason.WrongFrameSize,
                Inv($"frame {f.Width}x{f.Height}, expected {CameraFrame.ExpectedWidth}x{CameraFrame.ExpectedHeight}"));
        if (f.Pixels.Length != f.Width * f.Height)
            return (RejectReason.WrongFrameSize,
                Inv($"pixels length {f.Pixels.Length} != {f.Width}x{f.Height} = {f.Width * f.Height}"));
        if (f.Label < CameraFrame.NoLabel || f.Label > 255)
            return (RejectReason.Malformed, Inv($"label {f.Label} not in -1..255"));
        return (0, null);
    }

    private IngestOutcome Reject(long seq, RejectReason reason, string detail)
    {
        _rejections.Add(reason);
        return new IngestOutcome(0, [new Rejection(seq, reason, detail)], Sequences.HighestContiguous);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
