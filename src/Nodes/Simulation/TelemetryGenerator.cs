using EdgeActors.Actors.Adapters;
using EdgeActors.Messages;

namespace EdgeActors.Nodes.Simulation;

/// <summary>
/// Fault injection for <see cref="TelemetryGenerator"/>. Probabilities are per channel value
/// (<see cref="SpikeProbability"/>, <see cref="NaNProbability"/>, <see cref="OutOfRangeProbability"/>) or per reading
/// (<see cref="DuplicateProbability"/>). <see cref="NoiseStdDev"/> and <see cref="SpikeMagnitude"/> are multiples of
/// the channel's amplitude.
/// </summary>
public sealed record FaultSettings(
    double NoiseStdDev = 0.05,
    double SpikeProbability = 0.01,
    double SpikeMagnitude = 8.0,
    double NaNProbability = 0.002,
    double OutOfRangeProbability = 0.0,
    double DuplicateProbability = 0.0)
{
    /// <summary>No noise and no faults: the clean signal.</summary>
    public static FaultSettings None { get; } = new(0, 0, 0, 0, 0, 0);

    internal void Validate()
    {
        static void NonNegativeFinite(double v, string name)
        {
            if (!double.IsFinite(v) || v < 0)
                throw new ArgumentOutOfRangeException(name, v, $"{name} must be a finite number >= 0.");
        }

        static void Probability(double v, string name)
        {
            if (!(v is >= 0 and <= 1))
                throw new ArgumentOutOfRangeException(name, v, $"{name} must be a probability in [0, 1].");
        }

        NonNegativeFinite(NoiseStdDev, nameof(NoiseStdDev));
        NonNegativeFinite(SpikeMagnitude, nameof(SpikeMagnitude));
        Probability(SpikeProbability, nameof(SpikeProbability));
        Probability(NaNProbability, nameof(NaNProbability));
        Probability(OutOfRangeProbability, nameof(OutOfRangeProbability));
        Probability(DuplicateProbability, nameof(DuplicateProbability));
        if (NaNProbability + OutOfRangeProbability > 1)
            throw new ArgumentException("NaNProbability + OutOfRangeProbability must not exceed 1.");
    }
}

/// <summary>
/// Synthetic multichannel telemetry for one device (signal model: <see cref="SensorSignal"/>). Channel <c>c</c> is
/// <c>baseline_c + amplitude_c * sin(2π t / period_c + phase_c)</c> (t in seconds since the first batch), with
/// per-device random baseline, amplitude, period and phase, plus Gaussian noise and injected faults
/// (see <see cref="FaultSettings"/>). Everything is deterministic for a seed.
/// <para>
/// The signal and its noise come from one random stream and the fault decisions from another, so two generators with
/// the same seed, channels and noise but different fault probabilities produce the same underlying values; only the
/// injected faults differ.
/// </para>
/// <para>
/// Each value has at most one fault: NaN (<see cref="float.NaN"/>), else out of range (<see cref="OutOfRangeValue"/>),
/// else a spike (± <c>SpikeMagnitude * amplitude</c>). Without an out-of-range fault a value is always within
/// [<see cref="MinValue"/>, <see cref="MaxValue"/>]. A duplicate reading carries the previous reading's sequence number
/// (fresh values, its own timestamp) and does not advance <see cref="NextSequence"/>; the very first reading is never
/// a duplicate.
/// </para>
/// </summary>
public sealed class TelemetryGenerator
{
    public const float OutOfRangeValue = 1e9f;
    public const float MinValue = -1e6f;
    public const float MaxValue = 1e6f;

    private readonly FaultSettings _faults;
    private readonly SensorSignal _signal;
    private readonly Random _faultRandom;
    private long? _epochMs;

    public TelemetryGenerator(DeviceId device, int channels, FaultSettings faults, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentNullException.ThrowIfNull(faults);
        faults.Validate();

        Device = device;
        Channels = channels;
        _faults = faults;
        _signal = new SensorSignal(channels, new Random(seed));
        _faultRandom = new Random(unchecked(seed * -1640531535 + 0x5bd1e995));
    }

    public DeviceId Device { get; }
    public int Channels { get; }

    /// <summary>The sequence number the next non-duplicate reading gets; starts at 1.</summary>
    public long NextSequence { get; private set; } = 1;

    /// <summary>Number of NaN values injected so far.</summary>
    public long InjectedNaN { get; private set; }

    /// <summary>Number of spiked values injected so far.</summary>
    public long InjectedSpikes { get; private set; }

    /// <summary>Number of out-of-range values injected so far.</summary>
    public long InjectedOutOfRange { get; private set; }

    /// <summary>Number of readings emitted with the previous reading's sequence number.</summary>
    public long InjectedDuplicates { get; private set; }

    /// <summary>
    /// The next <paramref name="readings"/> readings, timestamped <c>startTimestampMs + i * intervalMs</c>.
    /// </summary>
    public TelemetryBatch NextBatch(int readings, long startTimestampMs, int intervalMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(readings);
        ArgumentOutOfRangeException.ThrowIfNegative(intervalMs);

        _epochMs ??= startTimestampMs;
        var sequences = new long[readings];
        var timestamps = new long[readings];
        var values = new float[readings * Channels];

        for (var i = 0; i < readings; i++)
        {
            var timestamp = startTimestampMs + (long)i * intervalMs;
            timestamps[i] = timestamp;

            // One draw per reading regardless of the settings keeps the fault stream aligned.
            var duplicate = _faultRandom.NextDouble() < _faults.DuplicateProbability && NextSequence > 1;
            if (duplicate)
            {
                sequences[i] = NextSequence - 1;
                InjectedDuplicates++;
            }
            else
            {
                sequences[i] = NextSequence++;
            }

            var t = (timestamp - _epochMs.Value) / 1000.0;
            for (var c = 0; c < Channels; c++)
                values[i * Channels + c] = NextValue(c, t);
        }

        return new TelemetryBatch(Device, Channels, sequences, timestamps, values);
    }

    private float NextValue(int c, double t)
    {
        var amplitude = _signal.Amplitude(c);
        var value = _signal.Value(c, t, _faults.NoiseStdDev);

        // Fixed number of fault draws per value, whatever happens, so the stream stays aligned.
        var faultDraw = _faultRandom.NextDouble();
        var spikeDraw = _faultRandom.NextDouble();
        var spikeUp = _faultRandom.Next(2) == 0;

        if (faultDraw < _faults.NaNProbability)
        {
            InjectedNaN++;
            return float.NaN;
        }

        if (faultDraw < _faults.NaNProbability + _faults.OutOfRangeProbability)
        {
            InjectedOutOfRange++;
            return OutOfRangeValue;
        }

        if (spikeDraw < _faults.SpikeProbability)
        {
            InjectedSpikes++;
            value += (spikeUp ? 1 : -1) * _faults.SpikeMagnitude * amplitude;
        }

        return (float)Math.Clamp(value, MinValue, MaxValue);
    }
}
