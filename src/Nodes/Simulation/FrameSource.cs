using EdgeActors.Nodes.Data;
using EdgeActors.Messages;

namespace EdgeActors.Nodes.Simulation;

/// <summary>
/// Camera frames for one device drawn pseudo-randomly (deterministic for a seed) from a <see cref="FashionMnist"/>
/// set, with consecutive sequence numbers from 1 and the dataset's label attached.
/// </summary>
public sealed class FrameSource
{
    private readonly FashionMnist _data;
    private readonly DeviceId _device;
    private readonly Random _random;

    public FrameSource(FashionMnist data, DeviceId device, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0)
            throw new ArgumentException("The Fashion-MNIST set holds no images.", nameof(data));
        _data = data;
        _device = device;
        _random = new Random(seed);
    }

    /// <summary>The sequence number of the next frame; starts at 1.</summary>
    public long NextSequence { get; private set; } = 1;

    public CameraFrame Next(long timestampMs)
    {
        var index = _random.Next(_data.Count);
        return new CameraFrame(
            _device,
            NextSequence++,
            timestampMs,
            _data.Columns,
            _data.Rows,
            _data.ImageCopy(index),
            _data.Labels[index]);
    }
}
