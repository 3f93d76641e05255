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
    private static async Task CopyTelemetryAsync(NpgsqlConnection c, string edge, long nowMs, List<SyncRecord> records, CancellationToken ct)
    {
        await using var writer = await c.BeginBinaryImportAsync(TelemetryCopySql, ct).ConfigureAwait(false);
        foreach (var r in records)
        {
            var bytes = DataStoreCodec.EncodeFloats(r.Values); // once per record; each reading is a slice of it
            var width = r.Channels * sizeof(float);
            var device = r.DeviceId.Value;
            var priority = (short)r.Priority;
            for (var i = 0; i < r.Count; i++)
            {
                await writer.StartRowAsync(ct).ConfigureAwait(false);
                await writer.WriteAsync(device, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await writer.WriteAsync((short)RecordKind.Telemetry, NpgsqlDbType.Smallint, ct).ConfigureAwait(false);
                await writer.WriteAsync(r.SequenceAt(i), NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                await writer.WriteAsync(r.TimestampAt(i), NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                await writer.WriteAsync(priority, NpgsqlDbType.Smallint, ct).ConfigureAwait(false);
                await writer.WriteAsync(edge, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await writer.WriteAsync(nowMs, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                await writer.WriteAsync(new ReadOnlyMemory<byte>(bytes, i * width, width), NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
                await writer.WriteAsync(Array.Empty<byte>(), NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
                await writer.WriteAsync(-1, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            }
        }
        await writer.CompleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>All readings of the plain telemetry records in one statement, skipping keys already there; returns the rows inserted.</summary>
    private static async Task<int> InsertTelemetryAsync(NpgsqlConnection c, NpgsqlTransaction tx, string edge, long nowMs, List<SyncRecord> records, CancellationToken ct)
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
        await using var cmd = new NpgsqlCommand(UnnestSql, c, tx);
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
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private const string DirectCopySql = "COPY records (" + DataStoreCodec.Columns + ") FROM STDIN (FORMAT BINARY)";

    private static async Task CopyAsync(NpgsqlConnection c, string sql, string edge, long nowMs, IReadOnlyList<SyncRecord> records, bool direct, CancellationToken ct)
    {
        await using var writer = await c.BeginBinaryImportAsync(sql, ct).ConfigureAwait(false);
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            await writer.StartRowAsync(ct).ConfigureAwait(false);
            if (!direct) await writer.WriteAsync(i, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            await writer.WriteAsync(r.DeviceId.Value, NpgsqlDbType.Text, ct).ConfigureAwait(false);
            await writer.WriteAsync((short)r.Kind, NpgsqlDbType.Smallint, ct).ConfigureAwait(false);
            await writer.WriteAsync(r.Sequence, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
            await writer.WriteAsync(r.Timestamp, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
            await writer.WriteAsync((short)r.Priority, NpgsqlDbType.Smallint, ct).ConfigureAwait(false);
            if (direct)
            {
                await writer.WriteAsync(edge, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await writer.WriteAsync(nowMs, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
            }
            await writer.WriteAsync(DataStoreCodec.EncodeFloats(r.Values), NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
            await writer.WriteAsync(r.Pixels ?? [], NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
            await writer.WriteAsync(r.Label, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            if (r.Prediction is { } p)
            {
                await writer.WriteAsync(p.Label, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
                await writer.WriteAsync(p.Confidence, NpgsqlDbType.Real, ct).ConfigureAwait(false);
                await writer.WriteAsync(p.Model ?? "", NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await writer.WriteAsync(p.Version, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
                await writer.WriteAsync(p.ServedBy ?? "", NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await writer.WriteAsync(p.Escalated, NpgsqlDbType.Boolean, ct).ConfigureAwait(false);
                await writer.WriteAsync((short)p.Note, NpgsqlDbType.Smallint, ct).ConfigureAwait(false);
            }
            else
                for (var n = 0; n < 7; n++) await writer.WriteNullAsync(ct).ConfigureAwait(false);
        }
        await writer.CompleteAsync(ct).ConfigureAwait(false);
    }

    private readonly PgDatabase _db;

    public string Kind => "postgres";

    /// <summary>
    /// Builds the pool; touches no server: the tier's schema migrations (<see cref="PostgresSchema"/>) run on the first
    /// call that needs the database (<see cref="CheckAsync"/> or any other), again on the next one when they failed. A
    /// connection string may name several hosts (<c>Host=a,b;Target Session Attributes=primary</c>): each call goes to
    /// the one that is the primary now.
    /// </summary>
    public PostgresDataStore(string connectionString)
    {
        // keep the session (and its temporary staging table) when a connection goes back to the pool
        _db = new PgDatabase(connectionString, b => b.ConnectionStringBuilder.NoResetOnClose = true);
    }

    /// <summary>Where the store lives (hosts and database, no credentials), for logs.</summary>
    public string Location => _db.Location;

    public Task CheckAsync(CancellationToken ct = default) => _db.Guard(async () =>
    {
        await using var c = await _db.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", c);
        if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is true)
            throw new StoreUnavailableException($"{_db.Location} is a standby in recovery (read-only); writes need the primary");
        return true;
    });

    public StoreResult Store(string edge, IReadOnlyList<SyncRecord> records, long nowMs) =>
        StoreAsync(edge, records, nowMs).GetAwaiter().GetResult();

    public Task<StoreResult> StoreAsync(string edge, IReadOnlyList<SyncRecord> records, long nowMs, CancellationToken ct = default)
    {
        DataStoreCodec.Validate(edge, records);
        return _db.Guard(() => StoreCoreAsync(edge, records, nowMs, ct));
    }

    private async Task<StoreResult> StoreCoreAsync(string edge, IReadOnlyList<SyncRecord> records, long nowMs, CancellationToken ct)
    {
        var lag = DataStoreCodec.BatchLag(records, nowMs);
        await using var c = await _db.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
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
        await tx.SaveAsync("direct", ct).ConfigureAwait(false);
        try
        {
            if (telemetry.Count > 0) await CopyTelemetryAsync(c, edge, nowMs, telemetry, ct).ConfigureAwait(false);
            if (others.Count > 0) await CopyAsync(c, DirectCopySql, edge, nowMs, others, direct: true, ct).ConfigureAwait(false);
            stored = total;
            await tx.ReleaseAsync("direct", ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // some rows are there already (a resend) or repeated in the batch: insert only what is new
            await tx.RollbackAsync("direct", ct).ConfigureAwait(false);
            if (telemetry.Count > 0) stored += await InsertTelemetryAsync(c, tx, edge, nowMs, telemetry, ct).ConfigureAwait(false);
            if (others.Count > 0)
            {
                await using (var create = new NpgsqlCommand(CreateStaging, c, tx)) await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await CopyAsync(c, CopySql, edge, nowMs, others, direct: false, ct).ConfigureAwait(false);
                await using var move = new NpgsqlCommand(MoveSql, c, tx);
                move.Parameters.AddWithValue("edge", NpgsqlDbType.Text, edge);
                move.Parameters.AddWithValue("now", NpgsqlDbType.Bigint, nowMs);
                stored += await move.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        var duplicates = total - stored;
        await using (var update = new NpgsqlCommand("""
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
            await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
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

    public KindHistory Sequences(DeviceId device, RecordKind kind, int max) => SequencesAsync(device, kind, max).GetAwaiter().GetResult();

    public Task<KindHistory> SequencesAsync(DeviceId device, RecordKind kind, int max, CancellationToken ct = default) => _db.Guard(async () =>
    {
        await using var c = await _db.OpenAsync(ct).ConfigureAwait(false);
        await using var count = new NpgsqlCommand("SELECT COUNT(*) FROM records WHERE device = @device AND kind = @kind", c);
        count.Parameters.AddWithValue("device", NpgsqlDbType.Text, device.Value);
        count.Parameters.AddWithValue("kind", NpgsqlDbType.Smallint, (short)kind);
        var n = Convert.ToInt64(await count.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        if (n == 0 || max <= 0) return new KindHistory(n, []);
        await using var cmd = new NpgsqlCommand("SELECT seq FROM records WHERE device = @device AND kind = @kind ORDER BY seq DESC LIMIT @max", c);
        cmd.Parameters.AddWithValue("device", NpgsqlDbType.Text, device.Value);
        cmd.Parameters.AddWithValue("kind", NpgsqlDbType.Smallint, (short)kind);
        cmd.Parameters.AddWithValue("max", NpgsqlDbType.Integer, max);
        var list = new List<long>();
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(r.GetInt64(0));
        list.Reverse();
        return new KindHistory(n, list.ToArray());
    });

    public IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> SequencesOf(IReadOnlyCollection<DeviceId> devices, int max) =>
        SequencesOfAsync(devices, max).GetAwaiter().GetResult();

    /// <summary>One query for the whole batch: the device ids travel as one text[] parameter.</summary>
    public Task<IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)>> SequencesOfAsync(IReadOnlyCollection<DeviceId> devices, int max,
        CancellationToken ct = default) => _db.Guard(async () =>
    {
        var builder = new BulkHistoryBuilder();
        if (devices.Count == 0) return builder.Build();
        await using var c = await _db.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("""
            SELECT device, kind, seq, n FROM (
                SELECT device, kind, seq, COUNT(*) OVER (PARTITION BY device, kind) AS n,
                       ROW_NUMBER() OVER (PARTITION BY device, kind ORDER BY seq DESC) AS rn
                FROM records WHERE device = ANY(@devices)) s
            WHERE rn <= @max ORDER BY device, kind, seq DESC
            """, c);
        cmd.Parameters.AddWithValue("devices", NpgsqlDbType.Array | NpgsqlDbType.Text, devices.Select(d => d.Value).ToArray());
        cmd.Parameters.AddWithValue("max", NpgsqlDbType.Integer, Math.Max(1, max));
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false)) builder.Add(r.GetString(0), r.GetInt16(1), r.GetInt64(2), r.GetInt64(3));
        var result = builder.Build();
        return max > 0 ? result : result.ToDictionary(kv => kv.Key, kv => (new KindHistory(kv.Value.Telemetry.Count, []), new KindHistory(kv.Value.Frames.Count, [])));
    });

    /// <summary>Counts, duplicates and per-edge lag in one round trip.</summary>
    public Task<(long Telemetry, long Frames, long Duplicates, IReadOnlyList<EdgeLag> Lag)> StatusAsync(CancellationToken ct = default) => _db.Guard(async () =>
    {
        await using var c = await _db.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("""
            SELECT (SELECT COUNT(*) FROM records WHERE kind = @t), (SELECT COUNT(*) FROM records WHERE kind = @f),
                   COALESCE((SELECT value FROM counters WHERE name = 'duplicates'), 0);
            SELECT edge, last_stored_at, last_batch_lag_ms, records FROM edges ORDER BY edge;
            """, c);
        cmd.Parameters.AddWithValue("t", NpgsqlDbType.Smallint, (short)RecordKind.Telemetry);
        cmd.Parameters.AddWithValue("f", NpgsqlDbType.Smallint, (short)RecordKind.Frame);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        var (telemetry, frames, duplicates) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
        await r.NextResultAsync(ct).ConfigureAwait(false);
        var lag = new List<EdgeLag>();
        while (await r.ReadAsync(ct).ConfigureAwait(false)) lag.Add(new EdgeLag(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));
        return (telemetry, frames, duplicates, (IReadOnlyList<EdgeLag>)lag);
    });

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
