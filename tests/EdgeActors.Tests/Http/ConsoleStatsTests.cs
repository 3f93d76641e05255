using EdgeActors.Actors.Observability;
using EdgeActors.Http.WebConsole;
using Xunit;

namespace EdgeActors.Tests.Http;

public sealed class ConsoleStatsTests
{
    [Fact]
    public void Percentile_should_use_the_nearest_rank_and_be_null_without_values()
    {
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        Assert.Equal(5, ConsoleStats.Percentile(sorted, 0.50));
        Assert.Equal(10, ConsoleStats.Percentile(sorted, 0.99));
        Assert.Equal(1, ConsoleStats.Percentile([1], 0.99));
        Assert.Null(ConsoleStats.Percentile([], 0.5));
    }

    [Fact]
    public void Sample_should_report_the_latencies_since_the_previous_sample_only()
    {
        using var stats = new ConsoleStats(listen: false);
        foreach (var s in new[] { 0.004, 0.001, 0.002, 0.003 }) stats.AddLatency(s);
        stats.AddReadings(7);
        var first = stats.Sample();
        Assert.Equal(7, first.ReadingsTotal);
        Assert.Equal(2, first.AckP50Ms!.Value, 6);
        Assert.Equal(4, first.AckP99Ms!.Value, 6);
        var second = stats.Sample();
        Assert.Equal(7, second.ReadingsTotal);
        Assert.Null(second.AckP50Ms);
    }

    [Fact]
    public void Listener_should_count_the_ingest_meters_readings()
    {
        using var stats = new ConsoleStats();
        var before = stats.Sample().ReadingsTotal;
        IngestMetrics.AcceptedTotal.Add(5, IngestMetrics.Telemetry);
        IngestMetrics.AckLatencySeconds.Record(0.25);
        var after = stats.Sample();
        Assert.True(after.ReadingsTotal >= before + 5, $"{before} then {after.ReadingsTotal}");
        Assert.NotNull(after.AckP99Ms);
    }

    [Fact]
    public void MemberChanges_should_name_joins_status_changes_and_nodes_down()
    {
        var before = new Dictionary<string, string> { ["a"] = "Up", ["b"] = "Up", ["c"] = "Up" };
        var after = new Dictionary<string, string> { ["a"] = "Up", ["b"] = "Unreachable", ["d"] = "Joining" };
        var alerts = ConsoleStats.MemberChanges(before, after);
        Assert.Contains("node down: b is unreachable", alerts);
        Assert.Contains("member d joined (Joining)", alerts);
        Assert.Contains("node down: c left the cluster", alerts);
        Assert.Equal(3, alerts.Count);
        Assert.Empty(ConsoleStats.MemberChanges(null, after));
        Assert.Empty(ConsoleStats.MemberChanges(after, after));
    }

    [Fact]
    public void Device_alerts_should_name_anomalies_since_the_last_tick_and_devices_gone_offline()
    {
        Assert.Empty(ConsoleStats.DeviceAlerts(null, 5, [])); // first tick: nothing to compare with
        Assert.Empty(ConsoleStats.DeviceAlerts(5, 5, []));
        var alerts = ConsoleStats.DeviceAlerts(5, 8, [("sensor-7", "disconnected")]);
        Assert.Equal(["anomaly: 3 reading(s) on this node flagged anomalous in the last second", "device offline: sensor-7 (disconnected)"], alerts);
    }

    [Fact]
    public void Device_search_should_return_the_first_matches_by_prefix_sorted_and_say_when_more_matched()
    {
        string[] ids = ["cam-2", "sensor-10", "sensor-02", "sensor-01", "Sensor-03", "sensor-02"];
        var (all, truncated) = DeviceSearch.Match(ids, "sensor-", 10);
        Assert.Equal(["sensor-01", "sensor-02", "sensor-10"], all);
        Assert.False(truncated);
        var (two, more) = DeviceSearch.Match(ids, "sensor-", 2);
        Assert.Equal(["sensor-01", "sensor-02"], two);
        Assert.True(more);
        Assert.Empty(DeviceSearch.Match(ids, "x", 5).Matches);
    }

    [Fact]
    public void Device_search_limit_should_be_bounded()
    {
        Assert.Equal((DeviceSearch.DefaultLimit, null), DeviceSearch.ParseLimit(""));
        Assert.Equal((7, null), DeviceSearch.ParseLimit("7"));
        Assert.NotNull(DeviceSearch.ParseLimit("0").Error);
        Assert.NotNull(DeviceSearch.ParseLimit("51").Error);
        Assert.NotNull(DeviceSearch.ParseLimit("-3").Error);
        Assert.NotNull(DeviceSearch.ParseLimit("ten").Error);
    }
}
