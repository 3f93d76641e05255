using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using static EdgeActors.Tests.Ingestion.IngestionTestKit;

namespace EdgeActors.Tests.Ingestion;

public class RejectionTests
{
    private static TelemetryPreprocessor Fresh(IngestionSettings? s = null) => new(s ?? Settings(DenoiseKind.None));

    [Fact]
    public void NaN_value_should_be_rejected_as_NotANumber_naming_the_channel()
    {
        var p = Fresh();
        var outcome = p.Process(Batch(1, [1, 2, 3, 4], [1, 2, float.NaN, 4], [1, 2, 3, 4]));

        Assert.Equal(2, outcome.Accepted);
        var r = Assert.Single(outcome.Rejected!);
        Assert.Equal(2, r.Sequence);
        Assert.Equal(RejectReason.NotANumber, r.Reason);
        Assert.Contains("channel 2", r.Detail);
        Assert.Equal(1, p.RejectedCount(RejectReason.NotANumber));
        Assert.Equal(2, p.Buffer.Count);
        Assert.Equal(2, p.Statistics()[2].Count);
    }

    [Theory]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Infinite_value_should_be_rejected_as_NotANumber(float bad)
    {
        var p = Fresh();
        var outcome = p.Process(Batch(1, [bad, 1]));

        var r = Assert.Single(outcome.Rejected!);
        Assert.Equal(RejectReason.NotANumber, r.Reason);
        Assert.Contains("channel 0", r.Detail);
        Assert.Equal(0, outcome.Accepted);
        // rejected for content, but answered: HighestContiguous covers it
        Assert.Equal(1, outcome.HighestContiguous);
    }

    [Fact]
    public void NotANumber_should_win_over_OutOfRange_in_the_same_reading()
    {
        var p = Fresh();
        var r = Assert.Single(p.Process(Batch(1, [5e6f, float.NaN])).Rejected!);
        Assert.Equal(RejectReason.NotANumber, r.Reason);
        Assert.Contains("channel 1", r.Detail);
    }

    [Fact]
    public void OutOfRange_should_use_per_channel_range_override()
    {
        var p = Fresh(Settings() with { ChannelRanges = [new ChannelRange(0, 100)] });

        var outcome = p.Process(Batch(1, [50, 150], [150, 50], [-0.5f, 0], [100, 1e6f], [0, -1.5e6f]));

        Assert.Equal(2, outcome.Accepted); // seq 1 (150 allowed on channel 1) and seq 4 (limits inclusive)
        Assert.Collection(outcome.Rejected!,
            r =>
            {
                Assert.Equal((2L, RejectReason.OutOfRange), (r.Sequence, r.Reason));
                Assert.Contains("channel 0", r.Detail);
                Assert.Contains("150", r.Detail);
                Assert.Contains("[0, 100]", r.Detail);
            },
            r => Assert.Equal((3L, RejectReason.OutOfRange), (r.Sequence, r.Reason)),
            r =>
            {
                Assert.Equal((5L, RejectReason.OutOfRange), (r.Sequence, r.Reason));
                Assert.Contains("channel 1", r.Detail);
                Assert.Contains("[-1000000, 1000000]", r.Detail);
            });
        Assert.Equal(3, p.RejectedCount(RejectReason.OutOfRange));
    }

    [Fact]
    public void Duplicate_within_a_batch_should_be_rejected()
    {
        var p = Fresh();
        var outcome = p.Process(Batch([1, 2, 2, 3], [1f], [2f], [99f], [3f]));

        Assert.Equal(3, outcome.Accepted);
        var r = Assert.Single(outcome.Rejected!);
        Assert.Equal((2L, RejectReason.Duplicate), (r.Sequence, r.Reason));
        Assert.Equal(3f, p.Statistics()[0].Max); // the duplicate's 99 never reached the stats
        Assert.Equal(3, outcome.HighestContiguous);
    }

    [Fact]
    public void Duplicate_across_batches_should_be_rejected_and_change_nothing()
    {
        var p = Fresh();
        p.Process(Scalar(1, 1, 2, 3));
        var before = p.Statistics()[0];

        var outcome = p.Process(Scalar(1, 7, 8, 9));

        Assert.Equal(0, outcome.Accepted);
        Assert.All(outcome.Rejected!, r => Assert.Equal(RejectReason.Duplicate, r.Reason));
        Assert.Equal([1L, 2L, 3L], outcome.Rejected!.Select(r => r.Sequence));
        Assert.Equal(before, p.Statistics()[0]);
        Assert.Equal(3, p.Buffer.Count);
        Assert.Equal(3, p.AcceptedReadings);
        Assert.Equal(3, outcome.HighestContiguous);
        Assert.Equal(3, p.RejectedCount(RejectReason.Duplicate));
    }

    [Fact]
    public void Late_reading_should_be_rejected_OutOfOrder_and_release_the_gap()
    {
        var p = Fresh();
        var first = p.Process(Batch([1, 2, 4], [1f], [2f], [4f]));
        Assert.Null(first.Rejected);
        Assert.Equal(2, first.HighestContiguous);

        var late = p.Process(Batch([3], [3f]));

        var r = Assert.Single(late.Rejected!);
        Assert.Equal((3L, RejectReason.OutOfOrder), (r.Sequence, r.Reason));
        Assert.Equal(4, late.HighestContiguous);
        Assert.Equal(3, p.AcceptedReadings);
        Assert.False(p.Sequences.IsAccepted(3));
    }

    [Fact]
    public void Late_reading_with_bad_content_should_report_the_content_reason()
    {
        var p = Fresh();
        p.Process(Batch([1, 3], [1f], [3f]));
        var r = Assert.Single(p.Process(Batch([2], [float.NaN])).Rejected!);
        Assert.Equal(RejectReason.NotANumber, r.Reason);
        Assert.Equal(3, p.Sequences.HighestContiguous);
    }

    [Fact]
    public void Sequence_older_than_the_window_should_be_OutOfOrder_even_if_accepted_long_ago()
    {
        var p = Fresh(Settings() with { SequenceWindow = 8 });
        p.Process(Scalar(1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));

        var r = Assert.Single(p.Process(Scalar(2, 2)).Rejected!);
        Assert.Equal(RejectReason.OutOfOrder, r.Reason);
        Assert.Equal(12, p.Sequences.HighestContiguous);
    }

    [Fact]
    public void Negative_sequence_should_be_Malformed_and_not_tracked()
    {
        var p = Fresh();
        var outcome = p.Process(Batch([-5, 1], [1f], [2f]));
        var r = Assert.Single(outcome.Rejected!);
        Assert.Equal((-5L, RejectReason.Malformed), (r.Sequence, r.Reason));
        Assert.Equal(0, p.Sequences.Baseline);
    }

    public static TheoryData<string, TelemetryBatch, string> MalformedBatches()
    {
        var seqs = Seqs(1, 100);
        var ts = Seqs(1001, 100);
        return new TheoryData<string, TelemetryBatch, string>
        {
            { "values length", new TelemetryBatch(Device, 4, seqs, ts, new float[399]), "values length 399 != 100 readings x 4 channels" },
            { "timestamps length", new TelemetryBatch(Device, 4, seqs, Seqs(1001, 99), new float[400]), "timestamps length 99 != sequences length 100" },
            { "zero channels", new TelemetryBatch(Device, 0, seqs, ts, []), "channels 0 not in 1..64" },
            { "too many channels", new TelemetryBatch(Device, 65, seqs, ts, new float[6500]), "channels 65 not in 1..64" },
            { "negative channels", new TelemetryBatch(Device, -1, seqs, ts, new float[400]), "channels -1 not in 1..64" },
            { "null timestamps", new TelemetryBatch(Device, 4, seqs, null!, new float[400]), "timestamps array is null" },
            { "null values", new TelemetryBatch(Device, 4, seqs, ts, null!), "values array is null" },
            { "too big", new TelemetryBatch(Device, 1, Seqs(1, 20_000), Seqs(1, 20_000), new float[20_000]), "batch of 20000 readings exceeds max-batch-readings 10000" },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedBatches))]
    public void Malformed_batch_should_reject_every_reading_with_exact_detail(string shape, TelemetryBatch batch, string detail)
    {
        var p = Fresh();
        var outcome = p.Process(batch);

        Assert.Equal(0, outcome.Accepted);
        Assert.Equal(batch.Sequences.Length, outcome.Rejected!.Count);
        Assert.All(outcome.Rejected, r =>
        {
            Assert.Equal(RejectReason.Malformed, r.Reason);
            Assert.Equal(detail, r.Detail);
        });
        Assert.Equal(batch.Sequences, outcome.Rejected.Select(r => r.Sequence));
        Assert.Equal(0, p.Channels);
        Assert.False(p.Sequences.HasAny, shape);
    }

    [Fact]
    public void Null_sequences_should_give_a_single_rejection_with_sequence_minus_one()
    {
        var p = Fresh();
        var outcome = p.Process(new TelemetryBatch(Device, 4, null!, Seqs(1, 2), new float[8]));

        var r = Assert.Single(outcome.Rejected!);
        Assert.Equal((-1L, RejectReason.Malformed), (r.Sequence, r.Reason));
        Assert.Contains("sequences", r.Detail);
        Assert.False(p.Sequences.HasAny);
    }

    [Theory]
    [MemberData(nameof(MalformedBatches))]
    public void Malformed_batch_should_change_no_state(string shape, TelemetryBatch batch, string detail)
    {
        var p = Fresh(Settings(DenoiseKind.Median));
        p.Process(Batch([200, 201, 203], [1, 2, 3, 4], [2, 3, 4, 5], [9, 9, 9, 9]));
        var snapshot = Snapshot(p);

        var outcome = p.Process(batch);

        Assert.All(outcome.Rejected!, r => Assert.Equal(detail, r.Detail));
        // only the rejection counters move
        Assert.Equal(snapshot, Snapshot(p) with { Rejections = snapshot.Rejections });
        Assert.Equal(batch.Sequences.Length, p.RejectedCount(RejectReason.Malformed));
        // the filter state is untouched too: the next reading sees the same median window
        var control = Fresh(Settings(DenoiseKind.Median));
        control.Process(Batch([200, 201, 203], [1, 2, 3, 4], [2, 3, 4, 5], [9, 9, 9, 9]));
        p.Process(Batch([204], [0, 0, 0, 0]));
        control.Process(Batch([204], [0, 0, 0, 0]));
        Assert.Equal(Snapshot(control), Snapshot(p) with { Rejections = Snapshot(control).Rejections });
        Assert.NotEmpty(shape);
    }

    [Fact]
    public void Channel_count_change_should_be_rejected_as_ChannelMismatch_without_state_change()
    {
        var p = Fresh();
        p.Process(Batch(1, [1, 2, 3, 4]));
        var snapshot = Snapshot(p);

        var outcome = p.Process(Batch(2, [1, 2, 3], [4, 5, 6]));

        Assert.Equal(0, outcome.Accepted);
        Assert.Equal(2, outcome.Rejected!.Count);
        Assert.All(outcome.Rejected, r =>
        {
            Assert.Equal(RejectReason.ChannelMismatch, r.Reason);
            Assert.Equal("expected 4 channels, got 3", r.Detail);
        });
        Assert.Equal(snapshot with { Rejections = "ChannelMismatch=2" }, Snapshot(p));
        Assert.Equal(2, p.RejectedCount(RejectReason.ChannelMismatch));
        // the client can fix the batch and resend the same sequences
        Assert.Equal(2, p.Process(Batch(2, [1, 2, 3, 4], [5, 6, 7, 8])).Accepted);
    }

    [Fact]
    public void Clean_batch_should_not_allocate_a_rejection_list()
    {
        var p = Fresh();
        var outcome = p.Process(Batch(1, [1f], [2f]));
        Assert.Null(outcome.Rejected);
        Assert.Equal(2, outcome.Accepted);
        Assert.Empty(p.RejectionCounts());
    }

    [Fact]
    public void RejectionCounts_should_list_nonzero_reasons()
    {
        var p = Fresh();
        p.Process(Batch([1, 1, 2, 3], [1f], [1f], [float.NaN], [2e6f]));
        Assert.Equal(
            [(RejectReason.NotANumber, 1L), (RejectReason.OutOfRange, 1L), (RejectReason.Duplicate, 1L)],
            p.RejectionCounts());
    }

    private sealed record State(int Channels, long AcceptedReadings, bool HasAny, long Last, long Hc, string Stats, string Buffer, string Rejections);

    private static State Snapshot(TelemetryPreprocessor p)
    {
        var n = p.Buffer.Count;
        var seqs = new long[n];
        var ts = new long[n];
        var vals = new float[n * p.Buffer.Channels];
        p.Buffer.CopyLatest(n, seqs, ts, vals);
        return new State(
            p.Channels,
            p.AcceptedReadings,
            p.Sequences.HasAny,
            p.Sequences.Last,
            p.Sequences.HighestContiguous,
            string.Join(";", p.Statistics().Select(s => s.ToString())),
            $"{p.Buffer.Overwritten}|{string.Join(",", seqs)}|{string.Join(",", ts)}|{string.Join(",", vals)}",
            string.Join(",", p.RejectionCounts().Select(rc => $"{rc.Item1}={rc.Item2}")));
    }
}
