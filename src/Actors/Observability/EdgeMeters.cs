using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace EdgeActors.Actors.Observability;

// One Meter per capability (docs/metrics.md). The instruments are static: actors add to counters and record histograms
// on their own thread (no allocation beyond the SDK's; nothing is measured while no MeterProvider listens, e.g. with
// edgeactors.metrics.enabled = off); observable gauges read values the actors cache here. Instrument names are
// the Prometheus names without the suffixes the exporter adds (unit "s" → _seconds, "By" → _bytes, counters → _total).

/// <summary>Names shared by every meter: the meters the node's metrics provider listens to.</summary>
public static class EdgeMeters
{
    public const string Prefix = "EdgeActors.";

    /// <summary>Every meter of ours (a provider subscribes to <c>EdgeActors.*</c>).</summary>
    public static IReadOnlyList<string> All { get; } =
        [IngestMetrics.MeterName, InferenceMetrics.MeterName, SyncMetrics.MeterName, FederatedMetrics.MeterName,
         ClusterMetrics.MeterName, AdapterMetrics.MeterName, EntryMetrics.MeterName, ResourceMetrics.MeterName];

    /// <summary>
    /// Creates every meter and its instruments (static classes initialise on first use; a scrape before the first
    /// reading must still show the gauges). Returns <see cref="All"/>.
    /// </summary>
    public static IReadOnlyList<string> Initialize()
    {
        _ = IngestMetrics.Meter;
        _ = IngestMetrics.EntitiesGauge;
        _ = InferenceMetrics.Meter;
        _ = InferenceMetrics.BreakerGauge;
        _ = SyncMetrics.Meter;
        _ = FederatedMetrics.Meter;
        _ = ClusterMetrics.Meter;
        _ = AdapterMetrics.Meter;
        _ = EntryMetrics.Meter;
        _ = SyncMetrics.LagGauge;
        _ = ClusterMetrics.ShardsGauge;
        _ = AdapterMetrics.HealthGauge;
        _ = ResourceMetrics.DiskGauge;
        return All;
    }

    /// <summary>
    /// The .NET runtime and process instruments whose Prometheus names would end in <c>_count</c> without being
    /// histograms (promtool's lint refuses them), and the names they are exported under instead.
    /// </summary>
    public static IReadOnlyDictionary<string, string> RuntimeRenames { get; } = new Dictionary<string, string>
    {
        ["dotnet.assembly.count"] = "dotnet.assemblies.loaded",
        ["dotnet.process.cpu.count"] = "dotnet.process.cpus",
        ["dotnet.thread_pool.thread.count"] = "dotnet.thread_pool.threads",
        ["dotnet.timer.count"] = "dotnet.timers",
        ["process.thread.count"] = "process.threads",
        ["process.unix.file_descriptor.count"] = "process.unix.file_descriptors",
        ["process.cpu.count"] = "process.cpus",
    };

    /// <summary>Seconds between two <see cref="Stopwatch.GetTimestamp"/> values.</summary>
    public static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    /// <summary>Histogram buckets for latencies in seconds (0.5 ms … 10 s).</summary>
    public static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Histogram buckets for batch sizes.</summary>
    public static readonly long[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
}

/// <summary>Device ingest on edges: readings and frames accepted and rejected, ack latency, entities hosted.</summary>
public static class IngestMetrics
{
    public const string MeterName = "EdgeActors.Ingest";
    public static readonly Meter Meter = new(MeterName);

    public const string Accepted = "edgeactors_ingest_accepted";
    public const string Rejected = "edgeactors_ingest_rejected";
    public const string AckLatency = "edgeactors_ingest_ack_latency";
    public const string Entities = "edgeactors_ingest_entities";

    /// <summary>Readings/frames accepted (tag kind = telemetry | frame).</summary>
    public static readonly Counter<long> AcceptedTotal = Meter.CreateCounter<long>(Accepted, null, "readings and frames accepted by device entities on this node");

    /// <summary>Readings/frames rejected (tags kind, reason = the RejectReason).</summary>
    public static readonly Counter<long> RejectedTotal = Meter.CreateCounter<long>(Rejected, null, "readings and frames rejected by device entities on this node, by reason");

    /// <summary>From a batch/frame reaching its entity to its ack being sent (includes the outbox write and classification).</summary>
    public static readonly Histogram<double> AckLatencySeconds = Meter.CreateHistogram<double>(AckLatency, "s", "time from a batch or frame reaching its device entity to its acknowledgement", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = EdgeMeters.LatencyBuckets });

    public const string Anomalies = "edgeactors_ingest_anomalies";

    /// <summary>Readings flagged anomalous (a channel beyond the anomaly z-score of its running mean).</summary>
    public static readonly Counter<long> AnomaliesTotal = Meter.CreateCounter<long>(Anomalies, null, "accepted readings flagged anomalous by their device entity (a channel beyond the anomaly threshold)");

    private static long _entities;

    /// <summary>Device entities alive on this node.</summary>
    public static readonly ObservableGauge<long> EntitiesGauge = Meter.CreateObservableGauge(Entities, () => Interlocked.Read(ref _entities), null, "device entities alive on this node");

    public static void EntityStarted() => Interlocked.Increment(ref _entities);
    public static void EntityStopped() => Interlocked.Decrement(ref _entities);
    public static long EntityCount => Interlocked.Read(ref _entities);

    public static readonly KeyValuePair<string, object?> Telemetry = new("kind", "telemetry");
    public static readonly KeyValuePair<string, object?> Frame = new("kind", "frame");

    private static readonly string[] Reasons = Enumerable.Range(0, 256).Select(i => Enum.IsDefined(typeof(Messages.RejectReason), (byte)i)
        ? Prometheus(((Messages.RejectReason)(byte)i).ToString()) : "other").ToArray();

    /// <summary>A reason as a label value: <c>OutOfRange</c> → <c>out_of_range</c>.</summary>
    public static string Prometheus(string name)
    {
        var b = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) b.Append('_');
            b.Append(char.ToLowerInvariant(name[i]));
        }
        return b.ToString();
    }

    /// <summary>The reason label of <paramref name="reason"/> (cached).</summary>
    public static string ReasonLabel(Messages.RejectReason reason) => Reasons[(byte)reason];

    /// <summary>Counts an ack's accepted and rejected readings/frames and records its latency (<paramref name="started"/> 0: none).</summary>
    public static void Acknowledged(Messages.IngestAck ack, long started, bool frame)
    {
        var kind = frame ? Frame : Telemetry;
        if (ack.Accepted > 0 && AcceptedTotal.Enabled) AcceptedTotal.Add(ack.Accepted, kind);
        if (RejectedTotal.Enabled)
            foreach (var r in ack.Rejected) RejectedTotal.Add(1, kind, new KeyValuePair<string, object?>("reason", ReasonLabel(r.Reason)));
        if (started != 0 && AckLatencySeconds.Enabled) AckLatencySeconds.Record(EdgeMeters.Seconds(started, Stopwatch.GetTimestamp()), kind);
    }
}

/// <summary>Inference per model and version (Triton's set: success/failure, queue and compute durations, batch sizes).</summary>
public static class InferenceMetrics
{
    public const string MeterName = "EdgeActors.Inference";
    public static readonly Meter Meter = new(MeterName);

    public const string Requests = "edgeactors_inference_requests";
    public const string QueueDuration = "edgeactors_inference_queue_duration";
    public const string ComputeDuration = "edgeactors_inference_compute_duration";
    public const string BatchSize = "edgeactors_inference_batch_size";
    public const string Fallbacks = "edgeactors_inference_fallback_batches";

    /// <summary>Requests answered (tags model, version, provider, result = success | failure).</summary>
    public static readonly Counter<long> RequestsTotal = Meter.CreateCounter<long>(Requests, null, "inference requests answered, by model, version, provider and result");

    public static readonly Histogram<double> QueueSeconds = Meter.CreateHistogram<double>(QueueDuration, "s", "time a request waited in its model's queue before its batch started", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = EdgeMeters.LatencyBuckets });

    public static readonly Histogram<double> ComputeSeconds = Meter.CreateHistogram<double>(ComputeDuration, "s", "time a batch took in ONNX Runtime", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = EdgeMeters.LatencyBuckets });

    public static readonly Histogram<long> BatchSamples = Meter.CreateHistogram<long>(BatchSize, null, "samples per batch run", tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = EdgeMeters.BatchBuckets });

    /// <summary>Batches run on the CPU fallback session (tags model, version).</summary>
    public static readonly Counter<long> FallbacksTotal = Meter.CreateCounter<long>(Fallbacks, null, "batches run on the CPU fallback session because the primary session failed or was unusable");

    public const string Escalations = "edgeactors_inference_offloaded";
    public const string BreakerState = "edgeactors_inference_breaker_state";

    /// <summary>Frames answered by the datacenter (tag reason = escalation: low confidence on the edge; overflow: the edge's queue was full).</summary>
    public static readonly Counter<long> OffloadedTotal = Meter.CreateCounter<long>(Escalations, null, "camera frames answered by the datacenter instead of the edge, by reason (escalation, overflow)");

    private static int _breaker;

    /// <summary>The edge's circuit breaker towards the datacenter: 0 closed, 1 half-open, 2 open.</summary>
    public static readonly ObservableGauge<int> BreakerGauge = Meter.CreateObservableGauge(BreakerState, () => Volatile.Read(ref _breaker), null,
        "this edge's circuit breaker towards the datacenter: 0 closed, 1 half-open, 2 open");

    private static readonly KeyValuePair<string, object?> Escalation = new("reason", "escalation");
    private static readonly KeyValuePair<string, object?> Overflow = new("reason", "overflow");

    public static void Offloaded(bool escalation) => OffloadedTotal.Add(1, escalation ? Escalation : Overflow);

    public static void Breaker(Messages.CircuitState state) => Volatile.Write(ref _breaker, state switch
    {
        Messages.CircuitState.Closed => 0,
        Messages.CircuitState.HalfOpen => 1,
        _ => 2,
    });

    public static TagList Tags(string model, int version, string provider, bool success) => new()
    {
        { "model", model }, { "version", VersionLabel(version) }, { "provider", provider }, { "result", success ? "success" : "failure" },
    };

    private static readonly ConcurrentDictionary<int, string> Versions = new();

    /// <summary>The version as a label, cached (no string per request).</summary>
    public static string VersionLabel(int version) => Versions.GetOrAdd(version, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>The edge's outbox and its sync to the datacenter.</summary>
public static class SyncMetrics
{
    public const string MeterName = "EdgeActors.Sync";
    public static readonly Meter Meter = new(MeterName);

    public const string BacklogRecords = "edgeactors_sync_outbox_records";
    public const string BacklogBytes = "edgeactors_sync_outbox";
    public const string OldestAge = "edgeactors_sync_outbox_oldest_age";
    public const string Synced = "edgeactors_sync_records_synced";
    public const string Expired = "edgeactors_sync_records_expired";

    private static long _records, _bytes, _oldestMs;

    public static readonly ObservableGauge<long> RecordsGauge = Meter.CreateObservableGauge(BacklogRecords, () => Interlocked.Read(ref _records), null, "records waiting in this edge's outbox");
    public static readonly ObservableGauge<long> BytesGauge = Meter.CreateObservableGauge(BacklogBytes, () => Interlocked.Read(ref _bytes), "By", "payload bytes waiting in this edge's outbox");
    public static readonly ObservableGauge<double> OldestGauge = Meter.CreateObservableGauge(OldestAge, () =>
    {
        var oldest = Interlocked.Read(ref _oldestMs);
        return oldest <= 0 ? 0 : Math.Max(0, (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - oldest) / 1000.0);
    }, "s", "age of the oldest record waiting in this edge's outbox");

    public const string SentBytes = "edgeactors_sync_sent";
    public const string Overwritten = "edgeactors_sync_records_overwritten";
    public const string StoreLag = "edgeactors_sync_store_lag";

    /// <summary>Batch bytes sent to the datacenter, resends included (tag kind = raw: encoded before compression; compressed: on the wire).</summary>
    public static readonly Counter<long> SentBytesTotal = Meter.CreateCounter<long>(SentBytes, "By", "sync batch bytes sent to the datacenter (resends included), raw (before compression) and compressed (the payload on the wire)");

    private static long _overwritten;

    /// <summary>Records the full outbox overwrote (its cumulative count, as of the latest stats).</summary>
    public static readonly ObservableCounter<long> OverwrittenCounter = Meter.CreateObservableCounter(Overwritten, () => Interlocked.Read(ref _overwritten), null, "oldest outbox records overwritten because the outbox was full");

    public const string Refused = "edgeactors_sync_batches_refused";

    /// <summary>Datacenter: sync batches its sink refused, by reason (store_unavailable: the data store could not be reached; invalid; busy).</summary>
    public static readonly Counter<long> RefusedTotal = Meter.CreateCounter<long>(Refused, null,
        "sync batches this datacenter's sink refused (the edge keeps them in its outbox and resends), by reason: store_unavailable, invalid, busy");

    private static readonly KeyValuePair<string, object?> RawKind = new("kind", "raw");
    private static readonly KeyValuePair<string, object?> CompressedKind = new("kind", "compressed");

    /// <summary>One batch (re)sent: its raw and compressed sizes.</summary>
    public static void Sent(int rawBytes, int compressedBytes)
    {
        if (!SentBytesTotal.Enabled) return;
        SentBytesTotal.Add(rawBytes, RawKind);
        SentBytesTotal.Add(compressedBytes, CompressedKind);
    }

    private static readonly ConcurrentDictionary<string, long> NewestStored = new(StringComparer.Ordinal);

    /// <summary>
    /// Datacenter: per edge, seconds between now and the newest record timestamp (the device's clock, ms since the epoch)
    /// stored from that edge. It grows while an edge sends nothing newer (partition, backlog, edge down).
    /// </summary>
    public static readonly ObservableGauge<double> LagGauge = Meter.CreateObservableGauge(StoreLag, ReadLag, "s",
        "per edge: seconds between now and the newest record timestamp the datacenter's store holds from that edge");

    private static IEnumerable<Measurement<double>> ReadLag()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var (edge, newest) in NewestStored)
            yield return new Measurement<double>(Lag(now, newest), new KeyValuePair<string, object?>("edge", edge));
    }

    /// <summary>Seconds from <paramref name="newestMs"/> to <paramref name="nowMs"/> (0 when the record is from the future).</summary>
    public static double Lag(long nowMs, long newestMs) => Math.Max(0, (nowMs - newestMs) / 1000.0);

    /// <summary>A batch of <paramref name="edge"/> stored whose newest record has timestamp <paramref name="newestMs"/>.</summary>
    public static void Stored(string edge, long newestMs)
    {
        if (newestMs <= 0) return;
        NewestStored.AddOrUpdate(edge, newestMs, (_, was) => Math.Max(was, newestMs));
    }

    /// <summary>The newest stored timestamp per edge (tests, console).</summary>
    public static IReadOnlyDictionary<string, long> NewestStoredByEdge => NewestStored;

    public static readonly Counter<long> SyncedTotal = Meter.CreateCounter<long>(Synced, null, "outbox records the datacenter acknowledged and this edge removed");
    public static readonly Counter<long> ExpiredTotal = Meter.CreateCounter<long>(Expired, null, "outbox records dropped past their TTL before they were synced");

    /// <summary>The latest backlog figures (the sync sender reads the outbox's stats every round).</summary>
    public static void Backlog(long records, long bytes, long oldestTimestampMs, long overwritten = 0)
    {
        Interlocked.Exchange(ref _overwritten, overwritten);
        Interlocked.Exchange(ref _records, records);
        Interlocked.Exchange(ref _bytes, bytes);
        Interlocked.Exchange(ref _oldestMs, records == 0 ? 0 : oldestTimestampMs);
    }
}

/// <summary>Federated learning, from the round coordinator (datacenter singleton).</summary>
public static class FederatedMetrics
{
    public const string MeterName = "EdgeActors.Federated";
    public static readonly Meter Meter = new(MeterName);

    public const string Round = "edgeactors_federated_round";
    public const string Participants = "edgeactors_federated_participants";
    public const string Accuracy = "edgeactors_federated_global_accuracy";
    public const string Rounds = "edgeactors_federated_rounds_completed";

    public const string Attempt = "edgeactors_federated_attempt";
    public const string DroppedUpdates = "edgeactors_federated_dropped_updates";
    public const string RoundDuration = "edgeactors_federated_round_duration";

    private static long _round, _participants, _attempt;
    private static double _accuracy = double.NaN;

    public static readonly ObservableGauge<long> AttemptGauge = Meter.CreateObservableGauge(Attempt, () => Interlocked.Read(ref _attempt), null, "the attempt number of the latest started round attempt (grows on restarts and failovers)");

    /// <summary>Client updates a round did not aggregate (tag reason = late, failed, timeout, malformed, left).</summary>
    public static readonly Counter<long> DroppedTotal = Meter.CreateCounter<long>(DroppedUpdates, null, "client updates a round did not aggregate, by reason");

    /// <summary>From a round's first attempt starting to its commit (restarts included).</summary>
    public static readonly Histogram<double> RoundSeconds = Meter.CreateHistogram<double>(RoundDuration, "s", "time from a federated round's first attempt to its commit", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] });

    public static void AttemptStarted(long attempt) => Interlocked.Exchange(ref _attempt, attempt);

    public const string JobRetries = "edgeactors_federated_job_retries";
    public const string JobResumes = "edgeactors_federated_job_resumes";

    /// <summary>k-means/GBDT job steps retried because a worker failed, timed out or left (tag kind).</summary>
    public static readonly Counter<long> JobRetriesTotal = Meter.CreateCounter<long>(JobRetries, null, "k-means/GBDT job steps retried after a worker failed, timed out or left");

    /// <summary>Jobs a coordinator resumed from their stored checkpoint after a failover (tag kind).</summary>
    public static readonly Counter<long> JobResumesTotal = Meter.CreateCounter<long>(JobResumes, null, "k-means/GBDT jobs resumed from their checkpoint after a coordinator failover");

    public static void JobRetried(string kind) => JobRetriesTotal.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public static void JobResumed(string kind) => JobResumesTotal.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public static void Dropped(string reason, long count = 1)
    {
        if (count > 0) DroppedTotal.Add(count, new KeyValuePair<string, object?>("reason", reason));
    }

    public static readonly ObservableGauge<long> RoundGauge = Meter.CreateObservableGauge(Round, () => Interlocked.Read(ref _round), null, "the latest completed federated round on this node's coordinator");
    public static readonly ObservableGauge<long> ParticipantsGauge = Meter.CreateObservableGauge(Participants, () => Interlocked.Read(ref _participants), null, "participants whose updates the latest round aggregated");
    public static readonly ObservableGauge<double> AccuracyGauge = Meter.CreateObservableGauge(Accuracy, ReadAccuracy, null, "test accuracy of the latest global model (absent until one was scored)");
    public static readonly Counter<long> RoundsTotal = Meter.CreateCounter<long>(Rounds, null, "federated rounds completed on this node's coordinator");

    private static IEnumerable<Measurement<double>> ReadAccuracy()
    {
        var a = Volatile.Read(ref _accuracy);
        return double.IsNaN(a) ? [] : [new Measurement<double>(a)];
    }

    public static void RoundCompleted(long round, int participants, double? accuracy)
    {
        Interlocked.Exchange(ref _round, round);
        Interlocked.Exchange(ref _participants, participants);
        if (accuracy is { } a && !double.IsNaN(a)) Volatile.Write(ref _accuracy, a);
        RoundsTotal.Add(1);
    }
}

/// <summary>Cluster membership as this node sees it (the cluster listener caches it).</summary>
public static class ClusterMetrics
{
    public const string MeterName = "EdgeActors.Cluster";
    public static readonly Meter Meter = new(MeterName);

    public const string Members = "edgeactors_cluster_members";
    public const string Unreachable = "edgeactors_cluster_unreachable_members";

    public const string Shards = "edgeactors_cluster_shards";
    public const string RegionEntities = "edgeactors_cluster_region_entities";
    public const string Singletons = "edgeactors_cluster_singleton";

    private static readonly ConcurrentDictionary<string, (int Shards, int Entities)> Regions = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<(string Name, string Node), int> HostedSingletons = new();

    /// <summary>Shards this node's region of each type hosts (refreshed by the shard stats poller).</summary>
    public static readonly ObservableGauge<int> ShardsGauge = Meter.CreateObservableGauge(Shards,
        () => Regions.Select(kv => new Measurement<int>(kv.Value.Shards, new KeyValuePair<string, object?>("region", kv.Key))), null, "shards hosted by this node's shard region, per entity type");

    public static readonly ObservableGauge<int> RegionEntitiesGauge = Meter.CreateObservableGauge(RegionEntities,
        () => Regions.Select(kv => new Measurement<int>(kv.Value.Entities, new KeyValuePair<string, object?>("region", kv.Key))), null, "entities in the shards this node's shard region hosts, per entity type");

    /// <summary>1 per cluster singleton this node hosts (labels singleton and node).</summary>
    public static readonly ObservableGauge<int> SingletonGauge = Meter.CreateObservableGauge(Singletons,
        () => HostedSingletons.Where(kv => kv.Value > 0).Select(kv => new Measurement<int>(1, new KeyValuePair<string, object?>("singleton", kv.Key.Name), new KeyValuePair<string, object?>("node", kv.Key.Node))),
        null, "1 for each cluster singleton hosted on this node (labels: singleton name, node address)");

    public static void Region(string typeName, int shards, int entities) => Regions[typeName] = (shards, entities);

    /// <summary>A singleton started (<paramref name="up"/>) or stopped on <paramref name="node"/>.</summary>
    public static void Singleton(string name, string node, bool up) =>
        HostedSingletons.AddOrUpdate((name, node), up ? 1 : 0, (_, n) => Math.Max(0, n + (up ? 1 : -1)));

    public static IReadOnlyList<(string Name, string Node)> SingletonsHosted => HostedSingletons.Where(kv => kv.Value > 0).Select(kv => kv.Key).ToArray();

    private static volatile IReadOnlyList<(string Status, string Role, int Count)> _members = [];
    private static int _unreachable;

    public static readonly ObservableGauge<int> MembersGauge = Meter.CreateObservableGauge(Members, ReadMembers, null, "cluster members this node sees, by status and role (a member counts once per role)");
    public static readonly ObservableGauge<int> UnreachableGauge = Meter.CreateObservableGauge(Unreachable, () => Volatile.Read(ref _unreachable), null, "members this node's failure detector marks unreachable");

    private static IEnumerable<Measurement<int>> ReadMembers()
    {
        foreach (var (status, role, count) in _members)
            yield return new Measurement<int>(count, new KeyValuePair<string, object?>("status", status), new KeyValuePair<string, object?>("role", role));
    }

    /// <summary>Replaces the cached membership: one entry per member, with its status and roles.</summary>
    public static void Update(IEnumerable<(string Status, IEnumerable<string> Roles)> members, int unreachable)
    {
        _members = Count(members);
        Volatile.Write(ref _unreachable, unreachable);
    }

    /// <summary>Counts per (status, role); a member without roles counts under role "none".</summary>
    public static IReadOnlyList<(string Status, string Role, int Count)> Count(IEnumerable<(string Status, IEnumerable<string> Roles)> members)
    {
        var counts = new SortedDictionary<(string, string), int>();
        foreach (var (status, roles) in members)
        {
            var any = false;
            foreach (var role in roles)
            {
                any = true;
                counts[(status, role)] = counts.GetValueOrDefault((status, role)) + 1;
            }
            if (!any) counts[(status, "none")] = counts.GetValueOrDefault((status, "none")) + 1;
        }
        return counts.Select(kv => (kv.Key.Item1, kv.Key.Item2, kv.Value)).ToArray();
    }
}

/// <summary>Sensor adapters on edges: hardware faults by kind, adapter restarts.</summary>
public static class AdapterMetrics
{
    public const string MeterName = "EdgeActors.Adapters";
    public static readonly Meter Meter = new(MeterName);

    public const string Faults = "edgeactors_adapter_faults";
    public const string Restarts = "edgeactors_adapter_restarts";

    public static readonly Counter<long> FaultsTotal = Meter.CreateCounter<long>(Faults, null, "sensor hardware faults the adapters met, by kind");
    public static readonly Counter<long> RestartsTotal = Meter.CreateCounter<long>(Restarts, null, "sensor adapter restarts: every fault stops the adapter and its backoff supervisor starts a new one");

    public const string DeviceHealth = "edgeactors_adapter_devices";

    private static readonly long[] HealthCounts = new long[4];
    private static readonly string[] HealthLabels = ["unknown", "ok", "degraded", "offline"];

    /// <summary>Device entities on this node whose hardware adapter reported, by health (unknown, ok, degraded, offline).</summary>
    public static readonly ObservableGauge<long> HealthGauge = Meter.CreateObservableGauge(DeviceHealth, ReadHealth, null,
        "device entities on this node with a hardware adapter, by health (ok, degraded, offline, unknown)");

    private static IEnumerable<Measurement<long>> ReadHealth()
    {
        for (var i = 0; i < HealthCounts.Length; i++)
            yield return new Measurement<long>(Interlocked.Read(ref HealthCounts[i]), new KeyValuePair<string, object?>("health", HealthLabels[i]));
    }

    /// <summary>A device's health changed (null: the device had/has no monitor).</summary>
    public static void HealthChanged(Messages.DeviceHealth? from, Messages.DeviceHealth? to)
    {
        if (from == to) return;
        if (from is { } f && (int)f < HealthCounts.Length) Interlocked.Decrement(ref HealthCounts[(int)f]);
        if (to is { } t && (int)t < HealthCounts.Length) Interlocked.Increment(ref HealthCounts[(int)t]);
    }

    public static long Devices(Messages.DeviceHealth health) => Interlocked.Read(ref HealthCounts[(int)health]);

    private static readonly ConcurrentQueue<(long Seq, string Device, string Reason)> Offline = new();
    private static long _offlineSeq;

    /// <summary>A device on this node went offline (kept for the console's alerts: the latest 100).</summary>
    public static void WentOffline(string device, string reason)
    {
        Offline.Enqueue((Interlocked.Increment(ref _offlineSeq), device, reason));
        while (Offline.Count > 100) Offline.TryDequeue(out _);
    }

    /// <summary>The offline transitions after <paramref name="afterSeq"/>, oldest first, and the latest sequence number.</summary>
    public static (IReadOnlyList<(string Device, string Reason)> Devices, long Seq) OfflineSince(long afterSeq)
    {
        var list = new List<(string, string)>();
        var last = Interlocked.Read(ref _offlineSeq);
        foreach (var (seq, device, reason) in Offline)
            if (seq > afterSeq && seq <= last) list.Add((device, reason));
        return (list, last);
    }

    /// <summary>A fault of <paramref name="kind"/> (the adapter stops; its supervisor restarts it after a backoff).</summary>
    public static void Fault(Messages.SensorFault kind)
    {
        FaultsTotal.Add(1, new KeyValuePair<string, object?>("kind", IngestMetrics.Prometheus(kind.ToString())));
        RestartsTotal.Add(1);
    }
}

/// <summary>The node's entry points for devices that are not .NET: HTTP requests and MQTT messages, by result.</summary>
public static class EntryMetrics
{
    public const string MeterName = "EdgeActors.Entry";
    public static readonly Meter Meter = new(MeterName);

    public const string Http = "edgeactors_http_requests";
    public const string Mqtt = "edgeactors_mqtt_messages";

    public static readonly Counter<long> HttpTotal = Meter.CreateCounter<long>(Http, null, "HTTP requests answered by this node, by result (the status class: 2xx, 4xx, 5xx)");
    public static readonly Counter<long> MqttTotal = Meter.CreateCounter<long>(Mqtt, null, "MQTT device messages the broker handled, by result");

    private static readonly string[] Classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    /// <summary>An MQTT publish handled: <c>done</c>, <c>refused</c> (the cluster refused it), <c>invalid</c> (bad topic or
    /// payload), <c>unauthorised</c>, <c>no_answer</c> / <c>busy</c> (connection closed without PUBACK), <c>failed</c>.</summary>
    public static void MqttAnswered(string result) => MqttTotal.Add(1, new KeyValuePair<string, object?>("result", result));

    public static void HttpAnswered(int status) =>
        HttpTotal.Add(1, new KeyValuePair<string, object?>("result", status is >= 100 and < 600 ? Classes[status / 100 - 1] : "other"));
}

/// <summary>Disk used by the node's SQLite files (the database plus its -wal and -shm files), per kind of file.</summary>
public static class ResourceMetrics
{
    public const string MeterName = "EdgeActors.Resources";
    public static readonly Meter Meter = new(MeterName);

    public const string Disk = "edgeactors_disk_used";

    private static readonly ConcurrentDictionary<(string Kind, string Path), byte> Files = new();

    /// <summary>Bytes of each kind's files (outbox, store, registry, federation, twins), read from the file system at each scrape.</summary>
    public static readonly ObservableGauge<long> DiskGauge = Meter.CreateObservableGauge(Disk, ReadDisk, "By",
        "bytes on disk of this node's SQLite files (database, -wal and -shm), per kind: outbox, store, registry, federation, twins");

    /// <summary>Counts the SQLite database at <paramref name="path"/> (and its -wal, -shm) under <paramref name="kind"/>.</summary>
    public static void Track(string kind, string path)
    {
        if (!string.IsNullOrEmpty(path)) Files.TryAdd((kind, System.IO.Path.GetFullPath(path)), 0);
    }

    private static IEnumerable<Measurement<long>> ReadDisk()
    {
        foreach (var group in Files.Keys.GroupBy(k => k.Kind))
            yield return new Measurement<long>(group.Sum(f => SqliteBytes(f.Path)), new KeyValuePair<string, object?>("file", group.Key));
    }

    /// <summary>Size of a SQLite database with its -wal and -shm files (0 for what does not exist).</summary>
    public static long SqliteBytes(string path) => Size(path) + Size(path + "-wal") + Size(path + "-shm");

    private static long Size(string path)
    {
        try
        {
            var f = new FileInfo(path);
            return f.Exists ? f.Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
