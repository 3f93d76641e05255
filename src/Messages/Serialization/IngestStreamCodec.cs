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

    public static readonly MessageKinds Kinds = new()
    {
        { RequestsManifest, WriteRequests, ReadRequests },
        { RepliesManifest, WriteReplies, ReadReplies },
    };

    private static void WriteRequests(BinWriter w, IngestRequests q)
    {
        w.String(q.Token);
        WriteItems(w, "IngestRequests", q.Ids, q.Commands, "commands", static (w, command) =>
        {
            switch (command)
            {
                case TelemetryBatch t:
                    w.Byte(Telemetry);
                    DeviceCodec.WriteTelemetry(w, t);
                    break;
                case CameraFrame f:
                    w.Byte(Frame);
                    DeviceCodec.WriteFrame(w, f);
                    break;
                default:
                    throw new ArgumentException($"IngestRequests carries telemetry batches and camera frames only, not {command.GetType().Name}");
            }
        });
    }

    private static void WriteReplies(BinWriter w, IngestReplies a)
    {
        WriteItems(w, "IngestReplies", a.Ids, a.Replies, "replies", static (w, reply) =>
        {
            switch (reply)
            {
                case IngestAck ack:
                    w.Byte(Ack);
                    DeviceCodec.WriteAck(w, ack);
                    break;
                case RequestRejected r:
                    w.Byte(Rejected);
                    w.String(r.Reason);
                    break;
                default:
                    throw new ArgumentException($"IngestReplies carries acks and rejections only, not {reply.GetType().Name}");
            }
        });
        w.DeltaLongs(a.Resend ?? []);
    }

    private static IngestRequests ReadRequests(ref BinReader r)
    {
        var token = r.String();
        var commands = ReadItems(ref r, out var ids, static (ref BinReader r, byte kind, int i) => kind switch
        {
            Telemetry => DeviceCodec.ReadTelemetry(ref r),
            Frame => (IDeviceCommand)DeviceCodec.ReadFrame(ref r),
            _ => throw new SerializationException($"EdgeSerializer: payload for manifest '{RequestsManifest}' (IngestRequests): item {i} has unknown kind {kind} (1 = telemetry, 2 = frame)"),
        });
        return new IngestRequests(token, ids, commands);
    }

    private static IngestReplies ReadReplies(ref BinReader r)
    {
        var replies = ReadItems(ref r, out var ids, static (ref BinReader r, byte kind, int i) => kind switch
        {
            Ack => DeviceCodec.ReadAck(ref r),
            Rejected => (IEdgeMessage)new RequestRejected(r.String()),
            _ => throw new SerializationException($"EdgeSerializer: payload for manifest '{RepliesManifest}' (IngestReplies): item {i} has unknown kind {kind} (3 = ack, 4 = rejection)"),
        });
        var resend = r.DeltaLongs();
        if (resend.Length > MaxItems) throw new SerializationException($"EdgeSerializer: an ingest answer with {resend.Length} ids to resend; the limit is {MaxItems}");
        return new IngestReplies(ids, replies, resend);
    }

    /// <summary>The items of a group: their count, then per item its id and its kind byte with its encoding (written by <paramref name="write"/>).</summary>
    private static void WriteItems<T>(BinWriter w, string group, long[] ids, T[] items, string itemsName, Action<BinWriter, T> write)
    {
        if (ids.Length != items.Length) throw new ArgumentException($"{group}: {ids.Length} ids for {items.Length} {itemsName}");
        w.VarU((ulong)ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            w.VarI(ids[i]);
            write(w, items[i]);
        }
    }

    private delegate T ReadItem<out T>(ref BinReader r, byte kind, int index);

    /// <summary>The items written by <see cref="WriteItems{T}"/> (at most <see cref="MaxItems"/>); <paramref name="read"/> reads one after its kind byte.</summary>
    private static T[] ReadItems<T>(ref BinReader r, out long[] ids, ReadItem<T> read)
    {
        var n = r.Count(3); // id varint, kind byte, at least a byte of the item
        if (n > MaxItems) throw new SerializationException($"EdgeSerializer: an ingest group of {n} items; the limit is {MaxItems}");
        ids = new long[n];
        var items = new T[n];
        for (var i = 0; i < n; i++)
        {
            ids[i] = r.VarI();
            items[i] = read(ref r, r.Byte(), i);
        }
        return items;
    }
}
