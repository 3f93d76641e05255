using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using EdgeActors.Actors.Observability;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Observability;

public sealed partial class MetricNamesTests
{
    [GeneratedRegex("^edgeactors_[a-z][a-z0-9_]*[a-z0-9]$")]
    private static partial Regex SnakeCase();

    /// <summary>Every instrument of our meters, as a listener sees them (each meter published at once).</summary>
    private static List<Instrument> Instruments()
    {
        EdgeMeters.Initialize();
        var found = new List<Instrument>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, _) =>
        {
            if (EdgeMeters.All.Contains(i.Meter.Name)) lock (found) found.Add(i);
        };
        listener.Start();
        return found;
    }

    /// <summary>The name the Prometheus exporter writes: unit suffix (s → _seconds, By → _bytes), _total for counters.</summary>
    private static string Exported(Instrument i)
    {
        var name = i.Name + i.Unit switch { "s" => "_seconds", "By" => "_bytes", null or "" => "", var u => throw new InvalidOperationException($"{i.Name}: unit {u}") };
        return i.GetType().IsGenericType && i.GetType().GetGenericTypeDefinition() is var t && (t == typeof(Counter<>) || t == typeof(ObservableCounter<>)) ? name + "_total" : name;
    }

    [Fact]
    public void Instruments_should_follow_prometheus_naming()
    {
        var instruments = Instruments();
        Assert.True(instruments.Count >= 20, $"only {instruments.Count} instruments");
        foreach (var i in instruments)
        {
            Assert.Matches(SnakeCase(), i.Name);
            Assert.False(i.Name.EndsWith("_total") || i.Name.EndsWith("_seconds") || i.Name.EndsWith("_bytes") || i.Name.EndsWith("_count"),
                $"{i.Name}: the exporter adds the suffixes itself (unit, _total); a non-histogram must not end in _count");
            Assert.False(string.IsNullOrWhiteSpace(i.Description), $"{i.Name} has no description");
            Assert.Contains(i.Unit ?? "", new[] { "", "s", "By" });
        }
    }

    [Fact]
    public void Docs_should_list_every_metric()
    {
        var docs = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "metrics.md"));
        foreach (var i in Instruments())
            Assert.True(docs.Contains($"`{Exported(i)}`"), $"docs/metrics.md does not list `{Exported(i)}`");
    }

    [Fact]
    public void Acknowledged_should_count_accepted_and_rejected_by_reason()
    {
        var counts = new Dictionary<string, long>();
        var latencies = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == IngestMetrics.MeterName) l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
        {
            var key = i.Name + string.Concat(tags.ToArray().OrderBy(t => t.Key).Select(t => $"|{t.Key}={t.Value}"));
            lock (counts) counts[key] = counts.GetValueOrDefault(key) + value;
        });
        listener.SetMeasurementEventCallback<double>((i, _, _, _) =>
        {
            if (i.Name == IngestMetrics.AckLatency) Interlocked.Increment(ref latencies);
        });
        listener.Start();
        var device = new DeviceId("metrics-test-device");
        IngestMetrics.Acknowledged(new IngestAck(device, 3, 3, [new Rejection(4, RejectReason.OutOfRange, "x"), new Rejection(5, RejectReason.OutOfRange, "y")], "n"),
            System.Diagnostics.Stopwatch.GetTimestamp(), frame: false);
        IngestMetrics.Acknowledged(new IngestAck(device, 1, 0, [new Rejection(1, RejectReason.WrongFrameSize, "z")], "n"), 0, frame: true);
        lock (counts)
        {
            Assert.True(counts.GetValueOrDefault($"{IngestMetrics.Accepted}|kind=telemetry") >= 3);
            Assert.True(counts.GetValueOrDefault($"{IngestMetrics.Rejected}|kind=telemetry|reason=out_of_range") >= 2);
            Assert.True(counts.GetValueOrDefault($"{IngestMetrics.Rejected}|kind=frame|reason=wrong_frame_size") >= 1);
        }
        Assert.True(latencies >= 1);
    }

    [Fact]
    public void Cluster_members_should_count_once_per_status_and_role()
    {
        var counts = ClusterMetrics.Count([("up", ["seed", "edge"]), ("up", ["edge"]), ("leaving", ["edge"]), ("up", [])]);
        Assert.Equal([("leaving", "edge", 1), ("up", "edge", 2), ("up", "none", 1), ("up", "seed", 1)], counts.ToArray());
    }

    [Fact]
    public void Breaker_gauge_should_read_the_state_the_classifier_last_set()
    {
        int? seen = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Name == InferenceMetrics.BreakerState) l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<int>((_, value, _, _) => seen = value);
        listener.Start();
        InferenceMetrics.Breaker(CircuitState.Open);
        listener.RecordObservableInstruments();
        Assert.Equal(2, seen);
        InferenceMetrics.Breaker(CircuitState.Closed);
        listener.RecordObservableInstruments();
        Assert.Equal(0, seen);
    }

    [Fact]
    public void Store_lag_should_be_seconds_since_the_newest_stored_timestamp_per_edge()
    {
        var edge = "akka.tcp://edgeactors@lag-test:1";
        SyncMetrics.Stored(edge, 10_000);
        SyncMetrics.Stored(edge, 4_000); // an older batch stored later does not move the newest back
        Assert.Equal(10_000, SyncMetrics.NewestStoredByEdge[edge]);
        Assert.Equal(2.5, SyncMetrics.Lag(12_500, SyncMetrics.NewestStoredByEdge[edge]));
        Assert.Equal(0, SyncMetrics.Lag(9_000, 10_000)); // a device clock ahead of ours: no negative lag
    }

    [Fact]
    public void Newest_timestamp_should_look_inside_batch_records()
    {
        var device = new DeviceId("lag-device");
        SyncRecord[] records =
        [
            SyncRecord.Readings(device, SyncPriority.Routine, [1, 2, 3], [100, 300, 200], new float[3]),
            new SyncRecord(device, RecordKind.Frame, 4, 250, SyncPriority.Routine, [], new byte[784], -1, null),
        ];
        Assert.Equal(300, EdgeActors.Actors.Sync.SyncSink.NewestTimestamp(records));
        Assert.Equal(0, EdgeActors.Actors.Sync.SyncSink.NewestTimestamp([]));
    }

    [Fact]
    public void Device_health_counts_should_follow_transitions_and_stops()
    {
        var ok = AdapterMetrics.Devices(DeviceHealth.Ok);
        var offline = AdapterMetrics.Devices(DeviceHealth.Offline);
        AdapterMetrics.HealthChanged(null, DeviceHealth.Ok);
        AdapterMetrics.HealthChanged(DeviceHealth.Ok, DeviceHealth.Offline);
        Assert.Equal(ok, AdapterMetrics.Devices(DeviceHealth.Ok));
        Assert.Equal(offline + 1, AdapterMetrics.Devices(DeviceHealth.Offline));
        AdapterMetrics.HealthChanged(DeviceHealth.Offline, null); // the entity stopped
        Assert.Equal(offline, AdapterMetrics.Devices(DeviceHealth.Offline));
    }

    [Fact]
    public void Offline_alerts_should_be_read_once_after_a_sequence()
    {
        var (_, start) = AdapterMetrics.OfflineSince(long.MaxValue);
        AdapterMetrics.WentOffline("offline-a", "disconnected");
        var (devices, seq) = AdapterMetrics.OfflineSince(start);
        Assert.Contains(("offline-a", "disconnected"), devices);
        Assert.DoesNotContain(("offline-a", "disconnected"), AdapterMetrics.OfflineSince(seq).Devices);
    }

    [Fact]
    public void Disk_gauge_should_sum_a_sqlite_file_with_its_wal_and_shm()
    {
        var dir = Directory.CreateTempSubdirectory("ea-disk-");
        try
        {
            var db = Path.Combine(dir.FullName, "outbox.db");
            File.WriteAllBytes(db, new byte[100]);
            File.WriteAllBytes(db + "-wal", new byte[30]);
            Assert.Equal(130, ResourceMetrics.SqliteBytes(db));
            File.WriteAllBytes(db + "-shm", new byte[7]);
            Assert.Equal(137, ResourceMetrics.SqliteBytes(db));
            Assert.Equal(0, ResourceMetrics.SqliteBytes(Path.Combine(dir.FullName, "missing.db")));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Singleton_gauge_should_show_only_singletons_running_here()
    {
        ClusterMetrics.Singleton("test-singleton", "akka.tcp://x@h:1", up: true);
        Assert.Contains(("test-singleton", "akka.tcp://x@h:1"), ClusterMetrics.SingletonsHosted);
        ClusterMetrics.Singleton("test-singleton", "akka.tcp://x@h:1", up: false);
        Assert.DoesNotContain(("test-singleton", "akka.tcp://x@h:1"), ClusterMetrics.SingletonsHosted);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EdgeActors.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}
