using System.Diagnostics;
using EdgeActors.Nodes.Data;
using EdgeActors.Messages;
using EdgeActors.Client;

namespace EdgeActors.Nodes.Simulation;

public sealed record SimulatorOptions
{
    public int Sensors { get; init; } = 100;
    public int Cameras { get; init; } = 10;
    public int Channels { get; init; } = 4;
    public int BatchSize { get; init; } = 50;
    /// <summary>Target telemetry readings per second over all sensors.</summary>
    public double ReadingsPerSecond { get; init; } = 20_000;
    /// <summary>Target camera frames per second over all cameras.</summary>
    public double FramesPerSecond { get; init; } = 50;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);
    public FaultSettings Faults { get; init; } = new();
    public int Seed { get; init; } = 1;
    public string? DatasetDirectory { get; init; }
    public string DevicePrefix { get; init; } = "";

    /// <summary>
    /// How many times a simulated device sends a batch again that the cluster refused whole as Overloaded (doubling pauses
    /// from 200 ms, so about 12 s in all), as a real device that buffers its readings would; then it counts as rejected.
    /// </summary>
    public const int DeviceOverloadRetries = 6;
}

/// <summary>
/// Streams synthetic telemetry (noise, spikes, NaN faults) and Fashion-MNIST frames as camera devices through an
/// <see cref="EdgeClient"/>. Each device sends one request at a time (as a real device does), paced to its share
/// of the target rate; devices run concurrently.
/// </summary>
public sealed class Simulator(SimulatorOptions options)
{
    public IngestTally Telemetry { get; } = new();
    public IngestTally Frames { get; } = new();
    public PredictionTally Predictions { get; } = new();

    public IReadOnlyList<DeviceId> SensorIds { get; } =
        Enumerable.Range(0, options.Sensors).Select(i => new DeviceId($"{options.DevicePrefix}sensor-{i:D4}")).ToArray();

    public IReadOnlyList<DeviceId> CameraIds { get; } =
        Enumerable.Range(0, options.Cameras).Select(i => new DeviceId($"{options.DevicePrefix}camera-{i:D3}")).ToArray();

    public Exception? Failure { get; private set; }

    /// <summary>Called with every answered request (the chaos run records what was accepted, where and when).</summary>
    public Action<IDeviceCommand, Reply<IngestAck>>? Observer { get; init; }

    /// <summary>Called with every request that got no answer (the client gave up at its retry deadline, or the run was cancelled).</summary>
    public Action<IDeviceCommand>? Unanswered { get; init; }

    /// <summary>
    /// Ends the stream early and gracefully when cancelled: no new request after it, the ones in flight are answered
    /// (unlike the run's own token, which cancels them). The rolling restart streams until its roll is done.
    /// </summary>
    public CancellationToken Until { get; init; }

    public Task RunAsync(EdgeClient client, CancellationToken ct = default) =>
        RunAsync((request, c) => request switch
        {
            TelemetryBatch t => client.SendTelemetryAsync(t, c),
            CameraFrame f => client.SendFrameAsync(f, c),
            _ => client.RequestAsync<IngestAck>(request, c),
        }, ct);

    /// <summary>
    /// Streams through <paramref name="send"/>: the client library (above) or another protocol (each device's MQTT
    /// connection to an edge's broker: <c>--protocol mqtt</c>). An exception from it counts the request's readings as
    /// unanswered (lost).
    /// </summary>
    public async Task RunAsync(Func<IDeviceCommand, CancellationToken, Task<Reply<IngestAck>>> client, CancellationToken ct = default)
    {
        var data = options.Cameras > 0 && options.FramesPerSecond > 0
            ? FashionMnist.Load(FashionMnist.ResolveDirectory(options.DatasetDirectory), train: false)
            : null;
        var start = Stopwatch.StartNew();
        var end = options.Duration;
        var tasks = new List<Task>();
        if (options.Sensors > 0 && options.ReadingsPerSecond > 0)
        {
            var perDevice = options.ReadingsPerSecond / options.Sensors;
            var interval = TimeSpan.FromSeconds(options.BatchSize / perDevice);
            for (var i = 0; i < SensorIds.Count; i++)
            {
                var gen = new TelemetryGenerator(SensorIds[i], options.Channels, options.Faults, options.Seed * 100_003 + i);
                var offset = TimeSpan.FromTicks(interval.Ticks * i / SensorIds.Count);
                tasks.Add(RunDevice(offset, interval, end, start, ct, async () =>
                {
                    var batch = gen.NextBatch(options.BatchSize, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 10);
                    Telemetry.AddSent(batch.Count);
                    await Send(client, batch, batch.Count, Telemetry, ct);
                }));
            }
        }
        if (data is not null)
        {
            var interval = TimeSpan.FromSeconds(options.Cameras / options.FramesPerSecond);
            for (var i = 0; i < CameraIds.Count; i++)
            {
                var source = new FrameSource(data, CameraIds[i], options.Seed * 7919 + i);
                var offset = TimeSpan.FromTicks(interval.Ticks * i / CameraIds.Count);
                tasks.Add(RunDevice(offset, interval, end, start, ct, async () =>
                {
                    var frame = source.Next(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                    Frames.AddSent(1);
                    var ack = await Send(client, frame, 1, Frames, ct);
                    if (ack is { Accepted: > 0 } || ack?.Rejected.Any(r => r.Reason == RejectReason.Duplicate) == true)
                        Predictions.Record(ack.Prediction, frame.Label);
                }));
            }
        }
        await Task.WhenAll(tasks);
    }

    private async Task RunDevice(TimeSpan offset, TimeSpan interval, TimeSpan end, Stopwatch clock, CancellationToken ct, Func<Task> sendOne)
    {
        var due = offset;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct, Until);
        while (!either.IsCancellationRequested && clock.Elapsed < end)
        {
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, either.Token).ContinueWith(_ => { });
            if (either.IsCancellationRequested || clock.Elapsed >= end) break;
            await sendOne();
            due += interval;
            // a device that fell far behind (cluster failover) resumes its pace instead of bursting
            if (clock.Elapsed - due > interval * 10) due = clock.Elapsed;
        }
    }

    private async Task<IngestAck?> Send(Func<IDeviceCommand, CancellationToken, Task<Reply<IngestAck>>> client, IDeviceCommand request, int readings,
        IngestTally tally, CancellationToken ct)
    {
        try
        {
            var reply = await client(request, ct);
            tally.Record(reply);
            Observer?.Invoke(request, reply);
            return reply.Value;
        }
        catch (EdgeClientException ex)
        {
            tally.AddUnanswered(readings);
            Failure ??= ex;
            Unanswered?.Invoke(request);
        }
        catch (OperationCanceledException)
        {
            tally.AddUnanswered(readings);
            Unanswered?.Invoke(request);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException || ex.GetType().Namespace?.StartsWith("MQTTnet", StringComparison.Ordinal) == true)
        {
            // another protocol's failure (an MQTT connection refused or lost for good)
            tally.AddUnanswered(readings);
            Unanswered?.Invoke(request);
            Failure ??= ex;
        }
        return null;
    }
}
