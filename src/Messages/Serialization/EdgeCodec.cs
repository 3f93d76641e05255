using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Compact binary codec (no Akka: the Akka.NET binding is EdgeActors.Client.Serialization.EdgeSerializer) for every <see cref="IEdgeMessage"/>: two-letter manifests, varints, delta-encoded
/// sequence numbers and timestamps, raw little-endian floats. Malformed payloads fail with a
/// <see cref="SerializationException"/> naming the manifest and the byte offset; they never produce a half-built message.
/// <para>
/// Versioned so that two releases run side by side (<see cref="WireFormat"/>, docs/wire-format.md): every payload is
/// <c>[version byte 1][positional fields of version 1][extension fields]</c>, where extension fields are
/// <c>varint(field &lt;&lt; 3 | wire type)</c> + value; readers skip extension fields they do not know and use defaults for
/// missing ones. Extension fields in use: <see cref="Infer.ByteInput"/> (<c>if</c> field 1, bytes) and
/// <see cref="SyncStatus.BacklogRecords"/> (<c>ss</c> field 1, varint), both omitted when unset.
/// </para>
/// </summary>
public sealed class EdgeCodec
{
    public const int Id = 4242;

    internal const string TelemetryBatchManifest = "tb";
    internal const string CameraFrameManifest = "cf";
    internal const string StopDeviceManifest = "sd";
    internal const string IngestAckManifest = "ia";
    internal const string GetDeviceStateManifest = "gs";
    internal const string DeviceStateManifest = "ds";
    internal const string GetClusterOverviewManifest = "go";
    internal const string ClusterOverviewManifest = "co";
    internal const string RequestRejectedManifest = "rr";
    internal const string InferManifest = "if";
    internal const string InferResultManifest = "ir";
    internal const string InferRejectedManifest = "ij";
    internal const string PublishModelManifest = "pm";
    internal const string ModelPublishedManifest = "mp";
    internal const string ModelCommandRejectedManifest = "mr";
    internal const string ListModelsManifest = "lm";
    internal const string ModelListManifest = "ml";
    internal const string SetModelPolicyManifest = "sp";
    internal const string RollbackModelManifest = "rb";
    internal const string ModelPolicyChangedManifest = "pc";
    internal const string ModelActivatedManifest = "ma";
    internal const string GetActiveModelsManifest = "ga";
    internal const string ActiveModelsManifest = "am";
    internal const string FetchModelChunkManifest = "fc";
    internal const string ModelChunkManifest = "mc";
    internal const string GetInferenceStatusManifest = "gi";
    internal const string InferenceStatusManifest = "is";
    internal const string SyncBatchManifest = "sb";
    internal const string SyncAckManifest = "sa";
    internal const string SyncRejectedManifest = "sj";
    internal const string GetSyncStatusManifest = "gy";
    internal const string SyncStatusManifest = "ss";
    internal const string GetStoreStatusManifest = "gt";
    internal const string StoreStatusManifest = "st";

    [ThreadStatic] private static BinWriter? _writer;

    /// <summary>One codec serves every thread (its write buffer is per thread).</summary>
    public static EdgeCodec Instance { get; } = new();

    /// <summary>Every concrete message type this serializer handles, by manifest (used by tests and docs).</summary>
    public static IReadOnlyDictionary<Type, string> Manifests { get; } = new Dictionary<Type, string>
    {
        [typeof(TelemetryBatch)] = TelemetryBatchManifest,
        [typeof(CameraFrame)] = CameraFrameManifest,
        [typeof(StopDevice)] = StopDeviceManifest,
        [typeof(IngestAck)] = IngestAckManifest,
        [typeof(GetDeviceState)] = GetDeviceStateManifest,
        [typeof(DeviceState)] = DeviceStateManifest,
        [typeof(GetClusterOverview)] = GetClusterOverviewManifest,
        [typeof(ClusterOverview)] = ClusterOverviewManifest,
        [typeof(RequestRejected)] = RequestRejectedManifest,
        [typeof(Infer)] = InferManifest,
        [typeof(InferResult)] = InferResultManifest,
        [typeof(InferRejected)] = InferRejectedManifest,
        [typeof(PublishModel)] = PublishModelManifest,
        [typeof(ModelPublished)] = ModelPublishedManifest,
        [typeof(ModelCommandRejected)] = ModelCommandRejectedManifest,
        [typeof(ListModels)] = ListModelsManifest,
        [typeof(ModelList)] = ModelListManifest,
        [typeof(SetModelPolicy)] = SetModelPolicyManifest,
        [typeof(RollbackModel)] = RollbackModelManifest,
        [typeof(ModelPolicyChanged)] = ModelPolicyChangedManifest,
        [typeof(ModelActivated)] = ModelActivatedManifest,
        [typeof(GetActiveModels)] = GetActiveModelsManifest,
        [typeof(ActiveModels)] = ActiveModelsManifest,
        [typeof(FetchModelChunk)] = FetchModelChunkManifest,
        [typeof(ModelChunk)] = ModelChunkManifest,
        [typeof(GetInferenceStatus)] = GetInferenceStatusManifest,
        [typeof(InferenceStatus)] = InferenceStatusManifest,
        [typeof(SyncBatch)] = SyncBatchManifest,
        [typeof(SyncAck)] = SyncAckManifest,
        [typeof(SyncRejected)] = SyncRejectedManifest,
        [typeof(GetSyncStatus)] = GetSyncStatusManifest,
        [typeof(SyncStatus)] = SyncStatusManifest,
        [typeof(GetStoreStatus)] = GetStoreStatusManifest,
        [typeof(StoreStatus)] = StoreStatusManifest,
    }.Concat(IngestStreamCodec.Manifests).Concat(FederatedCodec.Manifests).Concat(SecurityCodec.Manifests).Concat(LocalityCodec.Manifests).Concat(AdapterCodec.Manifests).ToDictionary();

    public string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var m)
            ? m
            : throw new ArgumentException($"EdgeSerializer has no manifest for {o.GetType().FullName}; add it to EdgeCodec.Manifests");

    public byte[] ToBinary(object obj)
    {
        if (obj is Authenticated auth)
        {
            if (auth.Request is Authenticated) throw new ArgumentException("an Authenticated request cannot wrap another Authenticated");
            return SecurityCodec.WriteAuthenticated(auth.Token, Manifest(auth.Request), ToBinary(auth.Request));
        }
        var w = _writer ??= new BinWriter();
        w.Reset();
        w.Version();
        switch (obj)
        {
            case TelemetryBatch t:
                WriteTelemetry(w, t);
                break;
            case CameraFrame f:
                WriteFrame(w, f);
                break;
            case IngestRequests or IngestReplies:
                IngestStreamCodec.Write(w, (IEdgeMessage)obj);
                break;
            case StopDevice:
            case GetClusterOverview:
            case ListModels:
            case GetActiveModels:
                break;
            case SyncBatch sb:
                w.String(sb.Edge);
                w.VarI(sb.BatchId);
                w.Int(sb.Count);
                w.Int(sb.RawBytes);
                w.Bytes(sb.Payload);
                break;
            case SyncAck sa:
                w.String(sa.Edge);
                w.VarI(sa.BatchId);
                w.Int(sa.Stored);
                w.Int(sa.Duplicates);
                w.String(sa.Sink);
                break;
            case SyncRejected sj:
                w.String(sj.Edge);
                w.VarI(sj.BatchId);
                w.String(sj.Reason);
                w.String(sj.Sink);
                break;
            case INodeQuery q:
                w.String(q.Node);
                break;
            case StoreStatus st:
                w.String(st.Sink);
                w.String(st.StoreKind);
                w.VarI(st.Telemetry);
                w.VarI(st.Frames);
                w.VarI(st.DuplicatesAbsorbed);
                w.VarU((ulong)st.Edges.Length);
                foreach (var e in st.Edges)
                {
                    w.String(e.Edge);
                    w.VarI(e.LastStoredAtMs);
                    w.VarI(e.LastBatchLagMs);
                    w.VarI(e.Records);
                }
                break;
            case SyncStatus ss:
                w.String(ss.Edge);
                w.VarI(ss.Backlog);
                w.VarI(ss.BacklogBytes);
                w.VarI(ss.OldestWaitingMs);
                w.VarI(ss.Synced);
                w.VarI(ss.ExpiredByTtl);
                w.VarI(ss.Overwritten);
                w.VarI(ss.RefusedFull);
                w.VarU((ulong)ss.Sinks.Length);
                foreach (var p in ss.Sinks)
                {
                    w.String(p.Sink);
                    w.VarI(p.LastAckedBatch);
                    w.VarI(p.LastAckAtMs);
                    w.VarI(p.Acked);
                    w.VarI(p.Failures);
                }
                if (ss.BacklogRecords != 0) w.ExtVarI(SyncStatusBacklogRecordsField, ss.BacklogRecords);
                break;
            case Infer inf:
                w.String(inf.Model);
                w.VarI(inf.RequestId);
                w.Int(inf.Count);
                w.Floats(inf.Input);
                w.Byte((byte)inf.Priority);
                if (inf.ByteInput is not null) w.ExtBytes(InferByteInputField, inf.ByteInput);
                break;
            case InferResult res:
                w.VarI(res.RequestId);
                w.String(res.Model);
                w.Int(res.Version);
                w.String(res.Provider);
                w.String(res.Node);
                w.Int(res.Count);
                w.Int(res.OutputSize);
                w.Floats(res.Output);
                break;
            case InferRejected rej:
                w.VarI(rej.RequestId);
                w.String(rej.Model);
                w.Byte((byte)rej.Reason);
                w.String(rej.Detail);
                break;
            case PublishModel pm:
                w.String(pm.Name);
                w.Bytes(pm.Onnx);
                w.Ints(pm.InputShape);
                w.Strings(pm.Labels);
                w.String(pm.Description);
                break;
            case ModelPublished mp:
                WriteModel(w, mp.Model);
                w.Bool(mp.Active);
                break;
            case ModelCommandRejected mr:
                w.String(mr.Name);
                w.String(mr.Reason);
                break;
            case ModelList ml:
                w.VarU((ulong)ml.Models.Length);
                foreach (var m in ml.Models) WriteModel(w, m);
                w.VarU((ulong)ml.Policies.Length);
                foreach (var p in ml.Policies) WritePolicy(w, p);
                break;
            case SetModelPolicy sp:
                w.String(sp.Name);
                w.Int(sp.Version);
                break;
            case RollbackModel rb:
                w.String(rb.Name);
                break;
            case ModelPolicyChanged pc:
                WritePolicy(w, pc.Policy);
                WriteModel(w, pc.Active);
                break;
            case ModelActivated ma:
                WriteModel(w, ma.Model);
                break;
            case ActiveModels am:
                w.VarU((ulong)am.Models.Length);
                foreach (var m in am.Models) WriteModel(w, m);
                break;
            case FetchModelChunk fc:
                w.String(fc.Name);
                w.Int(fc.Version);
                w.VarI(fc.Offset);
                w.Int(fc.MaxBytes);
                break;
            case ModelChunk mc:
                w.String(mc.Name);
                w.Int(mc.Version);
                w.VarI(mc.Offset);
                w.VarI(mc.Total);
                w.Bytes(mc.Data);
                break;
            case InferenceStatus st:
                w.String(st.Node);
                w.String(st.Provider);
                w.String(st.ProviderNote);
                w.VarU((ulong)st.Models.Length);
                foreach (var m in st.Models)
                {
                    w.String(m.Name);
                    w.Int(m.Version);
                    w.Int(m.QueueDepth);
                    w.VarI(m.Served);
                    w.VarI(m.Batches);
                    w.VarI(m.Overloaded);
                    w.VarI(m.Escalated);
                    w.VarI(m.Overflowed);
                    w.String(m.LastError);
                    w.Bool(m.Session is not null);
                    if (m.Session is { } h)
                    {
                        w.String(h.Primary);
                        w.String(h.Serving);
                        w.VarI(h.PrimaryFailures);
                        w.Int(h.ConsecutiveFailures);
                        w.VarI(h.Recreations);
                        w.VarI(h.FallbackBatches);
                        w.String(h.FallbackReason);
                        w.VarI(h.NextPrimaryRetryMs);
                    }
                }
                w.Bool(st.Datacenter is not null);
                if (st.Datacenter is { } b)
                {
                    w.Byte((byte)b.State);
                    w.Int(b.ConsecutiveFailures);
                    w.VarI(b.Opens);
                    w.VarI(b.FastAnswers);
                    w.VarI(b.RetryAtMs);
                    w.String(b.LastFailure);
                }
                break;
            case IngestAck a:
                WriteAck(w, a);
                break;
            case GetDeviceState g:
                w.String(g.DeviceId.Value);
                break;
            case DeviceState s:
                w.String(s.DeviceId.Value);
                w.String(s.Node);
                w.VarI(s.LastSequence);
                w.VarI(s.HighestContiguous);
                w.VarI(s.AcceptedReadings);
                w.VarI(s.AcceptedFrames);
                w.VarU((ulong)s.Rejections.Length);
                foreach (var r in s.Rejections)
                {
                    w.Byte((byte)r.Reason);
                    w.VarI(r.Count);
                }
                w.VarU((ulong)s.Channels.Length);
                foreach (var c in s.Channels)
                {
                    w.VarI(c.Count);
                    w.Double(c.Mean);
                    w.Double(c.Variance);
                    w.Float(c.Min);
                    w.Float(c.Max);
                }
                w.Int(s.BufferFill);
                w.Int(s.BufferCapacity);
                w.Int(s.FrameBufferFill);
                w.Int(s.FrameBufferCapacity);
                AdapterCodec.WriteStatus(w, s.Sensor);
                w.Byte((byte)s.Restore);
                break;
            case ClusterOverview o:
                w.String(o.AnsweredBy);
                w.VarU((ulong)o.Members.Length);
                foreach (var m in o.Members)
                {
                    w.String(m.Address);
                    w.Strings(m.Roles);
                    w.String(m.Status);
                }
                w.VarU((ulong)o.Regions.Length);
                foreach (var r in o.Regions)
                {
                    w.String(r.Address);
                    w.Int(r.Shards);
                    w.Int(r.Entities);
                }
                w.Bool(o.StatsComplete);
                break;
            case RequestRejected rr:
                w.String(rr.Reason);
                break;
            case IFederatedMessage or TrainingFrames or TrainingFramesAck:
                FederatedCodec.Write(w, (IEdgeMessage)obj);
                break;
            case ILocalityMessage l:
                LocalityCodec.Write(w, l);
                break;
            case SensorHealth:
                AdapterCodec.Write(w, (IEdgeMessage)obj);
                break;
            default:
                throw new ArgumentException($"EdgeSerializer cannot serialize {obj.GetType().FullName}");
        }
        return w.ToArray();
    }

    public object FromBinary(byte[] bytes, string manifest)
    {
        WireLimits.Check(manifest, bytes.Length);
        if (manifest == SecurityCodec.AuthenticatedManifest)
        {
            var (token, innerManifest, payload) = SecurityCodec.ReadAuthenticated(bytes);
            return new Authenticated(token, (IEdgeMessage)FromBinary(payload, innerManifest));
        }
        var r = new BinReader(bytes, manifest);
        r.Version();
        object result = manifest switch
        {
            TelemetryBatchManifest => ReadTelemetry(ref r),
            CameraFrameManifest => ReadFrame(ref r),
            StopDeviceManifest => StopDevice.Instance,
            IngestAckManifest => ReadAck(ref r),
            GetDeviceStateManifest => new GetDeviceState(new DeviceId(r.String())),
            DeviceStateManifest => ReadDeviceState(ref r),
            GetClusterOverviewManifest => GetClusterOverview.Instance,
            ClusterOverviewManifest => ReadOverview(ref r),
            RequestRejectedManifest => new RequestRejected(r.String()),
            InferManifest => ReadInfer(ref r),
            InferResultManifest => new InferResult(r.VarI(), r.String(), r.Int(), r.String(), r.String(), r.Int(), r.Int(), r.Floats()),
            InferRejectedManifest => new InferRejected(r.VarI(), r.String(), r.Enum<InferRejectReason>(b => System.Enum.IsDefined(typeof(InferRejectReason), b)), r.String()),
            PublishModelManifest => new PublishModel(r.String(), r.Bytes(), r.Ints(), r.Strings(), r.String()),
            ModelPublishedManifest => new ModelPublished(ReadModel(ref r), r.Bool()),
            ModelCommandRejectedManifest => new ModelCommandRejected(r.String(), r.String()),
            ListModelsManifest => ListModels.Instance,
            ModelListManifest => ReadModelList(ref r),
            SetModelPolicyManifest => new SetModelPolicy(r.String(), r.Int()),
            RollbackModelManifest => new RollbackModel(r.String()),
            ModelPolicyChangedManifest => new ModelPolicyChanged(ReadPolicy(ref r), ReadModel(ref r)),
            ModelActivatedManifest => new ModelActivated(ReadModel(ref r)),
            GetActiveModelsManifest => GetActiveModels.Instance,
            ActiveModelsManifest => ReadActiveModels(ref r),
            FetchModelChunkManifest => new FetchModelChunk(r.String(), r.Int(), r.VarI(), r.Int()),
            ModelChunkManifest => new ModelChunk(r.String(), r.Int(), r.VarI(), r.VarI(), r.Bytes()),
            GetInferenceStatusManifest => r.String() is { Length: > 0 } n ? new GetInferenceStatus(n) : GetInferenceStatus.Instance,
            InferenceStatusManifest => ReadInferenceStatus(ref r),
            SyncBatchManifest => new SyncBatch(r.String(), r.VarI(), r.Int(), r.Int(), r.Bytes()),
            SyncAckManifest => new SyncAck(r.String(), r.VarI(), r.Int(), r.Int(), r.String()),
            SyncRejectedManifest => new SyncRejected(r.String(), r.VarI(), r.String(), r.String()),
            GetSyncStatusManifest => r.String() is { Length: > 0 } n ? new GetSyncStatus(n) : GetSyncStatus.Instance,
            SyncStatusManifest => ReadSyncStatus(ref r),
            GetStoreStatusManifest => r.String() is { Length: > 0 } n ? new GetStoreStatus(n) : GetStoreStatus.Instance,
            StoreStatusManifest => ReadStoreStatus(ref r),
            _ => FederatedCodec.Read(manifest, ref r) ?? IngestStreamCodec.Read(manifest, ref r) ?? LocalityCodec.Read(manifest, ref r) ?? AdapterCodec.Read(manifest, ref r)
                 ?? throw new SerializationException($"EdgeSerializer: unknown manifest '{manifest}'"),
        };
        r.EndMessage(); // skips the extension fields of a newer release
        return result;
    }

    /// <summary>Extension field 1 of <c>if</c>: <see cref="Infer.ByteInput"/> (length-delimited), written only when set.</summary>
    internal const int InferByteInputField = 1;

    /// <summary>Extension field 1 of <c>ss</c>: <see cref="SyncStatus.BacklogRecords"/> (varint), written only when not 0.</summary>
    internal const int SyncStatusBacklogRecordsField = 1;

    private static Infer ReadInfer(ref BinReader r)
    {
        var (model, requestId, count, input, priority) = (r.String(), r.VarI(), r.Int(), r.Floats(), r.Enum<InferencePriority>(b => b <= 1));
        byte[]? byteInput = null;
        while (r.NextExtension(out var field, out var type))
        {
            if (field == InferByteInputField) byteInput = r.ExtBytes(field, type);
            else r.Skip(type);
        }
        return new Infer(model, requestId, count, input, priority) { ByteInput = byteInput };
    }

    internal static void WriteTelemetry(BinWriter w, TelemetryBatch t)
    {
        w.String(t.DeviceId.Value);
        w.Int(t.Channels);
        w.DeltaLongs(t.Sequences);
        w.DeltaLongs(t.Timestamps);
        w.Floats(t.Values);
    }

    internal static TelemetryBatch ReadTelemetry(ref BinReader r) =>
        new(new DeviceId(r.String()), r.Int(), r.DeltaLongs(), r.DeltaLongs(), r.Floats());

    internal static void WriteFrame(BinWriter w, CameraFrame f)
    {
        w.String(f.DeviceId.Value);
        w.VarI(f.Sequence);
        w.VarI(f.Timestamp);
        w.Int(f.Width);
        w.Int(f.Height);
        w.Bytes(f.Pixels);
        w.Int(f.Label);
    }

    internal static CameraFrame ReadFrame(ref BinReader r) =>
        new(new DeviceId(r.String()), r.VarI(), r.VarI(), r.Int(), r.Int(), r.Bytes(), r.Int());

    internal static void WriteAck(BinWriter w, IngestAck a)
    {
        w.String(a.DeviceId.Value);
        w.VarI(a.HighestContiguous);
        w.Int(a.Accepted);
        w.VarU((ulong)a.Rejected.Length);
        foreach (var r in a.Rejected)
        {
            w.VarI(r.Sequence);
            w.Byte((byte)r.Reason);
            w.String(r.Detail);
        }
        w.String(a.Node);
        WritePrediction(w, a.Prediction);
        w.Byte((byte)a.Level);
    }

    private static bool IsReason(byte b) => System.Enum.IsDefined(typeof(RejectReason), b);

    internal static IngestAck ReadAck(ref BinReader r)
    {
        var id = new DeviceId(r.String());
        var highest = r.VarI();
        var accepted = r.Int();
        var n = r.Count(3); // sequence varint, reason byte, detail string: >= 3 bytes each
        var rejected = n == 0 ? [] : new Rejection[n];
        for (var i = 0; i < n; i++)
            rejected[i] = new Rejection(r.VarI(), r.Enum<RejectReason>(IsReason), r.String());
        var node = r.String();
        var prediction = ReadPrediction(ref r);
        return new IngestAck(id, highest, accepted, rejected, node, prediction, r.Enum<AckLevel>(b => b <= (byte)AckLevel.StoredInDatacenter));
    }

    private static StoreStatus ReadStoreStatus(ref BinReader r)
    {
        var sink = r.String();
        var kind = r.String();
        var telemetry = r.VarI();
        var frames = r.VarI();
        var duplicates = r.VarI();
        var n = r.Count(4);
        var edges = new EdgeStoreLag[n];
        for (var i = 0; i < n; i++) edges[i] = new EdgeStoreLag(r.String(), r.VarI(), r.VarI(), r.VarI());
        return new StoreStatus(sink, kind, telemetry, frames, duplicates, edges);
    }

    internal static void WritePrediction(BinWriter w, Prediction? p)
    {
        w.Bool(p is not null);
        if (p is null) return;
        w.Int(p.Label);
        w.Float(p.Confidence);
        w.String(p.Model);
        w.Int(p.Version);
        w.String(p.ServedBy);
        w.Bool(p.Escalated);
        w.Byte((byte)p.Note);
    }

    internal static Prediction? ReadPrediction(ref BinReader r) =>
        !r.Bool()
            ? null
            : new Prediction(r.Int(), r.Float(), r.String(), r.Int(), r.String(), r.Bool(),
                r.Enum<PredictionNote>(b => System.Enum.IsDefined(typeof(PredictionNote), b)));

    private static void WriteModel(BinWriter w, ModelInfo m)
    {
        w.String(m.Name);
        w.Int(m.Version);
        w.Ints(m.InputShape);
        w.Strings(m.Labels);
        w.String(m.Sha256);
        w.VarI(m.SizeBytes);
        w.VarI(m.CreatedAtMs);
        w.String(m.Description);
    }

    private static ModelInfo ReadModel(ref BinReader r) =>
        new(r.String(), r.Int(), r.Ints(), r.Strings(), r.String(), r.VarI(), r.VarI(), r.String());

    private static void WritePolicy(BinWriter w, ModelPolicy p)
    {
        w.String(p.Name);
        w.Int(p.ActiveVersion);
        w.Int(p.PinnedVersion);
    }

    private static ModelPolicy ReadPolicy(ref BinReader r) => new(r.String(), r.Int(), r.Int());

    private static ModelList ReadModelList(ref BinReader r)
    {
        var nm = r.Count(8);
        var models = new ModelInfo[nm];
        for (var i = 0; i < nm; i++) models[i] = ReadModel(ref r);
        var np = r.Count(3);
        var policies = new ModelPolicy[np];
        for (var i = 0; i < np; i++) policies[i] = ReadPolicy(ref r);
        return new ModelList(models, policies);
    }

    private static ActiveModels ReadActiveModels(ref BinReader r)
    {
        var n = r.Count(8);
        var models = new ModelInfo[n];
        for (var i = 0; i < n; i++) models[i] = ReadModel(ref r);
        return new ActiveModels(models);
    }

    private static InferenceStatus ReadInferenceStatus(ref BinReader r)
    {
        var node = r.String();
        var provider = r.String();
        var note = r.String();
        var n = r.Count(9);
        var models = new LoadedModel[n];
        for (var i = 0; i < n; i++)
        {
            models[i] = new LoadedModel(r.String(), r.Int(), r.Int(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.String(),
                r.Bool() ? new SessionHealth(r.String(), r.String(), r.VarI(), r.Int(), r.VarI(), r.VarI(), r.String(), r.VarI()) : null);
        }
        var breaker = r.Bool()
            ? new CircuitBreakerStatus(r.Enum<CircuitState>(b => b <= (byte)CircuitState.HalfOpen), r.Int(), r.VarI(), r.VarI(), r.VarI(), r.String())
            : null;
        return new InferenceStatus(node, provider, note, models, breaker);
    }

    private static SyncStatus ReadSyncStatus(ref BinReader r)
    {
        var edge = r.String();
        var backlog = r.VarI();
        var backlogBytes = r.VarI();
        var oldest = r.VarI();
        var synced = r.VarI();
        var expired = r.VarI();
        var overwritten = r.VarI();
        var refused = r.VarI();
        var n = r.Count(5); // sink string, four varints
        var sinks = new SinkProgress[n];
        for (var i = 0; i < n; i++) sinks[i] = new SinkProgress(r.String(), r.VarI(), r.VarI(), r.VarI(), r.VarI());
        long backlogRecords = 0;
        while (r.NextExtension(out var field, out var type))
        {
            if (field == SyncStatusBacklogRecordsField) backlogRecords = r.ExtVarI(field, type);
            else r.Skip(type);
        }
        return new SyncStatus(edge, backlog, backlogBytes, oldest, synced, expired, overwritten, refused, sinks) { BacklogRecords = backlogRecords };
    }

    private static DeviceState ReadDeviceState(ref BinReader r)
    {
        var id = new DeviceId(r.String());
        var node = r.String();
        var last = r.VarI();
        var highest = r.VarI();
        var readings = r.VarI();
        var frames = r.VarI();
        var nr = r.Count(2); // reason byte, count varint
        var reasons = new ReasonCount[nr];
        for (var i = 0; i < nr; i++) reasons[i] = new ReasonCount(r.Enum<RejectReason>(IsReason), r.VarI());
        var nc = r.Count(25); // count varint, 2 doubles, 2 floats
        var channels = new ChannelStats[nc];
        for (var i = 0; i < nc; i++) channels[i] = new ChannelStats(r.VarI(), r.Double(), r.Double(), r.Float(), r.Float());
        return new DeviceState(id, node, last, highest, readings, frames, reasons, channels, r.Int(), r.Int(), r.Int(), r.Int(),
            AdapterCodec.ReadStatus(ref r), r.Enum<RestoreOutcome>(b => b <= (byte)RestoreOutcome.TimedOut));
    }

    private static ClusterOverview ReadOverview(ref BinReader r)
    {
        var by = r.String();
        var nm = r.Count(3); // address, roles length, status
        var members = new MemberInfo[nm];
        for (var i = 0; i < nm; i++) members[i] = new MemberInfo(r.String(), r.Strings(), r.String());
        var nr = r.Count(3); // address, shards, entities
        var regions = new RegionInfo[nr];
        for (var i = 0; i < nr; i++) regions[i] = new RegionInfo(r.String(), r.Int(), r.Int());
        return new ClusterOverview(by, members, regions, r.Bool());
    }
}
