using System.Buffers.Binary;
using System.Data.Common;
using System.Globalization;
using System.Runtime.InteropServices;
using EdgeActors.Messages;

namespace EdgeActors.Storage;

/// <summary>
/// The column encoding shared by <see cref="SqliteDataStore"/> and <see cref="PostgresDataStore"/>: channel values as
/// little-endian IEEE 754 floats (bit-exact), and the statistics of a batch.
/// <para>
/// Not versioned with a header byte like the other formats (docs/wire-format.md): every field of a stored record has
/// its own column, so the store evolves by adding nullable columns (read with a default when NULL, as the prediction
/// columns are), and <c>channel_values</c> stays a plain float array that SQL consumers and the zero-copy bind of
/// <see cref="FloatBytes"/> rely on. A blob whose length is not a multiple of 4 is refused (<see cref="DecodeFloats"/>),
/// which leaves lengths ≡ 1 (mod 4), i.e. a leading version byte, free for a future encoding of this column.
/// </para>
/// </summary>
internal static class DataStoreCodec
{
    public static byte[] EncodeFloats(float[]? values)
    {
        if (values is null || values.Length == 0) return [];
        if (BitConverter.IsLittleEndian) return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        return bytes;
    }

    /// <summary>The channel values' column bytes without a copy (little-endian machines; a copy otherwise).</summary>
    public static ReadOnlySpan<byte> FloatBytes(ReadOnlySpan<float> values)
    {
        if (values.Length == 0) return [];
        if (BitConverter.IsLittleEndian) return MemoryMarshal.AsBytes(values);
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        return bytes;
    }

    /// <summary>The readings (and frames) in <paramref name="records"/>: a batch record counts its readings.</summary>
    public static int Readings(IReadOnlyList<SyncRecord> records)
    {
        var n = 0;
        for (var i = 0; i < records.Count; i++) n += records[i].Count;
        return n;
    }

    public static float[] DecodeFloats(byte[]? bytes)
    {
        if (bytes is null || bytes.Length == 0) return [];
        if (bytes.Length % sizeof(float) != 0)
            throw new InvalidDataException($"channel_values has {bytes.Length} bytes, not a multiple of {sizeof(float)}");
        var values = new float[bytes.Length / sizeof(float)];
        if (BitConverter.IsLittleEndian) bytes.AsSpan().CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        else
            for (var i = 0; i < values.Length; i++)
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        return values;
    }

    /// <summary>How far behind the batch's oldest record was when it was stored (0 for an empty batch).</summary>
    public static long BatchLag(IReadOnlyList<SyncRecord> records, long nowMs)
    {
        if (records.Count == 0) return 0;
        var min = long.MaxValue;
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.Timestamps is { } ts)
                foreach (var t in ts) min = Math.Min(min, t);
            else min = Math.Min(min, r.Timestamp);
        }
        return nowMs - min;
    }

    public static void Validate(string edge, IReadOnlyList<SyncRecord> records)
    {
        ArgumentNullException.ThrowIfNull(edge);
        ArgumentNullException.ThrowIfNull(records);
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i] ?? throw new ArgumentException($"record {i} is null", nameof(records));
            if (r.DeviceId.Value is null) throw new ArgumentException($"record {i} has no device id", nameof(records));
            if (r.Sequences is { } seqs && (seqs.Length == 0 || r.Timestamps?.Length != seqs.Length || (r.Values?.Length ?? 0) % seqs.Length != 0))
                throw new ArgumentException($"record {i} is a malformed batch record", nameof(records));
        }
    }

    /// <summary>The columns of <c>records</c> in the order both stores read and write them.</summary>
    public const string Columns =
        "device, kind, seq, ts, priority, edge, stored_at, channel_values, pixels, label, " +
        "pred_label, pred_confidence, pred_model, pred_version, pred_served_by, pred_escalated, pred_note";

    /// <summary>The columns <see cref="IDataStore.History"/> reads back (everything but edge and stored_at).</summary>
    public const string HistoryColumns =
        "device, kind, seq, ts, priority, channel_values, pixels, label, " +
        "pred_label, pred_confidence, pred_model, pred_version, pred_served_by, pred_escalated, pred_note";

    /// <summary>Reads one row selected with <see cref="HistoryColumns"/>.</summary>
    public static SyncRecord ReadRecord(DbDataReader r)
    {
        Prediction? prediction = null;
        if (!r.IsDBNull(8))
            prediction = new Prediction(
                Int(r, 8),
                r.GetFloat(9),
                r.IsDBNull(10) ? "" : r.GetString(10),
                r.IsDBNull(11) ? 0 : Int(r, 11),
                r.IsDBNull(12) ? "" : r.GetString(12),
                !r.IsDBNull(13) && Convert.ToBoolean(r.GetValue(13), CultureInfo.InvariantCulture),
                r.IsDBNull(14) ? PredictionNote.None : (PredictionNote)Int(r, 14));
        return new SyncRecord(
            new DeviceId(r.GetString(0)),
            (RecordKind)Int(r, 1),
            Convert.ToInt64(r.GetValue(2), CultureInfo.InvariantCulture),
            Convert.ToInt64(r.GetValue(3), CultureInfo.InvariantCulture),
            (SyncPriority)Int(r, 4),
            DecodeFloats(Bytes(r, 5)),
            Bytes(r, 6),
            Int(r, 7),
            prediction);
    }

    private static int Int(DbDataReader r, int i) => Convert.ToInt32(r.GetValue(i), CultureInfo.InvariantCulture);

    private static byte[] Bytes(DbDataReader r, int i) => r.IsDBNull(i) ? [] : (byte[])r.GetValue(i);
}
