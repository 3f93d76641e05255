using System.Runtime.InteropServices;
using System.Text.Json;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using Npgsql;
using NpgsqlTypes;

namespace EdgeActors.Storage;

/// <summary>
/// Durable state of the federated round coordinator: <see cref="FederationStore"/> (SQLite file) and
/// <see cref="PostgresFederationStore"/> (the datacenter tier's database). A round's result and the new global weights
/// are committed in ONE transaction whose (experiment, round) primary key makes a second commit of the same round
/// impossible. Thread-safe; every call is asynchronous (a failure is a faulted task).
/// </summary>
public interface IFederationStore : IDisposable
{
    /// <summary>Where the store lives (a file path, or the PostgreSQL host and database), for logs.</summary>
    string Location { get; }

    /// <summary>Creates the experiment at round 0 with its initial weights. False when the id exists already.</summary>
    Task<bool> CreateAsync(ExperimentSpec spec, float[] initial);

    /// <summary>Records that <paramref name="attempt"/> of the next round has started (attempts only grow, across failovers too).</summary>
    Task StartAttemptAsync(string id, int attempt);

    /// <summary>Commits a round with the new global weights, atomically; false (nothing changed) when that round was committed already or is not the next one.</summary>
    Task<bool> CommitRoundAsync(string id, RoundSummary summary, float[] global, bool finished);

    /// <summary>Sets the registry version a committed round was published as.</summary>
    Task SetModelVersionAsync(string id, int round, int version);

    Task FailAsync(string id, string detail);

    /// <summary>Marks an experiment done before its last round (e.g. its privacy budget was spent), with why.</summary>
    Task FinishAsync(string id, string detail);

    /// <summary>
    /// The validation accuracy of the newest round published under <paramref name="publishAs"/> by any experiment (what the
    /// edges serve now, for the publish gate); null when none was.
    /// </summary>
    Task<double?> LastPublishedValidationAsync(string publishAs);

    Task<StoredExperiment?> LoadAsync(string id);

    /// <summary>Ids of experiments still running (to resume after a failover), oldest first.</summary>
    Task<string[]> RunningAsync();
}

/// <summary>
/// The federation state in the datacenter tier's PostgreSQL database (tables <c>federation_experiments</c> and
/// <c>federation_rounds</c>; migration 4 of <see cref="PostgresSchema"/>, applied on first use). A commit locks the
/// experiment's row, checks it is the next round, inserts the round (primary key (experiment, round), ON CONFLICT DO
/// NOTHING) and moves the experiment, all in one transaction.
/// </summary>
public sealed class PostgresFederationStore : IFederationStore
{
    internal const string Schema = """
        CREATE TABLE IF NOT EXISTS federation_experiments (
            id TEXT PRIMARY KEY,
            spec TEXT NOT NULL,
            state TEXT NOT NULL,
            round INT NOT NULL,
            attempt INT NOT NULL,
            global BYTEA NOT NULL,
            detail TEXT NOT NULL,
            created_at BIGINT NOT NULL);
        CREATE TABLE IF NOT EXISTS federation_rounds (
            experiment TEXT NOT NULL,
            round INT NOT NULL,
            summary TEXT NOT NULL,
            committed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (experiment, round));
        """;

    private readonly PgDatabase _db;

    public string Location => _db.Location;

    /// <summary>Touches no server: the schema is applied on the first call (<see cref="PgDatabase"/>).</summary>
    public PostgresFederationStore(string connectionString) => _db = new PgDatabase(connectionString);

    private static byte[] Bytes(float[] weights) => MemoryMarshal.AsBytes(weights.AsSpan()).ToArray();

    public async Task<bool> CreateAsync(ExperimentSpec spec, float[] initial)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO federation_experiments (id, spec, state, round, attempt, global, detail, created_at) " +
            "VALUES (@id, @spec, 'running', 0, 0, @g, '', @t) ON CONFLICT (id) DO NOTHING", c);
        cmd.Parameters.AddWithValue("id", spec.Id);
        cmd.Parameters.AddWithValue("spec", JsonSerializer.Serialize(spec, FederationStore.Json));
        cmd.Parameters.AddWithValue("g", NpgsqlDbType.Bytea, Bytes(initial));
        cmd.Parameters.AddWithValue("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return await cmd.ExecuteNonQueryAsync().ConfigureAwait(false) == 1;
    }

    public async Task StartAttemptAsync(string id, int attempt)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("UPDATE federation_experiments SET attempt = GREATEST(attempt, @a) WHERE id = @id", c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("a", attempt);
        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task<bool> CommitRoundAsync(string id, RoundSummary summary, float[] global, bool finished)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync().ConfigureAwait(false);
        await using (var check = new NpgsqlCommand("SELECT round FROM federation_experiments WHERE id = @id FOR UPDATE", c, tx))
        {
            check.Parameters.AddWithValue("id", id);
            if (await check.ExecuteScalarAsync().ConfigureAwait(false) is not int round || round != summary.Round - 1) return false;
        }
        await using (var insert = new NpgsqlCommand(
                         "INSERT INTO federation_rounds (experiment, round, summary) VALUES (@id, @r, @s) ON CONFLICT (experiment, round) DO NOTHING", c, tx))
        {
            insert.Parameters.AddWithValue("id", id);
            insert.Parameters.AddWithValue("r", summary.Round);
            insert.Parameters.AddWithValue("s", JsonSerializer.Serialize(summary, FederationStore.Json));
            if (await insert.ExecuteNonQueryAsync().ConfigureAwait(false) != 1) return false;
        }
        await using (var update = new NpgsqlCommand("UPDATE federation_experiments SET round = @r, global = @g, state = @st WHERE id = @id", c, tx))
        {
            update.Parameters.AddWithValue("id", id);
            update.Parameters.AddWithValue("r", summary.Round);
            update.Parameters.AddWithValue("g", NpgsqlDbType.Bytea, Bytes(global));
            update.Parameters.AddWithValue("st", (finished ? RunState.Done : RunState.Running).Wire());
            await update.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        await tx.CommitAsync().ConfigureAwait(false);
        return true;
    }

    public async Task SetModelVersionAsync(string id, int round, int version)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync().ConfigureAwait(false);
        string? json;
        await using (var read = new NpgsqlCommand("SELECT summary FROM federation_rounds WHERE experiment = @id AND round = @r FOR UPDATE", c, tx))
        {
            read.Parameters.AddWithValue("id", id);
            read.Parameters.AddWithValue("r", round);
            json = await read.ExecuteScalarAsync().ConfigureAwait(false) as string;
        }
        if (json is null) return;
        var summary = JsonSerializer.Deserialize<RoundSummary>(json, FederationStore.Json)! with { ModelVersion = version };
        await using (var write = new NpgsqlCommand("UPDATE federation_rounds SET summary = @s WHERE experiment = @id AND round = @r", c, tx))
        {
            write.Parameters.AddWithValue("id", id);
            write.Parameters.AddWithValue("r", round);
            write.Parameters.AddWithValue("s", JsonSerializer.Serialize(summary, FederationStore.Json));
            await write.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        await tx.CommitAsync().ConfigureAwait(false);
    }

    public async Task FinishAsync(string id, string detail)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("UPDATE federation_experiments SET state = 'done', detail = @d WHERE id = @id", c);
        cmd.Parameters.AddWithValue("d", detail);
        cmd.Parameters.AddWithValue("id", id);
        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task<double?> LastPublishedValidationAsync(string publishAs)
    {
        if (publishAs.Length == 0) return null;
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT r.summary FROM federation_rounds r JOIN federation_experiments e ON e.id = r.experiment " +
            "WHERE (e.spec::jsonb ->> 'PublishAs') = @name ORDER BY e.created_at DESC, e.id DESC, r.round DESC", c);
        cmd.Parameters.AddWithValue("name", publishAs);
        await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        while (await r.ReadAsync().ConfigureAwait(false))
        {
            var summary = JsonSerializer.Deserialize<RoundSummary>(r.GetString(0), FederationStore.Json)!;
            if (summary.Published && !double.IsNaN(summary.ValidationAccuracy)) return summary.ValidationAccuracy;
        }
        return null;
    }

    public async Task FailAsync(string id, string detail)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("UPDATE federation_experiments SET state = 'failed', detail = @d WHERE id = @id", c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("d", detail);
        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task<StoredExperiment?> LoadAsync(string id)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        StoredExperiment result;
        await using (var cmd = new NpgsqlCommand("SELECT spec, state, round, attempt, global, detail FROM federation_experiments WHERE id = @id", c))
        {
            cmd.Parameters.AddWithValue("id", id);
            await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            if (!await r.ReadAsync().ConfigureAwait(false)) return null;
            var spec = JsonSerializer.Deserialize<ExperimentSpec>(r.GetString(0), FederationStore.Json)!;
            var global = MemoryMarshal.Cast<byte, float>(((byte[])r[4]).AsSpan()).ToArray();
            result = new StoredExperiment(spec, r.GetString(1), r.GetInt32(2), r.GetInt32(3), global, r.GetString(5), []);
        }
        var history = new List<RoundSummary>();
        await using (var cmd = new NpgsqlCommand("SELECT summary FROM federation_rounds WHERE experiment = @id ORDER BY round", c))
        {
            cmd.Parameters.AddWithValue("id", id);
            await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            while (await r.ReadAsync().ConfigureAwait(false)) history.Add(JsonSerializer.Deserialize<RoundSummary>(r.GetString(0), FederationStore.Json)!);
        }
        return result with { History = history.ToArray() };
    }

    public async Task<string[]> RunningAsync()
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT id FROM federation_experiments WHERE state = 'running' ORDER BY created_at", c);
        await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        var ids = new List<string>();
        while (await r.ReadAsync().ConfigureAwait(false)) ids.Add(r.GetString(0));
        return ids.ToArray();
    }

    public void Dispose() => _db.Dispose();
}
