using EdgeActors.Client.Serialization;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>Realistic, non-trivial instances of every wire message (deterministic: fixed seeds only).</summary>
internal static class SampleMessages
{
    public const string UnicodeDeviceId = "capteur-température/Ωμέγα/温度计-🌡️-#42";

    /// <summary>Float bit patterns that a lossy encoding would mangle.</summary>
    public static readonly float[] SpecialFloats =
    [
        float.NaN,
        BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00000)), // negative quiet NaN
        BitConverter.Int32BitsToSingle(0x7FC12345), // quiet NaN with payload
        BitConverter.Int32BitsToSingle(0x7F800001), // signalling NaN
        float.PositiveInfinity,
        float.NegativeInfinity,
        -0.0f,
        float.Epsilon, // smallest subnormal
        float.MaxValue,
        float.MinValue,
    ];

    /// <summary>100 readings x 4 channels, non-consecutive sequences, timestamps that go backwards, NaN/∞ values.</summary>
    public static TelemetryBatch Telemetry()
    {
        const int readings = 100, channels = 4;
        var rng = new Random(7);
        var sequences = new long[readings];
        var timestamps = new long[readings];
        var values = new float[readings * channels];
        long seq = 1_000_000_000_000, ts = 1_735_689_600_000; // 2025-01-01T00:00:00Z
        for (var i = 0; i < readings; i++)
        {
            seq += i % 10 == 9 ? rng.Next(2, 5000) : 1; // gaps now and then
            if (i == 50) seq -= 20; // out-of-order burst: negative sequence delta
            ts += i % 17 == 16 ? -rng.Next(1, 3_600_000) : rng.Next(1, 250); // clock steps back: negative delta
            sequences[i] = seq;
            timestamps[i] = ts;
            for (var c = 0; c < channels; c++)
                values[i * channels + c] = (float)(20 + 5 * Math.Sin(i / 7.0 + c) + rng.NextDouble());
        }
        Array.Copy(SpecialFloats, 0, values, 37, SpecialFloats.Length);
        sequences[^1] = long.MaxValue; // extreme deltas: wrap-around must be exact
        timestamps[^1] = long.MinValue;
        return new TelemetryBatch(new DeviceId(UnicodeDeviceId), channels, sequences, timestamps, values);
    }

    public static TelemetryBatch ConsecutiveTelemetry(int readings = 100, int channels = 4)
    {
        var sequences = new long[readings];
        var timestamps = new long[readings];
        var values = new float[readings * channels];
        for (var i = 0; i < readings; i++)
        {
            sequences[i] = 1_001 + i;
            timestamps[i] = 1_735_689_600_000 + i; // 1 ms apart
            for (var c = 0; c < channels; c++) values[i * channels + c] = 21.5f + 0.01f * i - c;
        }
        return new TelemetryBatch(new DeviceId("plant-3/line-7/sensor-0042"), channels, sequences, timestamps, values);
    }

    public static CameraFrame Frame()
    {
        var pixels = new byte[CameraFrame.ExpectedWidth * CameraFrame.ExpectedHeight];
        new Random(11).NextBytes(pixels);
        pixels[0] = 0;
        pixels[^1] = 255;
        return new CameraFrame(new DeviceId("cam-東京-07"), 9_876_543_210, 1_735_689_600_123,
            CameraFrame.ExpectedWidth, CameraFrame.ExpectedHeight, pixels, 7);
    }

    public static IngestAck Ack() => new(
        new DeviceId(UnicodeDeviceId),
        HighestContiguous: 1_000_000_004_321,
        Accepted: 96,
        Rejected:
        [
            new Rejection(1_000_000_000_010, RejectReason.NotANumber, "channel 2 is NaN"),
            new Rejection(1_000_000_000_011, RejectReason.OutOfRange, "channel 0 = 1e30 outside [-40, 125]"),
            new Rejection(1_000_000_000_002, RejectReason.Duplicate, ""),
            new Rejection(999_999_999_990, RejectReason.OutOfOrder, "older than the window (Δ = −10)"),
            new Rejection(-1, RejectReason.Malformed, "negative sequence"),
            new Rejection(long.MaxValue, RejectReason.ChannelMismatch, "expected 4 channels, got 3 — 📉"),
        ],
        Node: "edge-2@10.0.0.12:4053",
        Prediction: Classified());

    /// <summary>An escalated frame classification with a confidence that is not a round number.</summary>
    public static Prediction Classified() =>
        new(Label: 9, Confidence: 0.734_562_1f, Model: "fmnist-cnn", Version: 12, ServedBy: "akka.tcp://edgeactors@dc-1.example:4053",
            Escalated: true, Note: PredictionNote.Overflowed);

    public static readonly string[] FashionLabels =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static ModelInfo Model(int version = 3, string name = "fmnist-mlp") => new(
        name, version, [1, 28, 28], FashionLabels,
        Sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        SizeBytes: 1_234_567 + version,
        CreatedAtMs: 1_735_689_600_000 + version * 86_400_000L,
        Description: $"MLP 784-128-10 v{version}, Fashion-MNIST — acc 0.88 ✓");

    /// <summary>Two 28×28 samples in [0, 1] with a few special values that must survive bit-exactly.</summary>
    public static Infer InferRequest()
    {
        var input = new float[2 * 784];
        var rng = new Random(13);
        for (var i = 0; i < input.Length; i++) input[i] = (float)rng.NextDouble();
        Array.Copy(SpecialFloats, 0, input, 100, SpecialFloats.Length);
        return new Infer("fmnist-mlp", 9_007_199_254_740_993, 2, input, InferencePriority.High);
    }

    public static InferResult InferOutput()
    {
        var output = new float[2 * 10];
        var rng = new Random(17);
        for (var i = 0; i < output.Length; i++) output[i] = (float)rng.NextDouble() / 10;
        output[3] = -0.0f;
        output[19] = float.Epsilon;
        return new InferResult(-42, "fmnist-mlp", 3, "CUDA", "akka.tcp://edgeactors@10.0.0.11:4053", 2, 10, output);
    }

    public static PublishModel Publish()
    {
        var onnx = new byte[3_000];
        new Random(19).NextBytes(onnx);
        onnx[0] = 0x08; // protobuf field 1 (ir_version), like a real ONNX file
        return new PublishModel("fmnist-mlp", onnx, [1, 28, 28], FashionLabels, "MLP 784-128-10 — trained 2026-11-20, acc 0.88");
    }

    public static ModelList Models() => new(
        [Model(1), Model(2), Model(1, "fmnist-cnn") with { InputShape = [1, 28, 28], Labels = ["", "ünïcødé", "🧥"], Description = "" }],
        [new ModelPolicy("fmnist-mlp", 1, 1), new ModelPolicy("fmnist-cnn", 1, 0)]);

    public static ModelChunk Chunk()
    {
        var data = new byte[4_096];
        new Random(23).NextBytes(data);
        return new ModelChunk("fmnist-mlp", 3, 262_144, 1_234_570, data);
    }

    public static InferenceStatus Inference() => new(
        "akka.tcp://edgeactors@10.0.0.11:4053",
        "CPU",
        "CUDA unavailable: libcudnn.so.9: cannot open shared object file",
        [
            new LoadedModel("fmnist-mlp", 3, 17, 1_234_567_890, 98_765, 12, 345, 6, "",
                new SessionHealth("CUDA", "CPU fallback", 1_234, 3, 1_231, 98_000, "CUDA failure 2: out of memory — ünïcødé", 1_735_689_600_123)),
            new LoadedModel("fmnist-cnn", 0, 0, 0, 0, 0, 0, 0, "sha256 mismatch for fmnist-cnn v2: expected 9f86…, got e3b0…"),
        ],
        new CircuitBreakerStatus(CircuitState.HalfOpen, 5, 12, 3_456_789, 1_735_689_600_456, "escalation to fmnist-large timed out after 1s"));

    /// <summary>A datacenter's status: no frame classifier, so no breaker; a model on a healthy CUDA primary (not in <see cref="All"/>: one sample per type).</summary>
    public static InferenceStatus DatacenterInference() => new(
        "akka.tcp://edgeactors@dc-1.example:4053", "CUDA", "CUDA device 0",
        [new LoadedModel("fmnist-large", 1, 0, 5, 5, 0, 0, 0, "", new SessionHealth("CUDA", "CUDA", 0, 0, 0, 0, "", 0))]);

    public static DeviceState State() => new(
        new DeviceId("ħŧ-sensor-ü"),
        Node: "edge-1@10.0.0.11:4053",
        LastSequence: 1_000_000_004_400,
        HighestContiguous: 1_000_000_004_321,
        AcceptedReadings: 123_456_789_012,
        AcceptedFrames: 42,
        Rejections:
        [
            new ReasonCount(RejectReason.NotANumber, 17),
            new ReasonCount(RejectReason.Duplicate, 1_000_000),
            new ReasonCount(RejectReason.WrongFrameSize, 3),
            new ReasonCount(RejectReason.ChannelMismatch, long.MaxValue / 4),
        ],
        Channels:
        [
            new ChannelStats(123_456_789, 21.734_562_189_1, 0.001_234_5, -3.5f, 48.25f),
            new ChannelStats(0, double.NaN, double.NaN, float.PositiveInfinity, float.NegativeInfinity),
            new ChannelStats(1, -0.0, double.Epsilon, float.Epsilon, -0.0f),
            new ChannelStats(long.MaxValue, double.MaxValue, double.PositiveInfinity, float.MinValue, float.MaxValue),
        ],
        BufferFill: 4_095,
        BufferCapacity: 4_096,
        FrameBufferFill: 0,
        FrameBufferCapacity: 64,
        Sensor: new SensorStatus(DeviceHealth.Degraded, "clock jumped back by 3600000 ms at sequence 1000000004399 — ü", 1_735_689_600_123,
            3, 2, 4,
            [new FaultCount(SensorFault.Exception, 7), new FaultCount(SensorFault.Hang, 1), new FaultCount(SensorFault.Garbage, long.MaxValue / 8),
             new FaultCount(SensorFault.ClockJump, 2), new FaultCount(SensorFault.Silent, 0)],
            "akka.tcp://edgeactors@10.0.0.12:4053", 1_000_000_004_400, 1_000_000_004_400, 17, 0, 9),
        Restore: RestoreOutcome.Partial);

    public static SensorHealth Health() => new(
        new DeviceId("hw-4055-sensor-ü-01"), DeviceHealth.Offline, "disconnected: device unreachable — reconnecting (backoff 1.6s)",
        "akka.tcp://edgeactors@10.0.0.12:4053", 3_000, 30_000, 5, 123_456_789, 123_456_789, 40, 2, 11,
        [new FaultCount(SensorFault.Disconnect, 3), new FaultCount(SensorFault.Exception, 1_000_000_000_000)]);

    public static ClusterOverview Overview() => new(
        AnsweredBy: "akka.tcp://edge@dc-1.example:4053",
        Members:
        [
            new MemberInfo("akka.tcp://edge@dc-1.example:4053", ["datacenter", "gateway", "lighthouse"], "Up"),
            new MemberInfo("akka.tcp://edge@edge-1.example:4053", ["edge", "gateway", "shard-host"], "Up"),
            new MemberInfo("akka.tcp://edge@edge-2.example:4053", ["edge", "shard-host"], "Leaving"),
            new MemberInfo("akka.tcp://edge@edge-3.example:4053", [], "Joining"),
            new MemberInfo("akka.tcp://edge@edge-4.example:4053", ["edge", "région-sud", ""], "WeaklyUp"),
        ],
        Regions:
        [
            new RegionInfo("akka.tcp://edge@edge-1.example:4053", 34, 1_250),
            new RegionInfo("akka.tcp://edge@edge-2.example:4053", 33, 998),
            new RegionInfo("akka.tcp://edge@edge-4.example:4053", 0, 0),
        ],
        StatsComplete: false);

    /// <summary>One representative instance per concrete message type (used by the coverage tests too).</summary>
    public static IReadOnlyList<IEdgeMessage> All() =>
    [
        Telemetry(),
        Frame(),
        StopDevice.Instance,
        Ack(),
        new GetDeviceState(new DeviceId(UnicodeDeviceId)),
        State(),
        Health(),
        GetClusterOverview.Instance,
        Overview(),
        new RequestRejected("no shard region for device 'ü-1' — coordinator unreachable"),
        InferRequest(),
        InferOutput(),
        new InferRejected(77, "fmnist-cnn", InferRejectReason.Overloaded, "queue full (256 waiting) — retry elsewhere"),
        Publish(),
        new ModelPublished(Model(), Active: true),
        new ModelCommandRejected("fmnist-mlp", "model fmnist-mlp v0: ONNX Runtime cannot load it: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF"),
        ListModels.Instance,
        Models(),
        new SetModelPolicy("fmnist-mlp", 2),
        new RollbackModel("fmnist-mlp"),
        new ModelPolicyChanged(new ModelPolicy("fmnist-mlp", 2, 2), Model(2)),
        new ModelActivated(Model()),
        GetActiveModels.Instance,
        new ActiveModels([Model(), Model(7, "fmnist-cnn")]),
        new FetchModelChunk("fmnist-mlp", 3, 262_144, 262_144),
        Chunk(),
        GetInferenceStatus.Instance,
        Inference(),
        Batch(),
        new SyncAck("edge-1@10.0.0.11:4053", 1_735_689_600_000_123, 997, 3, "akka.tcp://edgeactors@dc-1.example:4053"),
        new SyncRejected("edge-ü-2", -7, "payload: decompresses to more than the announced 1048576 bytes — bomb?", "dc-2"),
        new GetSyncStatus("akka.tcp://edgeactors@10.0.0.11:4053"),
        SyncState(),
        new GetStoreStatus("akka.tcp://edgeactors@dc-1.example:4053"),
        new StoreStatus("akka.tcp://edgeactors@dc-1:4053", "postgres", 1_234_567_890, 42_000, 17,
            [new EdgeStoreLag("akka.tcp://edgeactors@edge-1:4053", 1_735_689_600_000, 1_250, 900_000), new EdgeStoreLag("edge-ü", 0, 0, 0)]),
        .. Federated(),
        .. Security(),
        .. Locality(),
        .. Twins(),
        IngestGroup(),
        IngestAnswers(),
    ];

    /// <summary>A client's ingest group: telemetry of two devices and a frame, with the client's request ids.</summary>
    public static IngestRequests IngestGroup() =>
        new(SampleToken, [1, 2, 9_000_000_000_000], [Telemetry(), ConsecutiveTelemetry(50, 4), Frame()]);

    /// <summary>Answers to an ingest group: an ack, a refusal for overload, and a rejection.</summary>
    public static IngestReplies IngestAnswers() =>
        new([9_000_000_000_000, 1, 2],
        [
            Ack(),
            new IngestAck(new DeviceId("sensor-0001"), -1, 0, [new Rejection(7, RejectReason.Overloaded, "the node is over capacity; resend after a pause")], "akka.tcp://edgeactors@10.0.0.11:4053"),
            new RequestRejected("client 'app' is not authorised for device 'x': its token covers devices starting with 'sensor-'"),
        ], [4, 17, 9_000_000_000_001]);

    /// <summary>A client token as <c>certs</c> issues it (the serializer does not check it; the gateway does).</summary>
    public const string SampleToken = "ea1.Y2xpZW50LcO8fGluZ2VzdCxxdWVyeXxzZW5zb3ItfDE5MjQ5OTIwMDA.c2lnbmF0dXJlLW9mLTMyLWJ5dGVzLXNpZ25hdHVyZS1vZi0zMg";

    public static IEdgeMessage[] Security() =>
    [
        new Authenticated(SampleToken, Telemetry()),
    ];

    /// <summary>One sample of each device-locality message (sequences with gaps and extreme deltas).</summary>
    public static IEdgeMessage[] Locality() =>
    [
        new GetDeviceHistory(new DeviceId("edge1/" + UnicodeDeviceId), 4096),
        new DeviceHistory(new DeviceId("edge1/" + UnicodeDeviceId),
            new KindHistory(1_234_567, [0, 1, 2, 5, 1_000_000_000_000, long.MaxValue]),
            new KindHistory(0, []),
            "akka.tcp://edgeactors@dc-ü-1:4053",
            "SQLite error 5: database is locked"),
        new GetDevicesHistory(long.MaxValue, [new DeviceId("edge1/" + UnicodeDeviceId), new DeviceId("sensor-00001"), new DeviceId("")], 4096),
        new DevicesHistory(42, [
                new DeviceHistory(new DeviceId("edge1/" + UnicodeDeviceId), new KindHistory(3, [7, 9, long.MaxValue]), KindHistory.Empty, "akka.tcp://edgeactors@dc-ü-1:4053"),
                new DeviceHistory(new DeviceId("sensor-00001"), KindHistory.Empty, new KindHistory(1, [0]), "akka.tcp://edgeactors@dc-ü-1:4053", "too many sequences"),
            ], "akka.tcp://edgeactors@dc-ü-1:4053"),
    ];

    /// <summary>A twin with both sides set (unicode names and values, an empty value, extreme versions and times).</summary>
    public static DeviceTwin Twin() => new(new DeviceId("edge1/" + UnicodeDeviceId),
        [new TwinProperty("sampling-rate", "10", 3, 1_735_689_600_000), new TwinProperty("mode-ü", "éco 🌿", long.MaxValue, 0), new TwinProperty("empty", "", 1, -1)],
        [new TwinProperty("sampling-rate", "5", 7, 1_735_689_600_123)],
        3, long.MaxValue);

    public static CommandStatus Command(CommandState state = CommandState.Delivered) =>
        new(new DeviceId("edge1/" + UnicodeDeviceId), "cmd-0f3a-ü", "recalibrate", "{\"channel\": 2, \"note\": \"zéro\"}", state,
            1_735_689_600_000, 1_735_693_200_000, 1_735_689_601_000, state == CommandState.Failed ? "sensor 2 did not respond" : "", "");

    /// <summary>One sample of each twin and command message.</summary>
    public static IEdgeMessage[] Twins() =>
    [
        Twin(),
        new SetDesired(new DeviceId("edge1/" + UnicodeDeviceId), [new TwinValue("sampling-rate", "10"), new TwinValue("mode-ü", "", Remove: true)]),
        new ReportTwin(new DeviceId("sensor-00001"), [new TwinValue("sampling-rate", "5"), new TwinValue("firmware", "1.2.3-β")]),
        new GetTwin(new DeviceId("edge1/" + UnicodeDeviceId)),
        new TwinResult(new DeviceId("edge1/" + UnicodeDeviceId), Twin(), ""),
        new SendCommand(new DeviceId("edge1/" + UnicodeDeviceId), "cmd-0f3a-ü", "recalibrate", "{\"channel\": 2}", 600_000),
        new AcknowledgeCommand(new DeviceId("sensor-00001"), "cmd-7", false, "sensor 2 did not respond"),
        new GetCommands(new DeviceId("sensor-00001")),
        Command(),
        new DeviceCommands(new DeviceId("edge1/" + UnicodeDeviceId), [Command(CommandState.Pending), Command(CommandState.Failed) with { CommandId = "cmd-2" }], ""),
        new AttachDevice(new DeviceId("edge1/" + UnicodeDeviceId), "akka://edgeactors/user/mqtt/session-ü-1", true),
        new DetachDevice(new DeviceId("edge1/" + UnicodeDeviceId), "akka://edgeactors/user/mqtt/session-ü-1"),
        new DeviceAlert(new DeviceId("sensor-00001"), "anomaly", long.MaxValue, 1_735_689_600_000, "channel 2: z = 7.3"),
        new LoadTwin(new DeviceId("edge1/" + UnicodeDeviceId)),
        new SaveTwin(new DeviceId("edge1/" + UnicodeDeviceId), 42, Twin(), [Command(CommandState.Acknowledged)]),
        new TwinStored(new DeviceId("edge1/" + UnicodeDeviceId), long.MinValue, null, [], "SQLite error 5: database is locked"),
    ];

    public static ExperimentSpec Spec() => new(
        "fedavg-dir-ü-01", "mlp:784-256-128-10", "trimmed-mean", 50, 0.5, 3, 10, 64, 0.05f, 0.9f, 0.01f, 1f, 42, 300_000, 0.6,
        "fold", 2, 1.5, 0.8, true, ["fl-client-00", "fl-client-01"], -10f, 0.2, 2, "fmnist-fed");

    /// <summary>One sample of each federated-learning message (special float bits where floats travel).</summary>
    public static IEdgeMessage[] Federated()
    {
        var rng = new Random(5);
        var pixels = new byte[3 * TrainingFrames.FrameBytes];
        rng.NextBytes(pixels);
        var weights = Enumerable.Range(0, 300).Select(i => (float)Math.Sin(i)).Concat(SpecialFloats).ToArray();
        var masked = Enumerable.Range(0, 50).Select(i => (ulong)rng.NextInt64() * 3 + (ulong)i).Append(ulong.MaxValue).ToArray();
        var round = new RoundSummary(7, 2, 0.8765, 0.3456, 10, 9, 1, 2, 12.5, 0.75, 3, ["fl-client-00", "fl-client-09"]);
        return
        [
            new TrainingFrames(new DeviceId(UnicodeDeviceId), 1_000, pixels, [0, 9, 4]),
            new TrainingFramesAck(new DeviceId("fl-client-03"), 6_000, 500, 0, 6_000, "akka.tcp://edgeactors@edge-1:4053", ""),
            new StartExperiment(Spec()),
            new ExperimentAccepted("fedavg-dir-ü-01", 10),
            new ExperimentRejected("x", "strategy 'mean' is unknown: fedavg, fedprox, median, trimmed-mean, krum"),
            new GetExperimentStatus("fedavg-dir-ü-01"),
            new ExperimentStatus("fedavg-dir-ü-01", "running", 7, 50, 9, "round 8 restarted: quorum not reached", [round, round with { Round = 8, Accuracy = double.NaN, Clients = [] }]),
            GetFederationStatus.Instance,
            new FederationStatus([new ParticipantInfo("akka.tcp://edgeactors@edge-1:4053", [new ClientInfo("fl-client-00", 6000), new ClientInfo("cam-東京", 1)], 1_250), new ParticipantInfo("e2", [], 0)], "fedavg-dir-ü-01"),
            new ParticipantHeartbeat("akka.tcp://edgeactors@edge-2:4053", [new ClientInfo("fl-client-05", 5_999)]),
            new TrainRound("fedavg-dir-ü-01", 8, 10, "mlp:784-256-128-10", weights,
                new LocalTraining(10, 64, 0.05f, 0.9f, 0.01f, 42, 1.5, ["fl-client-00"], -10f), ["fl-client-02", "fl-client-05"],
                ["fl-client-02", "fl-client-05"], [[1, 2, 3], [4, 5, 6, 7]]),
            new ClientUpdate("fedavg-dir-ü-01", 8, 10, "fl-client-02", 6_000, 0.4321f, weights),
            new MaskedClientUpdate("fedavg-dir-ü-01", 8, 10, "fl-client-05", 5_999, float.NaN, masked),
            new ClientFailed("fedavg-dir-ü-01", 8, 10, "fl-client-07", "node akka.tcp://edgeactors@edge-2:4053 holds no training data"),
            new MaskKeyRequest("fedavg-dir-ü-01", 8, 10, ["fl-client-02", "fl-client-05"]),
            new MaskKeys("fedavg-dir-ü-01", 8, 10, ["fl-client-02"], [Enumerable.Range(0, 91).Select(i => (byte)i).ToArray()]),
            new RevealMasks("fedavg-dir-ü-01", 8, 10, ["fl-client-02"], ["fl-client-05", "fl-client-07"]),
            new RevealedMasks("fedavg-dir-ü-01", 8, 10, ["fl-client-02", "fl-client-02"], ["fl-client-05", "fl-client-07"], [new byte[32], Enumerable.Repeat((byte)255, 32).ToArray()]),
            new SecAggKeys("fedavg-dir-ü-01", 8, 10, ["fl-client-02", "fl-client-05"], [[1, 2, 3], [4, 5]], [[6], [7, 8, 9]], [[10, 11], []],
                Enumerable.Range(0, 300).Select(i => (byte)i).ToArray()),
            new SecAggShareRequest("fedavg-dir-ü-01", 8, 10, ["fl-client-02"], ["fl-client-02", "fl-client-05"], [[1], [2, 3]], [[4, 5], [6]], [[7], [8]],
                [[9, 10, 11], []], 2),
            new SecAggShares("fedavg-dir-ü-01", 8, 10, ["fl-client-02"], ["fl-client-05"], [Enumerable.Range(0, 92).Select(i => (byte)(i * 3)).ToArray()]),
            new SecAggUnmaskRequest("fedavg-dir-ü-01", 8, 10, ["fl-client-02"], ["fl-client-02", "fl-client-07"], ["fl-client-05", "fl-client-07"],
                ["fl-client-02", "fl-client-02"], [[1, 2], [3]]),
            new SecAggUnmaskShares("fedavg-dir-ü-01", 8, 10, ["fl-client-02", "fl-client-02"], ["fl-client-05", "fl-client-07"], [1, 0], [1, 1],
                [new byte[32], Enumerable.Repeat((byte)255, 32).ToArray()], ["fl-client-02: 'fl-client-09': no share from it"]),
            new StartKMeans("kmeans-1", 3, 50, 2.5, 7),
            new StartGbdt("gbdt-1", 10, 50, 4, 0.3f, 32, 1.0, 5, "fmnist-gbdt"),
            new GetJobStatus("gbdt-1"),
            new JobStatus("gbdt-1", "gbdt", "done", "done in 42.0 s", ["accuracy", "trees"], [0.8123, 500], ["[   1.0s] iteration 0", "trained 500 trees"]),
            new JobStep("gbdt-1", "gbdt", 3, [1, 2, 3, 255]),
            new JobStepReply("gbdt-1", 3, "akka.tcp://edgeactors@edge-1:4053", [9, 8, 7], ""),
        ];
    }

    /// <summary>Sync records: telemetry (special float bits survive), frames with and without a prediction, all priorities.</summary>
    public static SyncRecord[] Records(int telemetry = 20, int frames = 3)
    {
        var rng = new Random(29);
        var records = new List<SyncRecord>();
        for (var i = 0; i < telemetry; i++)
        {
            var values = new float[4];
            for (var c = 0; c < values.Length; c++) values[c] = (float)(20 + 5 * Math.Sin(i / 7.0 + c) + rng.NextDouble());
            records.Add(new SyncRecord(new DeviceId(i % 2 == 0 ? UnicodeDeviceId : "plant-3/line-7/sensor-0042"), RecordKind.Telemetry,
                1_000_000_000_000 + i, 1_735_689_600_000 + i * 250, i % 7 == 0 ? SyncPriority.Anomaly : SyncPriority.Routine,
                values, [], -1, null));
        }
        if (telemetry > 0) records[0] = records[0] with { Values = [-0.0f, float.Epsilon, float.MaxValue, float.NegativeInfinity] };
        for (var i = 0; i < frames; i++)
        {
            var pixels = new byte[CameraFrame.ExpectedWidth * CameraFrame.ExpectedHeight];
            rng.NextBytes(pixels);
            records.Add(new SyncRecord(new DeviceId("cam-東京-07"), RecordKind.Frame, long.MaxValue - i, long.MinValue + i,
                i == 0 ? SyncPriority.HardExample : SyncPriority.Routine, [], pixels, i == 2 ? -1 : i,
                i == 1 ? null : Classified()));
        }
        return records.ToArray();
    }

    /// <summary>
    /// Batch records (one per accepted telemetry batch): a routine one with a gap and a retried (lower) sequence, and an
    /// anomaly one with a single reading and odd floats.
    /// </summary>
    public static SyncRecord[] BatchRecords()
    {
        var seqs = new long[] { 1_000_000, 1_000_001, 1_000_002, 1_000_005, 1_000_006, 999_990 };
        var ts = seqs.Select(q => 1_735_689_600_000 + (q - 999_000) * 250).ToArray();
        var values = Enumerable.Range(0, seqs.Length * 3).Select(i => (float)Math.Sin(i) * 100).ToArray();
        return
        [
            SyncRecord.Readings(new DeviceId("plant-3/line-7/sensor-0042"), SyncPriority.Routine, seqs, ts, values),
            SyncRecord.Readings(new DeviceId(UnicodeDeviceId), SyncPriority.Anomaly, [7], [long.MinValue],
                [BitConverter.Int32BitsToSingle(0x7FC0_1234), -0f, float.MaxValue, float.Epsilon]),
        ];
    }

    public static SyncBatch Batch()
    {
        SyncRecord[] records = [.. Records(), .. BatchRecords()];
        var payload = SyncCodec.Encode(records, out var raw);
        return new SyncBatch("edge-1@10.0.0.11:4053", 1_735_689_600_000_123, records.Length, raw, payload);
    }

    public static SyncStatus SyncState() => new(
        "edge-1@10.0.0.11:4053", Backlog: 123_456, BacklogBytes: 9_876_543_210, OldestWaitingMs: 61_000, Synced: long.MaxValue,
        ExpiredByTtl: 17, Overwritten: 0, RefusedFull: 3,
        Sinks:
        [
            new SinkProgress("akka.tcp://edgeactors@dc-1.example:4053", 1_735_689_600_000_123, 1_735_689_600_999, 42_000, 0),
            new SinkProgress("dc-ü-2", -1, 0, 0, long.MaxValue),
        ]) { BacklogRecords = 1_235 };

    public static IEdgeMessage For(Type type) =>
        All().SingleOrDefault(m => m.GetType() == type)
        ?? throw new InvalidOperationException($"SampleMessages has no sample for {type.FullName}; add one to All()");

    public static IEnumerable<object[]> ManifestData() =>
        EdgeSerializer.Manifests.Values.Order(StringComparer.Ordinal).Select(m => new object[] { m });

    public static IEdgeMessage ForManifest(string manifest) =>
        For(EdgeSerializer.Manifests.Single(kv => kv.Value == manifest).Key);
}
