using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using static EdgeActors.Tests.Ingestion.IngestionTestKit;

namespace EdgeActors.Tests.Ingestion;

public class FramePreprocessorTests
{
    private static FramePreprocessor Fresh(int capacity = 256) =>
        new(IngestionSettings.Default with { FrameBufferCapacity = capacity });

    [Fact]
    public void Accepted_frame_should_be_buffered_with_a_copy_of_its_pixels()
    {
        var p = Fresh();
        var frame = Frame(1, fill: 7, label: 4);

        var outcome = p.Process(frame);
        frame.Pixels[0] = 200; // the sender reusing its array does not change the buffer

        Assert.Equal(1, outcome.Accepted);
        Assert.Null(outcome.Rejected);
        Assert.Equal(1, outcome.HighestContiguous);
        var f = Assert.Single(p.Buffer.Latest(10));
        Assert.Equal((1L, 5001L, 4), (f.Sequence, f.Timestamp, f.Label));
        Assert.Equal(7, f.Pixels[0]);
        Assert.Equal(784, f.Pixels.Length);
        Assert.Equal(1, p.AcceptedFrames);
    }

    [Theory]
    [InlineData(32, 28, null, "frame 32x28, expected 28x28")]
    [InlineData(28, 27, null, "frame 28x27, expected 28x28")]
    [InlineData(28, 28, 700, "pixels length 700 != 28x28 = 784")]
    public void Wrong_size_should_be_rejected_as_WrongFrameSize(int w, int h, int? pixels, string detail)
    {
        var p = Fresh();
        var outcome = p.Process(Frame(1, width: w, height: h, pixelCount: pixels));

        var r = Assert.Single(outcome.Rejected!);
        Assert.Equal((1L, RejectReason.WrongFrameSize, detail), (r.Sequence, r.Reason, r.Detail));
        Assert.Equal(0, p.Buffer.Count);
        Assert.Equal(0, p.Brightness().Count);
        Assert.Equal(1, outcome.HighestContiguous); // answered
    }

    [Theory]
    [InlineData(256, "label 256 not in -1..255")]
    [InlineData(-2, "label -2 not in -1..255")]
    public void Bad_label_should_be_rejected_as_Malformed(int label, string detail)
    {
        var r = Assert.Single(Fresh().Process(Frame(1, label: label)).Rejected!);
        Assert.Equal((RejectReason.Malformed, detail), (r.Reason, r.Detail));
    }

    [Fact]
    public void NoLabel_should_be_accepted()
    {
        Assert.Equal(1, Fresh().Process(Frame(1, label: CameraFrame.NoLabel)).Accepted);
    }

    [Fact]
    public void Null_pixels_should_be_rejected_as_Malformed()
    {
        var p = Fresh();
        var r = Assert.Single(p.Process(new CameraFrame(Device, 1, 1, 28, 28, null!, 1)).Rejected!);
        Assert.Equal((RejectReason.Malformed, "pixels array is null"), (r.Reason, r.Detail));
        Assert.Equal(1, p.RejectedCount(RejectReason.Malformed));
    }

    [Fact]
    public void Frame_sequences_should_follow_duplicate_and_out_of_order_rules()
    {
        var p = Fresh();
        p.Process(Frame(1));
        p.Process(Frame(3));

        var dup = Assert.Single(p.Process(Frame(3)).Rejected!);
        Assert.Equal(RejectReason.Duplicate, dup.Reason);
        Assert.Equal(1, p.Sequences.HighestContiguous);

        var late = p.Process(Frame(2));
        Assert.Equal(RejectReason.OutOfOrder, Assert.Single(late.Rejected!).Reason);
        Assert.Equal(3, late.HighestContiguous);

        var lateBad = Assert.Single(p.Process(Frame(2, width: 10)).Rejected!);
        Assert.Equal(RejectReason.WrongFrameSize, lateBad.Reason); // late and bad: the content reason
        Assert.Equal(2, p.AcceptedFrames);
        Assert.Equal([(RejectReason.Duplicate, 1L), (RejectReason.OutOfOrder, 1L), (RejectReason.WrongFrameSize, 1L)], p.RejectionCounts());
    }

    [Fact]
    public void Brightness_should_match_two_pass_reference()
    {
        var rng = new Random(11);
        var p = Fresh(capacity: 4);
        var means = new List<double>();
        for (var s = 1; s <= 50; s++)
        {
            var pixels = new byte[784];
            rng.NextBytes(pixels);
            p.Process(new CameraFrame(Device, s, s, 28, 28, pixels, -1));
            means.Add(pixels.Sum(b => (double)b) / 784);
        }

        var (mean, variance) = TwoPass(means, means.Count);
        var stats = p.Brightness();
        Assert.Equal(50, stats.Count);
        Close(mean, stats.Mean, 1e-9, "mean");
        Close(variance, stats.Variance, 1e-9, "variance");
        Assert.Equal((float)means.Min(), stats.Min);
        Assert.Equal((float)means.Max(), stats.Max);
        Assert.Equal(4, p.Buffer.Count);
        Assert.Equal(46, p.Buffer.Overwritten);
        Assert.Equal([47L, 48, 49, 50], p.Buffer.Latest(4).Select(f => f.Sequence));
    }
}
