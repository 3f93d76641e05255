using System.Text.Json;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;
using Npgsql;
using NpgsqlTypes;

namespace EdgeActors.Storage;

/// <summary>
/// The model registry's durable state: every published version with its ONNX bytes, and one version policy per model
/// (pinned version, or none = follow the latest). <see cref="ModelStore"/> (SQLite file) and
/// <see cref="PostgresModelStore"/> (the datacenter tier's database). Thread-safe; every call is asynchronous (a failure,
/// e.g. the database being unreachable, is a faulted task).
/// </summary>
public interface IModelStore : IDisposable
{
    /// <summary>Where the store lives (a file path, or the PostgreSQL host and database), for logs.</summary>
    string Location { get; }

    /// <summary>
    /// Stores a new version (max + 1) and returns its description; with <paramref name="reuseLatestIdentical"/>, the latest
    /// version when it holds the same bytes (decided in the same transaction, so concurrent identical publishes store one).
    /// </summary>
    Task<ModelInfo> AddAsync(string name, byte[] onnx, int[] inputShape, string[] labels, string description, long createdAtMs, bool reuseLatestIdentical = false);

    /// <summary>Every stored version (without bytes), by name then version.</summary>
    Task<IReadOnlyList<ModelInfo>> ListAsync();

    /// <summary>Names of every model with at least one version, sorted.</summary>
    Task<IReadOnlyList<string>> NamesAsync();

    Task<ModelInfo?> GetAsync(string name, int version);

    /// <summary>Up to <paramref name="count"/> bytes from <paramref name="offset"/> (empty at or past the end); null for an unknown version.</summary>
    Task<byte[]?> ReadBytesAsync(string name, int version, long offset, int count);

    Task<ModelPolicy> PolicyAsync(string name);

    /// <summary>The version edges should serve: the pinned one when pinned, else the latest; null for an unknown model.</summary>
    Task<ModelInfo?> ActiveAsync(string name);

    /// <summary>Pins <paramref name="version"/> (which must exist: else <see cref="ArgumentException"/>), or follows the latest again with 0.</summary>
    Task SetPinnedAsync(string name, int version);
}

/// <summary>
/// The model registry in the datacenter tier's PostgreSQL database (tables <c>models</c>, <c>model_policies</c>; migration 3
/// of <see cref="PostgresSchema"/>, applied on first use). Version numbers are assigned under a transaction-scoped
/// advisory lock per model name, and (name, version) is the primary key.
/// </summary>
public sealed class PostgresModelStore : IModelStore
{
    internal const string Schema = """
        CREATE TABLE IF NOT EXISTS models (
            name TEXT NOT NULL,
            version INT NOT NULL,
            input_shape TEXT NOT NULL,
            labels TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            description TEXT NOT NULL,
            onnx BYTEA NOT NULL,
            PRIMARY KEY (name, version));
        CREATE TABLE IF NOT EXISTS model_policies (
            name TEXT PRIMARY KEY,
            pinned_version INT NOT NULL);
        """;

    private const string InfoColumns = "name, version, input_shape, labels, sha256, size, created_at, description";

    private readonly PgDatabase _db;

    public string Location => _db.Location;

    /// <summary>Touches no server: the schema is applied on the first call (<see cref="PgDatabase"/>).</summary>
    public PostgresModelStore(string connectionString) => _db = new PgDatabase(connectionString);

    private static void RequireName(string name)
    {
        var problem = ModelStore.ValidateName(name);
        if (problem is not null) throw new ArgumentException(problem, nameof(name));
    }

    private static ModelInfo ReadInfo(NpgsqlDataReader r) => new(
        r.GetString(0),
        r.GetInt32(1),
        JsonSerializer.Deserialize<int[]>(r.GetString(2)) ?? [],
        JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? [],
        r.GetString(4),
        r.GetInt64(5),
        r.GetInt64(6),
        r.GetString(7));

    private static async Task<List<ModelInfo>> ReadInfos(NpgsqlCommand cmd)
    {
        await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        var list = new List<ModelInfo>();
        while (await r.ReadAsync().ConfigureAwait(false)) list.Add(ReadInfo(r));
        return list;
    }

    public async Task<ModelInfo> AddAsync(string name, byte[] onnx, int[] inputShape, string[] labels, string description, long createdAtMs, bool reuseLatestIdentical = false)
    {
        RequireName(name);
        ArgumentNullException.ThrowIfNull(onnx);
        if (onnx.Length == 0) throw new ArgumentException("model bytes are empty", nameof(onnx));
        var sha = OnnxModel.Sha256(onnx);
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync().ConfigureAwait(false);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('edgeactors.models'), hashtext(@name))", c, tx))
        {
            lockCmd.Parameters.AddWithValue("name", name);
            await lockCmd.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        if (reuseLatestIdentical)
        {
            await using var latest = new NpgsqlCommand($"SELECT {InfoColumns} FROM models WHERE name = @name ORDER BY version DESC LIMIT 1", c, tx);
            latest.Parameters.AddWithValue("name", name);
            if ((await ReadInfos(latest).ConfigureAwait(false)).FirstOrDefault() is { } same && same.Sha256 == sha)
            {
                await tx.CommitAsync().ConfigureAwait(false);
                return same;
            }
        }
        int version;
        await using (var next = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name = @name", c, tx))
        {
            next.Parameters.AddWithValue("name", name);
            version = Convert.ToInt32(await next.ExecuteScalarAsync().ConfigureAwait(false));
        }
        var info = new ModelInfo(name, version, inputShape.ToArray(), labels.ToArray(), sha, onnx.LongLength, createdAtMs, description ?? "");
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO models (name, version, input_shape, labels, sha256, size, created_at, description, onnx)
            VALUES (@name, @version, @shape, @labels, @sha, @size, @created, @description, @onnx)
            """, c, tx))
        {
            insert.Parameters.AddWithValue("name", name);
            insert.Parameters.AddWithValue("version", version);
            insert.Parameters.AddWithValue("shape", JsonSerializer.Serialize(info.InputShape));
            insert.Parameters.AddWithValue("labels", JsonSerializer.Serialize(info.Labels));
            insert.Parameters.AddWithValue("sha", sha);
            insert.Parameters.AddWithValue("size", info.SizeBytes);
            insert.Parameters.AddWithValue("created", createdAtMs);
            insert.Parameters.AddWithValue("description", info.Description);
            insert.Parameters.AddWithValue("onnx", NpgsqlDbType.Bytea, onnx);
            await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        await tx.CommitAsync().ConfigureAwait(false);
        return info;
    }

    public async Task<IReadOnlyList<ModelInfo>> ListAsync()
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {InfoColumns} FROM models ORDER BY name, version", c);
        return await ReadInfos(cmd).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> NamesAsync()
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT DISTINCT name FROM models ORDER BY name", c);
        await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        var list = new List<string>();
        while (await r.ReadAsync().ConfigureAwait(false)) list.Add(r.GetString(0));
        return list;
    }

    public async Task<ModelInfo?> GetAsync(string name, int version)
    {
        if (ModelStore.ValidateName(name) is not null) return null;
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {InfoColumns} FROM models WHERE name = @name AND version = @version", c);
        cmd.Parameters.AddWithValue("name", name);
        cmd.Parameters.AddWithValue("version", version);
        return (await ReadInfos(cmd).ConfigureAwait(false)).FirstOrDefault();
    }

    public async Task<byte[]?> ReadBytesAsync(string name, int version, long offset, int count)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (ModelStore.ValidateName(name) is not null) return null;
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        // substring on bytea counts bytes (1-based); offsets beyond int range do not occur (a model is at most 1 GiB)
        await using var cmd = new NpgsqlCommand("SELECT substring(onnx FROM @start FOR @count) FROM models WHERE name = @name AND version = @version", c);
        cmd.Parameters.AddWithValue("start", (int)Math.Min(int.MaxValue, offset + 1));
        cmd.Parameters.AddWithValue("count", count);
        cmd.Parameters.AddWithValue("name", name);
        cmd.Parameters.AddWithValue("version", version);
        await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        if (!await r.ReadAsync().ConfigureAwait(false)) return null;
        return r.IsDBNull(0) ? [] : (byte[])r.GetValue(0);
    }

    private static async Task<int> Pinned(NpgsqlConnection c, string name)
    {
        await using var cmd = new NpgsqlCommand("SELECT pinned_version FROM model_policies WHERE name = @name", c);
        cmd.Parameters.AddWithValue("name", name);
        return await cmd.ExecuteScalarAsync().ConfigureAwait(false) is int v ? v : 0;
    }

    private static async Task<ModelInfo?> Active(NpgsqlConnection c, string name)
    {
        var pinned = await Pinned(c, name).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(pinned > 0
            ? $"SELECT {InfoColumns} FROM models WHERE name = @name AND version = @pinned"
            : $"SELECT {InfoColumns} FROM models WHERE name = @name ORDER BY version DESC LIMIT 1", c);
        cmd.Parameters.AddWithValue("name", name);
        if (pinned > 0) cmd.Parameters.AddWithValue("pinned", pinned);
        return (await ReadInfos(cmd).ConfigureAwait(false)).FirstOrDefault();
    }

    public async Task<ModelPolicy> PolicyAsync(string name)
    {
        if (ModelStore.ValidateName(name) is not null) return new ModelPolicy(name, 0, 0);
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        var active = await Active(c, name).ConfigureAwait(false);
        return new ModelPolicy(name, active?.Version ?? 0, await Pinned(c, name).ConfigureAwait(false));
    }

    public async Task<ModelInfo?> ActiveAsync(string name)
    {
        if (ModelStore.ValidateName(name) is not null) return null;
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        return await Active(c, name).ConfigureAwait(false);
    }

    public async Task SetPinnedAsync(string name, int version)
    {
        RequireName(name);
        if (version < 0) throw new ArgumentOutOfRangeException(nameof(version), "version must be >= 0");
        if (version > 0 && await GetAsync(name, version).ConfigureAwait(false) is null)
            throw new ArgumentException($"model {name} has no version {version}", nameof(version));
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(version == 0
            ? "DELETE FROM model_policies WHERE name = @name"
            : "INSERT INTO model_policies (name, pinned_version) VALUES (@name, @version) ON CONFLICT (name) DO UPDATE SET pinned_version = excluded.pinned_version", c);
        cmd.Parameters.AddWithValue("name", name);
        cmd.Parameters.AddWithValue("version", version);
        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public void Dispose() => _db.Dispose();
}
