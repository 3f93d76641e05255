using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Wire encoding of the ingest stream (part of <see cref="EdgeCodec"/>; manifests start with 'E'). Each item is a kind
/// byte followed by the item's own encoding (the same as the standalone message's); every item is checked against its
/// own kind's size limit as well as the group's.
/// </summary>
internal static class IngestStreamCodec
{
    public const string RequestsManifest = "Ea";
    public const string RepliesManifest = "Eb";

    private const byte Telemetry = 1;
    private const byte Frame = 2;
    private const byte Ack = 3;
    private const byte Rejected = 4;

    /// <summary>Most items in one group (the client library sends at most <c>IngestStreamLimits.MaxItems</c>).</summary>
    public const int MaxItems = 4096;

    public static readonly IReadOnlyDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(IngestRequests)] = RequestsManifest,
        [typeof(IngestReplies)] = RepliesManifest,
    };

    public static void Write(BinWriter w, IEdgeMessage message)
    {
        switch (message)
        {
            case IngestRequests q:
                if (q.Ids.Length != q.Commands.Length) throw new ArgumentException($"IngestRequests: {q.Ids.Length} ids for {q.Commands.Length} commands");
                w.String(q.Token);
                w.VarU((ulong)q.Ids.Length);
                for (var i = 0; i < q.Ids.Length; i++)
                {
                    w.VarI(q.Ids[i]);
                    switch (q.Commands[i])
                    {
                        case TelemetryBatch t:
                            w.Byte(Telemetry);
                            EdgeCodec.WriteTelemetry(w, t);
                            break;
                        case CameraFrame f:
                            w.Byte(Frame);
                            EdgeCodec.WriteFrame(w, f);
                            break;
                        default:
                            throw new ArgumentException($"IngestRequests carries telemetry batches and camera frames only, not {q.Commands[i].GetType().Name}");
                    }
                }
                break;
            case IngestReplies a:
                if (a.Ids.Length != a.Replies.Length) throw new ArgumentException($"IngestReplies: {a.Ids.Length} ids for {a.Replies.Length} replies");
                w.VarU((ulong)a.Ids.Length);
                for (var i = 0; i < a.Ids.Length; i++)
                {
                    w.VarI(a.Ids[i]);
                    switch (a.Replies[i])
                    {
                        case IngestAck ack:
                            w.Byte(Ack);
                            EdgeCodec.WriteAck(w, ack);
                            break;
                        case RequestRejected r:
                            w.Byte(Rejected);
                            w.String(r.Reason);
                            break;
                        default:
                            throw new ArgumentException($"IngestReplies carries acks and rejections only, not {a.Replies[i].GetType().Name}");
                    }
                }
                w.DeltaLongs(a.Resend ?? []);
                break;
            default:
                throw new ArgumentException($"IngestStreamCodec cannot serialize {message.GetType().FullName}");
        }
    }

    /// <summary>The message for <paramref name="manifest"/>, or null when it is not one of ours.</summary>
    public static object? Read(string manifest, ref BinReader r)
    {
        switch (manifest)
        {
            case RequestsManifest:
            {
                var token = r.String();
                var n = Items(ref r, 3); // id varint, kind byte, device id string
                var ids = new long[n];
                var commands = new IDeviceCommand[n];
                for (var i = 0; i < n; i++)
                {
                    ids[i] = r.VarI();
                    commands[i] = r.Byte() switch
                    {
                        Telemetry => EdgeCodec.ReadTelemetry(ref r),
                        Frame => EdgeCodec.ReadFrame(ref r),
                        var k => throw new SerializationException($"EdgeSerializer: payload for manifest '{RequestsManifest}' (IngestRequests): item {i} has unknown kind {k} (1 = telemetry, 2 = frame)"),
                    };
                }
                return new IngestRequests(token, ids, commands);
            }
            case RepliesManifest:
            {
                var n = Items(ref r, 3);
                var ids = new long[n];
                var replies = new IEdgeMessage[n];
                for (var i = 0; i < n; i++)
                {
                    ids[i] = r.VarI();
                    replies[i] = r.Byte() switch
                    {
                        Ack => EdgeCodec.ReadAck(ref r),
                        Rejected => new RequestRejected(r.String()),
                        var k => throw new SerializationException($"EdgeSerializer: payload for manifest '{RepliesManifest}' (IngestReplies): item {i} has unknown kind {k} (3 = ack, 4 = rejection)"),
                    };
                }
                var resend = r.DeltaLongs();
                if (resend.Length > MaxItems) throw new SerializationException($"EdgeSerializer: an ingest answer with {resend.Length} ids to resend; the limit is {MaxItems}");
                return new IngestReplies(ids, replies, resend);
            }
            default:
                return null;
        }
    }

    private static int Items(ref BinReader r, int minBytes)
    {
        var n = r.Count(minBytes);
        if (n > MaxItems) throw new SerializationException($"EdgeSerializer: an ingest group of {n} items; the limit is {MaxItems}");
        return n;
    }
}
