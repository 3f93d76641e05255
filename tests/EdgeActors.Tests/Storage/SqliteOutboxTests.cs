using EdgeActors.Storage;
using Akka.Configuration;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Storage;

public sealed class SqliteOutboxTests
{
    private static readonly IReadOnlySet<long> None = new HashSet<long>();

    [Fact]
    public void WaitingOf_should_answer_many_devices_in_one_query_like_Waiting_does_for_each()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([Rec.Telemetry("dev-a", 5), Rec.Telemetry("dev-a", 3), Rec.Telemetry("dev-a", 9), Rec.Telemetry("dev-a", 9),
            Rec.Frame("dev-a", 2, withPrediction: false), Rec.Telemetry("dev-b", 1), Rec.Telemetry("dev-c", 7)], nowMs: 1);
        DeviceId[] asked = [new("dev-a"), new("dev-b"), new("nobody")];
        var bulk = outbox.WaitingOf(asked, 2);
        foreach (var d in asked)
        {
            var (t, f) = bulk.TryGetValue(d, out var h) ? h : (KindHistory.Empty, KindHistory.Empty);
            Assert.Equal(outbox.Waiting(d, RecordKind.Telemetry, 2).Count, t.Count);
            Assert.Equal(outbox.Waiting(d, RecordKind.Telemetry, 2).Sequences, t.Sequences);
            Assert.Equal(outbox.Waiting(d, RecordKind.Frame, 2).Sequences, f.Sequences);
        }
        // distinct, ascending, from the newest rows back (rows 9, 9, 3 here: a device's sequences normally grow with its rows)
        Assert.Equal([3L, 9L], bulk[new DeviceId("dev-a")].Telemetry.Sequences);
        Assert.Equal(4, bulk[new DeviceId("dev-a")].Telemetry.Count);
        Assert.False(bulk.ContainsKey(new DeviceId("dev-c")));
    }

    [Fact]
    public void Append_peek_remove_should_round_trip_records_bit_exact()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        var nan = BitConverter.Int32BitsToSingle(0x7FC0_1234);
        SyncRecord[] records =
        [
            Rec.Telemetry("dev-a", 1) with { Values = [1.5f, -0f, nan, float.MaxValue] },
            Rec.Frame("dev-a", 2, withPrediction: true),
            Rec.Frame("dev-a", 3, withPrediction: false),
            Rec.Telemetry("dev-é", 4, channels: 0),
        ];
        var result = outbox.Append(records, nowMs: 5_000);
        Assert.Equal(new AppendResult(4, 0, 0), result);

        var peeked = outbox.Peek(10, None);
        Assert.Equal(4, peeked.Count);
        foreach (var e in peeked)
        {
            Rec.Same(records.Single(r => r.Sequence == e.Record.Sequence), e.Record);
            Assert.Equal(5_000, e.CreatedAtMs);
            Assert.True(e.Bytes > 0);
        }
        Assert.Equal(4, outbox.Stats().Backlog);
        Assert.Equal(peeked.Sum(e => (long)e.Bytes), outbox.Stats().BacklogBytes);

        outbox.Remove(peeked.Take(3).Select(e => e.Id).ToArray());
        var stats = outbox.Stats();
        Assert.Equal(1, stats.Backlog);
        Assert.Equal(3, stats.Synced);
        Assert.Single(outbox.Peek(10, None));
    }

    [Fact]
    public void Peek_should_order_streams_by_priority_but_keep_each_streams_order()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([Rec.Telemetry("B", 1), Rec.Telemetry("B", 2)], 1);
        outbox.Append([Rec.Frame("A", 1, SyncPriority.Routine), Rec.Frame("A", 2, SyncPriority.HardExample)], 2);
        outbox.Append([Rec.Telemetry("A", 1), Rec.Telemetry("A", 2, SyncPriority.Anomaly)], 3);
        outbox.Append([Rec.Telemetry("B", 3)], 4);

        var order = outbox.Peek(100, None).Select(e => $"{e.Record.DeviceId}/{e.Record.Kind}/{e.Record.Sequence}").ToArray();

        // A's frames (hard example waiting) first — the routine A frame 1 stays before A frame 2 — then A telemetry
        // (anomaly), then B's routine telemetry in order.
        Assert.Equal(["A/Frame/1", "A/Frame/2", "A/Telemetry/1", "A/Telemetry/2", "B/Telemetry/1", "B/Telemetry/2", "B/Telemetry/3"], order);
        Assert.Equal(3, outbox.Peek(3, None).Count);
    }

    [Fact]
    public void Peek_should_skip_in_flight_ids_without_overtaking_them()
    {
        using var tmp = new TempDb();
        using var outbox = new SqliteOutbox(tmp.Settings());
        outbox.Append([Rec.Telemetry("A", 1), Rec.Telemetry("A", 2), Rec.Telemetry("A", 3), Rec.Telemetry("B", 1), Rec.Telemetry("B", 2)], 1);
        var all = outbox.Peek(100, None);
        var a = all.Where(e => e.Record.DeviceId.Value == "A").ToArray();
        var b = all.Where(e => e.Record.DeviceId.Value == "B").ToArray();

        // A's first record in flight: nothing of A may go; B goes.
        var p1 = outbox.Peek(100, new HashSet<long> { a[0].Id });
        Assert.Equal(b.Select(e => e.Id), p1.Select(e => e.Id));

        // A's second in flight (first acked meanwhile would be removed; here it is still waiting): A's first goes, not its third.
        var p2 = outbox.Peek(100, new HashSet<long> { a[1].Id, b[0].Id });
        Assert.Equal([a[0].Id], p2.Select(e => e.Id));
    }

    [Fact]
    public void RejectNew_should_refuse_records_beyond_max_bytes_and_count_them()
    {
        using var tmp = new TempDb();
        var one = SqliteOutbox.SizeOf(Rec.Telemetry("d", 1), RecordPayloadSize(Rec.Telemetry("d", 1)));
        using var outbox = new SqliteOutbox(tmp.Settings(maxBytes: one * 5 + one / 2, policy: OutboxFullPolicy.RejectNew));

        Assert.Equal(new AppendResult(3, 0, 0), outbox.Append([.. Enumerable.Range(1, 3).Select(i => Rec.Telemetry("d", i))], 1));
        Assert.Equal(new AppendResult(2, 2, 0), outbox.Append([.. Enumerable.Range(4, 4).Select(i => Rec.Telemetry("d", i))], 2));
        Assert.Equal(new AppendResult(0, 1, 0), outbox.Append([Rec.Telemetry("d", 8)], 3));

        var stats = outbox.Stats();
        Assert.Equal(5, stats.Backlog);
        Assert.Equal(3, stats.Refused);
        Assert.True(stats.BacklogBytes <= one * 5 + one / 2);
        Assert.Equal([1L, 2, 3, 4, 5], outbox.Peek(100, None).Select(e => e.Record.Sequence));
    }

    [Fact]
    public void OverwriteOldest_should_drop_oldest_routine_records_first_and_count_them()
    {
        using var tmp = new TempDb();
        var one = SqliteOutbox.SizeOf(Rec.Telemetry("d", 1), RecordPayloadSize(Rec.Telemetry("d", 1)));
        using var outbox = new SqliteOutbox(tmp.Settings(maxBytes: one * 4));
        outbox.Append([Rec.Telemetry("d", 1, SyncPriority.Anomaly), Rec.Telemetry("d", 2), Rec.Telemetry("d", 3), Rec.Telemetry("d", 4)], 1);

        var r = outbox.Append([Rec.Telemetry("d", 5), Rec.Telemetry("d", 6)], 2);
        Assert.Equal(new AppendResult(2, 0, 2), r);
        Assert.Equal([1L, 4, 5, 6], outbox.Peek(100, None).Select(e => e.Record.Sequence));

        // Only the anomaly is not routine; once routine ones are gone, the oldest of any priority goes.
        r = outbox.Append([Rec.Telemetry("d", 7, SyncPriority.Anomaly), Rec.Telemetry("d", 8, SyncPriority.Anomaly),
            Rec.Telemetry("d", 9, SyncPriority.Anomaly), Rec.Telemetry("d", 10, SyncPriority.Anomaly)], 3);
        Assert.Equal(new AppendResult(4, 0, 4), r);
        Assert.Equal([7L, 8, 9, 10], outbox.Peek(100, None).Select(e => e.Record.Sequence));
        Assert.Equal(6, outbox.Stats().Overwritten);
        Assert.Equal(one * 4, outbox.Stats().BacklogBytes);
    }

    [Fact]
    public void ExpireTtl_should_delete_records_past_their_kinds_ttl()
    {
        using var tmp = new TempDb();
        var settings = tmp.Settings() with { TelemetryTtl = TimeSpan.FromSeconds(10), FrameTtl = TimeSpan.FromSeconds(100) };
        using var outbox = new SqliteOutbox(settings);
        outbox.Append([Rec.Telemetry("d", 1), Rec.Frame("d", 1)], 0);
        outbox.Append([Rec.Telemetry("d", 2), Rec.Frame("d", 2)], 50_000);

        Assert.Equal(0, outbox.ExpireTtl(9_999));
        Assert.Equal(1, outbox.ExpireTtl(10_000)); // telemetry 1
        Assert.Equal(1, outbox.ExpireTtl(60_000)); // telemetry 2
        Assert.Equal(1, outbox.ExpireTtl(100_000)); // frame 1
        var stats = outbox.Stats();
        Assert.Equal(1, stats.Backlog);
        Assert.Equal(3, stats.ExpiredByTtl);
        Assert.Equal(50_000, stats.OldestCreatedAtMs);
    }

    [Fact]
    public void Stats_should_survive_reopening_the_file()
    {
        using var tmp = new TempDb();
        var one = SqliteOutbox.SizeOf(Rec.Telemetry("d", 1), RecordPayloadSize(Rec.Telemetry("d", 1)));
        var settings = tmp.Settings(maxBytes: one * 3, policy: OutboxFullPolicy.RejectNew) with { TelemetryTtl = TimeSpan.FromSeconds(1) };
        OutboxStats before;
        using (var outbox = new SqliteOutbox(settings))
        {
            outbox.Append([Rec.Telemetry("d", 1), Rec.Telemetry("d", 2), Rec.Telemetry("d", 3), Rec.Telemetry("d", 4)], 0);
            outbox.Remove([outbox.Peek(1, None)[0].Id]);
            outbox.Append([Rec.Telemetry("d", 5)], 5_000);
            outbox.ExpireTtl(1_000);
            before = outbox.Stats();
        }
        Assert.Equal(new OutboxStats(1, one, 5_000, 1, 2, 0, 1) { BacklogRecords = 1 }, before);
        using var reopened = new SqliteOutbox(settings with { Policy = OutboxFullPolicy.OverwriteOldest });
        Assert.Equal(before, reopened.Stats());
    }

    [Fact]
    public void Appended_records_should_be_readable_from_a_second_connection_without_dispose()
    {
        using var tmp = new TempDb();
        var first = new SqliteOutbox(tmp.Settings()); // deliberately not disposed before the second one reads
        try
        {
            var records = Enumerable.Range(1, 100).Select(i => i % 10 == 0 ? Rec.Frame("cam", i) : Rec.Telemetry("t", i)).ToArray();
            first.Append(records, 42);
            using var second = new SqliteOutbox(tmp.Settings());
            var read = second.Peek(1000, None);
            Assert.Equal(100, read.Count);
            foreach (var e in read) Rec.Same(records.Single(r => r.Sequence == e.Record.Sequence), e.Record);
            Assert.Equal(first.Stats().BacklogBytes, second.Stats().BacklogBytes);
        }
        finally
        {
            first.Dispose();
        }
    }

    [Fact]
    public void FromConfig_should_parse_every_key()
    {
        var s = OutboxSettings.FromConfig(ConfigurationFactory.ParseString("""
            path = "/tmp/x.db"
            max-bytes = 10MiB
            full-policy = reject-new
            telemetry-ttl = 1h
            frame-ttl = 2d
            synchronous-full = on
            writer { max-batch = 500, max-delay = 5ms }
            """));
        Assert.Equal(new OutboxSettings
        {
            Path = "/tmp/x.db", MaxBytes = 10L * 1024 * 1024, Policy = OutboxFullPolicy.RejectNew, TelemetryTtl = TimeSpan.FromHours(1),
            FrameTtl = TimeSpan.FromDays(2), SynchronousFull = true, WriterMaxBatch = 500, WriterMaxDelay = TimeSpan.FromMilliseconds(5),
        }, s);
        Assert.Equal(OutboxSettings.Default, OutboxSettings.FromConfig(null));
    }

    [Theory]
    [InlineData("full-policy = drop-all", "full-policy")]
    [InlineData("max-bytes = 0", "max-bytes")]
    [InlineData("telemetry-ttl = 0s", "telemetry-ttl")]
    [InlineData("writer.max-batch = 0", "writer.max-batch")]
    [InlineData("writer.max-batch = lots", "writer.max-batch")]
    [InlineData("path = \"\"", "path")]
    public void FromConfig_should_reject_bad_values_naming_the_key(string hocon, string key)
    {
        var e = Assert.Throws<ArgumentException>(() => OutboxSettings.FromConfig(ConfigurationFactory.ParseString(hocon)));
        Assert.Contains("edgeactors.outbox." + key, e.Message);
    }

    private static int RecordPayloadSize(SyncRecord r) => RecordCodec.HeaderBytes + 4 + 4 * r.Values.Length + 4 + r.Pixels.Length + 4 + 1;
}
