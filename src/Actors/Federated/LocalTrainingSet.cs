using EdgeActors.Learning.Federated;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// What an edge node holds for learning, per device: the labelled frames its devices received (for federated model
/// training and GBDT) and a behaviour summary of each device's telemetry (for federated k-means). It never leaves the
/// node: only model updates and aggregate statistics do. Device entities write (one writer per device); the node's
/// <see cref="FederatedWorker"/> reads snapshots. Thread-safe. Held in memory, and with a <see cref="Storage.TrainingFrameStore"/>
/// also on disk: accepted frames are written there before they are acknowledged, and a restarted edge loads them back
/// (without one, a restarted edge starts empty). The limit per device refuses frames beyond it rather than silently
/// evicting accepted ones. Behaviour summaries are recomputed from telemetry and are not stored.
/// </summary>
public sealed class LocalTrainingSet
{
    private sealed class DeviceData
    {
        // empty until the first labelled frame: every telemetry device gets an entry for its behaviour summary, and
        // 64 preallocated frames (50 KB) each would dominate an idle device's memory (100,000 devices per edge)
        public byte[] Pixels = [];
        public byte[] Labels = [];
        public int Count;
        public long NextSequence = -1; // -1: nothing yet (the first batch sets the start)
        public float[]? Behaviour;
    }

    private readonly Dictionary<string, DeviceData> _devices = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly Storage.TrainingFrameStore? _durable;

    public LocalTrainingSet(int maxFramesPerDevice = 30_000, Storage.TrainingFrameStore? durable = null)
    {
        if (maxFramesPerDevice < 1) throw new ArgumentOutOfRangeException(nameof(maxFramesPerDevice), "the frame limit per device must be ≥ 1");
        MaxFramesPerDevice = maxFramesPerDevice;
        _durable = durable;
        if (durable is null) return;
        foreach (var f in durable.LoadAll(TrainingFrames.FrameBytes))
        {
            var d = Get(f.Device);
            Grow(d, f.Labels.Length);
            f.Pixels.CopyTo(d.Pixels.AsSpan());
            f.Labels.CopyTo(d.Labels.AsSpan());
            d.Count = f.Labels.Length;
            d.NextSequence = f.FirstSequence + f.Labels.Length;
        }
    }

    /// <summary>Frames held, all devices together (loaded back from disk after a restart, then added).</summary>
    public long TotalFrames
    {
        get
        {
            lock (_gate) return _devices.Values.Sum(d => (long)d.Count);
        }
    }

    public int MaxFramesPerDevice { get; }

    /// <summary>
    /// Validates and appends a batch. Sequences make retries idempotent: frames below the device's next expected sequence
    /// are counted as duplicates; a gap is refused (the client resends from <c>NextSequence</c>).
    /// </summary>
    public TrainingFramesAck Add(TrainingFrames batch, string node)
    {
        var n = batch.Labels.Length;
        TrainingFramesAck Refuse(long next, int held, string error) => new(batch.DeviceId, next, 0, 0, held, node, error);
        if (n == 0) return Refuse(Next(batch.DeviceId), Held(batch.DeviceId), "empty batch: no labels");
        if (batch.Pixels.Length != n * TrainingFrames.FrameBytes)
            return Refuse(Next(batch.DeviceId), Held(batch.DeviceId),
                $"pixels: {batch.Pixels.Length} bytes for {n} labels; each frame is {CameraFrame.ExpectedWidth}×{CameraFrame.ExpectedHeight} = {TrainingFrames.FrameBytes} bytes");
        for (var i = 0; i < n; i++)
            if (batch.Labels[i] >= TrainingFrames.Classes)
                return Refuse(Next(batch.DeviceId), Held(batch.DeviceId), $"label {batch.Labels[i]} of frame {batch.FirstSequence + i} is not a class 0..{TrainingFrames.Classes - 1}");
        if (batch.FirstSequence < 0) return Refuse(Next(batch.DeviceId), Held(batch.DeviceId), $"first sequence {batch.FirstSequence} is negative");

        lock (_gate)
        {
            var d = Get(batch.DeviceId.Value);
            if (d.NextSequence < 0) d.NextSequence = batch.FirstSequence;
            if (batch.FirstSequence > d.NextSequence)
                return Refuse(d.NextSequence, d.Count, $"gap: frames from sequence {d.NextSequence} are missing (batch starts at {batch.FirstSequence}); resend from {d.NextSequence}");
            var skip = (int)Math.Min(n, d.NextSequence - batch.FirstSequence);
            var fresh = n - skip;
            if (d.Count + fresh > MaxFramesPerDevice)
                return Refuse(d.NextSequence, d.Count, $"training set full: device holds {d.Count} frames, the limit is {MaxFramesPerDevice} (edgeactors.federated.max-frames-per-device)");
            if (fresh > 0)
            {
                try
                {
                    // on disk before it is acknowledged: an accepted frame survives a restart of the edge
                    _durable?.Append(batch.DeviceId.Value, d.NextSequence, batch.Labels.AsSpan(skip, fresh),
                        batch.Pixels.AsSpan(skip * TrainingFrames.FrameBytes, fresh * TrainingFrames.FrameBytes), TrainingFrames.FrameBytes);
                }
                catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException)
                {
                    return Refuse(d.NextSequence, d.Count, $"the edge could not store the frames ({ex.Message}); resend from {d.NextSequence}");
                }
                Grow(d, d.Count + fresh);
                batch.Pixels.AsSpan(skip * TrainingFrames.FrameBytes, fresh * TrainingFrames.FrameBytes).CopyTo(d.Pixels.AsSpan(d.Count * TrainingFrames.FrameBytes));
                batch.Labels.AsSpan(skip, fresh).CopyTo(d.Labels.AsSpan(d.Count));
                d.Count += fresh;
                d.NextSequence += fresh;
            }
            return new TrainingFramesAck(batch.DeviceId, d.NextSequence, fresh, skip, d.Count, node, "");
        }
    }

    /// <summary>Devices holding labelled frames, by id, with their frame counts.</summary>
    public ClientInfo[] Clients()
    {
        lock (_gate)
            return _devices.Where(kv => kv.Value.Count > 0).OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => new ClientInfo(kv.Key, kv.Value.Count)).ToArray();
    }

    /// <summary>A copy of a device's labelled frames as floats in [0,1] (what the models take). False when it holds none.</summary>
    public bool TryGetSamples(string deviceId, out float[] images, out byte[] labels)
    {
        byte[] pixels;
        lock (_gate)
        {
            if (!_devices.TryGetValue(deviceId, out var d) || d.Count == 0)
            {
                images = [];
                labels = [];
                return false;
            }
            pixels = d.Pixels.AsSpan(0, d.Count * TrainingFrames.FrameBytes).ToArray();
            labels = d.Labels.AsSpan(0, d.Count).ToArray();
        }
        images = new float[pixels.Length];
        for (var i = 0; i < pixels.Length; i++) images[i] = pixels[i] / 255f;
        return true;
    }

    /// <summary>Every device's labelled frames together (raw bytes), in device-id order.</summary>
    public (byte[] Pixels, byte[] Labels) Union()
    {
        lock (_gate)
        {
            var list = _devices.Where(kv => kv.Value.Count > 0).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value).ToList();
            var total = list.Sum(d => d.Count);
            var pixels = new byte[total * TrainingFrames.FrameBytes];
            var labels = new byte[total];
            var at = 0;
            foreach (var d in list)
            {
                d.Pixels.AsSpan(0, d.Count * TrainingFrames.FrameBytes).CopyTo(pixels.AsSpan(at * TrainingFrames.FrameBytes));
                d.Labels.AsSpan(0, d.Count).CopyTo(labels.AsSpan(at));
                at += d.Count;
            }
            return (pixels, labels);
        }
    }

    /// <summary>The device's current behaviour summary (e.g. per-channel mean and standard deviation of its telemetry).</summary>
    public void UpdateBehaviour(DeviceId device, float[] features)
    {
        lock (_gate) Get(device.Value).Behaviour = features;
    }

    /// <summary>Devices with a behaviour summary of <paramref name="dimension"/> features (others are skipped).</summary>
    public (string[] Devices, float[] Features) Behaviours(int? dimension = null)
    {
        lock (_gate)
        {
            var list = _devices.Where(kv => kv.Value.Behaviour is { } b && (dimension is null || b.Length == dimension))
                .OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
            var dim = dimension ?? (list.Count > 0 ? list[0].Value.Behaviour!.Length : 0);
            list = list.Where(kv => kv.Value.Behaviour!.Length == dim).ToList();
            var features = new float[list.Count * dim];
            for (var i = 0; i < list.Count; i++) list[i].Value.Behaviour!.CopyTo(features, i * dim);
            return (list.Select(kv => kv.Key).ToArray(), features);
        }
    }

    private long Next(DeviceId id)
    {
        lock (_gate) return _devices.TryGetValue(id.Value, out var d) ? Math.Max(d.NextSequence, 0) : 0;
    }

    private int Held(DeviceId id)
    {
        lock (_gate) return _devices.TryGetValue(id.Value, out var d) ? d.Count : 0;
    }

    private DeviceData Get(string id)
    {
        if (!_devices.TryGetValue(id, out var d)) _devices[id] = d = new DeviceData();
        return d;
    }

    private static void Grow(DeviceData d, int frames)
    {
        if (d.Labels.Length >= frames) return;
        var capacity = Math.Max(frames, Math.Max(64, d.Labels.Length * 2));
        Array.Resize(ref d.Labels, capacity);
        Array.Resize(ref d.Pixels, capacity * TrainingFrames.FrameBytes);
    }
}
