using System.Buffers.Binary;
using System.Text;
using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Storage;

/// <summary>
/// The edge outbox on one SQLite file (WAL). Every call is one transaction on one long-lived connection; not
/// thread-safe (the <see cref="OutboxWriter"/> owns it and calls it one operation at a time).
/// <para>
/// Disk bound: the sum of the records' <c>bytes</c> (payload + device id + a fixed per-row overhead, see
/// <see cref="SizeOf"/>) is kept at or under <see cref="OutboxSettings.MaxBytes"/>. An append accepts the longest
/// prefix of its records that fits and refuses the rest (so refusals are always the tail of the list): with
/// <see cref="OutboxFullPolicy.RejectNew"/> it fits into the free space; with <see cref="OutboxFullPolicy.OverwriteOldest"/>
/// it fits into MaxBytes, deleting the oldest Routine records first, then the oldest of any priority, to make room.
/// </para>
/// <para>
/// Rows are records: one reading or frame, or a batch record (<see cref="SyncRecord.Sequences"/>: the accepted readings
/// of one telemetry batch of one device and one priority) whose readings column <c>n</c> says how many readings it holds.
/// Refusals are a tail of the readings (a batch record that does not fit whole is cut: its longest fitting prefix is
/// kept); overwrites delete whole records; every count this class reports (<see cref="AppendResult"/>,
/// <see cref="OutboxStats"/>, <see cref="ExpireTtl"/>, <see cref="Waiting"/>) is in readings, except
/// <see cref="OutboxStats.BacklogRecords"/>. <see cref="Remove"/> is one set-based DELETE.
/// </para>
/// </summary>
public sealed class SqliteOutbox : IOutbox
{
    /// <summary>Fixed per-row overhead counted in <c>bytes</c> besides the payload and the device id.</summary>
    public const int RowOverhead = 48;

    private readonly OutboxSettings _settings;
    private readonly SqliteConnection _db;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _deleteIds;
    private readonly SqliteCommand _streamRows;
    private long _count; // readings
    private long _rows;
    private long _bytes;
    private bool _disposed;

    public string DatabasePath { get; }

    /// <summary>Write transactions committed by this instance (appends, removes, expiries). A test hook for group commit.</summary>
    public long Transactions { get; private set; }

    public SqliteOutbox(OutboxSettings settings)
    {
        _settings = (settings ?? throw new ArgumentNullException(nameof(settings))).Validate();
        DatabasePath = System.IO.Path.GetFullPath(_settings.Path);
        _db = SqliteFiles.OpenDedicated(DatabasePath, $"""
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = {(_settings.SynchronousFull ? "FULL" : "NORMAL")};
                PRAGMA wal_autocheckpoint = 16384; -- 64 MiB of WAL between checkpoints: fewer checkpoint fsyncs in the writer's lane
                CREATE TABLE IF NOT EXISTS outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    device TEXT NOT NULL,
                    kind INT NOT NULL,
                    seq INTEGER NOT NULL,
                    ts INTEGER NOT NULL,
                    priority INT NOT NULL,
                    bytes INT NOT NULL,
                    created_at INTEGER NOT NULL,
                    payload BLOB NOT NULL,
                    n INT NOT NULL DEFAULT 1);
                CREATE INDEX IF NOT EXISTS ix_outbox_stream ON outbox (device, kind);
                CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT OR IGNORE INTO counters (name, value) VALUES ('synced', 0), ('expired', 0), ('overwritten', 0), ('refused', 0);
                """);
        try
        {
            // an outbox written before batch records had no readings column: every row of it is one reading
            using (var columns = _db.CreateCommand())
            {
                columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'n'";
                if (Convert.ToInt64(columns.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
                    Exec("ALTER TABLE outbox ADD COLUMN n INT NOT NULL DEFAULT 1");
            }
            using (var init = _db.CreateCommand())
            {
                init.CommandText = "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(n), 0) FROM outbox";
                using var r = init.ExecuteReader();
                r.Read();
                _rows = r.GetInt64(0);
                _bytes = r.GetInt64(1);
                _count = r.GetInt64(2);
            }

            _insert = _db.CreateCommand();
            _insert.CommandText = """
                INSERT INTO outbox (device, kind, seq, ts, priority, bytes, created_at, payload, n)
                VALUES ($device, $kind, $seq, $ts, $priority, $bytes, $created, $payload, $n)
                """;
            _insert.Parameters.Add("$device", SqliteType.Text);
            _insert.Parameters.Add("$kind", SqliteType.Integer);
            _insert.Parameters.Add("$seq", SqliteType.Integer);
            _insert.Parameters.Add("$ts", SqliteType.Integer);
            _insert.Parameters.Add("$priority", SqliteType.Integer);
            _insert.Parameters.Add("$bytes", SqliteType.Integer);
            _insert.Parameters.Add("$created", SqliteType.Integer);
            _insert.Parameters.Add("$payload", SqliteType.Blob);
            _insert.Parameters.Add("$n", SqliteType.Integer);

            // set-based: the ids go in as one JSON array
            _deleteIds = _db.CreateCommand();
            _deleteIds.CommandText = """
                DELETE FROM outbox WHERE id IN (SELECT value FROM json_each($ids)) RETURNING bytes, n
                """;
            _deleteIds.Parameters.Add("$ids", SqliteType.Text);

            _streamRows = _db.CreateCommand();
            _streamRows.CommandText = """
                SELECT id, seq, ts, priority, bytes, created_at, payload, n FROM outbox
                WHERE device = $device AND kind = $kind ORDER BY id LIMIT $n
                """;
            _streamRows.Parameters.Add("$device", SqliteType.Text);
            _streamRows.Parameters.Add("$kind", SqliteType.Integer);
            _streamRows.Parameters.Add("$n", SqliteType.Integer);
        }
        catch
        {
            _db.Dispose();
            throw;
        }
    }

    /// <summary>The size a record is accounted with: its payload, its device id and <see cref="RowOverhead"/>.</summary>
    public static int SizeOf(SyncRecord record, int payloadLength) =>
        payloadLength + Encoding.UTF8.GetByteCount(record.DeviceId.Value ?? "") + RowOverhead;

    public AppendResult Append(IReadOnlyList<SyncRecord> records, long nowMs)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0) return new AppendResult(0, 0, 0);

        var payloads = new byte[records.Count][];
        var sizes = new int[records.Count];
        var kept = new SyncRecord[records.Count];
        var budget = _settings.Policy == OutboxFullPolicy.RejectNew ? _settings.MaxBytes - _bytes : _settings.MaxBytes;
        long accepted = 0;
        var n = 0;
        var readings = 0;
        var total = 0;
        for (var i = 0; i < records.Count; i++) total += records[i].Count;
        for (; n < records.Count; n++)
        {
            var record = records[n];
            var payload = RecordCodec.Encode(record);
            var size = SizeOf(record, payload.Length);
            if (accepted + size > budget)
            {
                // this one and all after it are refused (the tail); of a batch record, the longest prefix of its
                // readings that fits is still kept, so exactly a tail of the readings is refused
                if (record.IsBatch && FitPrefix(record, budget - accepted) is { } prefix)
                {
                    kept[n] = prefix.Record;
                    payloads[n] = prefix.Payload;
                    sizes[n] = prefix.Size;
                    accepted += prefix.Size;
                    readings += prefix.Record.Count;
                    n++;
                }
                break;
            }
            kept[n] = record;
            payloads[n] = payload;
            sizes[n] = size;
            accepted += size;
            readings += record.Count;
        }
        var refused = total - readings;

        using var tx = _db.BeginTransaction(deferred: false);
        var overwritten = 0;
        var overwrittenRows = 0;
        long freed = 0;
        var deficit = _bytes + accepted - _settings.MaxBytes;
        if (deficit > 0) (overwrittenRows, overwritten, freed) = DeleteOldest(tx, deficit);

        _insert.Transaction = tx;
        var p = _insert.Parameters;
        for (var i = 0; i < n; i++)
        {
            var r = kept[i];
            p[0].Value = r.DeviceId.Value ?? "";
            p[1].Value = (int)r.Kind;
            p[2].Value = r.Sequence;
            p[3].Value = r.Timestamp;
            p[4].Value = (int)r.Priority;
            p[5].Value = sizes[i];
            p[6].Value = nowMs;
            p[7].Value = payloads[i];
            p[8].Value = r.Count;
            _insert.ExecuteNonQuery();
        }
        AddCounters(tx, overwritten: overwritten, refused: refused);
        tx.Commit();
        Transactions++;
        _count += readings - overwritten;
        _rows += n - overwrittenRows;
        _bytes += accepted - freed;
        return new AppendResult(readings, refused, overwritten);
    }

    /// <summary>The first readings of batch record <paramref name="r"/> that fit into <paramref name="room"/> bytes (null: none).</summary>
    private static (SyncRecord Record, byte[] Payload, int Size)? FitPrefix(SyncRecord r, long room)
    {
        (SyncRecord, byte[], int)? best = null;
        int lo = 1, hi = r.Count - 1; // the whole record did not fit
        while (lo <= hi)
        {
            var k = lo + (hi - lo) / 2;
            var c = r.Channels;
            var prefix = SyncRecord.Readings(r.DeviceId, r.Priority, r.Sequences![..k], r.Timestamps![..k], r.Values[..(k * c)]);
            var payload = RecordCodec.Encode(prefix);
            var size = SizeOf(prefix, payload.Length);
            if (size <= room)
            {
                best = (prefix, payload, size);
                lo = k + 1;
            }
            else hi = k - 1;
        }
        return best;
    }

    /// <summary>
    /// Deletes the oldest Routine rows, then the oldest of any priority, until at least <paramref name="need"/> bytes
    /// are freed; returns the rows, the readings they held and their bytes.
    /// </summary>
    private (int Rows, int Readings, long Bytes) DeleteOldest(SqliteTransaction tx, long need)
    {
        var rows = 0;
        var readings = 0;
        long freed = 0;
        foreach (var where in new[] { "WHERE priority = 0", "" })
        {
            while (freed < need)
            {
                var victims = new List<long>();
                using (var select = _db.CreateCommand())
                {
                    select.Transaction = tx;
                    select.CommandText = $"SELECT id, bytes FROM outbox {where} ORDER BY id LIMIT 512";
                    using var r = select.ExecuteReader();
                    while (freed < need && r.Read())
                    {
                        victims.Add(r.GetInt64(0));
                        freed += r.GetInt64(1);
                    }
                }
                if (victims.Count == 0) break;
                var (deleted, n, _) = DeleteIds(tx, victims);
                rows += deleted;
                readings += n;
            }
        }
        return (rows, readings, freed);
    }

    /// <summary>One DELETE for all <paramref name="ids"/> (those still there): rows, readings and bytes deleted.</summary>
    private (int Rows, int Readings, long Bytes) DeleteIds(SqliteTransaction tx, IEnumerable<long> ids)
    {
        var json = new StringBuilder("[");
        foreach (var id in ids)
        {
            if (json.Length > 1) json.Append(',');
            json.Append(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        json.Append(']');
        _deleteIds.Transaction = tx;
        _deleteIds.Parameters[0].Value = json.ToString();
        var rows = 0;
        var readings = 0;
        long bytes = 0;
        using var r = _deleteIds.ExecuteReader();
        while (r.Read())
        {
            rows++;
            bytes += r.GetInt64(0);
            readings += r.GetInt32(1);
        }
        return (rows, readings, bytes);
    }

    /// <summary>
    /// <paramref name="max"/> counts readings: records are taken whole while their readings fit, and the first record
    /// is always taken (a batch record larger than <paramref name="max"/> still goes, alone).
    /// </summary>
    public IReadOnlyList<OutboxEntry> Peek(int max, IReadOnlySet<long> inFlight)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(inFlight);
        var result = new List<OutboxEntry>(Math.Max(0, Math.Min(max, 4096)));
        if (max <= 0 || _rows == 0) return result;
        var taken = 0;

        var streams = new List<(string Device, int Kind)>();
        using (var q = _db.CreateCommand())
        {
            q.CommandText = """
                SELECT device, kind, MAX(priority) AS p, MIN(id) AS o FROM outbox
                GROUP BY device, kind ORDER BY p DESC, o ASC
                """;
            using var r = q.ExecuteReader();
            while (r.Read()) streams.Add((r.GetString(0), r.GetInt32(1)));
        }

        _streamRows.Transaction = null;
        var full = false;
        foreach (var (device, kind) in streams)
        {
            if (full || taken >= max) break;
            _streamRows.Parameters[0].Value = device;
            _streamRows.Parameters[1].Value = kind;
            _streamRows.Parameters[2].Value = max - taken; // rows: each holds at least one reading
            using var r = _streamRows.ExecuteReader();
            var id = new DeviceId(device);
            while (r.Read())
            {
                var rowId = r.GetInt64(0);
                if (inFlight.Contains(rowId)) break; // a stream never overtakes its own in-flight records
                var readings = r.GetInt32(7);
                if (taken > 0 && taken + readings > max)
                {
                    full = true; // a later, smaller record of another stream must not overtake this one's place either
                    break;
                }
                var record = RecordCodec.Decode(id, (RecordKind)kind, r.GetInt64(1), r.GetInt64(2), (SyncPriority)r.GetInt32(3),
                    (byte[])r.GetValue(6));
                result.Add(new OutboxEntry(rowId, record, r.GetInt32(4), r.GetInt64(5)));
                taken += readings;
            }
        }
        return result;
    }

    public void Remove(IReadOnlyCollection<long> ids)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0) return;
        using var tx = _db.BeginTransaction(deferred: false);
        var (rows, readings, bytes) = DeleteIds(tx, ids);
        AddCounters(tx, synced: readings);
        tx.Commit();
        Transactions++;
        _rows -= rows;
        _count -= readings;
        _bytes -= bytes;
    }

    public int ExpireTtl(long nowMs)
    {
        ThrowIfDisposed();
        using var tx = _db.BeginTransaction(deferred: false);
        var rows = 0;
        var readings = 0;
        long bytes = 0;
        foreach (var kind in new[] { RecordKind.Telemetry, RecordKind.Frame })
        {
            using var del = _db.CreateCommand();
            del.Transaction = tx;
            del.CommandText = "DELETE FROM outbox WHERE kind = $kind AND created_at <= $cutoff RETURNING bytes, n";
            del.Parameters.AddWithValue("$kind", (int)kind);
            del.Parameters.AddWithValue("$cutoff", nowMs - (long)_settings.TtlFor(kind).TotalMilliseconds);
            using var r = del.ExecuteReader();
            while (r.Read())
            {
                rows++;
                bytes += r.GetInt64(0);
                readings += r.GetInt32(1);
            }
        }
        AddCounters(tx, expired: readings);
        tx.Commit();
        Transactions++;
        _rows -= rows;
        _count -= readings;
        _bytes -= bytes;
        return readings;
    }

    public KindHistory Waiting(DeviceId device, RecordKind kind, int max)
    {
        ThrowIfDisposed();
        long n;
        using (var q = _db.CreateCommand())
        {
            q.CommandText = "SELECT COALESCE(SUM(n), 0) FROM outbox WHERE device = $device AND kind = $kind";
            q.Parameters.AddWithValue("$device", device.Value);
            q.Parameters.AddWithValue("$kind", (int)kind);
            n = Convert.ToInt64(q.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
        if (n == 0 || max <= 0) return new KindHistory(n, []);
        // newest records first until max distinct sequences are known (a batch record's sequences come from its payload;
        // a device's sequences grow with its records, so the latest max are among the newest rows)
        var seen = new HashSet<long>();
        using (var q = _db.CreateCommand())
        {
            q.CommandText = "SELECT seq, n, payload FROM outbox WHERE device = $device AND kind = $kind ORDER BY id DESC";
            q.Parameters.AddWithValue("$device", device.Value);
            q.Parameters.AddWithValue("$kind", (int)kind);
            using var r = q.ExecuteReader();
            while (seen.Count < max && r.Read())
            {
                if (r.GetInt32(1) <= 1 && !RecordCodec.IsBatch((byte[])r.GetValue(2))) seen.Add(r.GetInt64(0));
                else foreach (var seq in RecordCodec.BatchSequences((byte[])r.GetValue(2))) seen.Add(seq);
            }
        }
        var list = seen.Order().ToList();
        if (list.Count > max) list.RemoveRange(0, list.Count - max);
        return new KindHistory(n, list.ToArray());
    }

    /// <summary>
    /// <see cref="Waiting"/> for a batch of devices in ONE query (the device ids travel as one JSON array parameter;
    /// the (device, kind) index finds their rows): per device and kind the row count and the latest
    /// <paramref name="max"/> distinct sequences. Devices with nothing waiting are absent.
    /// </summary>
    public IReadOnlyDictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)> WaitingOf(IReadOnlyCollection<DeviceId> devices, int max)
    {
        ThrowIfDisposed();
        var result = new Dictionary<DeviceId, (KindHistory Telemetry, KindHistory Frames)>();
        if (devices.Count == 0 || _count == 0) return result;
        // per device and kind: the readings waiting (SUM(n)) and, from the newest rows back, the latest max distinct
        // sequences (a batch record's sequences come from its payload; a device's sequences grow with its rows)
        var streams = new Dictionary<(string Device, int Kind), (long Count, HashSet<long> Seen)>();
        using (var q = _db.CreateCommand())
        {
            q.CommandText = """
                SELECT device, kind, n, SUM(n) OVER (PARTITION BY device, kind) AS total, seq, payload
                FROM outbox WHERE device IN (SELECT value FROM json_each($devices))
                ORDER BY device, kind, id DESC
                """;
            q.Parameters.AddWithValue("$devices", System.Text.Json.JsonSerializer.Serialize(devices.Select(d => d.Value)));
            using var r = q.ExecuteReader();
            while (r.Read())
            {
                var key = (r.GetString(0), r.GetInt32(1));
                if (!streams.TryGetValue(key, out var stream)) streams[key] = stream = (r.GetInt64(3), new HashSet<long>());
                if (max <= 0 || stream.Seen.Count >= max) continue;
                var payload = (byte[])r.GetValue(5);
                if (r.GetInt32(2) <= 1 && !RecordCodec.IsBatch(payload)) stream.Seen.Add(r.GetInt64(4));
                else foreach (var seq in RecordCodec.BatchSequences(payload)) stream.Seen.Add(seq);
            }
        }
        foreach (var ((device, kind), (count, seen)) in streams)
        {
            var list = seen.Order().ToList();
            if (list.Count > max) list.RemoveRange(0, list.Count - Math.Max(0, max));
            var history = new KindHistory(count, list.ToArray());
            var id = new DeviceId(device);
            var (t, f) = result.TryGetValue(id, out var both) ? both : (KindHistory.Empty, KindHistory.Empty);
            result[id] = kind == (int)RecordKind.Telemetry ? (history, f) : kind == (int)RecordKind.Frame ? (t, history) : (t, f);
        }
        return result;
    }

    public OutboxStats Stats()
    {
        ThrowIfDisposed();
        long oldest = 0;
        using (var q = _db.CreateCommand())
        {
            q.CommandText = "SELECT created_at FROM outbox ORDER BY id LIMIT 1";
            if (q.ExecuteScalar() is long v) oldest = v;
        }
        var counters = new Dictionary<string, long>();
        using (var q = _db.CreateCommand())
        {
            q.CommandText = "SELECT name, value FROM counters";
            using var r = q.ExecuteReader();
            while (r.Read()) counters[r.GetString(0)] = r.GetInt64(1);
        }
        return new OutboxStats(_count, _bytes, oldest, counters.GetValueOrDefault("synced"), counters.GetValueOrDefault("expired"),
            counters.GetValueOrDefault("overwritten"), counters.GetValueOrDefault("refused")) { BacklogRecords = _rows };
    }

    private void AddCounters(SqliteTransaction tx, long synced = 0, long expired = 0, long overwritten = 0, long refused = 0)
    {
        if (synced == 0 && expired == 0 && overwritten == 0 && refused == 0) return;
        using var c = _db.CreateCommand();
        c.Transaction = tx;
        c.CommandText = """
            UPDATE counters SET value = value + CASE name
                WHEN 'synced' THEN $synced WHEN 'expired' THEN $expired
                WHEN 'overwritten' THEN $overwritten WHEN 'refused' THEN $refused ELSE 0 END
            """;
        c.Parameters.AddWithValue("$synced", synced);
        c.Parameters.AddWithValue("$expired", expired);
        c.Parameters.AddWithValue("$overwritten", overwritten);
        c.Parameters.AddWithValue("$refused", refused);
        c.ExecuteNonQuery();
    }

    private void Exec(string sql)
    {
        using var c = _db.CreateCommand();
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _insert.Dispose();
        _deleteIds.Dispose();
        _streamRows.Dispose();
        _db.Dispose();
    }
}

/// <summary>
/// The outbox's payload column: the parts of a <see cref="SyncRecord"/> not kept in their own columns, little-endian.
/// <c>[i32 nValues][f32 × n][i32 nPixels][u8 × n][i32 label][u8 hasPrediction]</c> then, if present,
/// <c>[i32 label][f32 confidence][str model][i32 version][str servedBy][u8 escalated][u8 note]</c>, str = i32 length + UTF-8.
/// Floats are copied bit-exactly (NaN payloads included).
/// <para>
/// A batch record (<see cref="SyncRecord.Sequences"/>) is encoded instead as <c>[i32 -1][i32 count][i32 channels]</c>,
/// the sequences and then the timestamps each as <c>[i64 first]</c> followed by <c>count - 1</c> zigzag varint deltas
/// (consecutive sequences and evenly spaced timestamps take one or two bytes), then <c>[f32 × count × channels]</c>.
/// The leading -1 (never a value count) tells the two apart, so rows written before batch records still decode.
/// </para>
/// <para>
/// Versioned (docs/wire-format.md): a row is written as <c>[i32 -2][u8 version 1]</c>, then one of the two bodies
/// above, then extension fields (<c>varint(field &lt;&lt; 3 | wire type)</c> + value, see
/// <see cref="Messages.Serialization.WireFormat"/>) that a later release may append and this one skips. The leading -2
/// is neither a value count nor the batch marker, so rows written before versioning (no header) still decode.
/// </para>
/// </summary>
internal static class RecordCodec
{
    private const int BatchMarker = -1;

    /// <summary>First i32 of a versioned row: never a value count (>= 0) nor <see cref="BatchMarker"/>.</summary>
    private const int VersionedMarker = -2;

    /// <summary>Bytes before the body of a versioned row: the marker and the version byte.</summary>
    internal const int HeaderBytes = 5;

    private static void WriteHeader(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, VersionedMarker);
        s[4] = Messages.Serialization.WireFormat.Version;
    }

    /// <summary>The body of <paramref name="payload"/> (after the header of a versioned row; all of a row from before versioning).</summary>
    private static ReadOnlySpan<byte> Body(ReadOnlySpan<byte> payload, out bool versioned)
    {
        versioned = payload.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(payload) == VersionedMarker;
        if (!versioned) return payload;
        if (payload.Length < HeaderBytes) throw new InvalidDataException("outbox payload is corrupt (truncated header)");
        if (payload[4] != Messages.Serialization.WireFormat.Version)
            throw new InvalidDataException($"outbox payload has format version {payload[4]}; this release reads version {Messages.Serialization.WireFormat.Version}");
        return payload[HeaderBytes..];
    }

    /// <summary>Skips the extension fields after a versioned row's body (a later release's); fails on anything else.</summary>
    private static void SkipExtensions(ReadOnlySpan<byte> rest)
    {
        if (rest.IsEmpty) return;
        try
        {
            Messages.Serialization.WireFormat.SkipExtensions(rest, "outbox row");
        }
        catch (System.Runtime.Serialization.SerializationException e)
        {
            throw new InvalidDataException($"outbox payload is corrupt ({e.Message})", e);
        }
    }

    public static byte[] Encode(SyncRecord r)
    {
        if (r.IsBatch) return EncodeBatch(r);
        var values = r.Values ?? [];
        var pixels = r.Pixels ?? [];
        var p = r.Prediction;
        var size = HeaderBytes + 4 + 4 * values.Length + 4 + pixels.Length + 4 + 1;
        if (p is not null) size += 4 + 4 + 4 + Encoding.UTF8.GetByteCount(p.Model ?? "") + 4 + 4 + Encoding.UTF8.GetByteCount(p.ServedBy ?? "") + 1 + 1;
        var buf = new byte[size];
        WriteHeader(buf);
        var s = buf.AsSpan(HeaderBytes);
        BinaryPrimitives.WriteInt32LittleEndian(s, values.Length);
        s = s[4..];
        foreach (var v in values)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s, BitConverter.SingleToInt32Bits(v));
            s = s[4..];
        }
        BinaryPrimitives.WriteInt32LittleEndian(s, pixels.Length);
        s = s[4..];
        pixels.CopyTo(s);
        s = s[pixels.Length..];
        BinaryPrimitives.WriteInt32LittleEndian(s, r.Label);
        s = s[4..];
        s[0] = p is null ? (byte)0 : (byte)1;
        s = s[1..];
        if (p is null) return buf;
        BinaryPrimitives.WriteInt32LittleEndian(s, p.Label);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], BitConverter.SingleToInt32Bits(p.Confidence));
        s = s[8..];
        s = WriteString(s, p.Model ?? "");
        BinaryPrimitives.WriteInt32LittleEndian(s, p.Version);
        s = WriteString(s[4..], p.ServedBy ?? "");
        s[0] = p.Escalated ? (byte)1 : (byte)0;
        s[1] = (byte)p.Note;
        return buf;
    }

    private static Span<byte> WriteString(Span<byte> s, string value)
    {
        var n = Encoding.UTF8.GetBytes(value, s[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(s, n);
        return s[(4 + n)..];
    }

    private static byte[] EncodeBatch(SyncRecord r)
    {
        var seqs = r.Sequences!;
        var ts = r.Timestamps!;
        var values = r.Values ?? [];
        var n = seqs.Length;
        var channels = r.Channels;
        var buf = new byte[HeaderBytes + 12 + 2 * (8 + 10 * (n - 1)) + 4 * values.Length];
        WriteHeader(buf);
        var s = buf.AsSpan(HeaderBytes);
        BinaryPrimitives.WriteInt32LittleEndian(s, BatchMarker);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], n);
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], channels);
        var pos = HeaderBytes + 12;
        pos = WriteDeltas(buf, pos, seqs);
        pos = WriteDeltas(buf, pos, ts);
        if (BitConverter.IsLittleEndian) System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(buf.AsSpan(pos));
        else
            for (var i = 0; i < values.Length; i++)
                BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(pos + 4 * i), BitConverter.SingleToInt32Bits(values[i]));
        pos += 4 * values.Length;
        return pos == buf.Length ? buf : buf.AsSpan(0, pos).ToArray();
    }

    private static int WriteDeltas(byte[] buf, int pos, long[] values)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buf.AsSpan(pos), values[0]);
        pos += 8;
        for (var i = 1; i < values.Length; i++)
        {
            var d = unchecked(values[i] - values[i - 1]);
            var z = (ulong)((d << 1) ^ (d >> 63));
            while (z >= 0x80)
            {
                buf[pos++] = (byte)(z | 0x80);
                z >>= 7;
            }
            buf[pos++] = (byte)z;
        }
        return pos;
    }

    private static long[] ReadDeltas(ref ReadOnlySpan<byte> s, int n)
    {
        if (s.Length < 8) throw new InvalidDataException("outbox payload is corrupt (truncated batch)");
        var result = new long[n];
        result[0] = BinaryPrimitives.ReadInt64LittleEndian(s);
        var pos = 8;
        for (var i = 1; i < n; i++)
        {
            ulong z = 0;
            var shift = 0;
            while (true)
            {
                if (pos >= s.Length || shift > 63) throw new InvalidDataException("outbox payload is corrupt (bad varint)");
                var b = s[pos++];
                z |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) break;
                shift += 7;
            }
            result[i] = unchecked(result[i - 1] + ((long)(z >> 1) ^ -(long)(z & 1)));
        }
        s = s[pos..];
        return result;
    }

    /// <summary>True when <paramref name="payload"/> is a batch record's.</summary>
    public static bool IsBatch(ReadOnlySpan<byte> payload) => IsBatchBody(Body(payload, out _));

    private static bool IsBatchBody(ReadOnlySpan<byte> body) =>
        body.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(body) == BatchMarker;

    /// <summary>The sequences of a batch record's payload.</summary>
    public static long[] BatchSequences(ReadOnlySpan<byte> payload)
    {
        var s = Body(payload, out _);
        var (n, _) = BatchHeader(ref s);
        return ReadDeltas(ref s, n);
    }

    private static (int Count, int Channels) BatchHeader(ref ReadOnlySpan<byte> s)
    {
        if (!IsBatchBody(s) || s.Length < 12) throw new InvalidDataException("outbox payload is not a batch record");
        var n = BinaryPrimitives.ReadInt32LittleEndian(s[4..]);
        var channels = BinaryPrimitives.ReadInt32LittleEndian(s[8..]);
        if (n < 1 || channels < 0 || (long)n * channels * 4 > s.Length) throw new InvalidDataException($"outbox payload is corrupt (batch of {n} x {channels})");
        s = s[12..];
        return (n, channels);
    }

    private static SyncRecord DecodeBatch(DeviceId device, SyncPriority priority, ref ReadOnlySpan<byte> s, bool versioned)
    {
        var (n, channels) = BatchHeader(ref s);
        var seqs = ReadDeltas(ref s, n);
        var ts = ReadDeltas(ref s, n);
        var count = n * channels;
        // a row from before versioning ends with the values; a versioned one may continue with extension fields
        if (versioned ? s.Length < 4 * count : s.Length != 4 * count)
            throw new InvalidDataException($"outbox payload is corrupt ({s.Length} bytes for {count} values)");
        var values = new float[count];
        if (BitConverter.IsLittleEndian) s[..(4 * count)].CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        else
            for (var i = 0; i < count; i++) values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(s[(4 * i)..]));
        s = s[(4 * count)..];
        return SyncRecord.Readings(device, priority, seqs, ts, values);
    }

    public static SyncRecord Decode(DeviceId device, RecordKind kind, long seq, long ts, SyncPriority priority, ReadOnlySpan<byte> payload)
    {
        var s = Body(payload, out var versioned);
        var record = IsBatchBody(s) ? DecodeBatch(device, priority, ref s, versioned) : DecodeSingle(device, kind, seq, ts, priority, ref s);
        if (versioned) SkipExtensions(s);
        return record;
    }

    private static SyncRecord DecodeSingle(DeviceId device, RecordKind kind, long seq, long ts, SyncPriority priority, ref ReadOnlySpan<byte> s)
    {
        var nValues = ReadLength(ref s, 4);
        var values = new float[nValues];
        for (var i = 0; i < nValues; i++)
            values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(s[(4 * i)..]));
        s = s[(4 * nValues)..];
        var nPixels = ReadLength(ref s, 1);
        var pixels = s[..nPixels].ToArray();
        s = s[nPixels..];
        var label = BinaryPrimitives.ReadInt32LittleEndian(s);
        var has = s[4];
        s = s[5..];
        Prediction? prediction = null;
        if (has != 0)
        {
            var pl = BinaryPrimitives.ReadInt32LittleEndian(s);
            var conf = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(s[4..]));
            s = s[8..];
            var model = ReadString(ref s);
            var version = BinaryPrimitives.ReadInt32LittleEndian(s);
            s = s[4..];
            var servedBy = ReadString(ref s);
            if (s.Length < 2) throw new InvalidDataException("outbox payload is corrupt (truncated prediction)");
            prediction = new Prediction(pl, conf, model, version, servedBy, s[0] != 0, (PredictionNote)s[1]);
            s = s[2..];
        }
        return new SyncRecord(device, kind, seq, ts, priority, values, pixels, label, prediction);
    }

    private static int ReadLength(ref ReadOnlySpan<byte> s, int elementSize)
    {
        var n = BinaryPrimitives.ReadInt32LittleEndian(s);
        s = s[4..];
        if (n < 0 || (long)n * elementSize > s.Length) throw new InvalidDataException($"outbox payload is corrupt (length {n})");
        return n;
    }

    private static string ReadString(ref ReadOnlySpan<byte> s)
    {
        var n = ReadLength(ref s, 1);
        var value = Encoding.UTF8.GetString(s[..n]);
        s = s[n..];
        return value;
    }
}
