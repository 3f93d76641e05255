using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Federated;

public sealed class LocalTrainingSetTests
{
    private static readonly DeviceId Cam = new("cam-1");

    private static TrainingFrames Batch(long first, params byte[] labels)
    {
        var pixels = new byte[labels.Length * TrainingFrames.FrameBytes];
        for (var i = 0; i < labels.Length; i++) pixels.AsSpan(i * TrainingFrames.FrameBytes, TrainingFrames.FrameBytes).Fill((byte)(first + i));
        return new TrainingFrames(Cam, first, pixels, labels);
    }

    [Fact]
    public void Add_should_keep_frames_in_order_and_count_retries_as_duplicates()
    {
        var set = new LocalTrainingSet();
        var a = set.Add(Batch(0, 1, 2, 3), "n");
        var retry = set.Add(Batch(0, 1, 2, 3), "n");
        var overlap = set.Add(Batch(2, 3, 4), "n");

        Assert.Equal(("", 3, 0, 3L), (a.Error, a.Accepted, a.Duplicates, a.NextSequence));
        Assert.Equal(("", 0, 3, 3L), (retry.Error, retry.Accepted, retry.Duplicates, retry.NextSequence));
        Assert.Equal(("", 1, 1, 4L), (overlap.Error, overlap.Accepted, overlap.Duplicates, overlap.NextSequence));
        Assert.True(set.TryGetSamples("cam-1", out var images, out var labels));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, labels);
        Assert.Equal(4 * TrainingFrames.FrameBytes, images.Length);
        Assert.Equal(3 / 255f, images[3 * TrainingFrames.FrameBytes]); // the 4th frame's pixels were (byte)3, scaled to [0,1]
        Assert.Equal([new ClientInfo("cam-1", 4)], set.Clients());
    }

    [Fact]
    public void Frames_should_survive_a_restart_when_kept_on_disk()
    {
        var dir = Directory.CreateTempSubdirectory("training-").FullName;
        try
        {
            var path = Path.Combine(dir, "training.db");
            var before = new LocalTrainingSet(durable: new EdgeActors.Storage.TrainingFrameStore(path));
            before.Add(Batch(5, 1, 2, 3), "n");
            before.Add(Batch(7, 3, 4), "n"); // one duplicate, one new
            before.Add(new TrainingFrames(new DeviceId("cam-2"), 0, new byte[TrainingFrames.FrameBytes], [9]), "n");

            // the edge restarts: a new set over the same file holds what was acknowledged, and goes on from there
            var after = new LocalTrainingSet(durable: new EdgeActors.Storage.TrainingFrameStore(path));
            Assert.Equal([new ClientInfo("cam-1", 4), new ClientInfo("cam-2", 1)], after.Clients());
            Assert.True(after.TryGetSamples("cam-1", out var images, out var labels));
            Assert.Equal(new byte[] { 1, 2, 3, 4 }, labels);
            Assert.Equal(8 / 255f, images[3 * TrainingFrames.FrameBytes]); // the 4th frame (seq 8) kept its pixels
            var retry = after.Add(Batch(5, 1, 2, 3, 4), "n");
            Assert.Equal(("", 0, 4, 9L), (retry.Error, retry.Accepted, retry.Duplicates, retry.NextSequence));
            var gap = after.Add(Batch(11, 5), "n");
            Assert.Contains("resend from 9", gap.Error);
            Assert.Equal(5L, after.TotalFrames);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Add_should_refuse_a_gap_bad_labels_wrong_sizes_and_a_full_set_keeping_what_it_has()
    {
        var set = new LocalTrainingSet(maxFramesPerDevice: 4);
        set.Add(Batch(10, 0, 1), "n");

        Assert.Contains("gap", set.Add(Batch(13, 2), "n").Error);
        Assert.Contains("label 10", set.Add(Batch(12, 10), "n").Error);
        Assert.Contains("784", set.Add(new TrainingFrames(Cam, 12, new byte[100], [1]), "n").Error);
        Assert.Contains("full", set.Add(Batch(12, 1, 2, 3), "n").Error);
        Assert.Contains("empty", set.Add(new TrainingFrames(Cam, 12, [], []), "n").Error);

        Assert.True(set.TryGetSamples("cam-1", out _, out var labels));
        Assert.Equal(new byte[] { 0, 1 }, labels);
        Assert.Equal(2, set.Add(Batch(12, 5, 6), "n").Accepted);
    }

    [Fact]
    public void Union_and_behaviours_should_cover_every_device()
    {
        var set = new LocalTrainingSet();
        set.Add(Batch(0, 1, 2), "n");
        set.Add(Batch(0, 7) with { DeviceId = new DeviceId("cam-0") }, "n");
        set.UpdateBehaviour(new DeviceId("s-1"), [1f, 2f]);
        set.UpdateBehaviour(new DeviceId("s-2"), [3f, 4f]);
        set.UpdateBehaviour(new DeviceId("s-3"), [5f]); // another dimension: skipped

        var (pixels, labels) = set.Union();
        var (devices, features) = set.Behaviours(2);

        Assert.Equal(new byte[] { 7, 1, 2 }, labels); // device-id order: cam-0 before cam-1
        Assert.Equal(3 * TrainingFrames.FrameBytes, pixels.Length);
        Assert.Equal(["s-1", "s-2"], devices);
        Assert.Equal([1f, 2f, 3f, 4f], features);
    }
}
