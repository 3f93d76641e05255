using System.Data;
using System.Data.Common;
using System.Text.Json;
using EdgeActors.Messages;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace EdgeActors.Storage;

/// <summary>A device's twin and its kept commands (oldest first), as loaded from a <see cref="ITwinStore"/>.</summary>
public sealed record StoredTwin(DeviceTwin Twin, CommandStatus[] Commands);

/// <summary>
/// Durable device twins and cloud-to-device commands (the datacenter's twin store; the device entities own the state,
/// this keeps it across edge restarts and failovers). Implementations are thread-safe.
/// </summary>
public interface ITwinStore : IDisposable
{
    /// <summary>Where the store lives (a file path, or the PostgreSQL host and database), for logs.</summary>
    string Location { get; }

    /// <summary>The device's twin (<see cref="DeviceTwin.Empty"/> when none was stored) and its kept commands, oldest first.</summary>
    StoredTwin Load(DeviceId device) => LoadAsync(device).GetAwaiter().GetResult();

    /// <summary><see cref="Load"/>, with asynchronous I/O (what the twin store actor calls).</summary>
    Task<StoredTwin> LoadAsync(DeviceId device, CancellationToken ct = default);

    /// <summary>
    /// Writes the twin and the commands that changed (inserted or replaced by command id) in ONE transaction: either
    /// all of it is stored or nothing. Then the device's finished commands (acknowledged, failed, expired) beyond
    /// <c>maxCommands</c> kept in all are dropped, oldest first; pending and delivered ones are always kept.
    /// </summary>
    void Save(DeviceTwin twin, IReadOnlyList<CommandStatus> changed, int maxCommands) => SaveAsync(twin, changed, maxCommands).GetAwaiter().GetResult();

    /// <summary><see cref="Save"/>, with asynchronous I/O (what the twin store actor calls).</summary>
    Task SaveAsync(DeviceTwin twin, IReadOnlyList<CommandStatus> changed, int maxCommands, CancellationToken ct = default);
}

/// <summary>
/// The SQL of both twin stores (SQLite and PostgreSQL understand the same statements: <c>@name</c> parameters,
/// <c>INSERT … ON CONFLICT … DO UPDATE</c>, <c>LIMIT</c> in a subquery). Two tables: <c>twins</c> (one row per device,
/// each side's properties as JSON) and <c>twin_commands</c> (one row per command).
/// </summary>
public abstract class DbTwinStore : ITwinStore
{
    /// <summary>The tables (SQLite at open; PostgreSQL: migration 2 of <see cref="PostgresSchema"/>).</summary>
    protected internal const string Tables = """
        CREATE TABLE IF NOT EXISTS twins (
            device_id TEXT NOT NULL PRIMARY KEY,
            desired_version BIGINT NOT NULL,
            reported_version BIGINT NOT NULL,
            desired TEXT NOT NULL,
            reported TEXT NOT NULL,
            updated_at BIGINT NOT NULL);
        CREATE TABLE IF NOT EXISTS twin_commands (
            device_id TEXT NOT NULL,
            command_id TEXT NOT NULL,
            name TEXT NOT NULL,
            payload TEXT NOT NULL,
            state SMALLINT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            result TEXT NOT NULL,
            PRIMARY KEY (device_id, command_id));
        """;

    public abstract string Location { get; }

    protected abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>A write transaction (SQLite: BEGIN IMMEDIATE, so two writers never deadlock on the upgrade).</summary>
    protected virtual async Task<DbTransaction> BeginWriteAsync(DbConnection c, CancellationToken ct) => await c.BeginTransactionAsync(ct).ConfigureAwait(false);

    public virtual async Task<StoredTwin> LoadAsync(DeviceId device, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct).ConfigureAwait(false);
        var twin = DeviceTwin.Empty(device);
        await using (var cmd = Command(c, null, "SELECT desired_version, reported_version, desired, reported FROM twins WHERE device_id = @d"))
        {
            Add(cmd, "@d", device.Value);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await r.ReadAsync(ct).ConfigureAwait(false))
                twin = new DeviceTwin(device, FromJson(r.GetString(2)), FromJson(r.GetString(3)), r.GetInt64(0), r.GetInt64(1));
        }
        var commands = new List<CommandStatus>();
        await using (var cmd = Command(c, null,
                   "SELECT command_id, name, payload, state, created_at, expires_at, updated_at, result FROM twin_commands " +
                   "WHERE device_id = @d ORDER BY created_at, command_id"))
        {
            Add(cmd, "@d", device.Value);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                commands.Add(new CommandStatus(device, r.GetString(0), r.GetString(1), r.GetString(2), (CommandState)r.GetInt16(3),
                    r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetString(7)));
        }
        return new StoredTwin(twin, commands.ToArray());
    }

    public virtual async Task SaveAsync(DeviceTwin twin, IReadOnlyList<CommandStatus> changed, int maxCommands, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(twin);
        if (maxCommands < 1) throw new ArgumentOutOfRangeException(nameof(maxCommands), maxCommands, "at least one command must be kept");
        foreach (var s in changed)
            if (s.DeviceId != twin.DeviceId)
                throw new ArgumentException($"command '{s.CommandId}' is for device '{s.DeviceId}', the twin for '{twin.DeviceId}'");
        var device = twin.DeviceId.Value;
        await using var c = await OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await BeginWriteAsync(c, ct).ConfigureAwait(false);
        await using (var cmd = Command(c, tx, """
                   INSERT INTO twins (device_id, desired_version, reported_version, desired, reported, updated_at)
                   VALUES (@d, @dv, @rv, @desired, @reported, @now)
                   ON CONFLICT (device_id) DO UPDATE SET desired_version = excluded.desired_version,
                       reported_version = excluded.reported_version, desired = excluded.desired, reported = excluded.reported,
                       updated_at = excluded.updated_at
                   """))
        {
            Add(cmd, "@d", device);
            Add(cmd, "@dv", twin.DesiredVersion);
            Add(cmd, "@rv", twin.ReportedVersion);
            Add(cmd, "@desired", ToJson(twin.Desired));
            Add(cmd, "@reported", ToJson(twin.Reported));
            Add(cmd, "@now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        if (changed.Count > 0)
        {
            await using var cmd = Command(c, tx, """
                INSERT INTO twin_commands (device_id, command_id, name, payload, state, created_at, expires_at, updated_at, result)
                VALUES (@d, @id, @name, @payload, @state, @created, @expires, @updated, @result)
                ON CONFLICT (device_id, command_id) DO UPDATE SET name = excluded.name, payload = excluded.payload,
                    state = excluded.state, created_at = excluded.created_at, expires_at = excluded.expires_at,
                    updated_at = excluded.updated_at, result = excluded.result
                """);
            var p = new[] { "@d", "@id", "@name", "@payload", "@state", "@created", "@expires", "@updated", "@result" }
                .Select(n => Add(cmd, n, null)).ToArray();
            foreach (var s in changed)
            {
                p[0].Value = device;
                p[1].Value = s.CommandId;
                p[2].Value = s.Name;
                p[3].Value = s.Payload;
                p[4].Value = (short)s.State;
                p[5].Value = s.CreatedAt;
                p[6].Value = s.ExpiresAt;
                p[7].Value = s.UpdatedAt;
                p[8].Value = s.Result;
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        await using (var cmd = Command(c, tx, "SELECT COUNT(*) FROM twin_commands WHERE device_id = @d"))
        {
            Add(cmd, "@d", device);
            var excess = Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false)) - maxCommands;
            if (excess > 0)
            {
                await using var delete = Command(c, tx, """
                    DELETE FROM twin_commands WHERE device_id = @d AND command_id IN (
                        SELECT command_id FROM twin_commands WHERE device_id = @d AND state >= @finished
                        ORDER BY updated_at, created_at, command_id LIMIT @n)
                    """);
                Add(delete, "@d", device);
                Add(delete, "@finished", (short)CommandState.Acknowledged);
                Add(delete, "@n", excess);
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    public virtual void Dispose()
    {
    }

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql)
    {
        var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return cmd;
    }

    private static DbParameter Add(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
        return p;
    }

    private sealed record JsonProperty(string N, string V, long Ver, long At);

    private static string ToJson(TwinProperty[] properties) =>
        JsonSerializer.Serialize(properties.Select(p => new JsonProperty(p.Name, p.Value, p.Version, p.UpdatedAt)).ToArray());

    private static TwinProperty[] FromJson(string json) =>
        (JsonSerializer.Deserialize<JsonProperty[]>(json) ?? []).Select(p => new TwinProperty(p.N, p.V, p.Ver, p.At)).ToArray();
}

/// <summary>The twin store in a SQLite file (WAL; each call opens a pooled connection; writes are BEGIN IMMEDIATE).</summary>
public sealed class SqliteTwinStore : DbTwinStore
{
    private readonly string _connectionString;

    public string DatabasePath { get; }

    public override string Location => DatabasePath;

    public SqliteTwinStore(string databasePath)
    {
        if (string.IsNullOrWhiteSpace(databasePath)) throw new ArgumentException("database path is empty", nameof(databasePath));
        DatabasePath = Path.GetFullPath(databasePath);
        _connectionString = SqliteFiles.ConnectionString(DatabasePath, pooling: true);
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode = WAL;\n" + Tables;
        cmd.ExecuteNonQuery();
    }

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        return c;
    }

    /// <summary>A local file: opened synchronously (Microsoft.Data.Sqlite's async calls run synchronously anyway).</summary>
    protected override Task<DbConnection> OpenAsync(CancellationToken ct) => Task.FromResult<DbConnection>(Open());

    protected override Task<DbTransaction> BeginWriteAsync(DbConnection c, CancellationToken ct) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)c).BeginTransaction(deferred: false));
}

/// <summary>
/// The twin store in PostgreSQL (Npgsql, pooled connections). Opening touches no server: the tier's schema migrations
/// (<see cref="PostgresSchema"/>) run on the first load or save, and again on the next one when they failed.
/// </summary>
public sealed class PostgresTwinStore : DbTwinStore
{
    private readonly PgDatabase _db;

    public override string Location => _db.Location;

    public PostgresTwinStore(string connectionString) => _db = new PgDatabase(connectionString);

    protected override async Task<DbConnection> OpenAsync(CancellationToken ct) => await _db.OpenAsync(ct).ConfigureAwait(false);

    protected override async Task<DbTransaction> BeginWriteAsync(DbConnection c, CancellationToken ct) =>
        await c.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct).ConfigureAwait(false);

    /// <summary>Connection failures are thrown as <see cref="StoreUnavailableException"/> naming the server.</summary>
    public override Task<StoredTwin> LoadAsync(DeviceId device, CancellationToken ct = default) => _db.Guard(() => base.LoadAsync(device, ct));

    public override Task SaveAsync(DeviceTwin twin, IReadOnlyList<CommandStatus> changed, int maxCommands, CancellationToken ct = default) =>
        _db.Guard(async () =>
        {
            await base.SaveAsync(twin, changed, maxCommands, ct).ConfigureAwait(false);
            return true;
        });

    public override void Dispose() => _db.Dispose();
}
