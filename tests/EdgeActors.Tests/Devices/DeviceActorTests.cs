using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Devices;

/// <summary>
/// The device entity on its own (no sharding). Every message goes through the EdgeSerializer
/// (<c>serialize-messages = on</c>), as it would between nodes.
/// </summary>
public sealed class DeviceActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly DeviceId Id = new("sensor-7");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static readonly Config TestConfig =
        ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config);

    public DeviceActorTests() : base(TestConfig)
    {
    }

    // ------------------------------------------------------------------ builders

    private IActorRef Device(IngestionSettings? settings = null) =>
        Sys.ActorOf(DeviceActor.Props(Id, settings ?? IngestionSettings.Default));

    private static long[] Seqs(long first, int n) => Enumerable.Range(0, n).Select(i => first + i).ToArray();

    /// <summary>Consecutive sequences from <paramref name="firstSeq"/>, 2 channels: (10 + seq, 20 - seq).</summary>
    private static TelemetryBatch Batch(long firstSeq, int count, DeviceId? id = null)
    {
        var seqs = Seqs(firstSeq, count);
        var values = new float[count * 2];
        for (var i = 0; i < count; i++)
        {
            values[2 * i] = 10 + seqs[i];
            values[2 * i + 1] = 20 - seqs[i];
        }
        return new TelemetryBatch(id ?? Id, 2, seqs, seqs.Select(s => 1_700_000_000_000 + s).ToArray(), values);
    }

    private static TelemetryBatch Scalar(long firstSeq, float[] values) =>
        new(Id, 1, Seqs(firstSeq, values.Length), Seqs(1_700_000_000_000 + firstSeq, values.Length), values);

    private static CameraFrame Frame(long seq, int width = 28, int height = 28, byte fill = 100) =>
        new(Id, seq, 1_700_000_000_000 + seq, width, height, Enumerable.Repeat(fill, width * height).ToArray(), 4);

    private IngestAck Send(IActorRef device, object message)
    {
        device.Tell(message, TestActor);
        return ExpectMsg<IngestAck>(Wait);
    }

    private DeviceState StateOf(IActorRef device)
    {
        device.Tell(new GetDeviceState(Id), TestActor);
        return ExpectMsg<DeviceState>(Wait);
    }

    // ------------------------------------------------------------------ telemetry

    [Fact]
    public void Clean_batch_should_be_acknowledged_in_full()
    {
        var device = Device();

        var ack = Send(device, Batch(1, 10));

        Assert.Equal(Id, ack.DeviceId);
        Assert.Equal(10, ack.Accepted);
        Assert.Empty(ack.Rejected);
        Assert.Equal(10, ack.HighestContiguous);
        Assert.False(string.IsNullOrWhiteSpace(ack.Node));

        var state = StateOf(device);
        Assert.Equal(ack.Node, state.Node);
        Assert.Equal(10, state.AcceptedReadings);
        Assert.Equal(10, state.LastSequence);
        Assert.Equal(10, state.HighestContiguous);
        Assert.Equal(10, state.BufferFill);
        Assert.Equal(IngestionSettings.Default.BufferCapacity, state.BufferCapacity);
        Assert.Equal(0, state.RejectedTotal);
        Assert.Equal(2, state.Channels.Length);
        Assert.All(state.Channels, c => Assert.Equal(10, c.Count));
    }

    [Fact]
    public void NaN_and_out_of_range_readings_should_be_rejected_and_the_rest_accepted()
    {
        var device = Device();
        float[] values = [1f, float.NaN, 3f, 5e6f, 4f, float.PositiveInfinity, -2e6f, 6f];

        var ack = Send(device, Scalar(100, values));

        Assert.Equal(4, ack.Accepted);
        Assert.Equal(107, ack.HighestContiguous); // rejected readings are answered too
        var rejected = ack.Rejected.OrderBy(r => r.Sequence).ToArray();
        Assert.Equal([101L, 103L, 105L, 106L], rejected.Select(r => r.Sequence));
        Assert.Equal(
            [RejectReason.NotANumber, RejectReason.OutOfRange, RejectReason.NotANumber, RejectReason.OutOfRange],
            rejected.Select(r => r.Reason));
        Assert.All(rejected, r => Assert.Contains("channel 0", r.Detail));
        Assert.Contains("outside range", rejected[1].Detail);
        Assert.Contains("not a finite number", rejected[0].Detail);

        var state = StateOf(device);
        Assert.Equal(4, state.AcceptedReadings);
        Assert.Equal(4, state.BufferFill);
        Assert.Equal(4, state.Channels[0].Count);
        Assert.Equal(
            [new ReasonCount(RejectReason.NotANumber, 2), new ReasonCount(RejectReason.OutOfRange, 2)],
            state.Rejections);
    }

    [Fact]
    public void Retried_batch_should_come_back_as_duplicates_and_change_no_counts()
    {
        var device = Device();
        var batch = Batch(1, 8);
        var first = Send(device, batch);
        Assert.Equal(8, first.Accepted);
        var before = StateOf(device);

        var retry = Send(device, batch with { });

        Assert.Equal(0, retry.Accepted);
        Assert.Equal(8, retry.HighestContiguous);
        Assert.Equal(batch.Sequences, retry.Rejected.Select(r => r.Sequence).OrderBy(s => s));
        Assert.All(retry.Rejected, r => Assert.Equal(RejectReason.Duplicate, r.Reason));

        var after = StateOf(device);
        Assert.Equal(before.AcceptedReadings, after.AcceptedReadings);
        Assert.Equal(before.BufferFill, after.BufferFill);
        Assert.Equal(before.LastSequence, after.LastSequence);
        Assert.Equal(before.HighestContiguous, after.HighestContiguous);
        Assert.Equal(before.Channels, after.Channels);
        // the duplicates are counted as rejections, nothing else moves
        Assert.Equal([new ReasonCount(RejectReason.Duplicate, 8)], after.Rejections);
    }

    public static TheoryData<string, string> MalformedBatches => new()
    {
        { "values-length", "values length" },
        { "channels-zero", "channels 0" },
        { "timestamps-length", "timestamps length" },
    };

    private static TelemetryBatch MalformedBatch(string kind)
    {
        var good = Batch(20, 4);
        return kind switch
        {
            "values-length" => good with { Values = good.Values[..^1] },
            "channels-zero" => good with { Channels = 0, Values = [] },
            "timestamps-length" => good with { Timestamps = good.Timestamps[..2] },
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    [Theory]
    [MemberData(nameof(MalformedBatches))]
    public void Malformed_batch_should_be_rejected_without_restarting_or_losing_state(string kind, string problem)
    {
        var device = Device();
        Watch(device);
        Assert.Equal(10, Send(device, Batch(1, 10)).Accepted);
        Assert.Equal(1, Send(device, Frame(1)).Accepted);
        var before = StateOf(device);

        var bad = MalformedBatch(kind);
        var ack = Send(device, bad);

        Assert.Equal(0, ack.Accepted);
        Assert.Equal(10, ack.HighestContiguous);
        Assert.Equal(bad.Sequences, ack.Rejected.Select(r => r.Sequence));
        Assert.All(ack.Rejected, r =>
        {
            Assert.Equal(RejectReason.Malformed, r.Reason);
            Assert.Contains(problem, r.Detail);
            Assert.DoesNotContain("internal error", r.Detail);
        });

        // not stopped ...
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        // ... and not restarted: everything accepted before is still there
        var after = StateOf(device);
        Assert.Equal(before.AcceptedReadings, after.AcceptedReadings);
        Assert.Equal(before.AcceptedFrames, after.AcceptedFrames);
        Assert.Equal(before.BufferFill, after.BufferFill);
        Assert.Equal(before.FrameBufferFill, after.FrameBufferFill);
        Assert.Equal(before.LastSequence, after.LastSequence);
        Assert.Equal(before.HighestContiguous, after.HighestContiguous);
        Assert.Equal(before.Channels, after.Channels);
        Assert.Equal(10, after.Channels[0].Count);
        Assert.Equal([new ReasonCount(RejectReason.Malformed, bad.Count)], after.Rejections);

        // and it keeps working: the next clean batch continues where the first one ended
        var next = Send(device, Batch(11, 5));
        Assert.Equal(5, next.Accepted);
        Assert.Equal(15, next.HighestContiguous);
        Assert.Equal(15, StateOf(device).AcceptedReadings);
    }

    [Fact]
    public void Message_for_another_device_should_be_rejected_as_malformed_and_change_nothing()
    {
        var device = Device();
        Send(device, Batch(1, 5));
        Send(device, Frame(1));
        var before = StateOf(device);
        var other = new DeviceId("sensor-8");

        var ack = Send(device, Batch(6, 3, other));
        var frameAck = Send(device, Frame(2) with { DeviceId = other });

        Assert.Equal(other, ack.DeviceId);
        Assert.Equal(0, ack.Accepted);
        Assert.Equal(-1, ack.HighestContiguous);
        Assert.Equal([6L, 7L, 8L], ack.Rejected.Select(r => r.Sequence));
        Assert.All(ack.Rejected, r =>
        {
            Assert.Equal(RejectReason.Malformed, r.Reason);
            Assert.Contains("sensor-8", r.Detail);
            Assert.Contains("sensor-7", r.Detail);
        });
        Assert.Equal(other, frameAck.DeviceId);
        Assert.Equal(0, frameAck.Accepted);
        Assert.Equal(2, Assert.Single(frameAck.Rejected).Sequence);
        Assert.Equal(RejectReason.Malformed, frameAck.Rejected[0].Reason);

        var after = StateOf(device);
        Assert.Equal(before.AcceptedReadings, after.AcceptedReadings);
        Assert.Equal(before.AcceptedFrames, after.AcceptedFrames);
        Assert.Equal(before.BufferFill, after.BufferFill);
        Assert.Equal(before.FrameBufferFill, after.FrameBufferFill);
        Assert.Equal(before.LastSequence, after.LastSequence);
        Assert.Equal(before.Rejections, after.Rejections);
        Assert.Equal(before.Channels, after.Channels);

        // the sequences offered under the wrong id are still free for this device
        Assert.Equal(3, Send(device, Batch(6, 3)).Accepted);
    }

    // ------------------------------------------------------------------ frames

    [Fact]
    public void Camera_frames_should_be_accepted_at_28x28_and_rejected_at_any_other_size()
    {
        var device = Device();

        var ok = Send(device, Frame(1));
        Assert.Equal(1, ok.Accepted);
        Assert.Empty(ok.Rejected);
        Assert.Equal(1, ok.HighestContiguous);

        var wrong = Send(device, Frame(2, width: 27));
        Assert.Equal(0, wrong.Accepted);
        var rejection = Assert.Single(wrong.Rejected);
        Assert.Equal(2, rejection.Sequence);
        Assert.Equal(RejectReason.WrongFrameSize, rejection.Reason);
        Assert.Contains("27x28", rejection.Detail);
        Assert.Equal(2, wrong.HighestContiguous);

        Assert.Equal(1, Send(device, Frame(3, fill: 7)).Accepted);

        var state = StateOf(device);
        Assert.Equal(2, state.AcceptedFrames);
        Assert.Equal(2, state.FrameBufferFill);
        Assert.Equal(IngestionSettings.Default.FrameBufferCapacity, state.FrameBufferCapacity);
        Assert.Equal(0, state.AcceptedReadings);
        Assert.Equal(3, state.LastSequence);
        Assert.Equal([new ReasonCount(RejectReason.WrongFrameSize, 1)], state.Rejections);
    }

    // ------------------------------------------------------------------ statistics

    private static void AssertStats(IReadOnlyList<double> expected, ChannelStats actual)
    {
        var n = expected.Count;
        var mean = expected.Average();
        var variance = n < 2 ? 0.0 : expected.Sum(v => (v - mean) * (v - mean)) / (n - 1);
        Assert.Equal(n, actual.Count);
        Assert.Equal(mean, actual.Mean, 1e-9);
        Assert.Equal(variance, actual.Variance, 1e-6 * Math.Max(1, variance));
        Assert.Equal((float)expected.Min(), actual.Min);
        Assert.Equal((float)expected.Max(), actual.Max);
    }

    [Fact]
    public void Device_state_channel_statistics_should_match_a_reference_over_the_denoised_values()
    {
        // DenoiseKind.None: the denoised value is the raw value, so the reference is plain sample statistics.
        var device = Device(IngestionSettings.Default with { Denoise = DenoiseKind.None });
        var random = new Random(1234);
        var ch0 = new List<double>();
        var ch1 = new List<double>();
        long seq = 1;
        for (var b = 0; b < 5; b++)
        {
            const int n = 40;
            var values = new float[n * 2];
            for (var i = 0; i < n; i++)
            {
                values[2 * i] = (float)(20 + 5 * random.NextDouble());
                values[2 * i + 1] = (float)(-300 + 1000 * random.NextDouble());
            }
            // some rejected readings must not enter the statistics
            values[2 * 3 + 1] = float.NaN;
            values[2 * 7] = 2e6f;
            var batch = new TelemetryBatch(Id, 2, Seqs(seq, n), Seqs(1_700_000_000_000 + seq, n), values);
            var ack = Send(device, batch);
            Assert.Equal(n - 2, ack.Accepted);
            for (var i = 0; i < n; i++)
            {
                if (i is 3 or 7) continue;
                ch0.Add(values[2 * i]);
                ch1.Add(values[2 * i + 1]);
            }
            seq += n;
        }

        var state = StateOf(device);
        Assert.Equal(2, state.Channels.Length);
        AssertStats(ch0, state.Channels[0]);
        AssertStats(ch1, state.Channels[1]);
    }

    [Fact]
    public void Device_state_channel_statistics_should_be_taken_after_the_median_filter()
    {
        var settings = IngestionSettings.Default with { Denoise = DenoiseKind.Median, MedianWindow = 5 };
        var device = Device(settings);
        float[] raw = [5, 1, 9, 100, 3, 7, 2, 8, -50, 6, 4, 4];

        Assert.Equal(raw.Length, Send(device, Scalar(1, raw)).Accepted);

        // reference: median of the last (up to) 5 raw values; an even count takes the mean of the two middle ones
        var denoised = new List<double>();
        for (var i = 0; i < raw.Length; i++)
        {
            var window = raw[Math.Max(0, i - 4)..(i + 1)].Select(v => (double)v).Order().ToArray();
            var m = window.Length / 2;
            denoised.Add(window.Length % 2 == 1 ? window[m] : (window[m - 1] + window[m]) / 2);
        }
        AssertStats(denoised, Assert.Single(StateOf(device).Channels));
    }

    // ------------------------------------------------------------------ stop

    [Fact]
    public void StopDevice_should_stop_the_actor_only_after_the_commands_queued_before_it_are_answered()
    {
        var device = Device();
        Watch(device);

        device.Tell(Batch(1, 5), TestActor);
        device.Tell(Batch(6, 5), TestActor);
        device.Tell(Batch(11, 5), TestActor);
        device.Tell(StopDevice.Instance, TestActor);

        var acks = new[] { ExpectMsg<IngestAck>(Wait), ExpectMsg<IngestAck>(Wait), ExpectMsg<IngestAck>(Wait) };
        Assert.Equal([5L, 10L, 15L], acks.Select(a => a.HighestContiguous));
        Assert.All(acks, a => Assert.Equal(5, a.Accepted));
        ExpectTerminated(device, Wait);
    }
}
