using EdgeActors.Nodes.Data;
using EdgeActors.Messages;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tests.Simulation;

public sealed class FrameSourceTests
{
    private static readonly DeviceId Device = new("camera-3");

    [FashionMnistFact]
    public void Frames_should_be_784_bytes_with_labels_matching_the_dataset_image()
    {
        var data = FashionMnist.Load(FashionMnist.DefaultDirectory, train: false, limit: 2000);
        var source = new FrameSource(data, Device, seed: 17);

        for (var n = 0; n < 200; n++)
        {
            var frame = source.Next(1_000 + n);

            Assert.Equal(Device, frame.DeviceId);
            Assert.Equal(CameraFrame.ExpectedWidth, frame.Width);
            Assert.Equal(CameraFrame.ExpectedHeight, frame.Height);
            Assert.Equal(784, frame.Pixels.Length);
            Assert.Equal(1_000 + n, frame.Timestamp);

            var matches = Enumerable.Range(0, data.Count).Where(i => data.Image(i).SequenceEqual(frame.Pixels)).ToArray();
            Assert.NotEmpty(matches);
            Assert.Contains(matches, i => data.Labels[i] == frame.Label);
        }
    }

    [FashionMnistFact]
    public void Sequences_should_be_consecutive_from_1()
    {
        var data = FashionMnist.Load(FashionMnist.DefaultDirectory, train: false, limit: 100);
        var source = new FrameSource(data, Device, seed: 1);
        Assert.Equal(1, source.NextSequence);

        var sequences = Enumerable.Range(0, 50).Select(i => source.Next(i).Sequence).ToArray();

        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), sequences);
        Assert.Equal(51, source.NextSequence);
    }

    [FashionMnistFact]
    public void Same_seed_should_pick_the_same_images_and_frames_should_not_alias_the_dataset()
    {
        var data = FashionMnist.Load(FashionMnist.DefaultDirectory, train: false, limit: 1000);
        var a = new FrameSource(data, Device, seed: 99);
        var b = new FrameSource(data, Device, seed: 99);
        var c = new FrameSource(data, Device, seed: 100);

        var fa = Enumerable.Range(0, 30).Select(i => a.Next(i)).ToArray();
        var fb = Enumerable.Range(0, 30).Select(i => b.Next(i)).ToArray();
        var fc = Enumerable.Range(0, 30).Select(i => c.Next(i)).ToArray();

        Assert.Equal(fa.Select(f => f.Label), fb.Select(f => f.Label));
        Assert.All(fa.Zip(fb), p => Assert.Equal(p.First.Pixels, p.Second.Pixels));
        Assert.NotEqual(fa.Select(f => Convert.ToHexString(f.Pixels)), fc.Select(f => Convert.ToHexString(f.Pixels)));
        Assert.True(fa.Concat(fc).Select(f => f.Label).Distinct().Count() > 5, "60 random picks should cover more than 5 classes");

        var before = data.Images.ToArray();
        Array.Fill(fa[0].Pixels, (byte)0xAB);
        Assert.Equal(before, data.Images);
    }
}
