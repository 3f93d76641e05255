using EdgeActors.Messages;

namespace EdgeActors.Actors.Adapters;

/// <summary>
/// Fault injection for <see cref="SimulatedSensor"/>: per read, the probability of each fault (at most one per read,
/// drawn in the order exception, hang, garbage, disconnect, clock jump), how long a disconnect lasts and how far the
/// device clock jumps (backward or forward with equal chance; the clock stays jumped).
/// </summary>
public sealed record HardwareFaults(
    double Exception = 0,
    double Hang = 0,
    double Garbage = 0,
    double Disconnect = 0,
    double ClockJump = 0,
    TimeSpan DisconnectDuration = default,
    TimeSpan ClockJumpSize = default)
{
    public static HardwareFaults None { get; } = new();

    public double Total => Exception + Hang + Garbage + Disconnect + ClockJump;
}

/// <summary>
/// A simulated multichannel sensor (<see cref="SensorSignal"/>, low noise) with seeded fault injection: a read may throw,
/// hang until the device is closed, return NaN / out-of-range values, start a disconnect (reads and connects refused for
/// <see cref="HardwareFaults.DisconnectDuration"/>), or jump the device clock. The fault draws depend only on the seed and
/// the read index, so a seed gives the same faults in every run; <paramref name="script"/> (read index from 1 → fault)
/// overrides the draws for tests. Thread-safe.
/// </summary>
public sealed class SimulatedSensor : ISensorHardware
{
    public const float GarbageValue = 1e9f;

    private readonly object _gate = new();
    private readonly HardwareFaults _faults;
    private readonly Func<long, SensorFault?>? _script;
    private readonly Func<long> _clock;
    private readonly SensorSignal _signal;
    private readonly Random _faultRandom;
    private readonly long _epochMs;
    private CancellationTokenSource _connection = new();
    private long _reads;
    private long _clockOffsetMs;
    private long _disconnectedUntilMs;
    private long _lastTimestampMs = long.MinValue;

    public SimulatedSensor(int channels, HardwareFaults faults, int seed, Func<long, SensorFault?>? script = null, Func<long>? clock = null)
    {
        ArgumentNullException.ThrowIfNull(faults);
        _faults = faults;
        _script = script;
        _clock = clock ?? (() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        _signal = new SensorSignal(channels, new Random(seed));
        _faultRandom = new Random(unchecked(seed * -1640531535 + 0x2545f491));
        _epochMs = _clock();
        Channels = channels;
    }

    public int Channels { get; }

    public long Reads => Interlocked.Read(ref _reads);
    public long InjectedExceptions { get; private set; }
    public long InjectedHangs { get; private set; }
    public long InjectedGarbage { get; private set; }
    public long InjectedDisconnects { get; private set; }
    public long InjectedClockJumps { get; private set; }

    public void Connect()
    {
        lock (_gate)
        {
            if (_clock() < _disconnectedUntilMs) throw new SensorDisconnectedException("device unreachable (simulated disconnect)");
            _connection.Cancel(); // a reset releases a read still hanging from an abandoned connection
            _connection = new CancellationTokenSource();
        }
    }

    public void Close()
    {
        lock (_gate) _connection.Cancel();
    }

    public SensorSample Read()
    {
        SensorFault? fault;
        CancellationToken connection;
        long now;
        bool up;
        lock (_gate)
        {
            now = _clock();
            if (now < _disconnectedUntilMs) throw new SensorDisconnectedException("device unreachable (simulated disconnect)");
            if (_connection.IsCancellationRequested) throw new SensorDisconnectedException("device not connected");
            connection = _connection.Token;
            var index = Interlocked.Increment(ref _reads);
            var draw = _faultRandom.NextDouble(); // one draw per read keeps the fault stream aligned with the read index
            up = _faultRandom.Next(2) == 0;
            fault = _script is not null ? _script(index) : Draw(draw);
            switch (fault)
            {
                case SensorFault.Exception:
                    InjectedExceptions++;
                    throw new SensorReadException($"read {index}: device reported an error (simulated)");
                case SensorFault.Disconnect:
                    InjectedDisconnects++;
                    _disconnectedUntilMs = now + (long)_faults.DisconnectDuration.TotalMilliseconds;
                    throw new SensorDisconnectedException($"read {index}: device unreachable (simulated disconnect for {_faults.DisconnectDuration.TotalMilliseconds} ms)");
                case SensorFault.ClockJump:
                    InjectedClockJumps++;
                    var size = (long)Math.Max(1, _faults.ClockJumpSize.TotalMilliseconds);
                    _clockOffsetMs += up ? size : -size;
                    break;
                case SensorFault.Hang:
                    InjectedHangs++;
                    break;
                case SensorFault.Garbage:
                    InjectedGarbage++;
                    break;
            }
        }

        if (fault == SensorFault.Hang)
        {
            // hangs until the device is closed or reset; the late result below is what a stuck driver returns at last
            connection.WaitHandle.WaitOne();
        }

        lock (_gate)
        {
            var timestamp = now + _clockOffsetMs;
            // a device clock never repeats a millisecond between reads unless it jumped
            if (fault != SensorFault.ClockJump && timestamp <= _lastTimestampMs) timestamp = _lastTimestampMs + 1;
            _lastTimestampMs = timestamp;
            var values = new float[Channels];
            var seconds = (now - _epochMs) / 1000.0;
            for (var c = 0; c < Channels; c++) values[c] = (float)_signal.Value(c, seconds, 0.02);
            if (fault == SensorFault.Garbage) values[(int)(Reads % Channels)] = up ? GarbageValue : float.NaN;
            return new SensorSample(timestamp, values);
        }
    }

    private SensorFault? Draw(double draw)
    {
        var f = _faults;
        if ((draw -= f.Exception) < 0) return SensorFault.Exception;
        if ((draw -= f.Hang) < 0) return SensorFault.Hang;
        if ((draw -= f.Garbage) < 0) return SensorFault.Garbage;
        if ((draw -= f.Disconnect) < 0) return SensorFault.Disconnect;
        if ((draw -= f.ClockJump) < 0) return SensorFault.ClockJump;
        return null;
    }
}
