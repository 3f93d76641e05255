using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Actors.Sync;

/// <summary>
/// The datacenter data store on a SQLite file (WAL). Same schema as <see cref="PostgresDataStore"/>. One connection,
/// calls serialized by a lock (thread-safe). Each <see cref="Store"/> is one immediate transaction of multi-row inserts
/// (prepared once per connection and reused).
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
        var dir = Path.GetDirectoryName(DatabasePath);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        try
        {
            _connection.Open();
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = """
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
                    PRIMARY KEY (device, kind, seq));
                CREATE TABLE IF NOT EXISTS edges (
                    edge TEXT PRIMARY KEY,
                    last_stored_at BIGINT NOT NULL,
                    last_batch_lag_ms BIGINT NOT NULL,
                    records BIGINT NOT NULL);
                CREATE TABLE IF NOT EXISTS counters (
                    name TEXT PRIMARY KEY,
                    value BIGINT NOT NULL);
                INSERT INTO counters (name, value) VALUES ('duplicates', 0) ON CONFLICT (name) DO NOTHING;
                """;
            cmd.ExecuteNonQuery();
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    public StoreResult Store(string edge, IReadOnlyList<SyncRecord> records, long nowMs)
    {
        DataStoreCodec.Validate(edge, records);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var tx = _connection.BeginTransaction(deferred: false);
            var stored = 0;
            // multi-row inserts of RowsPerInsert rows (one prepared statement, reused across calls), then the rest
            var i = 0;
            for (; i + RowsPerInsert <= records.Count; i += RowsPerInsert)
                stored += Insert(_bulkInsert ??= CreateInsert(RowsPerInsert), tx, edge, nowMs, records, i);
            if (i < records.Count)
                stored += Insert(_singleInsert ??= CreateInsert(1), tx, edge, nowMs, records, i, records.Count - i);
            var duplicates = records.Count - stored;
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

    /// <summary>Rows per multi-row INSERT: 17 parameters each, well under SQLite's limit of 32766 bound parameters.</summary>
    private const int RowsPerInsert = 8;

    private const int ColumnsPerRow = 17;

    private SqliteCommand? _bulkInsert;
    private SqliteCommand? _singleInsert;

    /// <summary>
    /// An INSERT of <paramref name="rows"/> rows (parameters $p0.. row-major), each row ON CONFLICT DO NOTHING,
    /// prepared once: per-statement overhead is paid once per <paramref name="rows"/> records.
    /// </summary>
    private SqliteCommand CreateInsert(int rows)
    {
        var sql = new System.Text.StringBuilder("INSERT INTO records (" + DataStoreCodec.Columns + ") VALUES ");
        for (var r = 0; r < rows; r++)
        {
            sql.Append(r == 0 ? "(" : ",(");
            for (var c = 0; c < ColumnsPerRow; c++)
            {
                if (c > 0) sql.Append(',');
                sql.Append("$p").Append(r * ColumnsPerRow + c);
            }
            sql.Append(')');
        }
        sql.Append(" ON CONFLICT (device, kind, seq) DO NOTHING");
        var cmd = _connection.CreateCommand();
        cmd.CommandText = sql.ToString();
        for (var n = 0; n < rows * ColumnsPerRow; n++) cmd.Parameters.Add(new SqliteParameter { ParameterName = "$p" + n });
        return cmd;
    }

    /// <summary>Binds <paramref name="rows"/> records from <paramref name="offset"/> (a single-row command repeats per record).</summary>
    private static int Insert(SqliteCommand cmd, SqliteTransaction tx, string edge, long nowMs, IReadOnlyList<SyncRecord> records, int offset, int? rows = null)
    {
        cmd.Transaction = tx;
        var perCommand = cmd.Parameters.Count / ColumnsPerRow;
        var total = rows ?? perCommand;
        var stored = 0;
        for (var done = 0; done < total; done += perCommand)
        {
            for (var row = 0; row < perCommand; row++)
                Bind(cmd.Parameters, row * ColumnsPerRow, records[offset + done + row], edge, nowMs);
            stored += cmd.ExecuteNonQuery();
        }
        return stored;
    }

    private static void Bind(SqliteParameterCollection ps, int b, SyncRecord r, string edge, long nowMs)
    {
        ps[b].Value = r.DeviceId.Value;
        ps[b + 1].Value = (int)r.Kind;
        ps[b + 2].Value = r.Sequence;
        ps[b + 3].Value = r.Timestamp;
        ps[b + 4].Value = (int)r.Priority;
        ps[b + 5].Value = edge;
        ps[b + 6].Value = nowMs;
        ps[b + 7].Value = DataStoreCodec.EncodeFloats(r.Values);
        ps[b + 8].Value = r.Pixels ?? [];
        ps[b + 9].Value = r.Label;
        var p = r.Prediction;
        if (p is null)
        {
            for (var c = 10; c < ColumnsPerRow; c++) ps[b + c].Value = DBNull.Value;
        }
        else
        {
            ps[b + 10].Value = p.Label;
            ps[b + 11].Value = (double)p.Confidence; // REAL is a double: every float round-trips exactly
            ps[b + 12].Value = p.Model ?? "";
            ps[b + 13].Value = p.Version;
            ps[b + 14].Value = p.ServedBy ?? "";
            ps[b + 15].Value = p.Escalated ? 1 : 0;
            ps[b + 16].Value = (int)p.Note;
        }
    }

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
            _bulkInsert?.Dispose();
            _singleInsert?.Dispose();
            _connection.Dispose();
        }
    }
}
