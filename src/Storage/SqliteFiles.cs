using Microsoft.Data.Sqlite;

namespace EdgeActors.Storage;

/// <summary>
/// How our SQLite stores (outbox, data store, model registry, federation state, adapter sequences) open their files:
/// read-write-create, a 30 s busy timeout, the file's directory created first.
/// </summary>
public static class SqliteFiles
{
    /// <summary>Connection string for the file at <paramref name="fullPath"/>, whose directory is created.</summary>
    public static string ConnectionString(string fullPath, bool pooling)
    {
        var dir = Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        return new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = pooling,
            DefaultTimeout = 30,
        }.ToString();
    }

    /// <summary>
    /// A pooled store's file: runs <paramref name="schema"/> (pragmas, tables) once on it and returns the connection string
    /// its calls open with (<see cref="OpenPooled"/>).
    /// </summary>
    public static string CreatePooled(string fullPath, string schema)
    {
        var connectionString = ConnectionString(fullPath, pooling: true);
        using var c = OpenPooled(connectionString);
        using var cmd = c.CreateCommand();
        cmd.CommandText = schema;
        cmd.ExecuteNonQuery();
        return connectionString;
    }

    /// <summary>An open connection from the pool (each call of a thread-safe store takes its own).</summary>
    public static SqliteConnection OpenPooled(string connectionString)
    {
        var c = new SqliteConnection(connectionString);
        c.Open();
        return c;
    }

    /// <summary>
    /// A dedicated (unpooled) connection to the file, opened, with <paramref name="schema"/> (pragmas, tables) run on it;
    /// disposed again when that fails.
    /// </summary>
    public static SqliteConnection OpenDedicated(string fullPath, string schema)
    {
        var db = new SqliteConnection(ConnectionString(fullPath, pooling: false));
        try
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = schema;
            cmd.ExecuteNonQuery();
            return db;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }
}
