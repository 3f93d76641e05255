using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>Every manifest'ed message survives a round trip through the actor system's serialization, field for field.</summary>
public sealed class EdgeSerializerRoundTripTests : EdgeSerializationTestKit
{
    [Fact]
    public void TelemetryBatch_should_round_trip()
    {
        var batch = SampleMessages.Telemetry();
        Assert.Equal(100, batch.Count);
        Assert.Equal(400, batch.Values.Length);

        var back = RoundTrip(batch);

        MessageAssert.Equal(batch, back);
        Assert.Equal(100, back.Count);
    }

    [Fact]
    public void TelemetryBatch_should_preserve_NaN_and_infinity_bit_exactly()
    {
        var values = SampleMessages.SpecialFloats;
        var batch = new TelemetryBatch(new DeviceId("nan-probe"), values.Length, [5], [-1], values);

        var back = RoundTrip(batch);

        MessageAssert.FloatsBitsEqual(values, back.Values, "Values");
        Assert.True(float.IsNaN(back.Values[0]));
        Assert.Equal(float.PositiveInfinity, back.Values[4]);
        Assert.Equal(float.NegativeInfinity, back.Values[5]);
        Assert.True(float.IsNegative(back.Values[6])); // -0.0f keeps its sign
    }

    [Fact]
    public void TelemetryBatch_should_round_trip_negative_and_extreme_deltas()
    {
        long[] sequences = [long.MaxValue, long.MinValue, 0, -1, 1, long.MinValue, long.MaxValue];
        long[] timestamps = [0, -1_735_689_600_000, 1_735_689_600_000, long.MinValue, long.MaxValue, -1, 1];
        var batch = new TelemetryBatch(new DeviceId("extremes"), 0, sequences, timestamps, []);

        MessageAssert.Equal(batch, RoundTrip(batch));
    }

    [Fact]
    public void TelemetryBatch_should_round_trip_empty_arrays()
    {
        var batch = new TelemetryBatch(new DeviceId(""), 0, [], [], []);

        var back = RoundTrip(batch);

        MessageAssert.Equal(batch, back);
        Assert.Empty(back.Sequences);
        Assert.Empty(back.Timestamps);
        Assert.Empty(back.Values);
        Assert.Equal("", back.DeviceId.Value);
    }

    [Fact]
    public void TelemetryBatch_should_round_trip_unicode_device_id()
    {
        var batch = SampleMessages.ConsecutiveTelemetry(3, 2) with { DeviceId = new DeviceId(SampleMessages.UnicodeDeviceId) };

        var back = RoundTrip(batch);

        Assert.Equal(SampleMessages.UnicodeDeviceId, back.DeviceId.Value);
        MessageAssert.Equal(batch, back);
    }

    [Fact]
    public void CameraFrame_should_round_trip()
    {
        var frame = SampleMessages.Frame();
        Assert.Equal(784, frame.Pixels.Length);

        var back = RoundTrip(frame);

        MessageAssert.Equal(frame, back);
    }

    [Fact]
    public void CameraFrame_should_round_trip_without_label_and_with_empty_pixels()
    {
        var frame = new CameraFrame(new DeviceId("cam-∅"), -5, -1_000, 0, 0, [], CameraFrame.NoLabel);

        var back = RoundTrip(frame);

        MessageAssert.Equal(frame, back);
        Assert.Equal(CameraFrame.NoLabel, back.Label);
    }

    [Fact]
    public void CameraFrame_should_round_trip_wrong_sized_frame_unchanged()
    {
        // the serializer transports; validation (WrongFrameSize) is the device entity's job
        var frame = SampleMessages.Frame() with { Width = 27, Height = int.MaxValue, Pixels = new byte[5], Label = int.MinValue };

        MessageAssert.Equal(frame, RoundTrip(frame));
    }

    [Fact]
    public void StopDevice_should_round_trip_to_the_singleton()
    {
        var back = RoundTrip(StopDevice.Instance);

        Assert.Same(StopDevice.Instance, back);
    }

    [Fact]
    public void IngestAck_should_round_trip()
    {
        var ack = SampleMessages.Ack();
        Assert.Equal(6, ack.Rejected.Select(r => r.Reason).Distinct().Count());

        var back = RoundTrip(ack);

        MessageAssert.Equal(ack, back);
    }

    [Fact]
    public void IngestAck_should_round_trip_with_no_rejections()
    {
        var ack = new IngestAck(new DeviceId("d-1"), -1, 0, [], "");

        var back = RoundTrip(ack);

        MessageAssert.Equal(ack, back);
        Assert.Empty(back.Rejected);
    }

    [Fact]
    public void IngestAck_should_round_trip_every_reject_reason()
    {
        var rejected = Enum.GetValues<RejectReason>().Select((r, i) => new Rejection(i * 1_000L, r, r.ToString())).ToArray();
        var ack = new IngestAck(new DeviceId("all-reasons"), long.MinValue, int.MaxValue, rejected, "edge-9");

        MessageAssert.Equal(ack, RoundTrip(ack));
    }

    [Fact]
    public void IngestAck_should_round_trip_with_and_without_a_prediction()
    {
        var with = SampleMessages.Ack();
        Assert.NotNull(with.Prediction);
        var without = with with { Prediction = null };

        var backWith = RoundTrip(with);
        var backWithout = RoundTrip(without);

        MessageAssert.Equal(with, backWith);
        MessageAssert.Equal(without, backWithout);
        Assert.Equal(with.Prediction, backWith.Prediction);
        Assert.Null(backWithout.Prediction);
        Assert.True(Serialize(without).Bytes.Length < Serialize(with).Bytes.Length);
    }

    [Fact]
    public void IngestAck_should_round_trip_every_prediction_note_and_special_confidences()
    {
        var notes = Enum.GetValues<PredictionNote>();
        var confidences = new[] { float.NaN, -0.0f, 1f, float.Epsilon };
        for (var i = 0; i < notes.Length; i++)
        {
            var p = new Prediction(-1, confidences[i % confidences.Length], "", 0, "", i % 2 == 0, notes[i]);
            var ack = new IngestAck(new DeviceId("cam"), 1, 1, [], "edge-1", p);

            MessageAssert.Equal(ack, RoundTrip(ack));
        }
    }

    [Fact]
    public void Model_messages_should_round_trip_empty_collections()
    {
        MessageAssert.Equal(new ModelList([], []), RoundTrip(new ModelList([], [])));
        MessageAssert.Equal(new ActiveModels([]), RoundTrip(new ActiveModels([])));
        MessageAssert.Equal(new InferenceStatus("", "", "", []), RoundTrip(new InferenceStatus("", "", "", [])));
        var empty = new ModelChunk("m", 1, 10, 10, []);
        MessageAssert.Equal(empty, RoundTrip(empty));
        var info = SampleMessages.Model() with { InputShape = [], Labels = [] };
        MessageAssert.Equal(new ModelActivated(info), RoundTrip(new ModelActivated(info)));
    }

    [Fact]
    public void Singleton_queries_should_round_trip_to_their_instances()
    {
        Assert.Same(ListModels.Instance, RoundTrip(ListModels.Instance));
        Assert.Same(GetActiveModels.Instance, RoundTrip(GetActiveModels.Instance));
        Assert.Same(GetInferenceStatus.Instance, RoundTrip(GetInferenceStatus.Instance));
        Assert.Same(GetSyncStatus.Instance, RoundTrip(GetSyncStatus.Instance));
        Assert.Same(GetStoreStatus.Instance, RoundTrip(GetStoreStatus.Instance));
        Assert.Equal(new GetInferenceStatus("akka.tcp://edgeactors@10.0.0.3:4053"), RoundTrip(new GetInferenceStatus("akka.tcp://edgeactors@10.0.0.3:4053")));
    }

    [Fact]
    public void GetDeviceState_should_round_trip()
    {
        var query = new GetDeviceState(new DeviceId(SampleMessages.UnicodeDeviceId));

        var back = RoundTrip(query);

        Assert.Equal(query, back);
    }

    [Fact]
    public void DeviceState_should_round_trip()
    {
        var state = SampleMessages.State();

        var back = RoundTrip(state);

        MessageAssert.Equal(state, back);
        Assert.Equal(state.RejectedTotal, back.RejectedTotal);
    }

    [Fact]
    public void DeviceState_should_round_trip_with_no_channels_or_rejections()
    {
        var state = SampleMessages.State() with { Rejections = [], Channels = [], BufferFill = 0, BufferCapacity = 0, Sensor = null };

        MessageAssert.Equal(state, RoundTrip(state));
    }

    [Fact]
    public void SensorHealth_should_round_trip()
    {
        var health = SampleMessages.Health();

        MessageAssert.Equal(health, RoundTrip(health));
    }

    [Fact]
    public void SensorHealth_should_round_trip_with_no_faults_and_empty_strings()
    {
        var health = new SensorHealth(new DeviceId("s"), DeviceHealth.Ok, "", "", 0, 0, 0, 0, 0, 0, 0, 0, []);

        MessageAssert.Equal(health, RoundTrip(health));
    }

    [Fact]
    public void GetClusterOverview_should_round_trip_to_the_singleton()
    {
        var back = RoundTrip(GetClusterOverview.Instance);

        Assert.Same(GetClusterOverview.Instance, back);
    }

    [Fact]
    public void ClusterOverview_should_round_trip()
    {
        var overview = SampleMessages.Overview();

        var back = RoundTrip(overview);

        MessageAssert.Equal(overview, back);
        Assert.Equal(2_248, back.Devices);
        Assert.False(back.StatsComplete);
    }

    [Fact]
    public void ClusterOverview_should_round_trip_empty_cluster()
    {
        var overview = new ClusterOverview("", [], [], true);

        var back = RoundTrip(overview);

        MessageAssert.Equal(overview, back);
        Assert.True(back.StatsComplete);
        Assert.Equal(0, back.Devices);
    }

    [Fact]
    public void RequestRejected_should_round_trip()
    {
        var rejected = new RequestRejected("no shard region for device 'ü-1' — coordinator unreachable 🚧");

        Assert.Equal(rejected, RoundTrip(rejected));
    }

    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void Every_manifest_should_round_trip_its_sample(string manifest)
    {
        var sample = SampleMessages.ForManifest(manifest);

        var (bytes, actualManifest) = Serialize(sample);
        var back = Deserialize(bytes, actualManifest);

        Assert.Equal(manifest, actualManifest);
        MessageAssert.Equal(sample, back);
    }

    [Fact]
    public void Serialize_should_be_thread_safe_with_the_thread_static_writer()
    {
        var samples = SampleMessages.All();
        var expected = samples.Select(m => Serialize(m).Bytes).ToArray();
        var serializer = EdgeSerializerInstance;

        Parallel.For(0, 2_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var k = i % samples.Count;
            var bytes = serializer.ToBinary(samples[k]);
            Assert.Equal(expected[k], bytes);
        });
    }
}
