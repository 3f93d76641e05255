using System.Globalization;

namespace EdgeActors.Tools.Evaluate;

/// <summary>One scrape of one node's /metrics, <see cref="T"/> seconds after the load started.</summary>
public sealed record NodeScrape(double T, string Node, Scrape Scrape);

/// <summary>A fault the run injected: what, on which node, when (seconds into the load) and how long until the node was ready again.</summary>
public sealed record InjectedFault(string Kind, string Node, double AtS, double? RecoveredAfterS);

/// <summary>
/// What only the client (and the datacenter's store file) can say: readings and frames sent/accepted/rejected by the
/// client library's accounting, rows in the datacenter's store (null when the store is not reachable, e.g. --contacts),
/// raw payload bytes the simulated devices produced, and the store file's size.
/// </summary>
public sealed record ClientAccount(long Sent, long Accepted, long Rejected, long? Stored, long? Distinct, long RawBytes, long? StoreBytes);

/// <summary>
/// p50/p95/p99 in milliseconds over <see cref="Count"/> observations. A quantile whose rank falls in the +Inf bucket
/// is only known to exceed the highest finite bucket bound: its value is that bound and its <c>…Above</c> flag is set
/// (reported as "&gt; bound", never as an exact number).
/// </summary>
public sealed record Quantiles(double P50Ms, double P95Ms, double P99Ms, double Count)
{
    public bool P50Above { get; init; }
    public bool P95Above { get; init; }
    public bool P99Above { get; init; }
}

/// <summary>One point of a per-second series.</summary>
public sealed record Point(double T, double Value);

/// <summary>
/// The seed's five criteria computed from recorded scrapes (plain: no I/O, no Akka). Counters are read as increases
/// over the run with resets (a restarted node starts from 0) counted as a new start; histogram quantiles are
/// interpolated within buckets the way Prometheus' <c>histogram_quantile</c> does.
/// </summary>
public sealed class EvaluationCriteria
{
    public const string EdgeModel = "fmnist-mlp", LargeModel = "fmnist-large";

    public double DurationS { get; private init; }
    public Quantiles? AckTelemetry { get; private init; }
    public Quantiles? AckFrame { get; private init; }
    public Quantiles? InferQueueEdge { get; private init; }
    public Quantiles? InferComputeEdge { get; private init; }
    public Quantiles? InferQueueEscalated { get; private init; }
    public Quantiles? InferComputeEscalated { get; private init; }
    public Quantiles? InferQueue { get; private init; }
    public Quantiles? InferCompute { get; private init; }

    /// <summary>Inference p99: queue p99 + compute p99 over all models (an upper bound of the p99 of their sum; the node measures the two parts apart).</summary>
    public double? InferP99Ms => InferQueue is null || InferCompute is null ? null : InferQueue.P99Ms + InferCompute.P99Ms;

    /// <summary>True when a part of <see cref="InferP99Ms"/> fell in the +Inf bucket: the sum is then only a lower bound.</summary>
    public bool InferP99Above => InferQueue?.P99Above == true || InferCompute?.P99Above == true;

    public double ReadingsAccepted { get; private init; }
    public double FramesAccepted { get; private init; }
    public double Inferences { get; private init; }
    public double InferenceFailures { get; private init; }
    public double Offloaded { get; private init; }
    public double Escalations { get; private init; }
    public double Overflows { get; private init; }
    public double ReadingsPerS => DurationS > 0 ? ReadingsAccepted / DurationS : 0;
    public double FramesPerS => DurationS > 0 ? FramesAccepted / DurationS : 0;
    public double InferencesPerS => DurationS > 0 ? Inferences / DurationS : 0;
    public IReadOnlyList<Point> ReadingsSeries { get; private init; } = [];
    public IReadOnlyList<Point> FramesSeries { get; private init; } = [];
    public IReadOnlyList<Point> InferencesSeries { get; private init; } = [];
    public IReadOnlyDictionary<string, IReadOnlyList<Point>> CpuPct { get; private init; } = new Dictionary<string, IReadOnlyList<Point>>();
    public IReadOnlyDictionary<string, IReadOnlyList<Point>> RssMb { get; private init; } = new Dictionary<string, IReadOnlyList<Point>>();
    public double? CpuMaxPct => CpuPct.Values.SelectMany(p => p).Select(p => (double?)p.Value).Max();
    public double? RssMaxMb => RssMb.Values.SelectMany(p => p).Select(p => (double?)p.Value).Max();

    /// <summary>Frames answered on the edge (frames accepted on edges less those offloaded to the datacenter) over frames accepted; null without frames.</summary>
    public double? EdgeShare => FramesAccepted > 0 ? Math.Max(0, FramesAccepted - Offloaded) / FramesAccepted : null;

    public IReadOnlyList<InjectedFault> Faults { get; private init; } = [];
    public ClientAccount Client { get; private init; } = new(0, 0, 0, null, null, 0, null);

    /// <summary>The demo's SUMMARY accounting: unanswered (sent - accepted - rejected) plus accepted but not in the store.</summary>
    public long Lost => Math.Max(0, Client.Sent - Client.Accepted - Client.Rejected) + (Client.Stored is { } s ? Math.Max(0, Client.Accepted - s) : 0);

    /// <summary>Rows in the store beyond the distinct readings/frames; null when the store was not read.</summary>
    public long? Duplicates => Client.Stored is { } s && Client.Distinct is { } d ? s - d : null;

    public double? FailoverS => Faults.Where(f => f.RecoveredAfterS is not null).Select(f => f.RecoveredAfterS).Max();

    public static EvaluationCriteria Compute(IReadOnlyList<NodeScrape> scrapes, double durationS, ClientAccount client, IReadOnlyList<InjectedFault> faults)
    {
        var byNode = scrapes.GroupBy(s => s.Node).ToDictionary(g => g.Key, g => g.OrderBy(s => s.T).ToList());
        double Total(string name, Func<MetricSample, bool>? where = null) => byNode.Values.Sum(list => Increase(list, name, where));
        bool Model(MetricSample s, string m) => s.Label("model") == m;
        return new EvaluationCriteria
        {
            DurationS = durationS,
            AckTelemetry = Quantile(byNode.Values, "edgeactors_ingest_ack_latency_seconds", s => s.Label("kind") == "telemetry"),
            AckFrame = Quantile(byNode.Values, "edgeactors_ingest_ack_latency_seconds", s => s.Label("kind") == "frame"),
            InferQueueEdge = Quantile(byNode.Values, "edgeactors_inference_queue_duration_seconds", s => Model(s, EdgeModel)),
            InferComputeEdge = Quantile(byNode.Values, "edgeactors_inference_compute_duration_seconds", s => Model(s, EdgeModel)),
            InferQueueEscalated = Quantile(byNode.Values, "edgeactors_inference_queue_duration_seconds", s => Model(s, LargeModel)),
            InferComputeEscalated = Quantile(byNode.Values, "edgeactors_inference_compute_duration_seconds", s => Model(s, LargeModel)),
            InferQueue = Quantile(byNode.Values, "edgeactors_inference_queue_duration_seconds", null),
            InferCompute = Quantile(byNode.Values, "edgeactors_inference_compute_duration_seconds", null),
            ReadingsAccepted = Total("edgeactors_ingest_accepted_total", s => s.Label("kind") == "telemetry"),
            FramesAccepted = Total("edgeactors_ingest_accepted_total", s => s.Label("kind") == "frame"),
            Inferences = Total("edgeactors_inference_requests_total", s => s.Label("result") == "success"),
            InferenceFailures = Total("edgeactors_inference_requests_total", s => s.Label("result") == "failure"),
            Offloaded = Total("edgeactors_inference_offloaded_total"),
            Escalations = Total("edgeactors_inference_offloaded_total", s => s.Label("reason") == "escalation"),
            Overflows = Total("edgeactors_inference_offloaded_total", s => s.Label("reason") == "overflow"),
            ReadingsSeries = RateSeries(byNode.Values, "edgeactors_ingest_accepted_total", s => s.Label("kind") == "telemetry"),
            FramesSeries = RateSeries(byNode.Values, "edgeactors_ingest_accepted_total", s => s.Label("kind") == "frame"),
            InferencesSeries = RateSeries(byNode.Values, "edgeactors_inference_requests_total", null),
            CpuPct = byNode.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<Point>)CpuSeries(kv.Value)),
            RssMb = byNode.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<Point>)kv.Value
                .Select(s => (s.T, v: s.Scrape.Sum("process_memory_usage_bytes") ?? s.Scrape.Sum("dotnet_process_memory_working_set_bytes")))
                .Where(x => x.v is not null).Select(x => new Point(x.T, x.v!.Value / (1024.0 * 1024.0))).ToList()),
            Faults = faults,
            Client = client,
        };
    }

    /// <summary>Increase of the series of <paramref name="name"/> (summed over matching series) across one node's scrapes, a drop counted as a restart from 0.</summary>
    public static double Increase(IReadOnlyList<NodeScrape> ordered, string name, Func<MetricSample, bool>? where)
    {
        var total = 0.0;
        var last = new Dictionary<string, double>(StringComparer.Ordinal);
        var first = true;
        foreach (var scrape in ordered)
        {
            foreach (var s in scrape.Scrape.Samples)
            {
                if (s.Name != name || (where is not null && !where(s)) || !double.IsFinite(s.Value)) continue;
                var key = s.Key;
                if (last.TryGetValue(key, out var prev)) total += s.Value >= prev ? s.Value - prev : s.Value;
                else if (!first) total += s.Value; // a series born during the run (e.g. its first observation) counts from 0
                last[key] = s.Value;
            }
            first = false;
        }
        return total;
    }

    /// <summary>
    /// p50/p95/p99 of the histogram <paramref name="family"/> over the run: each bucket's increase (per node, resets
    /// counted), summed over nodes and the matching series, interpolated linearly within the bucket like
    /// <c>histogram_quantile</c>; null when nothing was observed.
    /// </summary>
    public static Quantiles? Quantile(IEnumerable<IReadOnlyList<NodeScrape>> nodes, string family, Func<MetricSample, bool>? where)
    {
        var buckets = new Dictionary<double, double>();
        foreach (var list in nodes)
        {
            var les = list.SelectMany(s => s.Scrape.Named(family + "_bucket")).Select(s => s.Label("le")).Where(l => l is not null).Distinct().ToList();
            foreach (var le in les)
            {
                var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le!, NumberStyles.Float, CultureInfo.InvariantCulture);
                var inc = Increase(list, family + "_bucket", s => s.Label("le") == le && (where is null || where(s)));
                buckets[bound] = buckets.GetValueOrDefault(bound) + inc;
            }
        }
        return QuantilesOf(buckets);
    }

    /// <summary>Quantiles from cumulative bucket counts (upper bound to count); null when the total is 0.</summary>
    public static Quantiles? QuantilesOf(IReadOnlyDictionary<double, double> cumulative)
    {
        var ordered = cumulative.OrderBy(kv => kv.Key).ToList();
        if (ordered.Count == 0) return null;
        var total = ordered[^1].Value;
        if (total <= 0) return null;
        (double Value, bool Above) Q(double q)
        {
            var rank = q * total;
            double lowerBound = 0, lowerCount = 0;
            foreach (var (bound, count) in ordered)
            {
                if (count >= rank)
                {
                    // in the +Inf bucket: only "above the highest finite bound" is known (Prometheus answers that bound)
                    if (double.IsPositiveInfinity(bound)) return (lowerBound, true);
                    var inBucket = count - lowerCount;
                    return (inBucket <= 0 ? bound : lowerBound + (bound - lowerBound) * (rank - lowerCount) / inBucket, false);
                }
                (lowerBound, lowerCount) = (bound, count);
            }
            return (lowerBound, true);
        }
        var (p50, a50) = Q(0.50);
        var (p95, a95) = Q(0.95);
        var (p99, a99) = Q(0.99);
        return new Quantiles(p50 * 1000, p95 * 1000, p99 * 1000, total) { P50Above = a50, P95Above = a95, P99Above = a99 };
    }

    /// <summary>Per-second rate of a counter summed over nodes: each node's increase between consecutive scrapes, put at the later scrape's whole second.</summary>
    public static IReadOnlyList<Point> RateSeries(IEnumerable<IReadOnlyList<NodeScrape>> nodes, string name, Func<MetricSample, bool>? where)
    {
        var bySecond = new SortedDictionary<int, double>();
        foreach (var list in nodes)
            for (var i = 1; i < list.Count; i++)
            {
                var dt = list[i].T - list[i - 1].T;
                if (dt <= 0) continue;
                var inc = Increase([list[i - 1], list[i]], name, where);
                var second = (int)Math.Round(list[i].T);
                bySecond[second] = bySecond.GetValueOrDefault(second) + inc / dt;
            }
        return bySecond.Select(kv => new Point(kv.Key, kv.Value)).ToList();
    }

    /// <summary>Process CPU in percent of one core between consecutive scrapes (process_cpu_time_seconds_total, else the runtime's).</summary>
    public static List<Point> CpuSeries(IReadOnlyList<NodeScrape> ordered)
    {
        var name = ordered.Any(s => s.Scrape.Named("process_cpu_time_seconds_total").Any()) ? "process_cpu_time_seconds_total" : "dotnet_process_cpu_time_seconds_total";
        var points = new List<Point>();
        for (var i = 1; i < ordered.Count; i++)
        {
            var dt = ordered[i].T - ordered[i - 1].T;
            if (dt <= 0) continue;
            var a = ordered[i - 1].Scrape.Sum(name);
            var b = ordered[i].Scrape.Sum(name);
            if (a is null || b is null || b < a) continue; // a restart between the two: no rate
            points.Add(new Point(ordered[i].T, (b.Value - a.Value) / dt * 100));
        }
        return points;
    }
}
