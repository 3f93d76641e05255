using System.Buffers;
using System.IO.Compression;
using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// The record codec of <see cref="SyncBatch"/> payloads: every <see cref="SyncRecord"/> in the serializer's binary
/// encoding, one after the other, then Brotli (<see cref="CompressionLevel.Fastest"/>). Decoding never allocates more
/// than the caller's cap, whatever the payload claims: a decompression bomb, a wrong <c>RawBytes</c>, a truncated or
/// garbled payload all fail with a <see cref="SerializationException"/> that names the problem.
/// </summary>
public static class SyncCodec
{
    /// <summary>Smallest possible encoded record: device string, kind, sequence, timestamp, priority, two lengths, label, prediction flag.</summary>
    public const int MinRecordBytes = 9;

    internal const string Manifest = "sync-records";

    public static byte[] Encode(IReadOnlyList<SyncRecord> records, out int rawBytes)
    {
        ArgumentNullException.ThrowIfNull(records);
        var w = new BinWriter();
        foreach (var r in records) WriteRecord(w, r);
        rawBytes = w.Length;
        return SyncCompression.Compress(w.ToArray());
    }

    public static IReadOnlyList<SyncRecord> Decode(byte[] payload, int expectedCount, int rawBytes, int maxRawBytes)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (expectedCount < 0) throw new SerializationException($"sync batch: negative record count {expectedCount}");
        if (rawBytes < 0) throw new SerializationException($"sync batch: negative raw size {rawBytes}");
        if (rawBytes > maxRawBytes)
            throw new SerializationException($"sync batch: raw size {rawBytes} bytes exceeds the limit of {maxRawBytes} bytes");
        if ((long)expectedCount * MinRecordBytes > rawBytes)
            throw new SerializationException($"sync batch: {expectedCount} records cannot fit in {rawBytes} raw bytes");
        var raw = SyncCompression.Decompress(payload, rawBytes);
        var r = new BinReader(raw, Manifest);
        var records = new SyncRecord[expectedCount];
        for (var i = 0; i < expectedCount; i++) records[i] = ReadRecord(ref r);
        r.End(); // more records than the count says: trailing bytes
        return records;
    }

    internal static void WriteRecord(BinWriter w, SyncRecord r)
    {
        w.String(r.DeviceId.Value);
        w.Byte((byte)r.Kind);
        w.VarI(r.Sequence);
        w.VarI(r.Timestamp);
        w.Byte((byte)r.Priority);
        w.Floats(r.Values ?? []);
        w.Bytes(r.Pixels ?? []);
        w.Int(r.Label);
        EdgeSerializer.WritePrediction(w, r.Prediction);
    }

    internal static SyncRecord ReadRecord(ref BinReader r) =>
        new(new DeviceId(r.String()),
            r.Enum<RecordKind>(b => System.Enum.IsDefined(typeof(RecordKind), b)),
            r.VarI(),
            r.VarI(),
            r.Enum<SyncPriority>(b => System.Enum.IsDefined(typeof(SyncPriority), b)),
            r.Floats(),
            r.Bytes(),
            r.Int(),
            EdgeSerializer.ReadPrediction(ref r));
}
