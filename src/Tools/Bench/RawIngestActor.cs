using Akka.Actor;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;

namespace EdgeActors.Tools.Bench;

/// <summary>
/// Baseline for <c>bench ingest</c>: one plain local actor running the same per-device preprocessing, fed by Tell,
/// with no sharding, no entities and no replies.
/// </summary>
public sealed class RawIngestActor : ReceiveActor
{
    public sealed record Flush(TaskCompletionSource<long> Done);

    private readonly Dictionary<DeviceId, TelemetryPreprocessor> _devices = new();
    private long _accepted;

    public RawIngestActor(IngestionSettings settings)
    {
        Receive<TelemetryBatch>(b =>
        {
            if (!_devices.TryGetValue(b.DeviceId, out var p)) _devices[b.DeviceId] = p = new TelemetryPreprocessor(settings);
            _accepted += p.Process(b).Accepted;
        });
        Receive<Flush>(f => f.Done.TrySetResult(_accepted));
    }

    public static Props Props(IngestionSettings settings) => Akka.Actor.Props.Create(() => new RawIngestActor(settings));
}
