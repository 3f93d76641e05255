using System.Globalization;
using EdgeActors.Messages;
using Npgsql;
using NpgsqlTypes;

namespace EdgeActors.Storage;

/// <summary>
/// The datacenter data store on PostgreSQL (Npgsql). Same schema as <see cref="SqliteDataStore"/>, one row per reading
/// or frame. Thread-safe: each call takes a pooled connection. <see cref="Store"/> is one transaction.
/// Telemetry (batch records or single readings): fast path, one binary COPY of all readings (a row per reading; the
/// server inserts COPY rows in bulk) under a savepoint. When that hits a unique violation (a resend after a failover,
/// or a key repeated in the batch): ONE <c>INSERT … SELECT … FROM unnest(arrays) … ON CONFLICT DO NOTHING</c> for all
/// readings of the batch (per reading a device index, sequence, timestamp, priority and the offset of its values in one
/// bytea parameter, as binary arrays), in batch order, so the first of repeated keys is kept. New tables collate
/// <c>device</c> as "C" (byte order: cheaper primary-key comparisons than a locale's).
/// Frames (and anything else): the batch is binary-COPYed
/// straight into <c>records</c> under a savepoint. When that hits a unique violation (a resend, or a key repeated in
/// the batch) the savepoint is rolled back and the batch is COPYed into a per-connection temporary staging table,
/// then moved with one <c>INSERT … SELECT … ON CONFLICT DO NOTHING</c> (in batch order, so of duplicates inside one
/// batch the first is kept).
/// </summary>
public sealed class PostgresDataStore : IDataStore
{
    private const string Staging = "edgeactors_staging";

    /// <summary>Migration 1 (<see cref="PostgresSchema"/>); tables created IF NOT EXISTS, so databases made before migrations existed adopt it.</summary>
    internal const string Schema = """
        CREATE TABLE IF NOT EXISTS records (
            device TEXT COLLATE "C" NOT NULL,
            kind SMALLINT NOT NULL,
            seq BIGINT NOT NULL,
            ts BIGINT NOT NULL,
            priority SMALLINT NOT NULL,
            edge TEXT NOT NULL,
            stored_at BIGINT NOT NULL,
            channel_values BYTEA NOT NULL,
            pixels BYTEA NOT NULL,
            label INT NOT NULL,
            pred_label INT NULL,
            pred_confidence REAL NULL,
            pred_model TEXT NULL,
            pred_version INT NULL,
            pred_served_by TEXT NULL,
            pred_escalated BOOLEAN NULL,
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

    private const string CreateStaging = "CREATE TEMP TABLE IF NOT EXISTS " + Staging + " (" +
        "ord INT NOT NULL, device TEXT NOT NULL, kind SMALLINT NOT NULL, seq BIGINT NOT NULL, ts BIGINT NOT NULL, " +
        "priority SMALLINT NOT NULL, channel_values BYTEA NOT NULL, pixels BYTEA NOT NULL, label INT NOT NULL, " +
        "pred_label INT, pred_confidence REAL, pred_model TEXT, pred_version INT, pred_served_by TEXT, " +
        "pred_escalated BOOLEAN, pred_note SMALLINT) ON COMMIT DELETE ROWS";

    private const string CopySql = "COPY " + Staging + " (ord, device, kind, seq, ts, priority, channel_values, pixels, " +
        "label, pred_label, pred_confidence, pred_model, pred_version, pred_served_by, pred_escalated, pred_note) " +
        "FROM STDIN (FORMAT BINARY)";

    private const string MoveSql = "INSERT INTO records (" + DataStoreCodec.Columns + ") " +
        "SELECT device, kind, seq, ts, priority, @edge, @now, channel_values, pixels, label, " +
        "pred_label, pred_confidence, pred_model, pred_version, pred_served_by, pred_escalated, pred_note " +
        "FROM " + Staging + " ORDER BY ord ON CONFLICT (device, kind, seq) DO NOTHING";

    private const string UnnestSql = "INSERT INTO records (device, kind, seq, ts, priority, edge, stored_at, channel_values, pixels, label) " +
        "SELECT (@devices)[u.d], 1, u.s, u.t, u.p, @edge, @now, substring(@vals FROM u.o FOR u.l), '\\x'::bytea, -1 " +
        "FROM unnest(@d, @s, @t, @p, @o, @l) WITH ORDINALITY AS u(d, s, t, p, o, l, i) ORDER BY u.i " +
        "ON CONFLICT (device, kind, seq) DO NOTHING";

    /// <summary>A plain telemetry record (no pixels, label or prediction): stored through <see cref="UnnestSql"/>.</summary>
    private static bool PlainTelemetry(SyncRecord r) =>
        r.Kind == RecordKind.Telemetry && (r.Pixels is null || r.Pixels.Length == 0) && r.Prediction is null && r.Label == -1;

    private const string TelemetryCopySql =
        "COPY records (device, kind, seq, ts, priority, edge, stored_at, channel_values, pixels, label) FROM STDIN (FORMAT BINARY)";

    /// <summary>All readings of the plain telemetry records by binary COPY (fails on a key already there).</summary>
    private static void CopyTelemetry(NpgsqlConnection c, string edge, long nowMs, List<SyncRecord> records)
    {
        using var writer = c.BeginBinaryImport(TelemetryCopySql);
        foreach (var r in records)
        {
            var bytes = DataStoreCodec.EncodeFloats(r.Values); // once per record; each reading is a slice of it
            var width = r.Channels * sizeof(float);
            var device = r.DeviceId.Value;
            var priority = (short)r.Priority;
            for (var i = 0; i < r.Count; i++)
            {
                writer.StartRow();
                writer.Write(device, NpgsqlDbType.Text);
                writer.Write((short)RecordKind.Telemetry, NpgsqlDbType.Smallint);
                writer.Write(r.SequenceAt(i), NpgsqlDbType.Bigint);
                writer.Write(r.TimestampAt(i), NpgsqlDbType.Bigint);
                writer.Write(priority, NpgsqlDbType.Smallint);
                writer.Write(edge, NpgsqlDbType.Text);
                writer.Write(nowMs, NpgsqlDbType.Bigint);
                writer.Write(new ReadOnlyMemory<byte>(bytes, i * width, width), NpgsqlDbType.Bytea);
                writer.Write(Array.Empty<byte>(), NpgsqlDbType.Bytea);
                writer.Write(-1, NpgsqlDbType.Integer);
            }
        }
        writer.Complete();
    }

    /// <summary>All readings of the plain telemetry records in one statement, skipping keys already there; returns the rows inserted.</summary>
    private static int InsertTelemetry(NpgsqlConnection c, NpgsqlTransaction tx, string edge, long nowMs, List<SyncRecord> records)
    {
        var n = 0;
        var valueBytes = 0;
        foreach (var r in records)
        {
            n += r.Count;
            valueBytes += (r.Values?.Length ?? 0) * sizeof(float);
        }
        var devices = new List<string>();
        var deviceIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var d = new int[n];
        var seq = new long[n];
        var ts = new long[n];
        var prio = new short[n];
        var off = new int[n];
        var len = new int[n];
        var vals = new byte[valueBytes];
        var k = 0;
        var pos = 0;
        foreach (var r in records)
        {
            if (!deviceIndex.TryGetValue(r.DeviceId.Value, out var di))
            {
                devices.Add(r.DeviceId.Value);
                deviceIndex[r.DeviceId.Value] = di = devices.Count; // PostgreSQL arrays are 1-based
            }
            for (var i = 0; i < r.Count; i++, k++)
            {
                var bytes = DataStoreCodec.FloatBytes(r.ValuesAt(i));
                bytes.CopyTo(vals.AsSpan(pos));
                d[k] = di;
                seq[k] = r.SequenceAt(i);
                ts[k] = r.TimestampAt(i);
                prio[k] = (short)r.Priority;
                off[k] = pos + 1; // substring is 1-based
                len[k] = bytes.Length;
                pos += bytes.Length;
            }
        }
        using var cmd = new NpgsqlCommand(UnnestSql, c, tx);
        cmd.Parameters.AddWithValue("devices", NpgsqlDbType.Array | NpgsqlDbType.Text, devices.ToArray());
        cmd.Parameters.AddWithValue("edge", NpgsqlDbType.Text, edge);
        cmd.Parameters.AddWithValue("now", NpgsqlDbType.Bigint, nowMs);
        cmd.Parameters.AddWithValue("vals", NpgsqlDbType.Bytea, vals);
        cmd.Parameters.AddWithValue("d", NpgsqlDbType.Array | NpgsqlDbType.Integer, d);
        cmd.Parameters.AddWithValue("s", NpgsqlDbType.Array | NpgsqlDbType.Bigint, seq);
        cmd.Parameters.AddWithValue("t", NpgsqlDbType.Array | NpgsqlDbType.Bigint, ts);
        cmd.Parameters.AddWithValue("p", NpgsqlDbType.Array | NpgsqlDbType.Smallint, prio);
        cmd.Parameters.AddWithValue("o", NpgsqlDbType.Array | NpgsqlDbType.Integer, off);
        cmd.Parameters.AddWithValue("l", NpgsqlDbType.Array | NpgsqlDbType.Integer, len);
        return cmd.ExecuteNonQuery();
    }

    private const string DirectCopySql = "COPY records (" + DataStoreCodec.Columns + ") FROM STDIN (FORMAT BINARY)";

    private static void Copy(NpgsqlConnection c, string sql, string edge, long nowMs, IReadOnlyList<SyncRecord> records, bool direct)
    {
        using var writer = c.BeginBinaryImport(sql);
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            writer.StartRow();
            if (!direct) writer.Write(i, NpgsqlDbType.Integer);
            writer.Write(r.DeviceId.Value, NpgsqlDbType.Text);
            writer.Write((short)r.Kind, NpgsqlDbType.Smallint);
            writer.Write(r.Sequence, NpgsqlDbType.Bigint);
            writer.Write(r.Timestamp, NpgsqlDbType.Bigint);
            writer.Write((short)r.Priority, NpgsqlDbType.Smallint);
            if (direct)
            {
                writer.Write(edge, NpgsqlDbType.Text);
                writer.Write(nowMs, NpgsqlDbType.Bigint);
            }
            writer.Write(DataStoreCodec.EncodeFloats(r.Values), NpgsqlDbType.Bytea);
            writer.Write(r.Pixels ?? [], NpgsqlDbType.Bytea);
            writer.Write(r.Label, NpgsqlDbType.Integer);
            if (r.Prediction is { } p)
            {
                writer.Write(p.Label, NpgsqlDbType.Integer);
                writer.Write(p.Confidence, NpgsqlDbType.Real);
                writer.Write(p.Model ?? "", NpgsqlDbType.Text);
                writer.Write(p.Version, NpgsqlDbType.Integer);
                writer.Write(p.ServedBy ?? "", NpgsqlDbType.Text);
                writer.Write(p.Escalated, NpgsqlDbType.Boolean);
                writer.Write((short)p.Note, NpgsqlDbType.Smallint);
            }
            else
                for (var n = 0; n < 7; n++) writer.WriteNull();
        }
        writer.Complete();
    }

    private readonly PgDatabase _db;

    public string Kind => "postgres";

    /// <summary>Opens the pool and applies the tier's schema migrations (<see cref="PostgresSchema"/>); throws when the server cannot be reached.</summary>
    public PostgresDataStore(string connectionString)
    {
        // keep the session (and its temporary staging table) when a connection goes back to the pool
        _db = new PgDatabase(connectionString, b => b.ConnectionStringBuilder.NoResetOnClose = true);
        try
        {
            _db.ReadyAsync().GetAwaiter().GetResult();
        }
        catch
        {
            _db.Dispose();
            throw;
        }
    }

    public StoreResult Store(string edge, IReadOnlyList<SyncRecord> records, long nowMs)
    {
        DataStoreCodec.Validate(edge, records);
        var lag = DataStoreCodec.BatchLag(records, nowMs);
        using var c = _db.Open();
        using var tx = c.BeginTransaction();
        var stored = 0;
        var total = DataStoreCodec.Readings(records);
        var telemetry = new List<SyncRecord>(records.Count);
        List<SyncRecord>? others = null;
        foreach (var r in records)
        {
            if (PlainTelemetry(r)) telemetry.Add(r);
            else (others ??= []).AddRange(r.Expand());
        }
        others ??= [];
        // fast path (a batch without resends): binary COPY straight into records (the server inserts COPY rows in
        // bulk), guarded by a savepoint
        tx.Save("direct");
        try
        {
            if (telemetry.Count > 0) CopyTelemetry(c, edge, nowMs, telemetry);
            if (others.Count > 0) Copy(c, DirectCopySql, edge, nowMs, others, direct: true);
            stored = total;
            tx.Release("direct");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // some rows are there already (a resend) or repeated in the batch: insert only what is new
            tx.Rollback("direct");
            if (telemetry.Count > 0) stored += InsertTelemetry(c, tx, edge, nowMs, telemetry);
            if (others.Count > 0)
            {
                using (var create = new NpgsqlCommand(CreateStaging, c, tx)) create.ExecuteNonQuery();
                Copy(c, CopySql, edge, nowMs, others, direct: false);
                using var move = new NpgsqlCommand(MoveSql, c, tx);
                move.Parameters.AddWithValue("edge", NpgsqlDbType.Text, edge);
                move.Parameters.AddWithValue("now", NpgsqlDbType.Bigint, nowMs);
                stored += move.ExecuteNonQuery();
            }
        }
        var duplicates = total - stored;
        using (var update = new NpgsqlCommand("""
            UPDATE counters SET value = value + @dup WHERE name = 'duplicates';
            INSERT INTO edges (edge, last_stored_at, last_batch_lag_ms, records) VALUES (@edge, @now, @lag, @stored)
            ON CONFLICT (edge) DO UPDATE SET last_stored_at = excluded.last_stored_at,
                last_batch_lag_ms = excluded.last_batch_lag_ms, records = edges.records + excluded.records;
            """, c, tx))
        {
            update.Parameters.AddWithValue("dup", NpgsqlDbType.Bigint, (long)duplicates);
            update.Parameters.AddWithValue("edge", NpgsqlDbType.Text, edge);
            update.Parameters.AddWithValue("now", NpgsqlDbType.Bigint, nowMs);
            update.Parameters.AddWithValue("lag", NpgsqlDbType.Bigint, lag);
            update.Parameters.AddWithValue("stored", NpgsqlDbType.Bigint, (long)stored);
            update.ExecuteNonQuery();
        }
        tx.Commit();
        return new StoreResult(stored, duplicates);
    }

    public IReadOnlyList<SyncRecord> History(DeviceId device, RecordKind kind, int max)
    {
        if (max <= 0) return [];
        using var c = _db.Open();
        using var cmd = new NpgsqlCommand(
            "SELECT " + DataStoreCodec.HistoryColumns + " FROM records WHERE device = @device AND kind = @kind " +
            "ORDER BY seq DESC LIMIT @max", c);
        cmd.Parameters.AddWithValue("device", NpgsqlDbType.Text, device.Value);
        cmd.Parameters.AddWithValue("kind", NpgsqlDbType.Smallint, (short)kind);
        cmd.Parameters.AddWithValue("max", NpgsqlDbType.Integer, max);
        var list = new List<SyncRecord>();
        using (var r = cmd.ExecuteReader())
            while (r.Read()) list.Add(DataStoreCodec.ReadRecord(r));
        list.Reverse();
        return list;
    }

    public KindHistory Sequences(DeviceId device, RecordKind kind, int max)
    {
        using var c = _db.Open();
        using var count = new NpgsqlCommand("SELECT COUNT(*) FROM records WHERE device = @device AND kind = @kind", c);
        count.Parameters.AddWithValue("device", NpgsqlDbType.Text, device.Value);
        count.Parameters.AddWithValue("kind", NpgsqlDbType.Smallint, (short)kind);
        var n = Convert.ToInt64(count.ExecuteScalar(), CultureInfo.InvariantCulture);
        if (n == 0 || max <= 0) return new KindHistory(n, []);
        using var cmd = new NpgsqlCommand("SELECT seq FROM records WHERE device = @device AND kind = @kind ORDER BY seq DESC LIMIT @max", c);
        cmd.Parameters.AddWithValue("device", NpgsqlDbType.Text, device.Value);
        cmd.Parameters.AddWithValue("kind", NpgsqlDbType.Smallint, (short)kind);
        cmd.Parameters.AddWithValue("max", NpgsqlDbType.Integer, max);
        var list = new List<long>();
        using (var r = cmd.ExecuteReader())
            while (r.Read()) list.Add(r.GetInt64(0));
        list.Reverse();
        return new KindHistory(n, list.ToArray());
    }

    /// <summary>One query for the whole batch: the device ids travel as one text[] parameter.</summary>
    public IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> SequencesOf(IReadOnlyCollection<DeviceId> devices, int max)
    {
        var builder = new BulkHistoryBuilder();
        if (devices.Count == 0) return builder.Build();
        using var c = _db.Open();
        using var cmd = new NpgsqlCommand("""
            SELECT device, kind, seq, n FROM (
                SELECT device, kind, seq, COUNT(*) OVER (PARTITION BY device, kind) AS n,
                       ROW_NUMBER() OVER (PARTITION BY device, kind ORDER BY seq DESC) AS rn
                FROM records WHERE device = ANY(@devices)) s
            WHERE rn <= @max ORDER BY device, kind, seq DESC
            """, c);
        cmd.Parameters.AddWithValue("devices", NpgsqlDbType.Array | NpgsqlDbType.Text, devices.Select(d => d.Value).ToArray());
        cmd.Parameters.AddWithValue("max", NpgsqlDbType.Integer, Math.Max(1, max));
        using (var r = cmd.ExecuteReader())
            while (r.Read()) builder.Add(r.GetString(0), r.GetInt16(1), r.GetInt64(2), r.GetInt64(3));
        var result = builder.Build();
        return max > 0 ? result : result.ToDictionary(kv => kv.Key, kv => (new KindHistory(kv.Value.Telemetry.Count, []), new KindHistory(kv.Value.Frames.Count, [])));
    }

    public long DistinctKeys()
    {
        using var c = _db.Open();
        using var cmd = new NpgsqlCommand("SELECT COUNT(*) FROM (SELECT DISTINCT device, kind, seq FROM records) d", c);
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public long Count(RecordKind? kind = null)
    {
        using var c = _db.Open();
        using var cmd = new NpgsqlCommand("", c);
        if (kind is { } k)
        {
            cmd.CommandText = "SELECT COUNT(*) FROM records WHERE kind = @kind";
            cmd.Parameters.AddWithValue("kind", NpgsqlDbType.Smallint, (short)k);
        }
        else cmd.CommandText = "SELECT COUNT(*) FROM records";
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public long Duplicates()
    {
        using var c = _db.Open();
        using var cmd = new NpgsqlCommand("SELECT COALESCE((SELECT value FROM counters WHERE name = 'duplicates'), 0)", c);
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public IReadOnlyList<EdgeLag> Lag()
    {
        using var c = _db.Open();
        using var cmd = new NpgsqlCommand("SELECT edge, last_stored_at, last_batch_lag_ms, records FROM edges ORDER BY edge", c);
        var list = new List<EdgeLag>();
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(new EdgeLag(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));
        return list;
    }

    public void Dispose() => _db.Dispose();
}
