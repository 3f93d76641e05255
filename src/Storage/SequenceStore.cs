using Microsoft.Data.Sqlite;

namespace EdgeActors.Storage;

/// <summary>
/// The sensor uplinks' non-volatile sequence counters (what a real gateway keeps in its NVRAM): per device, the highest
/// sequence number its uplink has assigned and is about to send. Written before the readings carrying those numbers are
/// sent, read when an uplink starts, so an edge killed and restarted never numbers a reading with a number already used
/// by a reading it accepted, even when the device entity cannot see those readings yet. Calls block (file IO): uplinks
/// make them in Task.Run, never on their mailbox. Safe for concurrent callers.
/// </summary>
public interface ISequenceStore : IDisposable
{
    /// <summary>The highest sequence persisted for <paramref name="device"/>; 0 when none.</summary>
    long Load(string device);

    /// <summary>Persists <paramref name="lastSequence"/> for <paramref name="device"/> durably (never lowers it); throws when it could not.</summary>
    void Save(string device, long lastSequence);
}

/// <summary>
/// <see cref="ISequenceStore"/> on one SQLite file (WAL, synchronous FULL: a committed value survives a SIGKILL and a
/// power loss). Opened on first use (on the caller's thread, so never on a dispatcher), one connection behind a lock.
/// </summary>
public sealed class SqliteSequenceStore(string path) : ISequenceStore
{
    private readonly object _gate = new();
    private SqliteConnection? _db;
    private bool _disposed;

    public string DatabasePath { get; } = Path.GetFullPath(path);

    public long Load(string device)
    {
        lock (_gate)
        {
            using var cmd = Open().CreateCommand();
            cmd.CommandText = "SELECT last_seq FROM uplink_sequence WHERE device = $device";
            cmd.Parameters.AddWithValue("$device", device);
            return cmd.ExecuteScalar() is long v ? v : 0;
        }
    }

    public void Save(string device, long lastSequence)
    {
        lock (_gate)
        {
            using var cmd = Open().CreateCommand();
            cmd.CommandText = """
                INSERT INTO uplink_sequence (device, last_seq) VALUES ($device, $seq)
                ON CONFLICT (device) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)
                """;
            cmd.Parameters.AddWithValue("$device", device);
            cmd.Parameters.AddWithValue("$seq", lastSequence);
            cmd.ExecuteNonQuery();
        }
    }

    private SqliteConnection Open()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_db is not null) return _db;
        return _db = SqliteFiles.OpenDedicated(DatabasePath, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS uplink_sequence (device TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
            """);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _db?.Dispose();
            _db = null;
        }
    }
}
