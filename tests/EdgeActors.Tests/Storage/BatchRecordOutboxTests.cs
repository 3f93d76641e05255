using EdgeActors.Storage;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Tests.Storage;

/// <summary>The outbox with batch records (one row per accepted telemetry batch of one device and one priority).</summary>
public sealed class BatchRecordOutboxTests
{
    private static readonly IReadOnlySet<long> None = new HashSet<long>();

    /// <summary>A batch record of readings <paramref name="first"/>.. of <paramref name="n"/> (2 channels).</summary>
    private static SyncRecord Run(string device, long first, int n, SyncPriority priority = SyncPriority.Routine) =>
        SyncRecord.Readings(new DeviceId(device), priority,
            Enumerable.Range(0, n).Select(i => first + i).ToArray(),
            Enumerable.Range(0, n).Select(i => 1_700_000_000_000L + 10 * (first + i)).ToArray(),
            Enumerable.Range(0, 2 * n).Select(i => first * 0.25f + i).ToArray());

    private static long SizeOf(SyncRecord r) => SqliteOutbox.SizeOf(r, RecordCodec.Encode(r).Length);

    private static long[] Readings(IEnumerable<OutboxEntry> entries) =>
        entries.SelectMany(e => Enumerable.Range(0, e.Record.Count).Select(i => e.Record.SequenceAt(i))).ToArray();

    [Fact]
    public void A_batch_record_should_round_trip_bit_exact_and_count_its_readings()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        var nan = BitConverter.Int32BitsToSingle(0x7FC0_1234);
        // sequences with a gap and a retried lower one, timestamps going backwards once: deltas of both signs
        var record = SyncRecord.Readings(new DeviceId("dev-é"), SyncPriority.Anomaly, [10, 11, 15, 3, 1L << 40],
            [5_000, 4_000, 1L << 50, -7, 0], [1.5f, -0f, nan, float.MaxValue, float.Epsilon, -1e-38f, 3, 4, 5, 6]);
        Assert.Equal(new AppendResult(6, 0, 0), outbox.Append([record, Rec.Frame("cam", 1)], 9_000)); // 5 readings + 1 frame

        var peeked = outbox.Peek(100, None);
        Assert.Equal(2, peeked.Count);
        var back = peeked.Single(e => e.Record.Kind == RecordKind.Telemetry).Record;
        Rec.Same(record, back);
        Assert.Equal(record.Sequences, back.Sequences);
        Assert.Equal(record.Timestamps, back.Timestamps);
        var stats = outbox.Stats();
        Assert.Equal((6L, 2L), (stats.Backlog, stats.BacklogRecords));
    }

    [Fact]
    public void Peek_should_count_readings_and_take_whole_records()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([Run("a", 1, 100), Run("a", 101, 100), Run("a", 201, 100)], 1);

        Assert.Equal([100, 100], outbox.Peek(250, None).Select(e => e.Record.Count));
        Assert.Equal([100, 100, 100], outbox.Peek(300, None).Select(e => e.Record.Count));
        Assert.Equal([100], outbox.Peek(10, None).Select(e => e.Record.Count)); // the first record goes even when larger
    }

    [Fact]
    public void Peek_should_send_a_stream_with_an_anomaly_record_first_keeping_its_order()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([Run("routine", 1, 50)], 1);
        outbox.Append([Run("mixed", 1, 40)], 2);
        // the next accepted batch of "mixed" (41..50, anomalies at 45 and 46), split as DeviceActor writes it: its
        // anomalies, then its routine readings
        var device = new DeviceId("mixed");
        outbox.Append(
        [
            SyncRecord.Readings(device, SyncPriority.Anomaly, [45, 46], [450, 460], [1, 2, 3, 4]),
            SyncRecord.Readings(device, SyncPriority.Routine, [41, 42, 43, 44, 47, 48, 49, 50], [410, 420, 430, 440, 470, 480, 490, 500],
                [.. Enumerable.Range(0, 16).Select(i => (float)i)]),
        ], 3);
        outbox.Append([Rec.Frame("cam", 1, SyncPriority.Routine)], 4);

        // the stream holding an anomaly goes first, in its own order (its older routine record before the anomaly)
        var order = outbox.Peek(1000, None).Select(e => $"{e.Record.DeviceId}/{e.Record.Sequence}/{e.Record.Priority}").ToArray();
        Assert.Equal(["mixed/1/Routine", "mixed/45/Anomaly", "mixed/41/Routine", "routine/1/Routine", "cam/1/Routine"], order);
    }

    [Fact]
    public void RejectNew_should_keep_the_fitting_prefix_of_a_batch_record_and_refuse_exactly_its_tail()
    {
        using var tmp = new TempDb();
        var whole = Run("d", 1, 100);
        using var outbox = new SqliteOutbox(tmp.Settings(maxBytes: SizeOf(whole) / 2, policy: OutboxFullPolicy.RejectNew));

        var result = outbox.Append([whole], 1);
        Assert.InRange(result.Appended, 1, 99);
        Assert.Equal(100 - result.Appended, result.Refused);
        Assert.Equal(0, result.Overwritten);
        var kept = Readings(outbox.Peek(1000, None));
        Assert.Equal(Enumerable.Range(1, result.Appended).Select(i => (long)i), kept); // a prefix, in order
        var stats = outbox.Stats();
        Assert.Equal(((long)result.Appended, (long)result.Refused, 1L), (stats.Backlog, stats.Refused, stats.BacklogRecords));
        Assert.True(stats.BacklogBytes <= SizeOf(whole) / 2);

        // full: a further record is refused whole, and counted in readings
        Assert.Equal(new AppendResult(0, 100, 0), outbox.Append([Run("d", 101, 100)], 2));
        Assert.Equal(result.Refused + 100, outbox.Stats().Refused);
    }

    [Fact]
    public void OverwriteOldest_should_count_the_readings_of_the_records_it_overwrote()
    {
        using var tmp = new TempDb();
        var one = SizeOf(Run("d", 1, 100));
        using var outbox = new SqliteOutbox(tmp.Settings(maxBytes: one * 3 + one / 2));
        outbox.Append([Run("d", 1, 100, SyncPriority.Anomaly), Run("d", 101, 100), Run("d", 201, 100)], 1);

        var r = outbox.Append([Run("d", 301, 100)], 2);
        Assert.Equal(new AppendResult(100, 0, 100), r); // the oldest ROUTINE record (101..200) went, not the anomaly
        Assert.Equal([1L, 201, 301], outbox.Peek(1000, None).Select(e => e.Record.Sequence));
        var stats = outbox.Stats();
        Assert.Equal((300L, 100L, 3L), (stats.Backlog, stats.Overwritten, stats.BacklogRecords));
    }

    [Fact]
    public void Remove_should_delete_a_set_of_ids_in_one_transaction_and_count_readings_as_synced()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([.. Enumerable.Range(0, 50).Select(i => Run($"d{i % 5}", 1 + 10 * i, 10)), Rec.Frame("cam", 1)], 1);
        var all = outbox.Peek(100_000, None);
        Assert.Equal(51, all.Count);
        var bytesBefore = outbox.Stats().BacklogBytes;
        var transactions = outbox.Transactions;

        var gone = all.Where((_, i) => i % 2 == 0).ToArray(); // 26 of the 51 records
        var ids = gone.Select(e => e.Id).Concat([-1L, 999_999]).ToArray(); // unknown ids are ignored
        outbox.Remove(ids);
        Assert.Equal(transactions + 1, outbox.Transactions);
        var readings = gone.Sum(e => (long)e.Record.Count);
        var stats = outbox.Stats();
        Assert.Equal(readings, stats.Synced);
        Assert.Equal(501 - readings, stats.Backlog);
        Assert.Equal(51 - gone.Length, stats.BacklogRecords);
        Assert.Equal(bytesBefore - gone.Sum(e => (long)e.Bytes), stats.BacklogBytes);
        Assert.Equal(all.Except(gone).Select(e => e.Id).Order(), outbox.Peek(100_000, None).Select(e => e.Id).Order());

        outbox.Remove(ids); // again: nothing left of them, nothing counted twice
        Assert.Equal(readings, outbox.Stats().Synced);
    }

    [Fact]
    public void Expire_should_count_the_readings_of_expired_records()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings() with { TelemetryTtl = TimeSpan.FromSeconds(10) });
        outbox.Append([Run("d", 1, 30)], 0);
        outbox.Append([Run("d", 31, 20)], 50_000);
        Assert.Equal(30, outbox.ExpireTtl(20_000));
        Assert.Equal((30L, 20L), (outbox.Stats().ExpiredByTtl, outbox.Stats().Backlog));
    }

    [Fact]
    public void Waiting_should_return_the_sequences_inside_batch_records()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([Run("d", 1, 100), Run("other", 1, 5)], 1);
        outbox.Append([Run("d", 101, 20, SyncPriority.Anomaly), Run("d", 121, 30)], 2);

        var w = outbox.Waiting(new DeviceId("d"), RecordKind.Telemetry, 1000);
        Assert.Equal(150, w.Count);
        Assert.Equal(Enumerable.Range(1, 150).Select(i => (long)i), w.Sequences);
        var latest = outbox.Waiting(new DeviceId("d"), RecordKind.Telemetry, 40);
        Assert.Equal(150, latest.Count);
        Assert.Equal(Enumerable.Range(111, 40).Select(i => (long)i), latest.Sequences);
        Assert.Equal(0, outbox.Waiting(new DeviceId("d"), RecordKind.Frame, 10).Count);
    }

    [Fact]
    public void WaitingOf_should_answer_batch_records_of_many_devices_like_Waiting_does_for_each()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([Run("d", 1, 100), Run("other", 1, 5)], 1);
        outbox.Append([Run("d", 101, 20, SyncPriority.Anomaly), Run("d", 121, 30), Run("third", 7, 3)], 2);
        DeviceId[] asked = [new("d"), new("other"), new("nobody")];

        foreach (var max in new[] { 1000, 40, 0 })
        {
            var bulk = outbox.WaitingOf(asked, max);
            foreach (var device in asked)
            {
                var expected = outbox.Waiting(device, RecordKind.Telemetry, max);
                var (t, _) = bulk.TryGetValue(device, out var h) ? h : (KindHistory.Empty, KindHistory.Empty);
                Assert.Equal(expected.Count, t.Count);
                Assert.Equal(expected.Sequences, t.Sequences);
            }
        }
        Assert.Equal(Enumerable.Range(111, 40).Select(i => (long)i), outbox.WaitingOf(asked, 40)[new DeviceId("d")].Telemetry.Sequences);
        Assert.Equal(150, outbox.WaitingOf(asked, 40)[new DeviceId("d")].Telemetry.Count);
        Assert.False(outbox.WaitingOf(asked, 40).ContainsKey(new DeviceId("third")));
    }

    [Fact]
    public void An_outbox_file_from_before_batch_records_should_open_and_count_its_rows_as_readings()
    {
        using var tmp = new TempDb();
        using (var old = new SqliteConnection($"Data Source={tmp.Path}"))
        {
            old.Open();
            using var cmd = old.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, kind INT NOT NULL, seq INTEGER NOT NULL,
                    ts INTEGER NOT NULL, priority INT NOT NULL, bytes INT NOT NULL, created_at INTEGER NOT NULL, payload BLOB NOT NULL);
                """;
            cmd.ExecuteNonQuery();
            var r = Rec.Telemetry("d", 7);
            cmd.CommandText = "INSERT INTO outbox (device, kind, seq, ts, priority, bytes, created_at, payload) VALUES ('d', 1, 7, $ts, 0, 60, 1, $p)";
            cmd.Parameters.AddWithValue("$ts", r.Timestamp);
            cmd.Parameters.AddWithValue("$p", RecordCodec.Encode(r));
            cmd.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();

        using var outbox = new SqliteOutbox(tmp.Settings());
        Assert.Equal((1L, 1L), (outbox.Stats().Backlog, outbox.Stats().BacklogRecords));
        outbox.Append([Run("d", 8, 3)], 2);
        Assert.Equal([7L, 8, 9, 10], outbox.Waiting(new DeviceId("d"), RecordKind.Telemetry, 10).Sequences);
        Rec.Same(Rec.Telemetry("d", 7), outbox.Peek(1, None)[0].Record);
    }
}
