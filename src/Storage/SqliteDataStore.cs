using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Storage;

/// <summary>
/// The datacenter data store on a SQLite file (WAL). Same schema as <see cref="PostgresDataStore"/>, one row per
/// reading or frame (a batch record is stored as its readings). One connection, calls serialized by a lock
/// (thread-safe). Each <see cref="Store"/> is one immediate transaction of single-row inserts through one statement
/// prepared once per connection; a batch record's common columns are bound once and only its readings' sequence,
/// timestamp and values per row. New files get a WITHOUT ROWID table: the rows live in the primary-key b-tree
/// (device, kind, seq), one b-tree insert per reading instead of two, and per-device range queries read it directly.
/// </summary>
public sealed class SqliteDataStore : IDataStore
{
    private readonly object _gate = new();
    private readonly SqliteConnection _connection;
    private bool _disposed;

    public string Kind => "sqlite";

    public string DatabasePath { get; }

    public SqliteDataStore(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("database path is empty", nameof(path));
        DatabasePath = Path.GetFullPath(path);
        _connection = SqliteFiles.OpenDedicated(DatabasePath, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS records (
                device TEXT NOT NULL,
                kind SMALLINT NOT NULL,
                seq BIGINT NOT NULL,
                ts BIGINT NOT NULL,
                priority SMALLINT NOT NULL,
                edge TEXT NOT NULL,
                stored_at BIGINT NOT NULL,
                channel_values BLOB NOT NULL,
                pixels BLOB NOT NULL,
                label INT NOT NULL,
                pred_label INT NULL,
                pred_confidence REAL NULL,
                pred_model TEXT NULL,
                pred_version INT NULL,
                pred_served_by TEXT NULL,
                pred_escalated INT NULL,
                pred_note SMALLINT NULL,
                PRIMARY KEY (device, kind, seq)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS edges (
                edge TEXT PRIMARY KEY,
                last_stored_at BIGINT NOT NULL,
                last_batch_lag_ms BIGINT NOT NULL,
                records BIGINT NOT NULL);
            CREATE TABLE IF NOT EXISTS counters (
                name TEXT PRIMARY KEY,
                value BIGINT NOT NULL);
            INSERT INTO counters (name, value) VALUES ('duplicates', 0) ON CONFLICT (name) DO NOTHING;
            """);
    }

    public StoreResult Store(string edge, IReadOnlyList<SyncRecord> records, long nowMs)
    {
        DataStoreCodec.Validate(edge, records);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var tx = _connection.BeginTransaction(deferred: false);
            // one prepared single-row statement, bound by position through SQLite's own API (Microsoft.Data.Sqlite's
            // per-parameter name lookup and boxing cost more than the insert itself), inside this transaction
            var stored = InsertRaw(edge, nowMs, records);
            var duplicates = DataStoreCodec.Readings(records) - stored;
            using (var update = _connection.CreateCommand())
            {
                update.Transaction = tx;
                update.CommandText = """
                    UPDATE counters SET value = value + $dup WHERE name = 'duplicates';
                    INSERT INTO edges (edge, last_stored_at, last_batch_lag_ms, records) VALUES ($edge, $now, $lag, $stored)
                    ON CONFLICT (edge) DO UPDATE SET last_stored_at = excluded.last_stored_at,
                        last_batch_lag_ms = excluded.last_batch_lag_ms, records = edges.records + excluded.records;
                    """;
                update.Parameters.AddWithValue("$dup", (long)duplicates);
                update.Parameters.AddWithValue("$edge", edge);
                update.Parameters.AddWithValue("$now", nowMs);
                update.Parameters.AddWithValue("$lag", DataStoreCodec.BatchLag(records, nowMs));
                update.Parameters.AddWithValue("$stored", (long)stored);
                update.ExecuteNonQuery();
            }
            tx.Commit();
            return new StoreResult(stored, duplicates);
        }
    }

    /// <summary>The prepared single-row insert (positional parameters), kept for the connection's lifetime.</summary>
    private SQLitePCL.sqlite3_stmt? _rawInsert;

    private int InsertRaw(string edge, long nowMs, IReadOnlyList<SyncRecord> records)
    {
        var db = _connection.Handle!;
        if (_rawInsert is null)
        {
            var sql = $"INSERT INTO records ({DataStoreCodec.Columns}) VALUES ({string.Join(",", Enumerable.Range(1, ColumnsPerRow).Select(i => "?" + i))}) ON CONFLICT (device, kind, seq) DO NOTHING";
            Check(SQLitePCL.raw.sqlite3_prepare_v2(db, sql, out var stmt), db);
            _rawInsert = stmt;
        }
        var st = _rawInsert;
        var before = SQLitePCL.raw.sqlite3_total_changes(db);
        foreach (var r in records)
        {
            // bindings survive sqlite3_reset: a batch record's common columns are bound once for all its readings
            SQLitePCL.raw.sqlite3_bind_text(st, 1, r.DeviceId.Value);
            SQLitePCL.raw.sqlite3_bind_int64(st, 2, (int)r.Kind);
            SQLitePCL.raw.sqlite3_bind_int64(st, 5, (int)r.Priority);
            SQLitePCL.raw.sqlite3_bind_text(st, 6, edge);
            SQLitePCL.raw.sqlite3_bind_int64(st, 7, nowMs);
            SQLitePCL.raw.sqlite3_bind_blob(st, 9, r.Pixels ?? []);
            SQLitePCL.raw.sqlite3_bind_int64(st, 10, r.Label);
            var p = r.Prediction;
            if (p is null)
            {
                for (var c = 11; c <= ColumnsPerRow; c++) SQLitePCL.raw.sqlite3_bind_null(st, c);
            }
            else
            {
                SQLitePCL.raw.sqlite3_bind_int64(st, 11, p.Label);
                SQLitePCL.raw.sqlite3_bind_double(st, 12, p.Confidence); // REAL is a double: every float round-trips exactly
                SQLitePCL.raw.sqlite3_bind_text(st, 13, p.Model ?? "");
                SQLitePCL.raw.sqlite3_bind_int64(st, 14, p.Version);
                SQLitePCL.raw.sqlite3_bind_text(st, 15, p.ServedBy ?? "");
                SQLitePCL.raw.sqlite3_bind_int64(st, 16, p.Escalated ? 1 : 0);
                SQLitePCL.raw.sqlite3_bind_int64(st, 17, (int)p.Note);
            }
            for (var i = 0; i < r.Count; i++)
            {
                SQLitePCL.raw.sqlite3_bind_int64(st, 3, r.SequenceAt(i));
                SQLitePCL.raw.sqlite3_bind_int64(st, 4, r.TimestampAt(i));
                SQLitePCL.raw.sqlite3_bind_blob(st, 8, DataStoreCodec.FloatBytes(r.ValuesAt(i)));
                var rc = SQLitePCL.raw.sqlite3_step(st);
                SQLitePCL.raw.sqlite3_reset(st);
                if (rc != SQLitePCL.raw.SQLITE_DONE) Check(rc, db);
            }
        }
        return SQLitePCL.raw.sqlite3_total_changes(db) - before;
    }

    private static void Check(int rc, SQLitePCL.sqlite3 db)
    {
        if (rc is not (SQLitePCL.raw.SQLITE_OK or SQLitePCL.raw.SQLITE_DONE))
            throw new Microsoft.Data.Sqlite.SqliteException($"SQLite error {rc}: {SQLitePCL.raw.sqlite3_errmsg(db).utf8_to_string()}", rc);
    }

    private const int ColumnsPerRow = 17;


    public IReadOnlyList<SyncRecord> History(DeviceId device, RecordKind kind, int max)
    {
        if (max <= 0) return [];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText =
                "SELECT " + DataStoreCodec.HistoryColumns + " FROM records WHERE device = $device AND kind = $kind " +
                "ORDER BY seq DESC LIMIT $max";
            cmd.Parameters.AddWithValue("$device", device.Value);
            cmd.Parameters.AddWithValue("$kind", (int)kind);
            cmd.Parameters.AddWithValue("$max", max);
            var list = new List<SyncRecord>();
            using (var r = cmd.ExecuteReader())
                while (r.Read()) list.Add(DataStoreCodec.ReadRecord(r));
            list.Reverse();
            return list;
        }
    }

    public KindHistory Sequences(DeviceId device, RecordKind kind, int max)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var count = _connection.CreateCommand();
            count.CommandText = "SELECT COUNT(*) FROM records WHERE device = $device AND kind = $kind";
            count.Parameters.AddWithValue("$device", device.Value);
            count.Parameters.AddWithValue("$kind", (int)kind);
            var n = Convert.ToInt64(count.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            if (n == 0 || max <= 0) return new KindHistory(n, []);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT seq FROM records WHERE device = $device AND kind = $kind ORDER BY seq DESC LIMIT $max";
            cmd.Parameters.AddWithValue("$device", device.Value);
            cmd.Parameters.AddWithValue("$kind", (int)kind);
            cmd.Parameters.AddWithValue("$max", max);
            var list = new List<long>();
            using (var r = cmd.ExecuteReader())
                while (r.Read()) list.Add(r.GetInt64(0));
            list.Reverse();
            return new KindHistory(n, list.ToArray());
        }
    }

    /// <summary>One query for the whole batch: the device ids travel as one JSON array parameter.</summary>
    public IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> SequencesOf(IReadOnlyCollection<DeviceId> devices, int max)
    {
        var builder = new BulkHistoryBuilder();
        if (devices.Count == 0) return builder.Build();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = """
                SELECT device, kind, seq, n FROM (
                    SELECT device, kind, seq, COUNT(*) OVER (PARTITION BY device, kind) AS n,
                           ROW_NUMBER() OVER (PARTITION BY device, kind ORDER BY seq DESC) AS rn
                    FROM records WHERE device IN (SELECT value FROM json_each($devices)))
                WHERE rn <= $max OR $max <= 0 ORDER BY device, kind, seq DESC
                """;
            cmd.Parameters.AddWithValue("$devices", System.Text.Json.JsonSerializer.Serialize(devices.Select(d => d.Value)));
            cmd.Parameters.AddWithValue("$max", max);
            using var r = cmd.ExecuteReader();
            while (r.Read()) builder.Add(r.GetString(0), r.GetInt32(1), r.GetInt64(2), r.GetInt64(3));
        }
        return max <= 0 ? Counts(builder) : builder.Build();
    }

    /// <summary>max 0: counts only (what <see cref="Sequences"/> answers with max 0).</summary>
    private static IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> Counts(BulkHistoryBuilder builder) =>
        builder.Build().ToDictionary(kv => kv.Key, kv => (new KindHistory(kv.Value.Telemetry.Count, []), new KindHistory(kv.Value.Frames.Count, [])));

    public long DistinctKeys()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT COUNT(*) FROM (SELECT DISTINCT device, kind, seq FROM records)";
            return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public long Count(RecordKind? kind = null)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _connection.CreateCommand();
            if (kind is { } k)
            {
                cmd.CommandText = "SELECT COUNT(*) FROM records WHERE kind = $kind";
                cmd.Parameters.AddWithValue("$kind", (int)k);
            }
            else cmd.CommandText = "SELECT COUNT(*) FROM records";
            return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public long Duplicates()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT COALESCE((SELECT value FROM counters WHERE name = 'duplicates'), 0)";
            return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public IReadOnlyList<EdgeLag> Lag()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT edge, last_stored_at, last_batch_lag_ms, records FROM edges ORDER BY edge";
            var list = new List<EdgeLag>();
            using var r = cmd.ExecuteReader();
            while (r.Read()) list.Add(new EdgeLag(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));
            return list;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _rawInsert?.Dispose();
            _connection.Dispose();
        }
    }
}
