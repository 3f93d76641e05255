using EdgeActors.Tools.Evaluate;

namespace EdgeActors.Tests.Evaluate;

public sealed class PrometheusTextTests
{
    private const string Sample = """
        # HELP edgeactors_ingest_accepted_total Readings accepted
        # TYPE edgeactors_ingest_accepted_total counter
        edgeactors_ingest_accepted_total{otel_scope_name="EdgeActors.Ingest",kind="telemetry"} 1200 1733371000000
        edgeactors_ingest_accepted_total{otel_scope_name="EdgeActors.Ingest",kind="frame"} 7
        # TYPE edgeactors_ingest_entities gauge
        edgeactors_ingest_entities 42
        # TYPE edgeactors_ingest_ack_latency_seconds histogram
        edgeactors_ingest_ack_latency_seconds_bucket{kind="telemetry",le="0.005"} 10
        edgeactors_ingest_ack_latency_seconds_bucket{kind="telemetry",le="+Inf"} 12
        edgeactors_ingest_ack_latency_seconds_sum{kind="telemetry"} 0.5
        edgeactors_ingest_ack_latency_seconds_count{kind="telemetry"} 12
        target_info{service_name="edgeactors",note="a \"quoted\" \\ back\nslash"} 1
        odd_values{v="nan"} NaN
        odd_values{v="inf"} +Inf
        odd_values{v="-inf"} -Inf
        # EOF
        """;

    [Fact]
    public void Parse_should_read_counters_gauges_and_histogram_buckets_with_their_labels_and_types()
    {
        var scrape = PrometheusText.Parse(Sample);

        Assert.Equal(1200, scrape.Sum("edgeactors_ingest_accepted_total", s => s.Label("kind") == "telemetry"));
        Assert.Equal(1207, scrape.Sum("edgeactors_ingest_accepted_total"));
        Assert.Equal(42, scrape.Sum("edgeactors_ingest_entities"));
        Assert.Equal("counter", scrape.Types["edgeactors_ingest_accepted_total"]);
        Assert.Equal("histogram", scrape.Types["edgeactors_ingest_ack_latency_seconds"]);
        var buckets = scrape.Named("edgeactors_ingest_ack_latency_seconds_bucket").ToList();
        Assert.Equal(["0.005", "+Inf"], buckets.Select(b => b.Label("le")));
        Assert.Equal([10.0, 12.0], buckets.Select(b => b.Value));
        Assert.Equal(12, scrape.Sum("edgeactors_ingest_ack_latency_seconds_count"));
        Assert.Null(scrape.Sum("not_there"));
    }

    [Fact]
    public void Parse_should_unescape_label_values_and_read_special_values()
    {
        var scrape = PrometheusText.Parse(Sample);

        Assert.Equal("a \"quoted\" \\ back\nslash", scrape.Named("target_info").Single().Label("note"));
        var odd = scrape.Named("odd_values").ToDictionary(s => s.Label("v")!, s => s.Value);
        Assert.True(double.IsNaN(odd["nan"]));
        Assert.Equal(double.PositiveInfinity, odd["inf"]);
        Assert.Equal(double.NegativeInfinity, odd["-inf"]);
    }

    [Theory]
    [InlineData("metric{kind=\"x\"", "not closed")]
    [InlineData("metric{kind=x} 1", "=\"value\"")]
    [InlineData("metric twelve", "not a number")]
    [InlineData("{kind=\"x\"} 1", "metric name")]
    [InlineData("metric{kind=\"x} 1", "not closed")]
    public void Parse_should_name_the_line_and_what_is_wrong_in_malformed_input(string line, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => PrometheusText.Parse("ok_metric 1\n" + line));

        Assert.Contains("line 2", ex.Message);
        Assert.Contains(expected, ex.Message);
    }
}
