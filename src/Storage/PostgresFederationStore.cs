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

    /// <summary>
    /// Commits a round with the new global weights and the server-side optimiser state after it (FedAvgM/FedAdam/FedYogi
    /// moments, SCAFFOLD's control variate: <see cref="ServerState"/>; null: none), atomically; false (nothing changed)
    /// when that round was committed already or is not the next one.
    /// </summary>
    Task<bool> CommitRoundAsync(string id, RoundSummary summary, float[] global, bool finished, byte[]? serverState = null);

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

    // ---------------------------------------------------------------- k-means and GBDT jobs (JobRunner)

    /// <summary>Records a new job (state running, sequence 0, no checkpoint). False when the id was used before.</summary>
    Task<bool> CreateJobAsync(StoredJob job);

    /// <summary>
    /// Replaces a running job's checkpoint (the step to send next and the coordinator's state) and its progress lines when
    /// <paramref name="sequence"/> is above the stored one; false (nothing changed) when it is not, or the job has ended
    /// (an older coordinator that lost a failover cannot overwrite a newer one's checkpoint).
    /// </summary>
    Task<bool> CheckpointJobAsync(string id, long sequence, int step, byte[] checkpoint, string[] lines);

    /// <summary>Ends a running job as done or failed with its result (a job that has ended stays as it is).</summary>
    Task EndJobAsync(string id, RunState state, string detail, string[] resultKeys, double[] resultValues, string[] lines);

    Task<StoredJob?> LoadJobAsync(string id);

    /// <summary>Ids of jobs still running (to resume after a failover), oldest first.</summary>
    Task<string[]> RunningJobsAsync();
}

/// <summary>
/// A federated k-means or GBDT job as the store keeps it: the request (JSON of <c>StartKMeans</c>/<c>StartGbdt</c>), the
/// edge nodes it runs on (their addresses), and its last checkpoint: <see cref="Step"/> is the step to send next,
/// <see cref="Checkpoint"/> the coordinator's state at that step boundary (the JobRunner's encoding; empty: from the
/// start). <see cref="Sequence"/> grows with every checkpoint.
/// </summary>
public sealed record StoredJob(
    string Id, string Kind, string Request, string[] Workers, string State, string Detail, long Sequence, int Step, byte[] Checkpoint,
    string[] Lines, string[] ResultKeys, double[] ResultValues);

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

    public async Task<bool> CommitRoundAsync(string id, RoundSummary summary, float[] global, bool finished, byte[]? serverState = null)
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
        await using (var update = new NpgsqlCommand("UPDATE federation_experiments SET round = @r, global = @g, state = @st, server_state = @ss WHERE id = @id", c, tx))
        {
            update.Parameters.AddWithValue("ss", NpgsqlDbType.Bytea, serverState ?? []);
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
        await using (var cmd = new NpgsqlCommand("SELECT spec, state, round, attempt, global, detail, server_state FROM federation_experiments WHERE id = @id", c))
        {
            cmd.Parameters.AddWithValue("id", id);
            await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            if (!await r.ReadAsync().ConfigureAwait(false)) return null;
            var spec = JsonSerializer.Deserialize<ExperimentSpec>(r.GetString(0), FederationStore.Json)!;
            var global = MemoryMarshal.Cast<byte, float>(((byte[])r[4]).AsSpan()).ToArray();
            result = new StoredExperiment(spec, r.GetString(1), r.GetInt32(2), r.GetInt32(3), global, r.GetString(5), []) { ServerState = (byte[])r[6] };
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

    /// <summary>Migration 5: the server optimiser state of the last committed round, and the jobs table.</summary>
    internal const string JobsSchema = """
        ALTER TABLE federation_experiments ADD COLUMN IF NOT EXISTS server_state BYTEA NOT NULL DEFAULT ''::bytea;
        CREATE TABLE IF NOT EXISTS federation_jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            workers TEXT NOT NULL,
            state TEXT NOT NULL,
            detail TEXT NOT NULL,
            seq BIGINT NOT NULL,
            step INT NOT NULL,
            checkpoint BYTEA NOT NULL,
            lines TEXT NOT NULL,
            result TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
        """;

    public async Task<bool> CreateJobAsync(StoredJob job)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO federation_jobs (id, kind, request, workers, state, detail, seq, step, checkpoint, lines, result, created_at) " +
            "VALUES (@id, @k, @rq, @w, 'running', @d, 0, @st, @cp, @l, @res, @t) ON CONFLICT (id) DO NOTHING", c);
        cmd.Parameters.AddWithValue("id", job.Id);
        cmd.Parameters.AddWithValue("k", job.Kind);
        cmd.Parameters.AddWithValue("rq", job.Request);
        cmd.Parameters.AddWithValue("w", JobJson.Strings(job.Workers));
        cmd.Parameters.AddWithValue("d", job.Detail);
        cmd.Parameters.AddWithValue("st", job.Step);
        cmd.Parameters.AddWithValue("cp", NpgsqlDbType.Bytea, job.Checkpoint);
        cmd.Parameters.AddWithValue("l", JobJson.Strings(job.Lines));
        cmd.Parameters.AddWithValue("res", JobJson.Result([], []));
        cmd.Parameters.AddWithValue("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return await cmd.ExecuteNonQueryAsync().ConfigureAwait(false) == 1;
    }

    public async Task<bool> CheckpointJobAsync(string id, long sequence, int step, byte[] checkpoint, string[] lines)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "UPDATE federation_jobs SET seq = @s, step = @st, checkpoint = @cp, lines = @l, updated_at = now() WHERE id = @id AND state = 'running' AND seq < @s", c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("s", sequence);
        cmd.Parameters.AddWithValue("st", step);
        cmd.Parameters.AddWithValue("cp", NpgsqlDbType.Bytea, checkpoint);
        cmd.Parameters.AddWithValue("l", JobJson.Strings(lines));
        return await cmd.ExecuteNonQueryAsync().ConfigureAwait(false) == 1;
    }

    public async Task EndJobAsync(string id, RunState state, string detail, string[] resultKeys, double[] resultValues, string[] lines)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "UPDATE federation_jobs SET state = @state, detail = @d, result = @res, lines = @l, updated_at = now() WHERE id = @id AND state = 'running'", c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("state", state.Wire());
        cmd.Parameters.AddWithValue("d", detail);
        cmd.Parameters.AddWithValue("res", JobJson.Result(resultKeys, resultValues));
        cmd.Parameters.AddWithValue("l", JobJson.Strings(lines));
        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task<StoredJob?> LoadJobAsync(string id)
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT id, kind, request, workers, state, detail, seq, step, checkpoint, lines, result FROM federation_jobs WHERE id = @id", c);
        cmd.Parameters.AddWithValue("id", id);
        await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        if (!await r.ReadAsync().ConfigureAwait(false)) return null;
        var (keys, values) = JobJson.ReadResult(r.GetString(10));
        return new StoredJob(r.GetString(0), r.GetString(1), r.GetString(2), JobJson.ReadStrings(r.GetString(3)), r.GetString(4), r.GetString(5),
            r.GetInt64(6), r.GetInt32(7), (byte[])r[8], JobJson.ReadStrings(r.GetString(9)), keys, values);
    }

    public async Task<string[]> RunningJobsAsync()
    {
        await using var c = await _db.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT id FROM federation_jobs WHERE state = 'running' ORDER BY created_at, id", c);
        await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        var ids = new List<string>();
        while (await r.ReadAsync().ConfigureAwait(false)) ids.Add(r.GetString(0));
        return ids.ToArray();
    }

    public void Dispose() => _db.Dispose();
}

/// <summary>The JSON columns of the jobs table (string arrays; the result as parallel keys and values, NaN allowed).</summary>
internal static class JobJson
{
    private sealed record ResultRow(string[] Keys, double[] Values);

    public static string Strings(string[] values) => JsonSerializer.Serialize(values, FederationStore.Json);

    public static string[] ReadStrings(string json) => JsonSerializer.Deserialize<string[]>(json, FederationStore.Json) ?? [];

    public static string Result(string[] keys, double[] values) => JsonSerializer.Serialize(new ResultRow(keys, values), FederationStore.Json);

    public static (string[] Keys, double[] Values) ReadResult(string json) =>
        JsonSerializer.Deserialize<ResultRow>(json, FederationStore.Json) is { } r ? (r.Keys ?? [], r.Values ?? []) : ([], []);
}
