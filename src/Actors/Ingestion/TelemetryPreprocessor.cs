using System.Globalization;
using System.Runtime.CompilerServices;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Ingestion;

/// <summary>
/// Per-device telemetry preprocessing: validation, duplicate / out-of-order detection, denoising, running
/// statistics, normalisation and buffering. One instance per device, used by one actor (not thread-safe).
/// The per-reading path allocates nothing; a rejection list is allocated only when something is rejected.
/// <para><b>Batch-level checks</b> run first and, when they fail, reject every reading of the batch and touch
/// no tracker, filter, statistics or buffer state (the rejection counters do count them):
/// null sequences (a single rejection with sequence -1), a batch above <c>MaxBatchReadings</c>, a channel count
/// outside <c>1..MaxChannels</c>, null timestamps/values, mismatched lengths (all <see cref="RejectReason.Malformed"/>),
/// and a channel count different from the established <see cref="Channels"/> (<see cref="RejectReason.ChannelMismatch"/>).
/// The first well-formed, non-empty batch fixes <see cref="Channels"/>.</para>
/// <para><b>Per reading</b>, in order (see <see cref="SequenceTracker"/> for the window semantics):
/// a negative sequence is <see cref="RejectReason.Malformed"/> (not tracked);
/// 1. already accepted inside the window: <see cref="RejectReason.Duplicate"/>, state unchanged;
/// 2. at or below <see cref="SequenceTracker.Last"/>: the content reason if the content is bad, else
/// <see cref="RejectReason.OutOfOrder"/>; marked answered (not accepted) if inside the window;
/// 3. otherwise content check: any NaN/±Inf is <see cref="RejectReason.NotANumber"/>, else any value outside
/// <see cref="IngestionSettings.RangeFor"/> is <see cref="RejectReason.OutOfRange"/>; the sequence is marked
/// with accepted = content ok.</para>
/// <para><b>Accepted readings</b>: each channel is denoised (<see cref="DenoiseKind"/>; the median of an even
/// number of values at the start is the mean of the two middle ones), Welford statistics are updated with the
/// denoised value, and the normalised value <c>z = (denoised - mean) / sqrt(variance)</c> (statistics after the
/// update, sample variance; z = 0 while count &lt; 2 or variance is 0) is appended to <see cref="Buffer"/>.</para>
/// </summary>
/// <summary>Receives each accepted reading: sequence, timestamp, denoised values, normalised values.</summary>
public delegate void AcceptedReading(long sequence, long timestamp, ReadOnlySpan<float> denoised, ReadOnlySpan<float> normalised);

public sealed class TelemetryPreprocessor
{
    private float[] _denoised = [];
    private readonly IngestionSettings _settings;
    private readonly RejectionCounter _rejections = new();
    private readonly DenoiseKind _denoise;
    private readonly int _medianWindow;
    private readonly double _alpha;

    // Per channel state, allocated when the channel count is fixed.
    private float[] _rangeMin = [];
    private float[] _rangeMax = [];
    private float[] _medianRing = [];    // channel * window, insertion order
    private float[] _medianSorted = [];  // channel * window, ascending
    private int[] _medianCount = [];
    private int[] _medianPos = [];
    private double[] _ema = [];
    private bool[] _emaStarted = [];
    private long[] _n = [];
    private double[] _mean = [];
    private double[] _m2 = [];
    private float[] _min = [];
    private float[] _max = [];
    private float[] _scratch = [];

    public TelemetryPreprocessor(IngestionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        _settings = settings;
        _denoise = settings.Denoise;
        _medianWindow = settings.MedianWindow;
        _alpha = settings.EmaAlpha;
        Sequences = new SequenceTracker(settings.SequenceWindow);
        Buffer = new ReadingBuffer(settings.BufferCapacity, 0);
    }

    /// <summary>Channels per reading; 0 until the first well-formed non-empty batch fixes it.</summary>
    public int Channels { get; private set; }

    public SequenceTracker Sequences { get; }

    /// <summary>Accepted readings, normalised. The same instance for the preprocessor's lifetime; its
    /// <see cref="ReadingBuffer.Channels"/> is 0 until <see cref="Channels"/> is fixed.</summary>
    public ReadingBuffer Buffer { get; }

    public long AcceptedReadings { get; private set; }

    /// <summary>Restores sequence state and the accepted count from a durable store (a fresh device entity only).</summary>
    public void Restore(KindHistory stored)
    {
        if (Sequences.HasAny) return;
        Sequences.Restore(stored.Sequences);
        AcceptedReadings = Math.Max(0, stored.Count);
    }

    public long RejectedCount(RejectReason reason) => _rejections.Get(reason);

    /// <summary>Non-zero rejection counts in <see cref="RejectReason"/> order.</summary>
    public IEnumerable<(RejectReason, long)> RejectionCounts() => _rejections.All();

    /// <summary>
    /// Welford statistics per channel over the denoised accepted values: count, mean, SAMPLE variance
    /// (M2 / (n - 1); 0 while n &lt; 2), min and max (0 and 0 while the count is 0). Empty until
    /// <see cref="Channels"/> is fixed.
    /// </summary>
    public ChannelStats[] Statistics()
    {
        var result = new ChannelStats[Channels];
        for (var c = 0; c < result.Length; c++)
        {
            var n = _n[c];
            result[c] = new ChannelStats(n, _mean[c], n < 2 ? 0.0 : _m2[c] / (n - 1), n == 0 ? 0f : _min[c], n == 0 ? 0f : _max[c]);
        }
        return result;
    }

    /// <summary>Processes one batch; see the class remarks for the rules.</summary>
    public IngestOutcome Process(TelemetryBatch batch) => Process(batch, null);

    /// <summary>
    /// Processes one batch; every accepted reading is also handed to <paramref name="accepted"/> with its denoised
    /// values and normalised values (spans valid only during the call).
    /// </summary>
    public IngestOutcome Process(TelemetryBatch batch, AcceptedReading? accepted)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var sequences = batch.Sequences;
        if (sequences is null)
            return RejectSingle(RejectReason.Malformed, "sequences array is null");

        var n = sequences.Length;
        var channels = batch.Channels;
        var malformed = CheckShape(batch, n, channels);
        if (malformed is not null)
            return RejectAll(sequences, RejectReason.Malformed, malformed);
        if (n == 0)
            return new IngestOutcome(0, null, Sequences.HighestContiguous);
        if (Channels == 0)
            FixChannels(channels);
        else if (channels != Channels)
            return RejectAll(sequences, RejectReason.ChannelMismatch,
                Inv($"expected {Channels} channels, got {channels}"));

        var timestamps = batch.Timestamps;
        var values = batch.Values;
        var tracker = Sequences;
        var scratch = _scratch;
        List<Rejection>? rejected = null;
        var acceptedCount = 0;

        for (var i = 0; i < n; i++)
        {
            var seq = sequences[i];
            var offset = i * channels;
            if (seq < 0)
            {
                Reject(ref rejected, n, seq, RejectReason.Malformed, Inv($"sequence {seq} is negative"));
                continue;
            }
            if (tracker.IsAccepted(seq))
            {
                Reject(ref rejected, n, seq, RejectReason.Duplicate, Inv($"sequence {seq} already accepted"));
                continue;
            }

            var bad = CheckContent(values, offset, channels, out var badChannel);
            if (tracker.HasAny && seq <= tracker.Last && !tracker.IsRetryable(seq))
            {
                if (bad != 0)
                    Reject(ref rejected, n, seq, bad, ContentDetail(bad, values, offset, badChannel));
                else
                    Reject(ref rejected, n, seq, RejectReason.OutOfOrder, Inv($"sequence {seq} arrived after {tracker.Last}"));
                tracker.Mark(seq, accepted: false);
                continue;
            }
            if (bad != 0)
            {
                Reject(ref rejected, n, seq, bad, ContentDetail(bad, values, offset, badChannel));
                tracker.Mark(seq, accepted: false);
                continue;
            }

            tracker.Mark(seq, accepted: true);
            Accept(values, offset, channels, scratch);
            Buffer.Append(seq, timestamps[i], scratch);
            accepted?.Invoke(seq, timestamps[i], _denoised.AsSpan(0, channels), scratch.AsSpan(0, channels));
            acceptedCount++;
        }

        AcceptedReadings += acceptedCount;
        return new IngestOutcome(acceptedCount, rejected, tracker.HighestContiguous);
    }

    // ------------------------------------------------------------------ validation

    private string? CheckShape(TelemetryBatch batch, int n, int channels)
    {
        if (n > _settings.MaxBatchReadings)
            return Inv($"batch of {n} readings exceeds max-batch-readings {_settings.MaxBatchReadings}");
        if (channels < 1 || channels > _settings.MaxChannels)
            return Inv($"channels {channels} not in 1..{_settings.MaxChannels}");
        if (batch.Timestamps is null)
            return "timestamps array is null";
        if (batch.Values is null)
            return "values array is null";
        if (batch.Timestamps.Length != n)
            return Inv($"timestamps length {batch.Timestamps.Length} != sequences length {n}");
        if (batch.Values.Length != (long)n * channels)
            return Inv($"values length {batch.Values.Length} != {n} readings x {channels} channels");
        return null;
    }

    /// <summary>0 when every value is finite and in range; otherwise the reason, with the offending channel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private RejectReason CheckContent(float[] values, int offset, int channels, out int badChannel)
    {
        var outOfRange = -1;
        var min = _rangeMin;
        var max = _rangeMax;
        for (var c = 0; c < channels; c++)
        {
            var v = values[offset + c];
            if (!float.IsFinite(v))
            {
                badChannel = c;
                return RejectReason.NotANumber;
            }
            if (outOfRange < 0 && (v < min[c] || v > max[c]))
                outOfRange = c;
        }
        badChannel = outOfRange;
        return outOfRange < 0 ? 0 : RejectReason.OutOfRange;
    }

    private string ContentDetail(RejectReason reason, float[] values, int offset, int channel)
    {
        var v = values[offset + channel];
        return reason == RejectReason.NotANumber
            ? Inv($"channel {channel} value {v} is not a finite number")
            : Inv($"channel {channel} value {v} outside range [{_rangeMin[channel]}, {_rangeMax[channel]}]");
    }

    // ------------------------------------------------------------------ accepted path

    private void FixChannels(int channels)
    {
        Channels = channels;
        _rangeMin = new float[channels];
        _rangeMax = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            var r = _settings.RangeFor(c);
            _rangeMin[c] = r.Min;
            _rangeMax[c] = r.Max;
        }
        if (_denoise == DenoiseKind.Median)
        {
            _medianRing = new float[channels * _medianWindow];
            _medianSorted = new float[channels * _medianWindow];
            _medianCount = new int[channels];
            _medianPos = new int[channels];
        }
        else if (_denoise == DenoiseKind.Ema)
        {
            _ema = new double[channels];
            _emaStarted = new bool[channels];
        }
        _n = new long[channels];
        _mean = new double[channels];
        _m2 = new double[channels];
        _min = new float[channels];
        _max = new float[channels];
        _scratch = new float[channels];
        _denoised = new float[channels];
        Buffer.SetChannels(channels);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Accept(float[] values, int offset, int channels, float[] normalised)
    {
        for (var c = 0; c < channels; c++)
        {
            var x = values[offset + c];
            var y = _denoise switch
            {
                DenoiseKind.Median => Median(c, x),
                DenoiseKind.Ema => Ema(c, x),
                _ => x,
            };
            _denoised[c] = (float)y;

            // Welford
            var n = ++_n[c];
            var mean = _mean[c];
            var delta = y - mean;
            mean += delta / n;
            var m2 = _m2[c] + delta * (y - mean);
            _mean[c] = mean;
            _m2[c] = m2;
            var yf = (float)y;
            if (n == 1)
            {
                _min[c] = yf;
                _max[c] = yf;
            }
            else
            {
                if (yf < _min[c]) _min[c] = yf;
                if (yf > _max[c]) _max[c] = yf;
            }

            double z = 0;
            if (n >= 2 && m2 > 0)
                z = (y - mean) / Math.Sqrt(m2 / (n - 1));
            normalised[c] = (float)z;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double Ema(int c, float x)
    {
        double y;
        if (!_emaStarted[c])
        {
            _emaStarted[c] = true;
            y = x;
        }
        else
        {
            y = _alpha * x + (1 - _alpha) * _ema[c];
        }
        _ema[c] = y;
        return y;
    }

    /// <summary>Keeps a sorted copy of the window so that each update is O(window) and allocation free.</summary>
    private double Median(int c, float x)
    {
        var w = _medianWindow;
        var b = c * w;
        var sorted = _medianSorted;
        var count = _medianCount[c];
        var pos = _medianPos[c];
        int r;
        if (count == w)
        {
            // Replace the oldest value in place, then move the new one to its sorted position.
            var old = _medianRing[b + pos];
            r = b;
            while (sorted[r] != old)
                r++;
            while (r > b && sorted[r - 1] > x)
            {
                sorted[r] = sorted[r - 1];
                r--;
            }
            var end = b + count - 1;
            while (r < end && sorted[r + 1] < x)
            {
                sorted[r] = sorted[r + 1];
                r++;
            }
            sorted[r] = x;
        }
        else
        {
            r = b + count;
            while (r > b && sorted[r - 1] > x)
            {
                sorted[r] = sorted[r - 1];
                r--;
            }
            sorted[r] = x;
            count++;
            _medianCount[c] = count;
        }
        _medianRing[b + pos] = x;
        _medianPos[c] = pos + 1 == w ? 0 : pos + 1;

        var mid = b + (count >> 1);
        return (count & 1) == 1 ? sorted[mid] : ((double)sorted[mid - 1] + sorted[mid]) / 2;
    }

    // ------------------------------------------------------------------ rejections

    private void Reject(ref List<Rejection>? list, int capacityHint, long seq, RejectReason reason, string detail)
    {
        list ??= new List<Rejection>(Math.Min(capacityHint, 16));
        list.Add(new Rejection(seq, reason, detail));
        _rejections.Add(reason);
    }

    private IngestOutcome RejectAll(long[] sequences, RejectReason reason, string detail)
    {
        if (sequences.Length == 0)
        {
            // Nothing to answer per reading, but the batch was still bad: say so once.
            return RejectSingle(reason, detail);
        }
        var list = new List<Rejection>(sequences.Length);
        foreach (var seq in sequences)
            list.Add(new Rejection(seq, reason, detail));
        _rejections.Add(reason, sequences.Length);
        return new IngestOutcome(0, list, Sequences.HighestContiguous);
    }

    private IngestOutcome RejectSingle(RejectReason reason, string detail)
    {
        _rejections.Add(reason);
        return new IngestOutcome(0, [new Rejection(-1, reason, detail)], Sequences.HighestContiguous);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
