namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Wire encoding of the device messages (DeviceMessages.cs; part of <see cref="EdgeCodec"/>): the hot ingest path
/// (telemetry batches, camera frames, acks, also the items of <see cref="IngestStreamCodec"/>) and the device queries.
/// </summary>
internal static class DeviceCodec
{
    public static readonly MessageKinds Kinds = new()
    {
        { "tb", WriteTelemetry, ReadTelemetry },
        { "cf", WriteFrame, ReadFrame },
        { "sd", StopDevice.Instance },
        { "ia", WriteAck, ReadAck },
        { "gs", static (w, g) => w.Device(g.DeviceId), static (ref BinReader r) => new GetDeviceState(r.Device()) },
        { "ds", WriteState, ReadState },
    };

    internal static void WriteTelemetry(BinWriter w, TelemetryBatch t)
    {
        w.Device(t.DeviceId); w.Int(t.Channels); w.DeltaLongs(t.Sequences); w.DeltaLongs(t.Timestamps); w.Floats(t.Values);
    }

    internal static TelemetryBatch ReadTelemetry(ref BinReader r) => new(r.Device(), r.Int(), r.DeltaLongs(), r.DeltaLongs(), r.Floats());

    internal static void WriteFrame(BinWriter w, CameraFrame f)
    {
        w.Device(f.DeviceId); w.VarI(f.Sequence); w.VarI(f.Timestamp); w.Int(f.Width); w.Int(f.Height); w.Bytes(f.Pixels); w.Int(f.Label);
    }

    internal static CameraFrame ReadFrame(ref BinReader r) => new(r.Device(), r.VarI(), r.VarI(), r.Int(), r.Int(), r.Bytes(), r.Int());

    internal static void WriteAck(BinWriter w, IngestAck a)
    {
        w.Device(a.DeviceId); w.VarI(a.HighestContiguous); w.Int(a.Accepted);
        w.Array(a.Rejected, static (w, r) => { w.VarI(r.Sequence); w.Byte((byte)r.Reason); w.String(r.Detail); });
        w.String(a.Node); InferenceCodec.WritePrediction(w, a.Prediction); w.Byte((byte)a.Level);
    }

    internal static IngestAck ReadAck(ref BinReader r) => new(
        r.Device(), r.VarI(), r.Int(),
        r.Array(3, static (ref BinReader r) => new Rejection(r.VarI(), r.Enum<RejectReason>(), r.String())), // sequence, reason, detail
        r.String(), InferenceCodec.ReadPrediction(ref r), r.Enum<AckLevel>(b => b <= (byte)AckLevel.StoredInDatacenter));

    private static void WriteState(BinWriter w, DeviceState s)
    {
        w.Device(s.DeviceId); w.String(s.Node); w.VarI(s.LastSequence); w.VarI(s.HighestContiguous); w.VarI(s.AcceptedReadings); w.VarI(s.AcceptedFrames);
        w.Array(s.Rejections, static (w, c) => { w.Byte((byte)c.Reason); w.VarI(c.Count); });
        w.Array(s.Channels, static (w, c) => { w.VarI(c.Count); w.Double(c.Mean); w.Double(c.Variance); w.Float(c.Min); w.Float(c.Max); });
        w.Int(s.BufferFill); w.Int(s.BufferCapacity); w.Int(s.FrameBufferFill); w.Int(s.FrameBufferCapacity);
        AdapterCodec.WriteStatus(w, s.Sensor); w.Byte((byte)s.Restore);
    }

    private static DeviceState ReadState(ref BinReader r) => new(
        r.Device(), r.String(), r.VarI(), r.VarI(), r.VarI(), r.VarI(),
        r.Array(2, static (ref BinReader r) => new ReasonCount(r.Enum<RejectReason>(), r.VarI())), // reason byte, count varint
        r.Array(25, static (ref BinReader r) => new ChannelStats(r.VarI(), r.Double(), r.Double(), r.Float(), r.Float())), // varint, 2 doubles, 2 floats
        r.Int(), r.Int(), r.Int(), r.Int(), AdapterCodec.ReadStatus(ref r), r.Enum<RestoreOutcome>(b => b <= (byte)RestoreOutcome.TimedOut));
}
