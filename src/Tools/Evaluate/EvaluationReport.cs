using System.Globalization;
using System.Text;
using EdgeActors.Tools.Experiments;
using ScottPlot;

namespace EdgeActors.Tools.Evaluate;

/// <summary>The evaluate command's report: Markdown with the seed's five criteria, PNG plots (ScottPlot 5), and the RESULT line.</summary>
public static class EvaluationReport
{
    public const string ReportFile = "report.md";
    public static readonly string[] PlotFiles = ["throughput.png", "cpu.png", "memory.png"];

    private static string F(double v, string format = "0.0") => v.ToString(format, CultureInfo.InvariantCulture);
    private static string Na(double? v, string format = "0.0") => v is { } x && double.IsFinite(x) ? F(x, format) : "na";

    /// <summary>A quantile: its value, or <c>&gt;bound</c> when it fell in the +Inf bucket (<paramref name="space"/>: "&gt; bound" for the report).</summary>
    private static string Bounded(double? v, bool above, string format = "0.0", bool space = false) =>
        v is { } x && double.IsFinite(x) ? (above ? (space ? "> " : ">") + F(x, format) : F(x, format)) : "na";

    /// <summary>The one-line result; a key without data has the value <c>na</c> (the report says why).</summary>
    public static string ResultLine(EvaluationCriteria c) =>
        $"RESULT evaluate duration_s={F(c.DurationS, "0")} readings_per_s={F(c.ReadingsPerS, "0")} ack_p99_ms={Bounded(c.AckTelemetry?.P99Ms, c.AckTelemetry?.P99Above == true)} " +
        $"infer_p99_ms={Bounded(c.InferP99Ms, c.InferP99Above)} lost={c.Lost} duplicates={(c.Duplicates is { } d ? d.ToString(CultureInfo.InvariantCulture) : "na")} " +
        $"cpu_max_pct={Na(c.CpuMaxPct, "0")} rss_max_mb={Na(c.RssMaxMb, "0")} edge_share={Na(c.EdgeShare, "0.000")}";

    private static string Q(Quantiles? q, string why) => q is null
        ? $"– | – | – | 0 | no observation: {why}"
        : $"{Bounded(q.P50Ms, q.P50Above, "0.00", true)} | {Bounded(q.P95Ms, q.P95Above, "0.00", true)} | {Bounded(q.P99Ms, q.P99Above, "0.00", true)} | {F(q.Count, "0")} |";

    public static string Markdown(EvaluationCriteria c, string command, string setup)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Evaluation report (`edgeactors evaluate`)");
        sb.AppendLine();
        sb.AppendLine($"Command: `{command}`  ");
        sb.AppendLine($"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores. {setup}");
        sb.AppendLine("Every node's `/metrics` was scraped once a second; the numbers below come from those scrapes (counters as increases over the run, restarts counted) unless a row says it comes from the client's own accounting.");
        sb.AppendLine();
        sb.AppendLine("## 1. Response time");
        sb.AppendLine();
        sb.AppendLine("| what | p50 ms | p95 ms | p99 ms | observations | source |");
        sb.AppendLine("|---|---:|---:|---:|---:|---|");
        sb.AppendLine($"| ingest ack, telemetry | {Q(c.AckTelemetry, "no telemetry batch reached a device entity")} `edgeactors_ingest_ack_latency_seconds{{kind=\"telemetry\"}}` |");
        sb.AppendLine($"| ingest ack, camera frame | {Q(c.AckFrame, "no frame was sent (no cameras or --frames-per-s 0)")} `edgeactors_ingest_ack_latency_seconds{{kind=\"frame\"}}` |");
        sb.AppendLine($"| inference queue, edge model ({EvaluationCriteria.EdgeModel}) | {Q(c.InferQueueEdge, "no frame was classified on an edge")} `edgeactors_inference_queue_duration_seconds` |");
        sb.AppendLine($"| inference compute, edge model | {Q(c.InferComputeEdge, "no frame was classified on an edge")} `edgeactors_inference_compute_duration_seconds` |");
        sb.AppendLine($"| inference queue, escalated ({EvaluationCriteria.LargeModel} on the datacenter) | {Q(c.InferQueueEscalated, "no frame was escalated to the datacenter")} `edgeactors_inference_queue_duration_seconds` |");
        sb.AppendLine($"| inference compute, escalated | {Q(c.InferComputeEscalated, "no frame was escalated to the datacenter")} `edgeactors_inference_compute_duration_seconds` |");
        sb.AppendLine();
        sb.AppendLine($"Inference p99 (RESULT `infer_p99_ms`): {(c.InferP99Ms is { } ip ? Bounded(ip, c.InferP99Above, "0.00", true) + " ms = queue p99 + compute p99 over all models (the nodes measure the two parts apart; their sum bounds the p99 of a request's inference time from above)" : "no value: no inference was observed (no frames, or no model served)")}.");
        sb.AppendLine();
        sb.AppendLine("## 2. Throughput");
        sb.AppendLine();
        sb.AppendLine("| what | over the run | per second | source |");
        sb.AppendLine("|---|---:|---:|---|");
        sb.AppendLine($"| readings accepted | {F(c.ReadingsAccepted, "0")} | {F(c.ReadingsPerS, "0")} | `edgeactors_ingest_accepted_total{{kind=\"telemetry\"}}`, all nodes |");
        sb.AppendLine($"| frames accepted | {F(c.FramesAccepted, "0")} | {F(c.FramesPerS, "0.0")} | `edgeactors_ingest_accepted_total{{kind=\"frame\"}}` |");
        sb.AppendLine($"| inferences (success) | {F(c.Inferences, "0")} | {F(c.InferencesPerS, "0.0")} | `edgeactors_inference_requests_total{{result=\"success\"}}` (failures: {F(c.InferenceFailures, "0")}) |");
        sb.AppendLine();
        sb.AppendLine("Over time (per second, summed over the nodes): ![throughput](throughput.png)");
        sb.AppendLine();
        sb.AppendLine("## 3. Reliability");
        sb.AppendLine();
        sb.AppendLine($"- Faults injected: {(c.Faults.Count == 0 ? "none (--fault none)" : string.Join("; ", c.Faults.Select(f => $"{f.Kind} of {f.Node} at {F(f.AtS, "0.0")} s, ready again after {(f.RecoveredAfterS is { } r ? F(r, "0.0") + " s" : "NOT within the run")}")))}.");
        sb.AppendLine($"- Sent {c.Client.Sent}, accepted {c.Client.Accepted}, rejected {c.Client.Rejected} (readings + frames, the client library's accounting: the nodes' metrics cannot count what never reached them).");
        sb.AppendLine(c.Client.Stored is { } st
            ? $"- Stored in the datacenter's store: {st} rows ({c.Client.Distinct} distinct). Lost = unanswered (sent − accepted − rejected) + accepted but not stored = **{c.Lost}** (the demo's SUMMARY accounting)."
            : $"- Lost = sent − accepted − rejected = **{c.Lost}** (client accounting only: the datacenter's store file is not on this machine with --contacts, so stored rows were not counted).");
        sb.AppendLine(c.Duplicates is { } dup
            ? $"- Duplicates: **{dup}** (store rows beyond the distinct readings/frames)."
            : "- Duplicates: no value: the datacenter's store was not read (--contacts).");
        sb.AppendLine($"- Failover time: {(c.FailoverS is { } fo ? F(fo, "0.0") + " s from the SIGKILL to the killed node's /health/ready answering 200 again (restart, rejoin, shard region and models)" : c.Faults.Count == 0 ? "no value: no fault was injected (--fault kill-edge measures it)" : "no value: the killed node was not ready again before the run ended")}.");
        sb.AppendLine();
        sb.AppendLine("## 4. Resource utilisation");
        sb.AppendLine();
        sb.AppendLine("| node | CPU max % of one core | CPU mean % | RSS max MB | RSS last MB |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var node in c.CpuPct.Keys.Union(c.RssMb.Keys).Order())
        {
            var cpu = c.CpuPct.GetValueOrDefault(node) ?? [];
            var rss = c.RssMb.GetValueOrDefault(node) ?? [];
            sb.AppendLine($"| {node} | {(cpu.Count > 0 ? F(cpu.Max(p => p.Value), "0") : "na")} | {(cpu.Count > 0 ? F(cpu.Average(p => p.Value), "0") : "na")} | {(rss.Count > 0 ? F(rss.Max(p => p.Value), "0") : "na")} | {(rss.Count > 0 ? F(rss[^1].Value, "0") : "na")} |");
        }
        sb.AppendLine();
        sb.AppendLine("CPU from `process_cpu_time_seconds_total` (rate between scrapes, 100 % = one core), memory from `process_memory_usage_bytes` (resident set). " +
                      (c.CpuMaxPct is null ? "No value: the nodes' runtime metrics were off (edgeactors.metrics.runtime) or no two scrapes of a node succeeded. " : "") +
                      "Disk and network per node are not measured by the nodes yet (docs/metrics.md).");
        sb.AppendLine();
        sb.AppendLine("![cpu](cpu.png) ![memory](memory.png)");
        sb.AppendLine();
        sb.AppendLine("## 5. Cost-benefit");
        sb.AppendLine();
        sb.AppendLine(c.EdgeShare is { } share
            ? $"- Frames answered on the edge: **{F(share * 100, "0.0")} %** ({F(c.FramesAccepted - c.Offloaded, "0")} of {F(c.FramesAccepted, "0")}); offloaded to the datacenter: {F(c.Escalations, "0")} escalated (low confidence), {F(c.Overflows, "0")} overflow (`edgeactors_inference_offloaded_total`). The datacenter's compute saved is that share of the frames it would otherwise classify."
            : "- Frames answered on the edge: no value: no camera frame was accepted (no cameras, or --frames-per-s 0).");
        sb.AppendLine($"- Raw bytes the devices produced: {c.Client.RawBytes:N0} (client accounting: 4 bytes per channel value + 16 per reading for sequence and timestamp; 784 + 16 per frame).");
        sb.AppendLine(c.Client.StoreBytes is { } sb2
            ? $"- Bytes that reached the datacenter: the store's files are {sb2:N0} bytes ({F(c.Client.RawBytes > 0 ? (double)sb2 / c.Client.RawBytes : 0, "0.00")}x the raw bytes; SQLite rows with keys and indexes). The sync's bytes on the wire (raw vs compressed) have no metric yet (docs/metrics.md)."
            : "- Bytes that reached the datacenter: not measurable here (--contacts: the store is elsewhere, and the sync's bytes have no metric yet).");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(ResultLine(c));
        sb.AppendLine("```");
        return sb.ToString();
    }

    /// <summary>Writes report.md and the PNG plots into <paramref name="directory"/>; returns the report's path.</summary>
    public static string Write(string directory, EvaluationCriteria c, string command, string setup)
    {
        Directory.CreateDirectory(directory);
        Plot(Path.Combine(directory, "throughput.png"), "Throughput (per second, all nodes)", "per second",
            new Dictionary<string, IReadOnlyList<Point>> { ["readings/s"] = c.ReadingsSeries, ["frames/s"] = c.FramesSeries, ["inferences/s"] = c.InferencesSeries }, logY: false);
        Plot(Path.Combine(directory, "cpu.png"), "Process CPU per node (% of one core)", "CPU %", c.CpuPct, logY: false);
        Plot(Path.Combine(directory, "memory.png"), "Resident memory per node", "MB", c.RssMb, logY: false);
        var path = Path.Combine(directory, ReportFile);
        File.WriteAllText(path, Markdown(c, command, setup));
        return path;
    }

    private static void Plot(string path, string title, string yLabel, IReadOnlyDictionary<string, IReadOnlyList<Point>> series, bool logY)
    {
        var plot = new Plot();
        if (ExperimentReport.TextFont is { } font) plot.Font.Set(font);
        plot.Title(title);
        plot.XLabel("seconds into the load");
        plot.YLabel(yLabel);
        foreach (var (name, points) in series)
        {
            if (points.Count == 0) continue;
            var line = plot.Add.Scatter(points.Select(p => p.T).ToArray(), points.Select(p => p.Value).ToArray());
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = 0;
        }
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, ExperimentReport.PlotWidth, ExperimentReport.PlotHeight);
    }
}
