using EdgeActors.Storage;
using System.Runtime.InteropServices;
using System.Text.Json;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using Microsoft.Data.Sqlite;

namespace EdgeActors.Storage;

/// <summary>A persisted experiment: its spec, the last committed round and global weights, the last attempt started.</summary>
public sealed record StoredExperiment(ExperimentSpec Spec, string State, int Round, int Attempt, float[] Global, string Detail, RoundSummary[] History)
{
    /// <summary>The server optimiser state after the last committed round (<see cref="ServerState"/>; empty: none stored).</summary>
    public byte[] ServerState { get; init; } = [];
}

/// <summary>
/// Durable state of the round coordinator (SQLite; WAL). A round's result and the new global weights are committed in ONE
/// transaction whose (experiment, round) primary key makes a second commit of the same round impossible, so an update is
/// never applied twice even if an old and a new coordinator overlap during a failover. Every datacenter node that may host
/// the coordinator must open the same database: a shared path on one machine; across machines use the PostgreSQL tier
/// (<see cref="PostgresFederationStore"/>).
/// </summary>
public sealed class FederationStore : IFederationStore
{
    /// <summary>A diverged model scores NaN/∞ loss: the summaries keep those values.</summary>
    internal static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private readonly string _connectionString;

    public string DatabasePath { get; }

    public string Location => DatabasePath;

    public FederationStore(string databasePath)
    {
        if (string.IsNullOrWhiteSpace(databasePath)) throw new ArgumentException("federation database path is empty", nameof(databasePath));
        DatabasePath = Path.GetFullPath(databasePath);
        _connectionString = SqliteFiles.CreatePooled(DatabasePath, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS experiments (
                id TEXT PRIMARY KEY,
                spec TEXT NOT NULL,
                state TEXT NOT NULL,
                round INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                global BLOB NOT NULL,
                detail TEXT NOT NULL,
                created_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS rounds (
                experiment TEXT NOT NULL,
                round INTEGER NOT NULL,
                summary TEXT NOT NULL,
                PRIMARY KEY (experiment, round));
            CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                request TEXT NOT NULL,
                workers TEXT NOT NULL,
                state TEXT NOT NULL,
                detail TEXT NOT NULL,
                seq INTEGER NOT NULL,
                step INTEGER NOT NULL,
                checkpoint BLOB NOT NULL,
                lines TEXT NOT NULL,
                result TEXT NOT NULL,
                created_at INTEGER NOT NULL);
            """);
        // databases of earlier releases: the server optimiser state column is added once
        using var c = Open();
        using var check = c.CreateCommand();
        check.CommandText = "SELECT COUNT(*) FROM pragma_table_info('experiments') WHERE name = 'server_state'";
        if (check.ExecuteScalar() is long n && n == 0)
        {
            using var alter = c.CreateCommand();
            alter.CommandText = "ALTER TABLE experiments ADD COLUMN server_state BLOB NOT NULL DEFAULT x''";
            alter.ExecuteNonQuery();
        }
    }

    private SqliteConnection Open() => SqliteFiles.OpenPooled(_connectionString);

    /// <summary>Creates the experiment at round 0 with its initial weights. False when the id exists already.</summary>
    public bool Create(ExperimentSpec spec, float[] initial)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT OR IGNORE INTO experiments (id, spec, state, round, attempt, global, detail, created_at) VALUES ($id, $spec, 'running', 0, 0, $g, '', $t)";
        cmd.Parameters.AddWithValue("$id", spec.Id);
        cmd.Parameters.AddWithValue("$spec", JsonSerializer.Serialize(spec, Json));
        cmd.Parameters.AddWithValue("$g", MemoryMarshal.AsBytes(initial.AsSpan()).ToArray());
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return cmd.ExecuteNonQuery() == 1;
    }

    /// <summary>Records that <paramref name="attempt"/> of the next round has started (attempts only grow, across failovers too).</summary>
    public void StartAttempt(string id, int attempt)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE experiments SET attempt = max(attempt, $a) WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$a", attempt);
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// Commits round <paramref name="summary"/>.Round with the new global weights, atomically. False (and nothing changed)
    /// when that round was committed already or is not the next one.
    /// </summary>
    public bool CommitRound(string id, RoundSummary summary, float[] global, bool finished, byte[]? serverState = null)
    {
        using var c = Open();
        using var tx = c.BeginTransaction(deferred: false);
        using (var check = c.CreateCommand())
        {
            check.Transaction = tx;
            check.CommandText = "SELECT round FROM experiments WHERE id = $id";
            check.Parameters.AddWithValue("$id", id);
            if (check.ExecuteScalar() is not long round || round != summary.Round - 1) return false;
        }
        using (var insert = c.CreateCommand())
        {
            insert.Transaction = tx;
            insert.CommandText = "INSERT OR IGNORE INTO rounds (experiment, round, summary) VALUES ($id, $r, $s)";
            insert.Parameters.AddWithValue("$id", id);
            insert.Parameters.AddWithValue("$r", summary.Round);
            insert.Parameters.AddWithValue("$s", JsonSerializer.Serialize(summary, Json));
            if (insert.ExecuteNonQuery() != 1) return false;
        }
        using (var update = c.CreateCommand())
        {
            update.Transaction = tx;
            update.CommandText = "UPDATE experiments SET round = $r, global = $g, state = $st, server_state = $ss WHERE id = $id";
            update.Parameters.AddWithValue("$ss", serverState ?? []);
            update.Parameters.AddWithValue("$id", id);
            update.Parameters.AddWithValue("$r", summary.Round);
            update.Parameters.AddWithValue("$g", MemoryMarshal.AsBytes(global.AsSpan()).ToArray());
            update.Parameters.AddWithValue("$st", (finished ? RunState.Done : RunState.Running).Wire());
            update.ExecuteNonQuery();
        }
        tx.Commit();
        return true;
    }

    /// <summary>Sets the registry version a committed round was published as.</summary>
    public void SetModelVersion(string id, int round, int version)
    {
        using var c = Open();
        using var read = c.CreateCommand();
        read.CommandText = "SELECT summary FROM rounds WHERE experiment = $id AND round = $r";
        read.Parameters.AddWithValue("$id", id);
        read.Parameters.AddWithValue("$r", round);
        if (read.ExecuteScalar() is not string json) return;
        var summary = JsonSerializer.Deserialize<RoundSummary>(json, Json)! with { ModelVersion = version };
        using var write = c.CreateCommand();
        write.CommandText = "UPDATE rounds SET summary = $s WHERE experiment = $id AND round = $r";
        write.Parameters.AddWithValue("$id", id);
        write.Parameters.AddWithValue("$r", round);
        write.Parameters.AddWithValue("$s", JsonSerializer.Serialize(summary, Json));
        write.ExecuteNonQuery();
    }

    /// <summary>
    /// The validation accuracy of the newest round published under <paramref name="publishAs"/> by any experiment
    /// (the publish gate's reference when an experiment starts), or null when none was.
    /// </summary>
    public double? LastPublishedValidation(string publishAs)
    {
        if (publishAs.Length == 0) return null;
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT r.summary FROM rounds r JOIN experiments e ON e.id = r.experiment
            WHERE json_extract(e.spec, '$.PublishAs') = $name
            ORDER BY e.created_at DESC, e.rowid DESC, r.round DESC
            """;
        cmd.Parameters.AddWithValue("$name", publishAs);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var summary = JsonSerializer.Deserialize<RoundSummary>(r.GetString(0), Json)!;
            if (summary.Published && !double.IsNaN(summary.ValidationAccuracy)) return summary.ValidationAccuracy;
        }
        return null;
    }

    /// <summary>Marks an experiment done before its last round (e.g. its privacy budget was spent), with why.</summary>
    public void Finish(string id, string detail)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE experiments SET state = 'done', detail = $d WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$d", detail);
        cmd.ExecuteNonQuery();
    }

    public void Fail(string id, string detail)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE experiments SET state = 'failed', detail = $d WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$d", detail);
        cmd.ExecuteNonQuery();
    }

    public StoredExperiment? Load(string id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT spec, state, round, attempt, global, detail, server_state FROM experiments WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        var spec = JsonSerializer.Deserialize<ExperimentSpec>(r.GetString(0), Json)!;
        var blob = (byte[])r[4];
        var global = MemoryMarshal.Cast<byte, float>(blob.AsSpan()).ToArray();
        var result = new StoredExperiment(spec, r.GetString(1), r.GetInt32(2), r.GetInt32(3), global, r.GetString(5), []) { ServerState = (byte[])r[6] };
        return result with { History = History(c, id) };
    }

    /// <summary>Ids of experiments still running (to resume after a failover), oldest first.</summary>
    public string[] Running()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id FROM experiments WHERE state = 'running' ORDER BY created_at";
        using var r = cmd.ExecuteReader();
        var ids = new List<string>();
        while (r.Read()) ids.Add(r.GetString(0));
        return ids.ToArray();
    }

    // IFederationStore: the synchronous calls on a pool thread (SQLite has no asynchronous I/O)
    Task<bool> IFederationStore.CreateAsync(ExperimentSpec spec, float[] initial) => Task.Run(() => Create(spec, initial));

    Task IFederationStore.StartAttemptAsync(string id, int attempt) => Task.Run(() => StartAttempt(id, attempt));

    Task<bool> IFederationStore.CommitRoundAsync(string id, RoundSummary summary, float[] global, bool finished, byte[]? serverState) =>
        Task.Run(() => CommitRound(id, summary, global, finished, serverState));

    Task<bool> IFederationStore.CreateJobAsync(StoredJob job) => Task.Run(() => CreateJob(job));

    Task<bool> IFederationStore.CheckpointJobAsync(string id, long sequence, int step, byte[] checkpoint, string[] lines) =>
        Task.Run(() => CheckpointJob(id, sequence, step, checkpoint, lines));

    Task IFederationStore.EndJobAsync(string id, RunState state, string detail, string[] resultKeys, double[] resultValues, string[] lines) =>
        Task.Run(() => EndJob(id, state, detail, resultKeys, resultValues, lines));

    Task<StoredJob?> IFederationStore.LoadJobAsync(string id) => Task.Run(() => LoadJob(id));

    Task<string[]> IFederationStore.RunningJobsAsync() => Task.Run(RunningJobs);

    Task IFederationStore.SetModelVersionAsync(string id, int round, int version) => Task.Run(() => SetModelVersion(id, round, version));

    Task IFederationStore.FailAsync(string id, string detail) => Task.Run(() => Fail(id, detail));

    Task IFederationStore.FinishAsync(string id, string detail) => Task.Run(() => Finish(id, detail));

    Task<double?> IFederationStore.LastPublishedValidationAsync(string publishAs) => Task.Run(() => LastPublishedValidation(publishAs));

    Task<StoredExperiment?> IFederationStore.LoadAsync(string id) => Task.Run(() => Load(id));

    Task<string[]> IFederationStore.RunningAsync() => Task.Run(Running);

    // ---------------------------------------------------------------- jobs

    /// <summary>Records a new job; false when the id was used before.</summary>
    public bool CreateJob(StoredJob job)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT OR IGNORE INTO jobs (id, kind, request, workers, state, detail, seq, step, checkpoint, lines, result, created_at) " +
                          "VALUES ($id, $k, $rq, $w, 'running', $d, 0, $st, $cp, $l, $res, $t)";
        cmd.Parameters.AddWithValue("$id", job.Id);
        cmd.Parameters.AddWithValue("$k", job.Kind);
        cmd.Parameters.AddWithValue("$rq", job.Request);
        cmd.Parameters.AddWithValue("$w", JobJson.Strings(job.Workers));
        cmd.Parameters.AddWithValue("$d", job.Detail);
        cmd.Parameters.AddWithValue("$st", job.Step);
        cmd.Parameters.AddWithValue("$cp", job.Checkpoint);
        cmd.Parameters.AddWithValue("$l", JobJson.Strings(job.Lines));
        cmd.Parameters.AddWithValue("$res", JobJson.Result([], []));
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return cmd.ExecuteNonQuery() == 1;
    }

    /// <summary>Replaces a running job's checkpoint when <paramref name="sequence"/> is above the stored one.</summary>
    public bool CheckpointJob(string id, long sequence, int step, byte[] checkpoint, string[] lines)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE jobs SET seq = $s, step = $st, checkpoint = $cp, lines = $l WHERE id = $id AND state = 'running' AND seq < $s";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$s", sequence);
        cmd.Parameters.AddWithValue("$st", step);
        cmd.Parameters.AddWithValue("$cp", checkpoint);
        cmd.Parameters.AddWithValue("$l", JobJson.Strings(lines));
        return cmd.ExecuteNonQuery() == 1;
    }

    /// <summary>Ends a running job with its result.</summary>
    public void EndJob(string id, RunState state, string detail, string[] resultKeys, double[] resultValues, string[] lines)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE jobs SET state = $state, detail = $d, result = $res, lines = $l WHERE id = $id AND state = 'running'";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$state", state.Wire());
        cmd.Parameters.AddWithValue("$d", detail);
        cmd.Parameters.AddWithValue("$res", JobJson.Result(resultKeys, resultValues));
        cmd.Parameters.AddWithValue("$l", JobJson.Strings(lines));
        cmd.ExecuteNonQuery();
    }

    public StoredJob? LoadJob(string id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, kind, request, workers, state, detail, seq, step, checkpoint, lines, result FROM jobs WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        var (keys, values) = JobJson.ReadResult(r.GetString(10));
        return new StoredJob(r.GetString(0), r.GetString(1), r.GetString(2), JobJson.ReadStrings(r.GetString(3)), r.GetString(4), r.GetString(5),
            r.GetInt64(6), r.GetInt32(7), (byte[])r[8], JobJson.ReadStrings(r.GetString(9)), keys, values);
    }

    /// <summary>Ids of jobs still running, oldest first.</summary>
    public string[] RunningJobs()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id FROM jobs WHERE state = 'running' ORDER BY created_at, id";
        using var r = cmd.ExecuteReader();
        var ids = new List<string>();
        while (r.Read()) ids.Add(r.GetString(0));
        return ids.ToArray();
    }

    /// <summary>Releases pooled connections so the database file is closed.</summary>
    public void Dispose()
    {
        using var c = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(c);
    }

    private static RoundSummary[] History(SqliteConnection c, string id)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT summary FROM rounds WHERE experiment = $id ORDER BY round";
        cmd.Parameters.AddWithValue("$id", id);
        using var r = cmd.ExecuteReader();
        var list = new List<RoundSummary>();
        while (r.Read()) list.Add(JsonSerializer.Deserialize<RoundSummary>(r.GetString(0), Json)!);
        return list.ToArray();
    }
}
