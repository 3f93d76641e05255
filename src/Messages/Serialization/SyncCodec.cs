using System.Buffers;
using System.IO.Compression;
using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// The record codec of <see cref="SyncBatch"/> payloads: every <see cref="SyncRecord"/> in the serializer's binary
/// encoding, one after the other, then Brotli (<see cref="CompressionLevel.Fastest"/>). Decoding never allocates more
/// than the caller's cap, whatever the payload claims: a decompression bomb, a wrong <c>RawBytes</c>, a truncated or
/// garbled payload all fail with a <see cref="SerializationException"/> that names the problem.
/// <para>
/// Versioned like the messages (<see cref="WireFormat"/>): the raw stream is <c>[version byte][record × count][extension
/// fields]</c>. Records are positional; a field a later release adds to records travels as an extension field after
/// the last record (e.g. a parallel array), which this release skips.
/// </para>
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
        if (records.Count > 0) w.Version(); // an empty stream stays empty: it reads as version 1 without records
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
        r.Version();
        var records = new SyncRecord[expectedCount];
        for (var i = 0; i < expectedCount; i++) records[i] = ReadRecord(ref r);
        r.EndMessage(); // a newer release's extension fields are skipped; anything else (e.g. more records than the count says) fails
        return records;
    }

    /// <summary>Set in the kind byte of a batch record: its sequences and timestamps follow the priority.</summary>
    private const byte BatchFlag = 0x80;

    internal static void WriteRecord(BinWriter w, SyncRecord r)
    {
        w.String(r.DeviceId.Value);
        w.Byte((byte)((byte)r.Kind | (r.IsBatch ? BatchFlag : 0)));
        w.VarI(r.Sequence);
        w.VarI(r.Timestamp);
        w.Byte((byte)r.Priority);
        if (r.IsBatch)
        {
            w.DeltaLongs(r.Sequences!);
            w.DeltaLongs(r.Timestamps!);
        }
        w.Floats(r.Values ?? []);
        w.Bytes(r.Pixels ?? []);
        w.Int(r.Label);
        EdgeCodec.WritePrediction(w, r.Prediction);
    }

    internal static SyncRecord ReadRecord(ref BinReader r)
    {
        var device = new DeviceId(r.String());
        var kindByte = r.Byte();
        var batch = (kindByte & BatchFlag) != 0;
        var kindValue = (byte)(kindByte & ~BatchFlag);
        if (!System.Enum.IsDefined(typeof(RecordKind), kindValue)) throw new SerializationException($"sync record: unknown kind {kindByte}");
        var kind = (RecordKind)kindValue;
        var seq = r.VarI();
        var ts = r.VarI();
        var priority = r.Enum<SyncPriority>(b => System.Enum.IsDefined(typeof(SyncPriority), b));
        long[]? sequences = null, timestamps = null;
        if (batch)
        {
            sequences = r.DeltaLongs();
            timestamps = r.DeltaLongs();
            if (kind != RecordKind.Telemetry) throw new SerializationException("sync record: a batch record must be telemetry");
            if (sequences.Length == 0 || timestamps.Length != sequences.Length)
                throw new SerializationException($"sync record: batch of {sequences.Length} sequences and {timestamps.Length} timestamps");
            if (sequences[0] != seq || timestamps[0] != ts) throw new SerializationException("sync record: batch header disagrees with its first reading");
        }
        var values = r.Floats();
        if (sequences is not null && values.Length % sequences.Length != 0)
            throw new SerializationException($"sync record: {values.Length} values are not {sequences.Length} readings × channels");
        return new SyncRecord(device, kind, seq, ts, priority, values, r.Bytes(), r.Int(), EdgeCodec.ReadPrediction(ref r))
        {
            Sequences = sequences,
            Timestamps = timestamps,
        };
    }
}
