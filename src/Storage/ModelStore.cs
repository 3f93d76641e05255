using EdgeActors.Inference.Runtime;
using System.Text.Json;
using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Storage;

/// <summary>
/// Durable model registry on SQLite: every published version with its ONNX bytes, and one version policy per model
/// (pinned version, or none = follow the latest). Thread-safe: each call opens its own (pooled) connection; version
/// numbers are assigned inside an immediate transaction.
/// </summary>
public sealed class ModelStore : IModelStore
{
    public const int MaxNameLength = 64;

    private readonly string _connectionString;

    public string DatabasePath { get; }

    public string Location => DatabasePath;

    public ModelStore(string databasePath)
    {
        if (string.IsNullOrWhiteSpace(databasePath)) throw new ArgumentException("database path is empty", nameof(databasePath));
        DatabasePath = Path.GetFullPath(databasePath);
        _connectionString = SqliteFiles.CreatePooled(DatabasePath, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS models (
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                input_shape TEXT NOT NULL,
                labels TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                description TEXT NOT NULL,
                onnx BLOB NOT NULL,
                PRIMARY KEY (name, version));
            CREATE TABLE IF NOT EXISTS policies (
                name TEXT PRIMARY KEY,
                pinned_version INTEGER NOT NULL);
            """);
    }

    /// <summary>Why <paramref name="name"/> is not a valid model name, or null when it is (1..64 of [a-z0-9._-]).</summary>
    public static string? ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "model name is empty";
        if (name.Length > MaxNameLength) return $"model name is {name.Length} characters long; the limit is {MaxNameLength}";
        foreach (var c in name)
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-'))
                return $"model name '{name}' may only contain a-z, 0-9, '.', '_' and '-'";
        return null;
    }

    private static void RequireName(string name)
    {
        var problem = ValidateName(name);
        if (problem is not null) throw new ArgumentException(problem, nameof(name));
    }

    private SqliteConnection Open() => SqliteFiles.OpenPooled(_connectionString);

    /// <summary>
    /// Stores a new version (max + 1) of <paramref name="name"/> and returns its description. With
    /// <paramref name="reuseLatestIdentical"/>, when the latest version holds the same bytes (sha256) it is returned
    /// instead, decided inside the same immediate transaction, so concurrent identical publishes store one version.
    /// </summary>
    public ModelInfo Add(string name, byte[] onnx, int[] inputShape, string[] labels, string description, long createdAtMs, bool reuseLatestIdentical = false)
    {
        RequireName(name);
        ArgumentNullException.ThrowIfNull(onnx);
        if (onnx.Length == 0) throw new ArgumentException("model bytes are empty", nameof(onnx));
        var sha = OnnxModel.Sha256(onnx);
        using var c = Open();
        using var tx = c.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: version numbers never collide
        if (reuseLatestIdentical)
        {
            using var latest = c.CreateCommand();
            latest.Transaction = tx;
            latest.CommandText = $"SELECT {InfoColumns} FROM models WHERE name = $name ORDER BY version DESC LIMIT 1";
            latest.Parameters.AddWithValue("$name", name);
            using var r = latest.ExecuteReader();
            if (r.Read() && ReadInfo(r) is { } same && same.Sha256 == sha) return same;
        }
        using var next = c.CreateCommand();
        next.Transaction = tx;
        next.CommandText = "SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name = $name";
        next.Parameters.AddWithValue("$name", name);
        var version = Convert.ToInt32(next.ExecuteScalar());
        var info = new ModelInfo(name, version, inputShape.ToArray(), labels.ToArray(), sha, onnx.LongLength, createdAtMs, description ?? "");
        using var insert = c.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = """
            INSERT INTO models (name, version, input_shape, labels, sha256, size, created_at, description, onnx)
            VALUES ($name, $version, $shape, $labels, $sha, $size, $created, $description, $onnx)
            """;
        insert.Parameters.AddWithValue("$name", name);
        insert.Parameters.AddWithValue("$version", version);
        insert.Parameters.AddWithValue("$shape", JsonSerializer.Serialize(info.InputShape));
        insert.Parameters.AddWithValue("$labels", JsonSerializer.Serialize(info.Labels));
        insert.Parameters.AddWithValue("$sha", sha);
        insert.Parameters.AddWithValue("$size", info.SizeBytes);
        insert.Parameters.AddWithValue("$created", createdAtMs);
        insert.Parameters.AddWithValue("$description", info.Description);
        insert.Parameters.Add("$onnx", SqliteType.Blob).Value = onnx;
        insert.ExecuteNonQuery();
        tx.Commit();
        return info;
    }

    private const string InfoColumns = "name, version, input_shape, labels, sha256, size, created_at, description";

    private static ModelInfo ReadInfo(SqliteDataReader r) => new(
        r.GetString(0),
        r.GetInt32(1),
        JsonSerializer.Deserialize<int[]>(r.GetString(2)) ?? [],
        JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? [],
        r.GetString(4),
        r.GetInt64(5),
        r.GetInt64(6),
        r.GetString(7));

    /// <summary>Every stored version (without bytes), by name then version.</summary>
    public IReadOnlyList<ModelInfo> List()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {InfoColumns} FROM models ORDER BY name, version";
        using var r = cmd.ExecuteReader();
        var list = new List<ModelInfo>();
        while (r.Read()) list.Add(ReadInfo(r));
        return list;
    }

    /// <summary>Names of every model with at least one version, sorted.</summary>
    public IReadOnlyList<string> Names()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT DISTINCT name FROM models ORDER BY name";
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read()) list.Add(r.GetString(0));
        return list;
    }

    public ModelInfo? Get(string name, int version)
    {
        if (ValidateName(name) is not null) return null;
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {InfoColumns} FROM models WHERE name = $name AND version = $version";
        cmd.Parameters.AddWithValue("$name", name);
        cmd.Parameters.AddWithValue("$version", version);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadInfo(r) : null;
    }

    /// <summary>
    /// Up to <paramref name="count"/> bytes of a version's ONNX blob from <paramref name="offset"/> (empty at or past the
    /// end); null when the version does not exist.
    /// </summary>
    public byte[]? ReadBytes(string name, int version, long offset, int count)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (ValidateName(name) is not null) return null;
        using var c = Open();
        using var cmd = c.CreateCommand();
        // substr on a BLOB counts bytes (1-based)
        cmd.CommandText = "SELECT substr(onnx, $start, $count) FROM models WHERE name = $name AND version = $version";
        cmd.Parameters.AddWithValue("$start", offset + 1);
        cmd.Parameters.AddWithValue("$count", count);
        cmd.Parameters.AddWithValue("$name", name);
        cmd.Parameters.AddWithValue("$version", version);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        return r.IsDBNull(0) ? [] : (byte[])r.GetValue(0);
    }

    /// <summary>The pinned version (0 when following the latest).</summary>
    private static int Pinned(SqliteConnection c, string name)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT pinned_version FROM policies WHERE name = $name";
        cmd.Parameters.AddWithValue("$name", name);
        return cmd.ExecuteScalar() is long v ? (int)v : 0;
    }

    private static ModelInfo? Active(SqliteConnection c, string name)
    {
        var pinned = Pinned(c, name);
        using var cmd = c.CreateCommand();
        cmd.CommandText = pinned > 0
            ? $"SELECT {InfoColumns} FROM models WHERE name = $name AND version = $pinned"
            : $"SELECT {InfoColumns} FROM models WHERE name = $name ORDER BY version DESC LIMIT 1";
        cmd.Parameters.AddWithValue("$name", name);
        cmd.Parameters.AddWithValue("$pinned", pinned);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadInfo(r) : null;
    }

    public ModelPolicy Policy(string name)
    {
        if (ValidateName(name) is not null) return new ModelPolicy(name, 0, 0);
        using var c = Open();
        return new ModelPolicy(name, Active(c, name)?.Version ?? 0, Pinned(c, name));
    }

    /// <summary>The version edges should serve: the pinned one when pinned, else the latest; null for an unknown model.</summary>
    public ModelInfo? Active(string name)
    {
        if (ValidateName(name) is not null) return null;
        using var c = Open();
        return Active(c, name);
    }

    /// <summary>Pins <paramref name="version"/> (which must exist), or follows the latest again with 0.</summary>
    public void SetPinned(string name, int version)
    {
        RequireName(name);
        if (version < 0) throw new ArgumentOutOfRangeException(nameof(version), "version must be >= 0");
        if (version > 0 && Get(name, version) is null) throw new ArgumentException($"model {name} has no version {version}", nameof(version));
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = version == 0
            ? "DELETE FROM policies WHERE name = $name"
            : "INSERT INTO policies (name, pinned_version) VALUES ($name, $version) ON CONFLICT(name) DO UPDATE SET pinned_version = excluded.pinned_version";
        cmd.Parameters.AddWithValue("$name", name);
        cmd.Parameters.AddWithValue("$version", version);
        cmd.ExecuteNonQuery();
    }

    // IModelStore: the synchronous calls above on a pool thread (SQLite has no asynchronous I/O), off the caller's thread
    Task<ModelInfo> IModelStore.AddAsync(string name, byte[] onnx, int[] inputShape, string[] labels, string description, long createdAtMs, bool reuseLatestIdentical) =>
        Task.Run(() => Add(name, onnx, inputShape, labels, description, createdAtMs, reuseLatestIdentical));

    Task<IReadOnlyList<ModelInfo>> IModelStore.ListAsync() => Task.Run(List);

    Task<IReadOnlyList<string>> IModelStore.NamesAsync() => Task.Run(Names);

    Task<ModelInfo?> IModelStore.GetAsync(string name, int version) => Task.Run(() => Get(name, version));

    Task<byte[]?> IModelStore.ReadBytesAsync(string name, int version, long offset, int count) => Task.Run(() => ReadBytes(name, version, offset, count));

    Task<ModelPolicy> IModelStore.PolicyAsync(string name) => Task.Run(() => Policy(name));

    Task<ModelInfo?> IModelStore.ActiveAsync(string name) => Task.Run(() => Active(name));

    Task IModelStore.SetPinnedAsync(string name, int version) => Task.Run(() => SetPinned(name, version));

    /// <summary>Releases pooled connections so the database file is closed.</summary>
    public void Dispose()
    {
        using var c = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(c);
    }
}
