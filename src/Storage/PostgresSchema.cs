using Npgsql;

namespace EdgeActors.Storage;

/// <summary>One versioned change of the datacenter tier's PostgreSQL schema.</summary>
public sealed record PgMigration(int Version, string Name, string Sql);

/// <summary>
/// The schema of every PostgreSQL store of the datacenter tier (data store, twin store, model registry, federation
/// state), as versioned migrations. Whichever store opens the database first applies what is missing: each migration
/// once, in its own transaction under <c>pg_advisory_xact_lock</c> (keyed by the current schema), recorded in
/// <c>schema_migrations(version, name, applied_at)</c>; so two nodes starting at once apply each one exactly once.
/// New migrations go at the end with the next version; an applied migration is never edited.
/// </summary>
public static class PostgresSchema
{
    public static readonly IReadOnlyList<PgMigration> Migrations =
    [
        new(1, "data store: records, edges, counters", PostgresDataStore.Schema),
        new(2, "twin store: twins, twin_commands", DbTwinStore.Tables),
        new(3, "model registry: models, model_policies", PostgresModelStore.Schema),
        new(4, "federation: federation_experiments, federation_rounds", PostgresFederationStore.Schema),
        new(5, "federation: server optimiser state, federation_jobs", PostgresFederationStore.JobsSchema),
    ];

    private const string Lock = "SELECT pg_advisory_xact_lock(hashtext('edgeactors.schema_migrations'), hashtext(current_schema()))";

    private const string Table = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
        """;

    /// <summary>Applies the migrations of <paramref name="migrations"/> (default: <see cref="Migrations"/>) not yet recorded; returns how many this call applied.</summary>
    public static async Task<int> ApplyAsync(NpgsqlDataSource source, IReadOnlyList<PgMigration>? migrations = null, CancellationToken ct = default)
    {
        var applied = 0;
        await using var c = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        foreach (var m in (migrations ?? Migrations).OrderBy(m => m.Version))
        {
            await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var cmd = new NpgsqlCommand(Lock + ";\n" + Table, c, tx))
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using (var check = new NpgsqlCommand("SELECT 1 FROM schema_migrations WHERE version = @v", c, tx))
            {
                check.Parameters.AddWithValue("v", m.Version);
                if (await check.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null)
                {
                    await tx.CommitAsync(ct).ConfigureAwait(false);
                    continue;
                }
            }
            await using (var run = new NpgsqlCommand(m.Sql, c, tx))
                await run.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (version, name) VALUES (@v, @n)", c, tx))
            {
                record.Parameters.AddWithValue("v", m.Version);
                record.Parameters.AddWithValue("n", m.Name);
                await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            applied++;
        }
        return applied;
    }

    /// <summary>"postgres://host:port/database" of a connection string, for logs (no credentials).</summary>
    public static string Describe(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        // several hosts (a primary and its standbys): "h1:p1,h2:p2", each with the default port when it names none
        var hosts = string.Join(",", (b.Host ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(h => h.Contains(':', StringComparison.Ordinal) && !h.StartsWith('[') ? h : $"{h}:{b.Port}"));
        return $"postgres://{hosts}/{b.Database}" + (string.IsNullOrEmpty(b.SearchPath) ? "" : $"?search_path={b.SearchPath}");
    }
}

/// <summary>
/// A store's PostgreSQL connection pool with its schema applied lazily: the first call that needs the database runs the
/// migrations; when that fails (the server is down) the next call tries again. Opening a store therefore never touches
/// the server, so a node starts while PostgreSQL is briefly unavailable and its actors answer failures instead.
/// </summary>
internal sealed class PgDatabase : IDisposable
{
    private readonly object _gate = new();
    private Task? _ready;

    public NpgsqlDataSource Source { get; }

    public string Location { get; }

    public PgDatabase(string connectionString, Action<NpgsqlDataSourceBuilder>? configure = null)
    {
        if (string.IsNullOrWhiteSpace(connectionString)) throw new ArgumentException("PostgreSQL connection string is empty", nameof(connectionString));
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        configure?.Invoke(builder);
        Location = PostgresSchema.Describe(connectionString);
        Source = builder.Build();
    }

    /// <summary>The migrations applied (once per pool; again after a failure).</summary>
    public Task ReadyAsync()
    {
        lock (_gate)
        {
            if (_ready is null || _ready.IsFaulted || _ready.IsCanceled) _ready = PostgresSchema.ApplyAsync(Source);
            return _ready;
        }
    }

    /// <summary>An open pooled connection, the schema applied first.</summary>
    public async Task<NpgsqlConnection> OpenAsync(CancellationToken ct = default)
    {
        await ReadyAsync().WaitAsync(ct).ConfigureAwait(false);
        return await Source.OpenConnectionAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="call"/>; a failure that means the server cannot be reached or cannot take writes now
    /// (<see cref="Unavailable"/>) is thrown as <see cref="StoreUnavailableException"/> naming the server, and the pool's
    /// idle connections are dropped (they may point at a server that went away, or at a primary that is now a standby).
    /// </summary>
    public async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not StoreUnavailableException && Unavailable(ex))
        {
            Source.Clear();
            throw new StoreUnavailableException($"PostgreSQL {Location} unavailable: {ex.GetBaseException().Message}", ex);
        }
    }

    /// <summary>
    /// Whether <paramref name="ex"/> says the server is unreachable or cannot take writes now, so the same call may
    /// succeed later: connection failures and broken connections (an <see cref="NpgsqlException"/> that is not a server
    /// error, sockets, timeouts), and the server errors of classes 08 (connection), 57P (shutting down, starting up),
    /// 53300 (too many connections), 25006 (read-only transaction: a standby).
    /// </summary>
    public static bool Unavailable(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
            switch (e)
            {
                case PostgresException p:
                    return p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal)
                        || p.SqlState is PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.ReadOnlySqlTransaction
                            or PostgresErrorCodes.CannotConnectNow;
                case NpgsqlException:
                case System.Net.Sockets.SocketException:
                case IOException:
                case TimeoutException:
                    return true;
            }
        return false;
    }

    /// <summary>For the synchronous stores (called off the actors' mailboxes, on pool threads).</summary>
    public NpgsqlConnection Open()
    {
        ReadyAsync().GetAwaiter().GetResult();
        return Source.OpenConnection();
    }

    public void Dispose() => Source.Dispose();
}
