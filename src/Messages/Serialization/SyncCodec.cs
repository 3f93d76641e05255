using System.Buffers;
using System.IO.Compression;
using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Wire encoding of the sync messages (SyncMessages.cs; part of <see cref="EdgeCodec"/>), and the record codec of
/// <see cref="SyncBatch"/> payloads: every <see cref="SyncRecord"/> in the serializer's binary
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

    /// <summary>Extension field 1 of <c>ss</c>: <see cref="SyncStatus.BacklogRecords"/> (varint), written only when not 0.</summary>
    internal const int SyncStatusBacklogRecordsField = 1;

    internal static readonly MessageKinds Kinds = new()
    {
        {
            "sb", static (w, m) => { w.String(m.Edge); w.VarI(m.BatchId); w.Int(m.Count); w.Int(m.RawBytes); w.Bytes(m.Payload); },
            static (ref BinReader r) => new SyncBatch(r.String(), r.VarI(), r.Int(), r.Int(), r.Bytes())
        },
        {
            "sa", static (w, m) => { w.String(m.Edge); w.VarI(m.BatchId); w.Int(m.Stored); w.Int(m.Duplicates); w.String(m.Sink); },
            static (ref BinReader r) => new SyncAck(r.String(), r.VarI(), r.Int(), r.Int(), r.String())
        },
        {
            "sj", static (w, m) => { w.String(m.Edge); w.VarI(m.BatchId); w.String(m.Reason); w.String(m.Sink); },
            static (ref BinReader r) => new SyncRejected(r.String(), r.VarI(), r.String(), r.String())
        },
        { "gy", GetSyncStatus.Instance, static node => new GetSyncStatus(node) },
        { "ss", WriteStatus, ReadStatus },
        { "gt", GetStoreStatus.Instance, static node => new GetStoreStatus(node) },
        { "st", WriteStoreStatus, ReadStoreStatus },
    };

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
        w.Device(r.DeviceId);
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
        InferenceCodec.WritePrediction(w, r.Prediction);
    }

    internal static SyncRecord ReadRecord(ref BinReader r)
    {
        var device = r.Device();
        var kindByte = r.Byte();
        var batch = (kindByte & BatchFlag) != 0;
        var kindValue = (byte)(kindByte & ~BatchFlag);
        if (!System.Enum.IsDefined(typeof(RecordKind), kindValue)) throw new SerializationException($"sync record: unknown kind {kindByte}");
        var kind = (RecordKind)kindValue;
        var seq = r.VarI();
        var ts = r.VarI();
        var priority = r.Enum<SyncPriority>();
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
        return new SyncRecord(device, kind, seq, ts, priority, values, r.Bytes(), r.Int(), InferenceCodec.ReadPrediction(ref r))
        {
            Sequences = sequences,
            Timestamps = timestamps,
        };
    }

    private static void WriteStatus(BinWriter w, SyncStatus s)
    {
        w.String(s.Edge); w.VarI(s.Backlog); w.VarI(s.BacklogBytes); w.VarI(s.OldestWaitingMs); w.VarI(s.Synced); w.VarI(s.ExpiredByTtl);
        w.VarI(s.Overwritten); w.VarI(s.RefusedFull);
        w.Array(s.Sinks, static (w, p) => { w.String(p.Sink); w.VarI(p.LastAckedBatch); w.VarI(p.LastAckAtMs); w.VarI(p.Acked); w.VarI(p.Failures); });
        if (s.BacklogRecords != 0) w.ExtVarI(SyncStatusBacklogRecordsField, s.BacklogRecords);
    }

    private static SyncStatus ReadStatus(ref BinReader r) =>
        new(r.String(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI(), r.VarI(),
            r.Array(5, static (ref BinReader r) => new SinkProgress(r.String(), r.VarI(), r.VarI(), r.VarI(), r.VarI()))) // sink string, four varints
        {
            BacklogRecords = ReadStatusExtensions(ref r),
        };

    /// <summary>The extension fields of <c>ss</c>: <see cref="SyncStatus.BacklogRecords"/> (0 when absent); others are skipped.</summary>
    private static long ReadStatusExtensions(ref BinReader r)
    {
        long backlogRecords = 0;
        while (r.NextExtension(out var field, out var type))
        {
            if (field == SyncStatusBacklogRecordsField) backlogRecords = r.ExtVarI(field, type);
            else r.Skip(type);
        }
        return backlogRecords;
    }

    private static void WriteStoreStatus(BinWriter w, StoreStatus s)
    {
        w.String(s.Sink); w.String(s.StoreKind); w.VarI(s.Telemetry); w.VarI(s.Frames); w.VarI(s.DuplicatesAbsorbed);
        w.Array(s.Edges, static (w, e) => { w.String(e.Edge); w.VarI(e.LastStoredAtMs); w.VarI(e.LastBatchLagMs); w.VarI(e.Records); });
    }

    private static StoreStatus ReadStoreStatus(ref BinReader r) => new(
        r.String(), r.String(), r.VarI(), r.VarI(), r.VarI(),
        r.Array(4, static (ref BinReader r) => new EdgeStoreLag(r.String(), r.VarI(), r.VarI(), r.VarI())));
}
