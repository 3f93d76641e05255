using EdgeActors.Storage;
using System.Buffers.Binary;
using System.Text;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Tests.Storage;

/// <summary>
/// The outbox row format is versioned (<c>[i32 -2][u8 version]</c>, body, extension fields) and still reads the rows
/// today's files hold, written before versioning (no header), byte for byte as that code wrote them.
/// </summary>
public sealed class OutboxFormatVersionTests
{
    private static readonly IReadOnlySet<long> None = new HashSet<long>();

    /// <summary>A telemetry row as written before versioning: [i32 n][f32 × n][i32 nPixels][u8 × n][i32 label][u8 0].</summary>
    private static byte[] LegacyTelemetryRow(float[] values)
    {
        var b = new List<byte>();
        b.AddRange(I32(values.Length));
        foreach (var v in values) b.AddRange(I32(BitConverter.SingleToInt32Bits(v)));
        b.AddRange(I32(0));
        b.AddRange(I32(-1));
        b.Add(0);
        return b.ToArray();
    }

    /// <summary>A frame row with a prediction as written before versioning.</summary>
    private static byte[] LegacyFrameRow(byte[] pixels, Prediction p)
    {
        var b = new List<byte>();
        b.AddRange(I32(0));
        b.AddRange(I32(pixels.Length));
        b.AddRange(pixels);
        b.AddRange(I32(3));
        b.Add(1);
        b.AddRange(I32(p.Label));
        b.AddRange(I32(BitConverter.SingleToInt32Bits(p.Confidence)));
        b.AddRange(Str(p.Model));
        b.AddRange(I32(p.Version));
        b.AddRange(Str(p.ServedBy));
        b.Add(p.Escalated ? (byte)1 : (byte)0);
        b.Add((byte)p.Note);
        return b.ToArray();
    }

    /// <summary>A batch row as written before versioning: [i32 -1][i32 n][i32 channels], i64 + zig-zag deltas twice, floats.</summary>
    private static byte[] LegacyBatchRow(long firstSeq, long firstTs, int n, float[] values)
    {
        var b = new List<byte>();
        b.AddRange(I32(-1));
        b.AddRange(I32(n));
        b.AddRange(I32(values.Length / n));
        b.AddRange(BitConverter.GetBytes(firstSeq));
        for (var i = 1; i < n; i++) b.Add(2); // delta +1
        b.AddRange(BitConverter.GetBytes(firstTs));
        for (var i = 1; i < n; i++) b.Add(20); // delta +10
        foreach (var v in values) b.AddRange(I32(BitConverter.SingleToInt32Bits(v)));
        return b.ToArray();
    }

    private static byte[] I32(int v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, v);
        return b;
    }

    private static byte[] Str(string s) => [.. I32(Encoding.UTF8.GetByteCount(s)), .. Encoding.UTF8.GetBytes(s)];

    [Fact]
    public void Rows_written_before_versioning_should_decode_unchanged()
    {
        var values = new[] { 1.5f, -0f, float.NaN, float.Epsilon };
        var telemetry = RecordCodec.Decode(new DeviceId("d"), RecordKind.Telemetry, 7, 1_007, SyncPriority.Anomaly, LegacyTelemetryRow(values));
        Rec.Same(new SyncRecord(new DeviceId("d"), RecordKind.Telemetry, 7, 1_007, SyncPriority.Anomaly, values, [], -1, null), telemetry);

        var frame = Rec.Frame("cam", 5);
        Rec.Same(frame, RecordCodec.Decode(frame.DeviceId, RecordKind.Frame, 5, frame.Timestamp, frame.Priority, LegacyFrameRow(frame.Pixels, frame.Prediction!)));

        var batchRow = LegacyBatchRow(100, 5_000, 3, [1f, 2f, 3f, 4f, 5f, 6f]);
        Assert.True(RecordCodec.IsBatch(batchRow));
        Assert.Equal([100L, 101, 102], RecordCodec.BatchSequences(batchRow));
        var batch = RecordCodec.Decode(new DeviceId("d"), RecordKind.Telemetry, 100, 5_000, SyncPriority.Routine, batchRow);
        Assert.Equal([100L, 101, 102], batch.Sequences!);
        Assert.Equal([5_000L, 5_010, 5_020], batch.Timestamps!);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], batch.Values);
    }

    [Fact]
    public void New_rows_should_start_with_the_version_header_and_skip_a_later_releases_extension_fields()
    {
        var record = Rec.Frame("cam", 9);
        var row = RecordCodec.Encode(record);
        Assert.Equal(new byte[] { 0xFE, 0xFF, 0xFF, 0xFF, 1 }, row[..RecordCodec.HeaderBytes]);
        // the body after the header is today's layout
        Assert.Equal(LegacyFrameRow(record.Pixels, record.Prediction!), row[RecordCodec.HeaderBytes..]);

        byte[] extension = [15 << 3 | 0, 0x96, 0x01, 14 << 3 | 2, 3, 1, 2, 3]; // varint field 15, bytes field 14
        Rec.Same(record, RecordCodec.Decode(record.DeviceId, record.Kind, record.Sequence, record.Timestamp, record.Priority, [.. row, .. extension]));

        var batch = SyncRecord.Readings(new DeviceId("d"), SyncPriority.Routine, [1, 2, 3], [10, 20, 30], [1f, 2f, 3f]);
        var batchRow = RecordCodec.Encode(batch);
        Assert.Equal([1L, 2, 3], RecordCodec.BatchSequences([.. batchRow, .. extension]));
        Rec.Same(batch, RecordCodec.Decode(batch.DeviceId, batch.Kind, 1, 10, batch.Priority, [.. batchRow, .. extension]));

        Assert.Throws<InvalidDataException>(() => RecordCodec.Decode(record.DeviceId, record.Kind, 9, 0, record.Priority, [.. row, 0])); // field 0: garbage
        var future = (byte[])row.Clone();
        future[4] = 2;
        Assert.Contains("version 2", Assert.Throws<InvalidDataException>(() => RecordCodec.Decode(record.DeviceId, record.Kind, 9, 0, record.Priority, future)).Message);
    }

    [Fact]
    public void An_outbox_file_holding_rows_from_before_versioning_should_peek_them_next_to_new_rows()
    {
        using var tmp = new TempDb();
        using (var outbox = new SqliteOutbox(tmp.Settings())) outbox.Append([Rec.Telemetry("d", 1)], 1);
        SqliteConnection.ClearAllPools();
        using (var db = new SqliteConnection($"Data Source={tmp.Path}"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                INSERT INTO outbox (device, kind, seq, ts, priority, bytes, created_at, payload, n) VALUES
                    ('d', 1, 2, 1002, 0, 60, 1, $single, 1),
                    ('d', 1, 3, 2000, 0, 60, 1, $batch, 2)
                """;
            cmd.Parameters.AddWithValue("$single", LegacyTelemetryRow([1f, 1.5f, 2f, 2.5f]));
            cmd.Parameters.AddWithValue("$batch", LegacyBatchRow(3, 2_000, 2, [7f, 8f]));
            cmd.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();

        using var reopened = new SqliteOutbox(tmp.Settings());
        var entries = reopened.Peek(10, None);

        Assert.Equal(3, entries.Count);
        Rec.Same(Rec.Telemetry("d", 1), entries[0].Record);
        Assert.Equal([1f, 1.5f, 2f, 2.5f], entries[1].Record.Values);
        Assert.Equal([3L, 4], entries[2].Record.Sequences!);
        Assert.Equal([1L, 2, 3, 4], reopened.Waiting(new DeviceId("d"), RecordKind.Telemetry, 10).Sequences);
    }
}
