using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Actors.Sync;

/// <summary>
/// The datacenter data store on a SQLite file (WAL). Same schema as <see cref="PostgresDataStore"/>. One connection,
/// calls serialized by a lock (thread-safe). Each <see cref="Store"/> is one immediate transaction with one prepared
/// insert reused for every record.
/// </summary>
public sealed class SqliteDataStore : IDataStore
{
    private const string InsertSql =
        "INSERT INTO records (" + DataStoreCodec.Columns + ") VALUES " +
        "($device, $kind, $seq, $ts, $priority, $edge, $stored_at, $values, $pixels, $label, " +
        "$pred_label, $pred_confidence, $pred_model, $pred_version, $pred_served_by, $pred_escalated, $pred_note) " +
        "ON CONFLICT (device, kind, seq) DO NOTHING";

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
            if (records.Count > 0)
            {
                using var insert = _connection.CreateCommand();
                insert.Transaction = tx;
                insert.CommandText = InsertSql;
                var device = insert.Parameters.Add("$device", SqliteType.Text);
                var kind = insert.Parameters.Add("$kind", SqliteType.Integer);
                var seq = insert.Parameters.Add("$seq", SqliteType.Integer);
                var ts = insert.Parameters.Add("$ts", SqliteType.Integer);
                var priority = insert.Parameters.Add("$priority", SqliteType.Integer);
                insert.Parameters.Add("$edge", SqliteType.Text).Value = edge;
                insert.Parameters.Add("$stored_at", SqliteType.Integer).Value = nowMs;
                var values = insert.Parameters.Add("$values", SqliteType.Blob);
                var pixels = insert.Parameters.Add("$pixels", SqliteType.Blob);
                var label = insert.Parameters.Add("$label", SqliteType.Integer);
                var predLabel = insert.Parameters.Add("$pred_label", SqliteType.Integer);
                var predConfidence = insert.Parameters.Add("$pred_confidence", SqliteType.Real);
                var predModel = insert.Parameters.Add("$pred_model", SqliteType.Text);
                var predVersion = insert.Parameters.Add("$pred_version", SqliteType.Integer);
                var predServedBy = insert.Parameters.Add("$pred_served_by", SqliteType.Text);
                var predEscalated = insert.Parameters.Add("$pred_escalated", SqliteType.Integer);
                var predNote = insert.Parameters.Add("$pred_note", SqliteType.Integer);
                insert.Prepare();
                foreach (var r in records)
                {
                    device.Value = r.DeviceId.Value;
                    kind.Value = (int)r.Kind;
                    seq.Value = r.Sequence;
                    ts.Value = r.Timestamp;
                    priority.Value = (int)r.Priority;
                    values.Value = DataStoreCodec.EncodeFloats(r.Values);
                    pixels.Value = r.Pixels ?? [];
                    label.Value = r.Label;
                    var p = r.Prediction;
                    if (p is null)
                    {
                        predLabel.Value = DBNull.Value;
                        predConfidence.Value = DBNull.Value;
                        predModel.Value = DBNull.Value;
                        predVersion.Value = DBNull.Value;
                        predServedBy.Value = DBNull.Value;
                        predEscalated.Value = DBNull.Value;
                        predNote.Value = DBNull.Value;
                    }
                    else
                    {
                        predLabel.Value = p.Label;
                        predConfidence.Value = p.Confidence; // REAL is a double: every float round-trips exactly
                        predModel.Value = p.Model ?? "";
                        predVersion.Value = p.Version;
                        predServedBy.Value = p.ServedBy ?? "";
                        predEscalated.Value = p.Escalated ? 1 : 0;
                        predNote.Value = (int)p.Note;
                    }
                    stored += insert.ExecuteNonQuery();
                }
            }
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
            _connection.Dispose();
        }
    }
}
