using EdgeActors.Storage;
using Akka.Configuration;
using Akka.Hosting;

namespace EdgeActors.Actors.Sync;

/// <summary>Binds the sync settings from HOCON (<c>edgeactors.sync</c>), naming the key of any bad value.</summary>
public static class SyncSettings
{
    public static SyncSenderSettings SenderFromConfig(Config? section)
    {
        var d = SyncSenderSettings.Default;
        if (section is null || section.IsEmpty) return d;
        var mode = section.GetString("mode", "periodic");
        var s = new SyncSenderSettings
        {
            Mode = mode switch
            {
                "periodic" => SyncMode.Periodic,
                "event-triggered" => SyncMode.EventTriggered,
                _ => throw new ArgumentException($"edgeactors.sync.mode = '{mode}' is invalid: expected periodic or event-triggered"),
            },
            Interval = section.GetTimeSpan("interval", d.Interval),
            BatchRecords = section.GetInt("batch-records", d.BatchRecords),
            Replicas = section.GetInt("replicas", d.Replicas),
            WriteQuorum = section.GetInt("write-quorum", d.WriteQuorum),
            AckTimeout = section.GetTimeSpan("ack-timeout", d.AckTimeout),
            BackoffMin = section.GetTimeSpan("backoff-min", d.BackoffMin),
            BackoffMax = section.GetTimeSpan("backoff-max", d.BackoffMax),
            MaxInFlightBatches = section.GetInt("max-in-flight-batches", d.MaxInFlightBatches),
            BandwidthBytesPerSecond = section.GetByteSize("bandwidth-bytes-per-second", 0) ?? 0,
            TtlCheckInterval = section.GetTimeSpan("ttl-check-interval", d.TtlCheckInterval),
            BacklogTrigger = section.GetLong("backlog-trigger", d.BacklogTrigger),
        };
        try
        {
            s.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"edgeactors.sync: {ex.Message}", ex);
        }
        return s;
    }

    public static SyncSinkSettings SinkFromConfig(Config? section)
    {
        var d = new SyncSinkSettings();
        if (section is null || section.IsEmpty) return d;
        var s = new SyncSinkSettings(
            section.GetInt("sink.max-records-per-batch", d.MaxRecordsPerBatch),
            (int)Math.Min(int.MaxValue, section.GetByteSize("sink.max-raw-bytes", d.MaxRawBytes) ?? d.MaxRawBytes))
        {
            StoreRetryMin = section.GetTimeSpan("sink.store-retry-min", d.StoreRetryMin),
            StoreRetryMax = section.GetTimeSpan("sink.store-retry-max", d.StoreRetryMax),
        };
        if (s.MaxRecordsPerBatch <= 0) throw new ArgumentException("edgeactors.sync.sink.max-records-per-batch must be > 0");
        if (s.MaxRawBytes <= 0) throw new ArgumentException("edgeactors.sync.sink.max-raw-bytes must be > 0");
        if (s.StoreRetryMin <= TimeSpan.Zero) throw new ArgumentException($"edgeactors.sync.sink.store-retry-min must be > 0, got {s.StoreRetryMin}");
        if (s.StoreRetryMax < s.StoreRetryMin)
            throw new ArgumentException($"edgeactors.sync.sink.store-retry-max ({s.StoreRetryMax}) must be >= store-retry-min ({s.StoreRetryMin})");
        return s;
    }
}

public static class OutboxRegistration
{
    /// <summary>Opens the edge's durable outbox and starts its single writer at /user/outbox (registered under <see cref="OutboxWriter"/>).</summary>
    public static AkkaConfigurationBuilder AddOutbox(this AkkaConfigurationBuilder builder, OutboxSettings settings) =>
        builder.WithActors((system, registry) =>
        {
            Observability.ResourceMetrics.Track("outbox", settings.Path);
            var writer = system.ActorOf(OutboxWriter.Props(() => new SqliteOutbox(settings), settings), "outbox");
            registry.Register<OutboxWriterKey>(writer);
        });
}
