using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Compact binary serializer for every <see cref="IEdgeMessage"/>: two-letter manifests, varints, delta-encoded
/// sequence numbers and timestamps, raw little-endian floats. Malformed payloads fail with a
/// <see cref="SerializationException"/> naming the manifest and the byte offset; they never produce a half-built message.
/// </summary>
public sealed class EdgeSerializer : SerializerWithStringManifest
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

    [ThreadStatic] private static BinWriter? _writer;

    public EdgeSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    public override int Identifier => Id;

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
    };

    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var m)
            ? m
            : throw new ArgumentException($"EdgeSerializer has no manifest for {o.GetType().FullName}; add it to EdgeSerializer.Manifests");

    public override byte[] ToBinary(object obj)
    {
        var w = _writer ??= new BinWriter();
        w.Reset();
        switch (obj)
        {
            case TelemetryBatch t:
                w.String(t.DeviceId.Value);
                w.Int(t.Channels);
                w.DeltaLongs(t.Sequences);
                w.DeltaLongs(t.Timestamps);
                w.Floats(t.Values);
                break;
            case CameraFrame f:
                w.String(f.DeviceId.Value);
                w.VarI(f.Sequence);
                w.VarI(f.Timestamp);
                w.Int(f.Width);
                w.Int(f.Height);
                w.Bytes(f.Pixels);
                w.Int(f.Label);
                break;
            case StopDevice:
            case GetClusterOverview:
                break;
            case IngestAck a:
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
            default:
                throw new ArgumentException($"EdgeSerializer cannot serialize {obj.GetType().FullName}");
        }
        return w.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var r = new BinReader(bytes, manifest);
        object result = manifest switch
        {
            TelemetryBatchManifest => new TelemetryBatch(new DeviceId(r.String()), r.Int(), r.DeltaLongs(), r.DeltaLongs(), r.Floats()),
            CameraFrameManifest => new CameraFrame(new DeviceId(r.String()), r.VarI(), r.VarI(), r.Int(), r.Int(), r.Bytes(), r.Int()),
            StopDeviceManifest => StopDevice.Instance,
            IngestAckManifest => ReadAck(ref r),
            GetDeviceStateManifest => new GetDeviceState(new DeviceId(r.String())),
            DeviceStateManifest => ReadDeviceState(ref r),
            GetClusterOverviewManifest => GetClusterOverview.Instance,
            ClusterOverviewManifest => ReadOverview(ref r),
            RequestRejectedManifest => new RequestRejected(r.String()),
            _ => throw new SerializationException($"EdgeSerializer: unknown manifest '{manifest}'"),
        };
        r.End();
        return result;
    }

    private static bool IsReason(byte b) => System.Enum.IsDefined(typeof(RejectReason), b);

    private static IngestAck ReadAck(ref BinReader r)
    {
        var id = new DeviceId(r.String());
        var highest = r.VarI();
        var accepted = r.Int();
        var n = r.Count(3); // sequence varint, reason byte, detail string: >= 3 bytes each
        var rejected = n == 0 ? [] : new Rejection[n];
        for (var i = 0; i < n; i++)
            rejected[i] = new Rejection(r.VarI(), r.Enum<RejectReason>(IsReason), r.String());
        return new IngestAck(id, highest, accepted, rejected, r.String());
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
        return new DeviceState(id, node, last, highest, readings, frames, reasons, channels, r.Int(), r.Int(), r.Int(), r.Int());
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
