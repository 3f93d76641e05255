using EdgeActors.Storage;
using System.Diagnostics;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using Npgsql;
using Xunit.Abstractions;

namespace EdgeActors.Tests.Storage;

/// <summary>Every data store test, run against both stores (<see cref="SqliteDataStoreTests"/>, <see cref="PostgresDataStoreTests"/>).</summary>
public abstract class DataStoreContractTests : IDisposable
{
    private readonly List<IDataStore> _opened = [];
    protected readonly ITestOutputHelper Output;

    protected DataStoreContractTests(ITestOutputHelper output) => Output = output;

    /// <summary>Opens a (new) store on this test's own fresh database.</summary>
    protected abstract IDataStore OpenStoreCore();

    protected abstract void Cleanup();

    protected IDataStore OpenStore()
    {
        var store = OpenStoreCore();
        _opened.Add(store);
        return store;
    }

    public void Dispose()
    {
        foreach (var s in _opened) s.Dispose();
        Cleanup();
        GC.SuppressFinalize(this);
    }

    private static readonly DeviceId Sensor = new("sensor-1");
    private static readonly DeviceId Camera = new("camera-1");

    private static SyncRecord Telemetry(DeviceId device, long seq, long ts, params float[] values) =>
        new(device, RecordKind.Telemetry, seq, ts, SyncPriority.Routine, values, [], -1, null);

    private static SyncRecord Frame(DeviceId device, long seq, long ts, Prediction? prediction)
    {
        var pixels = new byte[28 * 28];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7 + seq);
        return new SyncRecord(device, RecordKind.Frame, seq, ts, SyncPriority.HardExample, [], pixels, (int)(seq % 10), prediction);
    }

    private static void AssertSame(SyncRecord expected, SyncRecord actual)
    {
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.Timestamp, actual.Timestamp);
        Assert.Equal(expected.Priority, actual.Priority);
        Assert.Equal(expected.Values.Select(BitConverter.SingleToInt32Bits), actual.Values.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(expected.Pixels, actual.Pixels);
        Assert.Equal(expected.Label, actual.Label);
        if (expected.Prediction is null) Assert.Null(actual.Prediction);
        else
        {
            Assert.NotNull(actual.Prediction);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected.Prediction.Confidence), BitConverter.SingleToInt32Bits(actual.Prediction.Confidence));
            Assert.Equal(expected.Prediction, actual.Prediction);
        }
    }

    [Fact]
    public void Store_should_round_trip_telemetry_bit_exact()
    {
        using var store = OpenStore();
        SyncRecord[] records =
        [
            Telemetry(Sensor, 1, 1000, 1.5f, -0f, float.Epsilon, float.MaxValue),
            Telemetry(Sensor, 2, 1010, float.NaN, float.NegativeInfinity, 0.1f, 3.14159274f),
            Telemetry(Sensor, 3, 1020, BitConverter.Int32BitsToSingle(0x7FC00001), 1e-38f, -123456.789f, 42f),
            Telemetry(Sensor, 4, 1030) with { Priority = SyncPriority.Anomaly },
        ];
        Assert.Equal(new StoreResult(4, 0), store.Store("edge-a", records, 2000));
        var back = store.History(Sensor, RecordKind.Telemetry, 10);
        Assert.Equal(records.Length, back.Count);
        for (var i = 0; i < records.Length; i++) AssertSame(records[i], back[i]);
        Assert.Equal(4, store.Count(RecordKind.Telemetry));
        Assert.Equal(0, store.Count(RecordKind.Frame));
    }

    [Fact]
    public void Store_should_round_trip_frames_with_and_without_prediction()
    {
        using var store = OpenStore();
        SyncRecord[] records =
        [
            Frame(Camera, 1, 500, null),
            Frame(Camera, 2, 510, new Prediction(7, 0.987654321f, "mnist", 3, "edge-a/node-1", false, PredictionNote.None)),
            Frame(Camera, 3, 520, new Prediction(2, 0.3333333f, "mnist-large", 12, "dc-1", true, PredictionNote.Overflowed)),
            Frame(Camera, 4, 530, new Prediction(-1, 0f, "", 0, "", false, PredictionNote.NotClassified)) with { Label = -1 },
        ];
        Assert.Equal(new StoreResult(4, 0), store.Store("edge-a", records, 1000));
        var back = store.History(Camera, RecordKind.Frame, 100);
        Assert.Equal(records.Length, back.Count);
        for (var i = 0; i < records.Length; i++) AssertSame(records[i], back[i]);
        Assert.Empty(store.History(Camera, RecordKind.Telemetry, 100));
        Assert.Equal(4, store.Count());
    }

    [Fact]
    public void Store_should_be_idempotent_for_a_resent_batch()
    {
        using var store = OpenStore();
        var batch = Enumerable.Range(1, 50).Select(i => Telemetry(Sensor, i, 100 + i, i, i * 2)).ToArray();
        Assert.Equal(new StoreResult(50, 0), store.Store("edge-a", batch, 1000));
        Assert.Equal(0, store.Duplicates());
        Assert.Equal(new StoreResult(0, 50), store.Store("edge-a", batch, 2000));
        Assert.Equal(50, store.Count());
        Assert.Equal(50, store.Duplicates());
        Assert.Equal(new StoreResult(0, 50), store.Store("edge-b", batch, 3000));
        Assert.Equal(100, store.Duplicates());
        Assert.Equal(50, store.Count(RecordKind.Telemetry));
        Assert.Equal(50, store.Lag().Single(l => l.Edge == "edge-a").Records);
        Assert.Equal(0, store.Lag().Single(l => l.Edge == "edge-b").Records);
    }

    /// <summary>A batch record of readings first.. of n of <see cref="Sensor"/> (2 channels).</summary>
    private static SyncRecord Run(long first, int n, SyncPriority priority = SyncPriority.Routine) =>
        SyncRecord.Readings(Sensor, priority, [.. Enumerable.Range(0, n).Select(i => first + i)],
            [.. Enumerable.Range(0, n).Select(i => 10_000 + 10 * (first + i))], [.. Enumerable.Range(0, 2 * n).Select(i => first + i * 0.5f)]);

    [Fact]
    public void Store_should_keep_a_row_per_reading_of_a_batch_record_bit_exact()
    {
        using var store = OpenStore();
        var nan = BitConverter.Int32BitsToSingle(0x7FC0_0001);
        SyncRecord[] batch =
        [
            SyncRecord.Readings(Sensor, SyncPriority.Anomaly, [7, 9], [700, 900], [nan, -0f, float.MaxValue, float.Epsilon]),
            SyncRecord.Readings(Sensor, SyncPriority.Routine, [5, 6, 8], [500, 600, 800], [1, 2, 3, 4, 5, 6]),
            Frame(Camera, 1, 500, null),
        ];
        Assert.Equal(new StoreResult(6, 0), store.Store("edge-a", batch, 2000));
        Assert.Equal(5, store.Count(RecordKind.Telemetry));
        var back = store.History(Sensor, RecordKind.Telemetry, 10);
        var expected = batch.Take(2).SelectMany(r => r.Expand()).OrderBy(r => r.Sequence).ToArray();
        Assert.Equal([5L, 6, 7, 8, 9], back.Select(r => r.Sequence));
        for (var i = 0; i < expected.Length; i++) AssertSame(expected[i], back[i]); // each reading keeps its own priority
        Assert.Equal(new KindHistory(5, [5L, 6, 7, 8, 9]), store.Sequences(Sensor, RecordKind.Telemetry, 10), new KindHistoryComparer());
        Assert.Equal(2000 - 500, store.Lag().Single().LastBatchLagMs); // the oldest reading of the batch, not its first record's
    }

    [Fact]
    public void Store_should_absorb_an_overlapping_resend_of_batch_records_per_reading()
    {
        using var store = OpenStore();
        Assert.Equal(new StoreResult(150, 0), store.Store("edge-a", [Run(1, 100), Run(101, 50)], 1000));
        // after a failover the new edge resends records that overlap what is stored: 51..150 old, 151..200 new
        Assert.Equal(new StoreResult(50, 100), store.Store("edge-b", [Run(51, 60), Run(111, 90, SyncPriority.Anomaly)], 2000));
        Assert.Equal(200, store.Count());
        Assert.Equal(200, store.DistinctKeys());
        Assert.Equal(100, store.Duplicates());
        var back = store.History(Sensor, RecordKind.Telemetry, 1000);
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), back.Select(r => r.Sequence));
        AssertSame(Run(111, 90, SyncPriority.Anomaly).Expand().Single(r => r.Sequence == 160), back[159]); // a new one, from the resend
        AssertSame(Run(101, 50).Expand().Single(r => r.Sequence == 120), back[119]); // an old one: the first kept, not overwritten
        // the same again: all duplicates
        Assert.Equal(new StoreResult(0, 150), store.Store("edge-b", [Run(51, 60), Run(111, 90)], 3000));
    }

    private sealed class KindHistoryComparer : IEqualityComparer<KindHistory>
    {
        public bool Equals(KindHistory? x, KindHistory? y) => x is not null && y is not null && x.Count == y.Count && x.Sequences.SequenceEqual(y.Sequences);

        public int GetHashCode(KindHistory obj) => obj.Count.GetHashCode();
    }

    [Fact]
    public void Store_should_count_duplicates_inside_one_batch_and_keep_the_first()
    {
        using var store = OpenStore();
        var first = Telemetry(Sensor, 5, 100, 1f);
        var batch = new[] { first, Telemetry(Sensor, 6, 101, 2f), first with { Values = [9f] }, first, Telemetry(Sensor, 6, 101, 2f) };
        Assert.Equal(new StoreResult(2, 3), store.Store("edge-a", batch, 1000));
        Assert.Equal(2, store.Count());
        Assert.Equal(3, store.Duplicates());
        var back = store.History(Sensor, RecordKind.Telemetry, 10);
        Assert.Equal([5L, 6L], back.Select(r => r.Sequence));
        AssertSame(first, back[0]);
    }

    [Fact]
    public void History_should_return_the_latest_in_ascending_sequence_order()
    {
        using var store = OpenStore();
        store.Store("edge-a", [Telemetry(Sensor, 7, 7, 7f), Telemetry(Sensor, 3, 3, 3f), Telemetry(Sensor, 9, 9, 9f)], 100);
        store.Store("edge-a", [Telemetry(Sensor, 1, 1, 1f), Telemetry(Sensor, 8, 8, 8f)], 200);
        store.Store("edge-b", [Telemetry(Sensor, 2, 2, 2f), Telemetry(new DeviceId("other"), 100, 100, 0f)], 300);
        Assert.Equal([1L, 2L, 3L, 7L, 8L, 9L], store.History(Sensor, RecordKind.Telemetry, 100).Select(r => r.Sequence));
        Assert.Equal([7L, 8L, 9L], store.History(Sensor, RecordKind.Telemetry, 3).Select(r => r.Sequence));
        Assert.Equal([9f], store.History(Sensor, RecordKind.Telemetry, 1).Single().Values);
        Assert.Empty(store.History(Sensor, RecordKind.Telemetry, 0));
        Assert.Empty(store.History(new DeviceId("nobody"), RecordKind.Telemetry, 10));
    }

    [Fact]
    public void SequencesOf_should_answer_many_devices_like_Sequences_does_for_each()
    {
        using var store = OpenStore();
        store.Store("edge-a", [Telemetry(Sensor, 7, 7, 7f), Telemetry(Sensor, 3, 3, 3f), Telemetry(Sensor, 9, 9, 9f), Frame(Sensor, 4, 4, null)], 100);
        store.Store("edge-b", [Telemetry(Sensor, 1, 1, 1f), Frame(Camera, 5, 5, null), Frame(Camera, 6, 6, null), Telemetry(new DeviceId("other"), 100, 100, 0f)], 200);
        var asked = new[] { Sensor, Camera, new DeviceId("nobody"), new DeviceId("dev-'quote\"") };
        var bulk = store.SequencesOf(asked, 3);
        foreach (var d in asked)
        {
            var (t, f) = bulk.TryGetValue(d, out var h) ? h : (KindHistory.Empty, KindHistory.Empty);
            var single = (store.Sequences(d, RecordKind.Telemetry, 3), store.Sequences(d, RecordKind.Frame, 3));
            Assert.Equal(single.Item1.Count, t.Count);
            Assert.Equal(single.Item1.Sequences, t.Sequences);
            Assert.Equal(single.Item2.Count, f.Count);
            Assert.Equal(single.Item2.Sequences, f.Sequences);
        }
        Assert.Equal([3L, 7L, 9L], bulk[Sensor].Telemetry.Sequences);
        Assert.Equal(4, bulk[Sensor].Telemetry.Count);
        Assert.False(bulk.ContainsKey(new DeviceId("other"))); // not asked
        Assert.Empty(store.SequencesOf([], 10));
    }

    [Fact]
    public void Sequences_should_count_a_devices_rows_and_return_the_latest_ascending()
    {
        using var store = OpenStore();
        store.Store("edge-a", [Telemetry(Sensor, 7, 7, 7f), Telemetry(Sensor, 3, 3, 3f), Telemetry(Sensor, 9, 9, 9f), Frame(Sensor, 4, 4, null)], 100);
        store.Store("edge-b", [Telemetry(Sensor, 3, 3, 3f), Telemetry(Sensor, 1, 1, 1f), Telemetry(new DeviceId("other"), 100, 100, 0f)], 200);
        var telemetry = store.Sequences(Sensor, RecordKind.Telemetry, 3);
        Assert.Equal(4, telemetry.Count); // 3 was resent: one row
        Assert.Equal([3L, 7L, 9L], telemetry.Sequences);
        Assert.Equal([4L], store.Sequences(Sensor, RecordKind.Frame, 10).Sequences);
        Assert.Equal(4, store.Sequences(Sensor, RecordKind.Telemetry, 0).Count);
        Assert.Empty(store.Sequences(Sensor, RecordKind.Telemetry, 0).Sequences);
        Assert.Equal(0, store.Sequences(new DeviceId("nobody"), RecordKind.Telemetry, 10).Count);
    }

    [Fact]
    public void Lag_should_be_tracked_per_edge()
    {
        using var store = OpenStore();
        Assert.Empty(store.Lag());
        store.Store("edge-a", [Telemetry(Sensor, 1, 1_000, 1f), Telemetry(Sensor, 2, 900, 1f)], 5_000);
        store.Store("edge-b", [Frame(Camera, 1, 4_000, null)], 6_000);
        store.Store("edge-a", [Telemetry(Sensor, 3, 9_500, 1f), Telemetry(Sensor, 1, 1_000, 1f)], 10_000);
        var lag = store.Lag().OrderBy(l => l.Edge).ToArray();
        Assert.Equal(
            [new EdgeLag("edge-a", 10_000, 9_000, 3), new EdgeLag("edge-b", 6_000, 2_000, 1)],
            lag);
        store.Store("edge-b", [], 7_000);
        Assert.Equal(new EdgeLag("edge-b", 7_000, 0, 1), store.Lag().Single(l => l.Edge == "edge-b"));
    }

    [Fact]
    public void Store_should_survive_reopen()
    {
        var records = new[]
        {
            Telemetry(Sensor, 1, 10, 0.5f, 0.25f),
            Frame(Camera, 1, 20, new Prediction(3, 0.75f, "mnist", 1, "edge-a", false, PredictionNote.EscalationUnavailable)),
        };
        using (var store = OpenStore())
        {
            store.Store("edge-a", records, 100);
            store.Store("edge-a", records.Take(1).ToArray(), 200);
        }
        using (var reopened = OpenStore())
        {
            Assert.Equal(2, reopened.Count());
            Assert.Equal(1, reopened.Duplicates());
            Assert.Equal(new EdgeLag("edge-a", 200, 190, 2), reopened.Lag().Single());
            AssertSame(records[0], reopened.History(Sensor, RecordKind.Telemetry, 10).Single());
            AssertSame(records[1], reopened.History(Camera, RecordKind.Frame, 10).Single());
            Assert.Equal(new StoreResult(0, 2), reopened.Store("edge-a", records, 300));
            Assert.Equal(3, reopened.Duplicates());
        }
    }

    [Fact]
    public void Store_should_accept_an_empty_batch()
    {
        using var store = OpenStore();
        Assert.Equal(new StoreResult(0, 0), store.Store("edge-a", [], 1234));
        Assert.Equal(0, store.Count());
        Assert.Equal(0, store.Duplicates());
        Assert.Equal(new EdgeLag("edge-a", 1234, 0, 0), store.Lag().Single());
    }

    /// <summary>Not asserted: 100 batches of 1,000 telemetry records × 4 channels; prints records/s.</summary>
    [Fact]
    public void Store_should_report_throughput_for_1000_record_batches()
    {
        using var store = OpenStore();
        const int batches = 100, perBatch = 1_000;
        var devices = Enumerable.Range(0, 50).Select(i => new DeviceId($"sensor-{i}")).ToArray();
        var data = new SyncRecord[batches][];
        for (var b = 0; b < batches; b++)
        {
            data[b] = new SyncRecord[perBatch];
            for (var i = 0; i < perBatch; i++)
            {
                var n = b * perBatch + i;
                data[b][i] = Telemetry(devices[n % devices.Length], n / devices.Length, n, n * 0.5f, n * 0.25f, -n, 1f / (n + 1));
            }
        }
        store.Store("warm-up", [Telemetry(new DeviceId("warm"), 1, 1, 1f, 2f, 3f, 4f)], 1);
        var sw = Stopwatch.StartNew();
        for (var b = 0; b < batches; b++) Assert.Equal(perBatch, store.Store("edge-a", data[b], 1_000_000).Stored);
        sw.Stop();
        var rate = batches * perBatch / sw.Elapsed.TotalSeconds;
        var line = $"{store.Kind}: {batches} batches x {perBatch} telemetry records (4 channels) in {sw.Elapsed.TotalMilliseconds:F0} ms = {rate:F0} records/s";
        Output.WriteLine(line);
        Console.WriteLine("THROUGHPUT " + line);
        Assert.Equal(batches * perBatch + 1, store.Count());
    }
}

public sealed class SqliteDataStoreTests(ITestOutputHelper output) : DataStoreContractTests(output)
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-store-" + Guid.NewGuid().ToString("N"));

    protected override IDataStore OpenStoreCore() => new SqliteDataStore(Path.Combine(_dir, "sub", "store.db"));

    protected override void Cleanup()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

public sealed class PostgresDataStoreTests(ITestOutputHelper output) : DataStoreContractTests(output)
{
    public const string EnvVar = "EDGEACTORS_TEST_POSTGRES";

    private readonly string _schema = "t_" + Guid.NewGuid().ToString("N");
    private string? _admin;

    private static string ConnectionString() =>
        Environment.GetEnvironmentVariable(EnvVar) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                $"{EnvVar} is not set: the PostgreSQL data store tests need a server. Run (as root or with sudo) " +
                "`bash scripts/postgres-setup.sh` and then " +
                $"`export {EnvVar}='Host=127.0.0.1;Port=5432;Username=edgeactors;Password=edgeactors;Database=edgeactors_test'` " +
                "(the script prints this connection string) before `dotnet test`.");

    protected override IDataStore OpenStoreCore()
    {
        if (_admin is null)
        {
            var admin = ConnectionString();
            using (var c = new NpgsqlConnection(admin))
            {
                c.Open();
                using var cmd = new NpgsqlCommand($"CREATE SCHEMA {_schema}", c);
                cmd.ExecuteNonQuery();
            }
            _admin = admin;
        }
        var builder = new NpgsqlConnectionStringBuilder(_admin) { SearchPath = _schema };
        return new PostgresDataStore(builder.ConnectionString);
    }

    protected override void Cleanup()
    {
        if (_admin is null) return;
        using var c = new NpgsqlConnection(_admin);
        c.Open();
        using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {_schema} CASCADE", c);
        cmd.ExecuteNonQuery();
    }
}
