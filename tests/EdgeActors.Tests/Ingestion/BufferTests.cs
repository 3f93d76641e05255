using EdgeActors.Actors.Ingestion;

namespace EdgeActors.Tests.Ingestion;

public class BufferTests
{
    [Fact]
    public void ReadingBuffer_should_keep_latest_readings_in_order_after_wrap()
    {
        var b = new ReadingBuffer(4, 3);
        for (var i = 0; i < 10; i++)
            b.Append(i, 100 + i, [i, i + 0.5f, -i]);

        Assert.Equal(4, b.Count);
        Assert.Equal(6, b.Overwritten);

        var seqs = new long[10];
        var ts = new long[10];
        var vals = new float[30];
        Assert.Equal(4, b.CopyLatest(10, seqs, ts, vals));
        Assert.Equal([6L, 7, 8, 9], seqs[..4]);
        Assert.Equal([106L, 107, 108, 109], ts[..4]);
        Assert.Equal([6f, 6.5f, -6, 7, 7.5f, -7, 8, 8.5f, -8, 9, 9.5f, -9], vals[..12]);

        Assert.Equal(2, b.CopyLatest(2, seqs, ts, vals));
        Assert.Equal([8L, 9], seqs[..2]);
        Assert.Equal([8f, 8.5f, -8, 9, 9.5f, -9], vals[..6]);
    }

    [Fact]
    public void ReadingBuffer_should_copy_partial_fill_without_wrap()
    {
        var b = new ReadingBuffer(8, 1);
        b.Append(1, 11, [1f]);
        b.Append(2, 12, [2f]);
        var seqs = new long[8];
        Assert.Equal(2, b.CopyLatest(8, seqs, new long[8], new float[8]));
        Assert.Equal([1L, 2L], seqs[..2]);
        Assert.Equal(0, b.Overwritten);
    }

    [Fact]
    public void ReadingBuffer_should_check_lengths()
    {
        var b = new ReadingBuffer(4, 2);
        Assert.Throws<ArgumentException>(() => b.Append(1, 1, [1f]));
        b.Append(1, 1, [1f, 2f]);
        Assert.Throws<ArgumentException>(() => b.CopyLatest(1, new long[1], new long[1], new float[1]));
    }

    [Fact]
    public void Preprocessor_buffer_should_wrap_and_count_overwritten()
    {
        var p = new TelemetryPreprocessor(IngestionSettings.Default with { BufferCapacity = 5, Denoise = DenoiseKind.None });
        var buffer = p.Buffer; // the same instance before and after the channel count is fixed
        p.Process(IngestionTestKit.Scalar(1, 1, 2, 3, 4, 5, 6, 7, 8));
        Assert.Same(buffer, p.Buffer);
        Assert.Equal(5, buffer.Count);
        Assert.Equal(3, buffer.Overwritten);
        var seqs = new long[5];
        buffer.CopyLatest(5, seqs, new long[5], new float[5]);
        Assert.Equal([4L, 5, 6, 7, 8], seqs);
    }

    [Fact]
    public void FrameBuffer_should_keep_latest_frames_in_order_after_wrap()
    {
        var b = new FrameBuffer(3);
        for (var i = 0; i < 7; i++)
            b.Append(new BufferedFrame(i, 50 + i, i % 10, [(byte)i]));

        Assert.Equal(3, b.Count);
        Assert.Equal(4, b.Overwritten);
        var latest = b.Latest(10);
        Assert.Equal([4L, 5, 6], latest.Select(f => f.Sequence));
        Assert.Equal([54L, 55, 56], latest.Select(f => f.Timestamp));
        Assert.Equal(6, latest[2].Pixels[0]);
        Assert.Equal([5L, 6], b.Latest(2).Select(f => f.Sequence));
        Assert.Empty(b.Latest(0));
    }

    [Fact]
    public void ReadingBuffer_should_start_small_and_grow_by_doubling_up_to_capacity_keeping_order()
    {
        var b = new ReadingBuffer(100, 2);
        Assert.Equal(ReadingBuffer.InitialSlots, b.Allocated);
        for (var i = 0; i < 250; i++)
        {
            b.Append(i, 1000 + i, [i, -i]);
            Assert.True(b.Allocated >= Math.Min(i + 1, 100));
            Assert.True(b.Allocated <= 100);
        }
        Assert.Equal(100, b.Allocated);
        Assert.Equal(100, b.Count);
        Assert.Equal(150, b.Overwritten);
        var seqs = new long[100];
        var ts = new long[100];
        var vals = new float[200];
        Assert.Equal(100, b.CopyLatest(100, seqs, ts, vals));
        Assert.Equal(Enumerable.Range(150, 100).Select(i => (long)i), seqs);
        Assert.Equal(Enumerable.Range(1150, 100).Select(i => (long)i), ts);
        Assert.Equal(Enumerable.Range(150, 100).SelectMany(i => new[] { (float)i, -i }), vals);
    }

    [Fact]
    public void ReadingBuffer_should_not_grow_while_a_few_readings_fit()
    {
        var b = new ReadingBuffer(4096, 4);
        for (var i = 0; i < ReadingBuffer.InitialSlots; i++) b.Append(i, i, [1, 2, 3, 4]);
        Assert.Equal(ReadingBuffer.InitialSlots, b.Allocated);
        Assert.Equal(4096, b.Capacity);
        b.Append(99, 99, [1, 2, 3, 4]);
        Assert.Equal(2 * ReadingBuffer.InitialSlots, b.Allocated);
    }

    [Fact]
    public void FrameBuffer_should_allocate_nothing_until_the_first_frame_then_grow_up_to_capacity()
    {
        var b = new FrameBuffer(10);
        Assert.Equal(0, b.Allocated);
        Assert.Empty(b.Latest(5));
        Assert.False(b.SetPrediction(1, new EdgeActors.Messages.Prediction(1, 1, "m", 1, "n", false, EdgeActors.Messages.PredictionNote.None)));
        for (var i = 0; i < 23; i++)
        {
            b.Append(new BufferedFrame(i, i, 0, [(byte)i]));
            Assert.InRange(b.Allocated, Math.Min(i + 1, 10), 10);
        }
        Assert.Equal(10, b.Allocated);
        Assert.Equal(13, b.Overwritten);
        Assert.Equal(Enumerable.Range(13, 10).Select(i => (long)i), b.Latest(10).Select(f => f.Sequence));
        Assert.True(b.SetPrediction(20, new EdgeActors.Messages.Prediction(3, 0.9f, "m", 1, "n", false, EdgeActors.Messages.PredictionNote.None)));
        Assert.Equal(3, b.Latest(10)[7].Prediction!.Label);
    }
}
