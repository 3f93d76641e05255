using System.Globalization;
using EdgeActors.Tools.Evaluate;

namespace EdgeActors.Tests.Evaluate;

public sealed class EvaluationCriteriaTests
{
    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>A recorded edge scrape: telemetry/frame counters, offloads, ack buckets (le 0.001, 0.01, 0.1, +Inf), CPU seconds and RSS.</summary>
    private static NodeScrape Edge(double t, string node, double readings, double frames, double offloaded, double[] ackBuckets, double cpuSeconds, double rssBytes) =>
        new(t, node, PrometheusText.Parse(Inv($"""
            edgeactors_ingest_accepted_total{'{'}kind="telemetry"{'}'} {readings}
            edgeactors_ingest_accepted_total{'{'}kind="frame"{'}'} {frames}
            edgeactors_inference_offloaded_total{'{'}reason="escalation"{'}'} {offloaded}
            edgeactors_inference_requests_total{'{'}model="fmnist-mlp",result="success"{'}'} {frames}
            edgeactors_ingest_ack_latency_seconds_bucket{'{'}kind="telemetry",le="0.001"{'}'} {ackBuckets[0]}
            edgeactors_ingest_ack_latency_seconds_bucket{'{'}kind="telemetry",le="0.01"{'}'} {ackBuckets[1]}
            edgeactors_ingest_ack_latency_seconds_bucket{'{'}kind="telemetry",le="0.1"{'}'} {ackBuckets[2]}
            edgeactors_ingest_ack_latency_seconds_bucket{'{'}kind="telemetry",le="+Inf"{'}'} {ackBuckets[3]}
            process_cpu_time_seconds_total{'{'}cpu_mode="user"{'}'} {cpuSeconds * 0.75}
            process_cpu_time_seconds_total{'{'}cpu_mode="system"{'}'} {cpuSeconds * 0.25}
            process_memory_usage_bytes {rssBytes}
            """)));

    private static readonly ClientAccount Clean = new(Sent: 3_000, Accepted: 3_000, Rejected: 0, Stored: 3_000, Distinct: 3_000, RawBytes: 90_000, StoreBytes: 30_000);

    [Fact]
    public void Compute_should_count_increases_over_the_run_and_a_restarted_node_from_zero()
    {
        // edge1 restarts between t=2 and t=3: its counters start again from 0
        var scrapes = new List<NodeScrape>
        {
            Edge(0, "edge1", 100, 10, 0, [0, 0, 0, 0], 1.0, 100e6),
            Edge(1, "edge1", 1_100, 20, 2, [0, 0, 0, 0], 1.5, 110e6),
            Edge(2, "edge1", 2_100, 30, 4, [0, 0, 0, 0], 2.0, 120e6),
            Edge(3, "edge1", 500, 5, 1, [0, 0, 0, 0], 0.2, 90e6),
            Edge(0, "edge2", 0, 0, 0, [0, 0, 0, 0], 1.0, 100e6),
            Edge(3, "edge2", 900, 15, 0, [0, 0, 0, 0], 1.3, 100e6),
        };

        var c = EvaluationCriteria.Compute(scrapes, 3, Clean, []);

        Assert.Equal(2_000 + 500 + 900, c.ReadingsAccepted);
        Assert.Equal(20 + 5 + 15, c.FramesAccepted);
        Assert.Equal(5, c.Offloaded);
        Assert.Equal((2_000 + 500 + 900) / 3.0, c.ReadingsPerS, 6);
        Assert.Equal((40 - 5) / 40.0, c.EdgeShare!.Value, 6);
        // CPU: 0.5 s per 1 s on edge1 = 50 %; the restart interval has no rate; edge2 0.3 s over 3 s = 10 %
        Assert.Equal([50.0, 50.0], c.CpuPct["edge1"].Select(p => Math.Round(p.Value, 6)));
        Assert.Equal(10.0, c.CpuPct["edge2"].Single().Value, 6);
        Assert.Equal(50.0, c.CpuMaxPct!.Value, 6);
        Assert.Equal(120e6 / (1024 * 1024), c.RssMaxMb!.Value, 6);
    }

    [Fact]
    public void Compute_should_interpolate_ack_quantiles_from_bucket_increases_like_histogram_quantile()
    {
        // over the run: 50 observations ≤ 1 ms, 40 in (1, 10] ms, 10 in (10, 100] ms; counts before the run are left out
        var scrapes = new List<NodeScrape>
        {
            Edge(0, "edge1", 0, 0, 0, [1_000, 1_000, 1_000, 1_000], 0, 0),
            Edge(5, "edge1", 0, 0, 0, [1_050, 1_090, 1_100, 1_100], 0, 0),
        };

        var c = EvaluationCriteria.Compute(scrapes, 5, Clean, []);

        var q = c.AckTelemetry!;
        Assert.Equal(100, q.Count);
        Assert.Equal(1.0, q.P50Ms, 6);                       // rank 50: the top of the first bucket
        Assert.Equal(10 + 90 * (95 - 90) / 10.0, q.P95Ms, 6);  // rank 95: half way into (10, 100]
        Assert.Equal(10 + 90 * (99 - 90) / 10.0, q.P99Ms, 6);
        Assert.Null(c.AckFrame); // no frame series: no value, not 0
        Assert.Null(c.InferP99Ms);
    }

    [Fact]
    public void QuantilesOf_should_answer_the_highest_finite_bound_when_the_rank_falls_in_the_inf_bucket()
    {
        var q = EvaluationCriteria.QuantilesOf(new Dictionary<double, double> { [0.01] = 1, [double.PositiveInfinity] = 100 })!;

        Assert.Equal(10.0, q.P99Ms, 6);
        Assert.True(q.P99Above); // only "more than 10 ms" is known
        Assert.False(EvaluationCriteria.QuantilesOf(new Dictionary<double, double> { [0.01] = 100, [double.PositiveInfinity] = 100 })!.P99Above);
        Assert.Null(EvaluationCriteria.QuantilesOf(new Dictionary<double, double> { [0.01] = 0, [double.PositiveInfinity] = 0 }));
    }

    [Fact]
    public void A_p99_in_the_inf_bucket_should_be_reported_as_above_the_last_bound_not_as_a_number()
    {
        // 100 acks, 5 of them slower than the last finite bucket (0.1 s)
        var scrapes = new List<NodeScrape>
        {
            Edge(0, "edge1", 0, 0, 0, [0, 0, 0, 0], 1.0, 100e6),
            Edge(1, "edge1", 100, 0, 0, [50, 90, 95, 100], 1.5, 100e6),
        };
        var c = EvaluationCriteria.Compute(scrapes, 1, Clean, []);

        Assert.True(c.AckTelemetry!.P99Above);
        Assert.False(c.AckTelemetry.P50Above);
        var line = EvaluationReport.ResultLine(c);
        Assert.Contains(" ack_p99_ms=>100.0 ", line);
        var markdown = EvaluationReport.Markdown(c, "./edgeactors evaluate", "test");
        Assert.Contains("| > 100.00 |", markdown);
    }

    [Fact]
    public void Lost_and_duplicates_should_follow_the_demo_summary_accounting()
    {
        var unanswered = new ClientAccount(Sent: 1_000, Accepted: 990, Rejected: 5, Stored: 985, Distinct: 980, RawBytes: 0, StoreBytes: null);
        var c = EvaluationCriteria.Compute([], 10, unanswered, []);

        Assert.Equal(5 + 5, c.Lost);          // 5 never answered + 5 accepted but not in the store
        Assert.Equal(5, c.Duplicates);        // 985 rows of 980 distinct
        var remote = EvaluationCriteria.Compute([], 10, unanswered with { Stored = null, Distinct = null }, []);
        Assert.Equal(5, remote.Lost);
        Assert.Null(remote.Duplicates);
    }

    [Fact]
    public void ResultLine_should_give_every_key_a_value_and_na_where_there_is_no_data()
    {
        var scrapes = new List<NodeScrape>
        {
            Edge(0, "edge1", 0, 0, 0, [0, 0, 0, 0], 1.0, 100e6),
            Edge(1, "edge1", 100, 0, 0, [10, 10, 10, 10], 1.5, 100e6),
        };
        var faults = new List<InjectedFault> { new("kill-edge", "edge1", 0.5, 4.2) };

        var c = EvaluationCriteria.Compute(scrapes, 1, Clean, faults);
        var line = EvaluationReport.ResultLine(c);

        Assert.StartsWith("RESULT evaluate ", line);
        var keys = line["RESULT evaluate ".Length..].Split(' ').Select(kv => kv.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Equal(["duration_s", "readings_per_s", "ack_p99_ms", "infer_p99_ms", "lost", "duplicates", "cpu_max_pct", "rss_max_mb", "edge_share"], keys.Keys);
        Assert.All(keys.Values, v => Assert.False(string.IsNullOrEmpty(v)));
        Assert.Equal("100", keys["readings_per_s"]);
        Assert.Equal("na", keys["infer_p99_ms"]);   // no inference observed
        Assert.Equal("na", keys["edge_share"]);     // no frames
        Assert.Equal("0", keys["lost"]);
        Assert.Equal(4.2, c.FailoverS);
        var markdown = EvaluationReport.Markdown(c, "./edgeactors evaluate", "test");
        Assert.Contains("no value: no inference was observed", markdown);
        Assert.Contains("no camera frame was accepted", markdown);
        Assert.Contains(line, markdown);
    }
}
