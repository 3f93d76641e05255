using System.Diagnostics.Metrics;
using EdgeActors.Actors.Observability;

namespace EdgeActors.Http.WebConsole;

/// <summary>One second of the console's live view: readings accepted on this node (total), the ack latencies
/// recorded since the previous sample (p50/p99 in ms; null when none) and the inference breaker state (0 closed, 1 half-open, 2 open).</summary>
public sealed record ConsoleSample(long ReadingsTotal, double? AckP50Ms, double? AckP99Ms, int Breaker)
{
    /// <summary>Readings flagged anomalous on this node so far.</summary>
    public long AnomaliesTotal { get; init; }
}

/// <summary>
/// Reads this node's own meters (ingest accepted, ack latency, breaker state) for the web console through a
/// <see cref="MeterListener"/>: no Akka, no Ask. Thread-safe. <see cref="Sample"/> drains the latencies seen since the
/// previous call (the console's events endpoint calls it once a second, shared by every open page).
/// </summary>
public sealed class ConsoleStats : IDisposable
{
    private const int MaxLatencies = 8192;
    private readonly MeterListener? _listener;
    private readonly Lock _gate = new();
    private readonly List<double> _latencies = [];
    private long _readings;
    private long _anomalies;
    private int _breaker;

    public ConsoleStats(bool listen = true)
    {
        if (!listen) return;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == IngestMetrics.MeterName && instrument.Name is IngestMetrics.Accepted or IngestMetrics.AckLatency or IngestMetrics.Anomalies
                    || instrument.Meter.Name == InferenceMetrics.MeterName && instrument.Name == InferenceMetrics.BreakerState)
                    l.EnableMeasurementEvents(instrument);
            },
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == IngestMetrics.Accepted) AddReadings(value);
            else if (instrument.Name == IngestMetrics.Anomalies) AddAnomalies(value);
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == IngestMetrics.AckLatency) AddLatency(value);
        });
        _listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
        {
            if (instrument.Name == InferenceMetrics.BreakerState) Volatile.Write(ref _breaker, value);
        });
        EdgeMeters.Initialize();
        _listener.Start();
    }

    public void AddReadings(long n) => Interlocked.Add(ref _readings, n);

    public void AddAnomalies(long n) => Interlocked.Add(ref _anomalies, n);

    /// <summary>An ack latency in seconds (kept up to 8192 between samples; beyond, the newest are dropped).</summary>
    public void AddLatency(double seconds)
    {
        lock (_gate)
            if (_latencies.Count < MaxLatencies) _latencies.Add(seconds);
    }

    public void SetBreaker(int state) => Volatile.Write(ref _breaker, state);

    public ConsoleSample Sample()
    {
        _listener?.RecordObservableInstruments();
        double[] latencies;
        lock (_gate)
        {
            latencies = [.. _latencies];
            _latencies.Clear();
        }
        Array.Sort(latencies);
        return new ConsoleSample(Interlocked.Read(ref _readings), Percentile(latencies, 0.50) * 1000, Percentile(latencies, 0.99) * 1000, Volatile.Read(ref _breaker))
        {
            AnomaliesTotal = Interlocked.Read(ref _anomalies),
        };
    }

    /// <summary>Nearest-rank percentile of sorted values; null when there are none.</summary>
    private ConsoleSample? _shared;
    private long _sharedAt;

    /// <summary><see cref="Sample"/> at most once per 900 ms: every open page gets the same view of each second.</summary>
    public ConsoleSample SampleShared()
    {
        lock (_gate)
        {
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            if (_shared is not null && System.Diagnostics.Stopwatch.GetElapsedTime(_sharedAt, now) < TimeSpan.FromMilliseconds(900)) return _shared;
            _sharedAt = now;
        }
        var sample = Sample();
        lock (_gate) _shared = sample;
        return sample;
    }

    public static double? Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return null;
        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Alerts for what changed between two member views (address → status): joined, left, status changes.</summary>
    public static IReadOnlyList<string> MemberChanges(IReadOnlyDictionary<string, string>? before, IReadOnlyDictionary<string, string> after)
    {
        var alerts = new List<string>();
        if (before is null) return alerts;
        foreach (var (address, status) in after)
        {
            if (!before.TryGetValue(address, out var was)) alerts.Add($"member {address} joined ({status})");
            else if (was != status) alerts.Add(status == "Unreachable" ? $"node down: {address} is unreachable" : $"member {address}: {was} -> {status}");
        }
        foreach (var address in before.Keys)
            if (!after.ContainsKey(address)) alerts.Add($"node down: {address} left the cluster");
        return alerts;
    }

    /// <summary>
    /// Alerts for what this node's devices did since the previous tick: readings flagged anomalous (the count rose from
    /// <paramref name="anomaliesBefore"/>; null: first tick, nothing to compare) and devices that went offline.
    /// </summary>
    public static IReadOnlyList<string> DeviceAlerts(long? anomaliesBefore, long anomaliesNow, IReadOnlyList<(string Device, string Reason)> wentOffline)
    {
        var alerts = new List<string>();
        if (anomaliesBefore is { } b && anomaliesNow > b)
            alerts.Add($"anomaly: {anomaliesNow - b} reading(s) on this node flagged anomalous in the last second");
        foreach (var (device, reason) in wentOffline.Take(20))
            alerts.Add($"device offline: {device}{(string.IsNullOrEmpty(reason) ? "" : " (" + reason + ")")}");
        if (wentOffline.Count > 20) alerts.Add($"device offline: {wentOffline.Count - 20} more device(s)");
        return alerts;
    }

    public void Dispose() => _listener?.Dispose();
}
