using System.Globalization;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>
/// A device entity's view of its hardware's health (one per entity, used by its actor only). Inputs: the adapter's
/// <see cref="SensorHealth"/> reports, the readings the entity receives (garbage values and clock jumps are detected
/// here) and the entity's watchdog. Effective health: Offline when the adapter says so or the watchdog fired; else
/// Degraded when the adapter says so or a data fault (garbage, clock jump) happened within the last
/// <c>RecoverAfter</c> readings; else Ok. Transitions are counted; no reading is ever refused because of health.
/// </summary>
public sealed class SensorMonitor
{
    private readonly long[] _entityFaults = new long[(int)SensorFault.Silent + 1];
    private SensorHealth _report;
    private DeviceHealth _health = DeviceHealth.Unknown;
    private string _reason = "";
    private long _sinceMs;
    private long _degradations;
    private long _offlines;
    private long _recoveries;
    private bool _silent;
    private string _silentReason = "";
    private int _dataFaultCountdown;
    private string _dataFaultReason = "";
    private long _lastTimestamp = long.MinValue;

    public SensorMonitor(SensorHealth first, long nowMs)
    {
        _report = first;
        Update(nowMs);
    }

    public DeviceHealth Health => _health;

    /// <summary>How long the entity waits for a reading before Offline (0: no watchdog, the adapter has stopped).</summary>
    public TimeSpan Watchdog => TimeSpan.FromMilliseconds(_report.OfflineAfterMs);

    public void Report(SensorHealth report, long nowMs)
    {
        _report = report;
        if (report.OfflineAfterMs == 0) _silent = false;
        Update(nowMs);
    }

    /// <summary>
    /// New readings (in sequence order) with their device timestamps; <paramref name="garbage"/>: the sequences among them
    /// rejected as garbage (NaN or out of range). Health is evaluated at each fault and after the batch, so a fault
    /// followed by enough clean readings within one batch still counts as a Degraded episode and a recovery.
    /// </summary>
    public void Readings(ReadOnlySpan<long> sequences, ReadOnlySpan<long> timestamps, IReadOnlySet<long>? garbage, long nowMs)
    {
        if (sequences.Length == 0) return;
        _silent = false;
        var threshold = Math.Max(1, _report.ClockJumpMs);
        for (var i = 0; i < timestamps.Length; i++)
        {
            var ts = timestamps[i];
            var fault = false;
            if (_lastTimestamp != long.MinValue)
            {
                var delta = ts - _lastTimestamp;
                if (delta < 0 || delta > threshold)
                {
                    _entityFaults[(int)SensorFault.ClockJump]++;
                    DataFault(string.Create(CultureInfo.InvariantCulture,
                        $"clock jumped {(delta < 0 ? "back" : "forward")} by {Math.Abs(delta)} ms at sequence {sequences[i]}"));
                    fault = true;
                }
            }
            _lastTimestamp = ts;
            if (garbage is not null && garbage.Contains(sequences[i]))
            {
                _entityFaults[(int)SensorFault.Garbage]++;
                DataFault(string.Create(CultureInfo.InvariantCulture, $"garbage reading (NaN or out of range) rejected at sequence {sequences[i]}"));
                fault = true;
            }
            if (fault) Update(nowMs);
            else if (_dataFaultCountdown > 0) _dataFaultCountdown--;
        }
        Update(nowMs);
    }

    /// <summary>The watchdog fired: no reading within <see cref="Watchdog"/>.</summary>
    public void Silent(long nowMs)
    {
        if (_report.OfflineAfterMs == 0 || _silent) return;
        _silent = true;
        _entityFaults[(int)SensorFault.Silent]++;
        _silentReason = string.Create(CultureInfo.InvariantCulture, $"no reading from the adapter for {_report.OfflineAfterMs} ms");
        Update(nowMs);
    }

    private void DataFault(string reason)
    {
        _dataFaultCountdown = Math.Max(1, _report.RecoverAfter);
        _dataFaultReason = reason;
    }

    private void Update(long nowMs)
    {
        DeviceHealth health;
        string reason;
        if (_report.Health == DeviceHealth.Offline) (health, reason) = (DeviceHealth.Offline, _report.Reason);
        else if (_silent) (health, reason) = (DeviceHealth.Offline, _silentReason);
        else if (_report.Health == DeviceHealth.Degraded) (health, reason) = (DeviceHealth.Degraded, _report.Reason);
        else if (_dataFaultCountdown > 0) (health, reason) = (DeviceHealth.Degraded, _dataFaultReason);
        else (health, reason) = (DeviceHealth.Ok, _report.Reason);
        if (health != _health)
        {
            if (health == DeviceHealth.Degraded) _degradations++;
            else if (health == DeviceHealth.Offline) _offlines++;
            else if (health == DeviceHealth.Ok && _health != DeviceHealth.Unknown) _recoveries++;
            _health = health;
            _sinceMs = nowMs;
        }
        _reason = reason;
    }

    public SensorStatus Status()
    {
        var faults = new List<FaultCount>();
        foreach (var f in _report.Faults)
            if (f.Kind is SensorFault.Exception or SensorFault.Hang or SensorFault.Disconnect) faults.Add(f);
        for (var k = (int)SensorFault.Garbage; k <= (int)SensorFault.Silent; k++)
            if (_entityFaults[k] > 0) faults.Add(new FaultCount((SensorFault)k, _entityFaults[k]));
        return new SensorStatus(_health, _reason, _sinceMs, _degradations, _offlines, _recoveries, faults.OrderBy(f => f.Kind).ToArray(),
            _report.AdapterNode, _report.Produced, _report.LastSequence, _report.Unacknowledged, _report.Dropped, _report.Restarts);
    }
}
