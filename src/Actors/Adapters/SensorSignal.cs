namespace EdgeActors.Actors.Adapters;

/// <summary>
/// The synthetic multichannel signal shared by the simulator's telemetry generator and the simulated sensor hardware:
/// channel <c>c</c> is <c>baseline_c + amplitude_c * sin(2π t / period_c + phase_c)</c> (t in seconds), with per-device
/// random baseline, amplitude, period and phase drawn from the given random stream, plus Gaussian noise as a multiple
/// of the channel's amplitude. Not thread-safe.
/// </summary>
public sealed class SensorSignal
{
    private readonly Random _random;
    private readonly double[] _baseline;
    private readonly double[] _amplitude;
    private readonly double[] _periodSeconds;
    private readonly double[] _phase;

    /// <param name="random">The signal's random stream: draws the parameters now and the noise later.</param>
    public SensorSignal(int channels, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentNullException.ThrowIfNull(random);
        Channels = channels;
        _random = random;
        _baseline = new double[channels];
        _amplitude = new double[channels];
        _periodSeconds = new double[channels];
        _phase = new double[channels];
        for (var c = 0; c < channels; c++)
        {
            _baseline[c] = 20.0 + 10.0 * c + (random.NextDouble() - 0.5) * 10.0;
            _amplitude[c] = 2.0 + 6.0 * random.NextDouble();
            _periodSeconds[c] = 30.0 + 270.0 * random.NextDouble();
            _phase[c] = 2.0 * Math.PI * random.NextDouble();
        }
    }

    public int Channels { get; }

    public double Amplitude(int channel) => _amplitude[channel];

    /// <summary>Channel <paramref name="channel"/> at <paramref name="seconds"/>, with noise of <paramref name="noiseStdDev"/> amplitudes.</summary>
    public double Value(int channel, double seconds, double noiseStdDev)
    {
        var amplitude = _amplitude[channel];
        var clean = _baseline[channel] + amplitude * Math.Sin(2.0 * Math.PI * seconds / _periodSeconds[channel] + _phase[channel]);
        return clean + noiseStdDev * amplitude * NextGaussian(_random);
    }

    /// <summary>Standard normal variate (Box–Muller).</summary>
    private static double NextGaussian(Random random)
    {
        var u1 = 1.0 - random.NextDouble(); // (0, 1]: log is finite
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
