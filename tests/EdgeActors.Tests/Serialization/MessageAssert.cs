using EdgeActors.Messages;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// Field-by-field equality for the wire contracts. Records holding arrays compare arrays by reference, so
/// <c>Assert.Equal(record, record)</c> is useless after a round trip. Floats and doubles compare bit-exactly
/// (NaN payloads, negative zero and infinities must survive the wire unchanged).
/// </summary>
internal static class MessageAssert
{
    public static void FloatBitsEqual(float expected, float actual, string what) =>
        Assert.True(
            BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
            $"{what}: expected 0x{BitConverter.SingleToInt32Bits(expected):X8} ({expected}), got 0x{BitConverter.SingleToInt32Bits(actual):X8} ({actual})");

    public static void DoubleBitsEqual(double expected, double actual, string what) =>
        Assert.True(
            BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual),
            $"{what}: expected 0x{BitConverter.DoubleToInt64Bits(expected):X16} ({expected}), got 0x{BitConverter.DoubleToInt64Bits(actual):X16} ({actual})");

    public static void FloatsBitsEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) FloatBitsEqual(expected[i], actual[i], $"{what}[{i}]");
    }

    public static void Equal(TelemetryBatch expected, TelemetryBatch actual)
    {
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.Channels, actual.Channels);
        Assert.Equal(expected.Sequences, actual.Sequences);
        Assert.Equal(expected.Timestamps, actual.Timestamps);
        FloatsBitsEqual(expected.Values, actual.Values, "Values");
    }

    public static void Equal(CameraFrame expected, CameraFrame actual)
    {
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.Timestamp, actual.Timestamp);
        Assert.Equal(expected.Width, actual.Width);
        Assert.Equal(expected.Height, actual.Height);
        Assert.Equal(expected.Pixels, actual.Pixels);
        Assert.Equal(expected.Label, actual.Label);
    }

    public static void Equal(IngestAck expected, IngestAck actual)
    {
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.HighestContiguous, actual.HighestContiguous);
        Assert.Equal(expected.Accepted, actual.Accepted);
        Assert.Equal(expected.Node, actual.Node);
        // Rejection has only scalar/string fields, so record equality is value equality
        Assert.Equal(expected.Rejected, actual.Rejected);
        Equal(expected.Prediction, actual.Prediction);
    }

    public static void Equal(Prediction? expected, Prediction? actual)
    {
        if (expected is null)
        {
            Assert.Null(actual);
            return;
        }
        Assert.NotNull(actual);
        Assert.Equal(expected.Label, actual.Label);
        FloatBitsEqual(expected.Confidence, actual.Confidence, "Prediction.Confidence");
        Assert.Equal(expected.Model, actual.Model);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.ServedBy, actual.ServedBy);
        Assert.Equal(expected.Escalated, actual.Escalated);
        Assert.Equal(expected.Note, actual.Note);
    }

    public static void Equal(ModelInfo expected, ModelInfo actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.InputShape, actual.InputShape);
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.Equal(expected.Sha256, actual.Sha256);
        Assert.Equal(expected.SizeBytes, actual.SizeBytes);
        Assert.Equal(expected.CreatedAtMs, actual.CreatedAtMs);
        Assert.Equal(expected.Description, actual.Description);
    }

    public static void Equal(ModelInfo[] expected, ModelInfo[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Equal(expected[i], actual[i]);
    }

    public static void Equal(Infer expected, Infer actual)
    {
        Assert.Equal(expected.Model, actual.Model);
        Assert.Equal(expected.RequestId, actual.RequestId);
        Assert.Equal(expected.Count, actual.Count);
        FloatsBitsEqual(expected.Input, actual.Input, "Input");
        Assert.Equal(expected.Priority, actual.Priority);
    }

    public static void Equal(InferResult expected, InferResult actual)
    {
        Assert.Equal(expected.RequestId, actual.RequestId);
        Assert.Equal(expected.Model, actual.Model);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Provider, actual.Provider);
        Assert.Equal(expected.Node, actual.Node);
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.OutputSize, actual.OutputSize);
        FloatsBitsEqual(expected.Output, actual.Output, "Output");
    }

    public static void Equal(PublishModel expected, PublishModel actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Onnx, actual.Onnx);
        Assert.Equal(expected.InputShape, actual.InputShape);
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.Equal(expected.Description, actual.Description);
    }

    public static void Equal(ModelChunk expected, ModelChunk actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Offset, actual.Offset);
        Assert.Equal(expected.Total, actual.Total);
        Assert.Equal(expected.Data, actual.Data);
    }

    public static void Equal(InferenceStatus expected, InferenceStatus actual)
    {
        Assert.Equal(expected.Node, actual.Node);
        Assert.Equal(expected.Provider, actual.Provider);
        Assert.Equal(expected.ProviderNote, actual.ProviderNote);
        Assert.Equal(expected.Models, actual.Models); // LoadedModel and SessionHealth: scalar fields only
        Assert.Equal(expected.Datacenter, actual.Datacenter);
    }

    public static void Equal(DeviceState expected, DeviceState actual)
    {
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.Node, actual.Node);
        Assert.Equal(expected.LastSequence, actual.LastSequence);
        Assert.Equal(expected.HighestContiguous, actual.HighestContiguous);
        Assert.Equal(expected.AcceptedReadings, actual.AcceptedReadings);
        Assert.Equal(expected.AcceptedFrames, actual.AcceptedFrames);
        Assert.Equal(expected.Rejections, actual.Rejections);
        Assert.Equal(expected.Channels.Length, actual.Channels.Length);
        for (var i = 0; i < expected.Channels.Length; i++)
        {
            var (e, a) = (expected.Channels[i], actual.Channels[i]);
            Assert.Equal(e.Count, a.Count);
            DoubleBitsEqual(e.Mean, a.Mean, $"Channels[{i}].Mean");
            DoubleBitsEqual(e.Variance, a.Variance, $"Channels[{i}].Variance");
            FloatBitsEqual(e.Min, a.Min, $"Channels[{i}].Min");
            FloatBitsEqual(e.Max, a.Max, $"Channels[{i}].Max");
        }
        Assert.Equal(expected.BufferFill, actual.BufferFill);
        Assert.Equal(expected.BufferCapacity, actual.BufferCapacity);
        Assert.Equal(expected.FrameBufferFill, actual.FrameBufferFill);
        Assert.Equal(expected.FrameBufferCapacity, actual.FrameBufferCapacity);
        Assert.Equal(expected.RejectedTotal, actual.RejectedTotal);
        Deep(expected.Sensor, actual.Sensor, "Sensor");
        Assert.Equal(expected.Restore, actual.Restore);
    }

    public static void Equal(ClusterOverview expected, ClusterOverview actual)
    {
        Assert.Equal(expected.AnsweredBy, actual.AnsweredBy);
        Assert.Equal(expected.Members.Length, actual.Members.Length);
        for (var i = 0; i < expected.Members.Length; i++)
        {
            Assert.Equal(expected.Members[i].Address, actual.Members[i].Address);
            Assert.Equal(expected.Members[i].Roles, actual.Members[i].Roles);
            Assert.Equal(expected.Members[i].Status, actual.Members[i].Status);
        }
        Assert.Equal(expected.Regions, actual.Regions); // RegionInfo: scalar fields only
        Assert.Equal(expected.StatsComplete, actual.StatsComplete);
        Assert.Equal(expected.Devices, actual.Devices);
    }

    public static void Equal(SyncBatch expected, SyncBatch actual)
    {
        Assert.Equal(expected.Edge, actual.Edge);
        Assert.Equal(expected.BatchId, actual.BatchId);
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.RawBytes, actual.RawBytes);
        Assert.Equal(expected.Payload, actual.Payload);
    }

    public static void Equal(SyncRecord expected, SyncRecord actual)
    {
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.Timestamp, actual.Timestamp);
        Assert.Equal(expected.Priority, actual.Priority);
        FloatsBitsEqual(expected.Values, actual.Values, "Values");
        Assert.Equal(expected.Pixels, actual.Pixels);
        Assert.Equal(expected.Label, actual.Label);
        Equal(expected.Prediction, actual.Prediction);
        Assert.Equal(expected.Sequences, actual.Sequences);
        Assert.Equal(expected.Timestamps, actual.Timestamps);
    }

    public static void Equal(IReadOnlyList<SyncRecord> expected, IReadOnlyList<SyncRecord> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++) Equal(expected[i], actual[i]);
    }

    /// <summary>Dispatches on the runtime type; fails for a message type it does not know (add it here).</summary>
    public static void Equal(IEdgeMessage expected, object actual)
    {
        Assert.IsType(expected.GetType(), actual);
        switch (expected)
        {
            case TelemetryBatch t: Equal(t, (TelemetryBatch)actual); break;
            case CameraFrame f: Equal(f, (CameraFrame)actual); break;
            case IngestAck a: Equal(a, (IngestAck)actual); break;
            case IngestRequests q:
                var qa = (IngestRequests)actual;
                Assert.Equal(q.Token, qa.Token);
                Assert.Equal(q.Ids, qa.Ids);
                Assert.Equal(q.Commands.Length, qa.Commands.Length);
                for (var i = 0; i < q.Commands.Length; i++) Equal(q.Commands[i], qa.Commands[i]);
                break;
            case IngestReplies r:
                var ra = (IngestReplies)actual;
                Assert.Equal(r.Ids, ra.Ids);
                Assert.Equal(r.Replies.Length, ra.Replies.Length);
                for (var i = 0; i < r.Replies.Length; i++) Equal(r.Replies[i], ra.Replies[i]);
                Assert.Equal(r.Resend, ra.Resend);
                break;
            case DeviceState s: Equal(s, (DeviceState)actual); break;
            case ClusterOverview o: Equal(o, (ClusterOverview)actual); break;
            case Infer i: Equal(i, (Infer)actual); break;
            case InferResult r: Equal(r, (InferResult)actual); break;
            case PublishModel p: Equal(p, (PublishModel)actual); break;
            case ModelPublished mp:
                Equal(mp.Model, ((ModelPublished)actual).Model);
                Assert.Equal(mp.Active, ((ModelPublished)actual).Active);
                break;
            case ModelList ml:
                Equal(ml.Models, ((ModelList)actual).Models);
                Assert.Equal(ml.Policies, ((ModelList)actual).Policies); // ModelPolicy: scalar fields only
                break;
            case ModelPolicyChanged pc:
                Assert.Equal(pc.Policy, ((ModelPolicyChanged)actual).Policy);
                Equal(pc.Active, ((ModelPolicyChanged)actual).Active);
                break;
            case ModelActivated ma: Equal(ma.Model, ((ModelActivated)actual).Model); break;
            case ActiveModels am: Equal(am.Models, ((ActiveModels)actual).Models); break;
            case ModelChunk mc: Equal(mc, (ModelChunk)actual); break;
            case InferenceStatus st: Equal(st, (InferenceStatus)actual); break;
            case SyncBatch sb: Equal(sb, (SyncBatch)actual); break;
            case StoreStatus st:
                Assert.Equal(st with { Edges = [] }, ((StoreStatus)actual) with { Edges = [] });
                Assert.Equal(st.Edges, ((StoreStatus)actual).Edges); // EdgeStoreLag: scalar fields only
                break;
            case SyncStatus ss:
                Assert.Equal(ss with { Sinks = Array.Empty<SinkProgress>() }, ((SyncStatus)actual) with { Sinks = Array.Empty<SinkProgress>() });
                Assert.Equal(ss.Sinks, ((SyncStatus)actual).Sinks); // SinkProgress: scalar fields only
                break;
            case SyncAck or SyncRejected or GetSyncStatus or GetStoreStatus:
                Assert.Equal(expected, actual); // no array fields
                break;
            case StopDevice or GetClusterOverview or GetDeviceState or RequestRejected or InferRejected or ModelCommandRejected
                or ListModels or SetModelPolicy or RollbackModel or GetActiveModels or FetchModelChunk or GetInferenceStatus:
                Assert.Equal(expected, actual); // no array fields: record equality is value equality
                break;
            case IFederatedMessage or TrainingFrames or TrainingFramesAck or SensorHealth:
                Deep(expected, actual, expected.GetType().Name);
                break;
            case Authenticated au:
                Assert.Equal(au.Token, ((Authenticated)actual).Token);
                Equal(au.Request, ((Authenticated)actual).Request);
                break;
            case ILocalityMessage:
                Deep(expected, actual, expected.GetType().Name);
                break;
            case DeviceTwin or SetDesired or ReportTwin or GetTwin or TwinResult or SendCommand or AcknowledgeCommand or GetCommands
                or CommandStatus or DeviceCommands or AttachDevice or DetachDevice or DeviceAlert or LoadTwin or SaveTwin or TwinStored:
                Deep(expected, actual, expected.GetType().Name);
                break;
            default:
                Assert.Fail($"MessageAssert has no comparer for {expected.GetType().FullName}");
                break;
        }
    }

    /// <summary>
    /// Structural equality through public properties: arrays element by element, floats and doubles bit-exactly, nested
    /// records recursively (the federated-learning contracts are records of primitives, arrays and small records).
    /// </summary>
    public static void Deep(object? expected, object? actual, string path)
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{path}: one side is null");
            return;
        }
        Assert.Equal(expected.GetType(), actual.GetType());
        switch (expected)
        {
            case float f: FloatBitsEqual(f, (float)actual, path); return;
            case double d: DoubleBitsEqual(d, (double)actual, path); return;
            case string or int or long or bool or byte or ulong or DeviceId or Enum:
                Assert.True(expected.Equals(actual), $"{path}: expected {expected}, got {actual}");
                return;
            case Array a:
                var b = (Array)actual;
                Assert.True(a.Length == b.Length, $"{path}: length {a.Length} vs {b.Length}");
                for (var i = 0; i < a.Length; i++) Deep(a.GetValue(i), b.GetValue(i), $"{path}[{i}]");
                return;
        }
        var properties = expected.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract").ToList();
        if (properties.Count == 0) Assert.Equal(expected, actual); // singletons: record equality
        foreach (var p in properties) Deep(p.GetValue(expected), p.GetValue(actual), path + "." + p.Name);
    }
}
