using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using System.CommandLine;
using EdgeActors.Nodes;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using Npgsql;

namespace EdgeActors.Tools.Commands;

/// <summary>
/// <c>bench sync</c>: the store-and-forward path in readings/s, all in one run — (1) many writers into one edge's
/// durable outbox through the group-committing <see cref="OutboxWriter"/>, (2) Brotli-encoded <see cref="SyncBatch"/>es
/// through a <see cref="SyncSink"/> into a SQLite data store, (3) the same into PostgreSQL (skipped without a
/// connection string). Each stage runs a warm-up pass first that is not counted.
/// </summary>
public static class BenchSync
{
    public sealed record Options(int Records, int Batch, int Writers, int WriteBatch, string? Postgres);

    public sealed record StageResult(string Stage, string Db, long Records, double Seconds, long Transactions = 0)
    {
        public double PerSecond => Records / Seconds;
    }

    /// <summary>One store stage: through the sink actor, and the same store called directly (no actor, no decode).</summary>
    public sealed record StoreResult(StageResult Actor, StageResult Direct, double CompressionRatio, double PayloadBytesPerRecord, double ReadingsPerRecord);

    public sealed record Result(StageResult Outbox, StoreResult Sqlite, StoreResult? Postgres, string? PostgresNote);

    private const string PostgresEnv = "EDGEACTORS_TEST_POSTGRES";
    private const string PostgresBenchEnv = "EDGEACTORS_BENCH_POSTGRES";
    private const int Channels = 4;
    private const long BaseTs = 1_700_000_000_000;

    private static readonly Option<int> Records = CliOptions.Int("--records", 1_000_000, "readings written and synced");
    private static readonly Option<int> Batch = CliOptions.Int("--batch", 20_000, "readings per sync batch");
    private static readonly Option<int> Writers = CliOptions.Int("--writers", 20, "concurrent writers into the outbox");
    private static readonly Option<int> WriteBatch = CliOptions.Int("--write-batch", 100, "readings per write");
    private static readonly Option<string?> Postgres = CliOptions.Text("--postgres", $"PostgreSQL connection string (default env {PostgresEnv} or {PostgresBenchEnv}; skipped when none)", "CONNECTION");
    private static readonly Option<string> Out = BenchCommand.OutOption();
    private static readonly Option<bool> NoWrite = BenchCommand.NoWriteOption();

    public static Command Create() => Cli.Command("sync", """
        edge sync in readings/s: outbox writers, then sync batches into SQLite and PostgreSQL
        Writers into one edge's durable outbox (OutboxWriter, group commit), then Brotli sync batches through a SyncSink
        into a SQLite data store and into PostgreSQL, each after a warm-up pass, with the direct store rate for
        comparison. Ends with RESULT lines; writes docs/benchmarks.md unless --no-write.
        """, [Records, Batch, Writers, WriteBatch, Postgres, Out, NoWrite], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var o = new Options(args.GetValue(Records), args.GetValue(Batch), args.GetValue(Writers), args.GetValue(WriteBatch),
            args.GetValue(Postgres) ?? NonEmpty(Environment.GetEnvironmentVariable(PostgresEnv)) ?? NonEmpty(Environment.GetEnvironmentVariable(PostgresBenchEnv)));
        var outPath = args.GetValue(Out)!;
        var write = !args.GetValue(NoWrite);
        if (o.Records < 1) throw new CliException("--records must be at least 1");
        if (o.Batch < 1) throw new CliException("--batch must be at least 1");
        if (o.Writers < 1) throw new CliException("--writers must be at least 1");
        if (o.WriteBatch < 1) throw new CliException("--write-batch must be at least 1");
        var result = await RunSyncAsync(o);
        if (write) WriteMarkdown(outPath, o, result);
        return 0;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    public static async Task<Result> RunSyncAsync(Options o)
    {
        Console.WriteLine($"bench sync: {o.Records:N0} telemetry readings ({Channels} channels, in batch records of {o.WriteBatch}) per stage; {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var dir = Path.Combine(Path.GetTempPath(), "edgeactors-bench-sync-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        using var system = ActorSystem.Create("bench-sync", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EdgeSerialization.Config));
        try
        {
            var outbox = await OutboxStageAsync(system, o, dir);
            Console.WriteLine(Inv($"  outbox  sqlite  : {outbox.Records,10:N0} readings in {outbox.Seconds,6:0.00}s = {outbox.PerSecond,10:N0} readings/s ({outbox.Transactions:N0} transactions, {o.Writers} writers x {o.WriteBatch}-reading batch records, 2 outstanding each)"));
            Console.WriteLine(OutboxLine(outbox, o));

            var sqlite = await StoreStageAsync(system, o, "sqlite", name => new SqliteDataStore(Path.Combine(dir, name + ".db")));
            ReportStore(sqlite, o);

            StoreResult? pg = null;
            string? pgNote = null;
            if (o.Postgres is null)
            {
                pgNote = $"postgres stage skipped: no connection string (--postgres, or env {PostgresEnv} / {PostgresBenchEnv}; scripts/postgres-setup.sh prints one)";
                Console.WriteLine("  " + pgNote);
            }
            else
            {
                pg = await PostgresStageAsync(system, o);
                ReportStore(pg, o);
            }
            Console.WriteLine(StoreSummaryLine(sqlite, pg));
            return new Result(outbox, sqlite, pg, pgNote);
        }
        finally
        {
            await system.Terminate();
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // best effort
            }
        }
    }

    private static string OutboxLine(StageResult r, Options o) =>
        Inv($"RESULT sync stage=outbox db=sqlite per_s={r.PerSecond:0} batch={o.WriteBatch} writers={o.Writers}");

    private static string StoreLine(StoreResult r, Options o) =>
        Inv($"RESULT sync stage=store db={r.Actor.Db} per_s={r.Actor.PerSecond:0} batch={o.Batch}");

    /// <summary>The datacenter store rates of the run in one line (postgres_per_s=skipped without a connection string).</summary>
    private static string StoreSummaryLine(StoreResult sqlite, StoreResult? pg) =>
        Inv($"RESULT sync_store sqlite_per_s={sqlite.Actor.PerSecond:0} postgres_per_s={(pg is null ? "skipped" : pg.Actor.PerSecond.ToString("0", CultureInfo.InvariantCulture))} sqlite_direct_per_s={sqlite.Direct.PerSecond:0} postgres_direct_per_s={(pg is null ? "skipped" : pg.Direct.PerSecond.ToString("0", CultureInfo.InvariantCulture))}");

    private static void ReportStore(StoreResult r, Options o)
    {
        Console.WriteLine(Inv($"  store   {r.Actor.Db,-8}: {r.Actor.Records,10:N0} readings in {r.Actor.Seconds,6:0.00}s = {r.Actor.PerSecond,10:N0} readings/s through SyncSink ({o.Batch}-reading batches, 2 in flight)"));
        Console.WriteLine(Inv($"          direct  : {r.Direct.Records,10:N0} readings in {r.Direct.Seconds,6:0.00}s = {r.Direct.PerSecond,10:N0} readings/s (store.Store calls, no actor, no decode)"));
        Console.WriteLine(Inv($"          brotli  : raw/compressed = {r.CompressionRatio:0.00}, {r.PayloadBytesPerRecord:0.0} payload bytes per reading"));
        Console.WriteLine(StoreLine(r, o));
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A batch record of <paramref name="n"/> readings from <paramref name="first"/> on, as a DeviceActor writes one
    /// per accepted telemetry batch.
    /// </summary>
    private static SyncRecord TelemetryRun(string device, long first, int n)
    {
        var seqs = new long[n];
        var ts = new long[n];
        var values = new float[n * Channels];
        for (var i = 0; i < n; i++)
        {
            var r = Telemetry(device, first + i);
            seqs[i] = r.Sequence;
            ts[i] = r.Timestamp;
            r.Values.CopyTo(values, i * Channels);
        }
        return SyncRecord.Readings(new DeviceId(device), SyncPriority.Routine, seqs, ts, values);
    }

    /// <summary>A sensor-like reading: slow drifts plus deterministic noise (so Brotli sees realistic float entropy).</summary>
    private static SyncRecord Telemetry(string device, long seq)
    {
        var h = 2166136261u;
        foreach (var ch in device) h = (h ^ ch) * 16777619u;
        h ^= (uint)(seq * 2654435761L);
        h *= 2246822519u;
        float Noise(int c) => ((h >> (c * 8)) & 0xFF) / 255f - 0.5f;
        return new SyncRecord(new DeviceId(device), RecordKind.Telemetry, seq, BaseTs + seq * 10, SyncPriority.Routine,
            [20f + (seq % 97) * 0.01f + Noise(0), 50f - (seq % 13) * 0.1f + Noise(1), 1013f + Noise(2) * 4, (seq % 360) * 0.5f + Noise(3)], [], -1, null);
    }

    // ------------------------------------------------------------------ outbox

    private static async Task<StageResult> OutboxStageAsync(ActorSystem system, Options o, string dir)
    {
        var settings = OutboxSettings.Default with { Path = Path.Combine(dir, "outbox.db"), MaxBytes = 16L * 1024 * 1024 * 1024 };
        var writer = system.ActorOf(OutboxWriter.Props(() => new SqliteOutbox(settings), settings), "outbox-writer");
        try
        {
            await OutboxPassAsync(system, writer, o, Math.Max(o.Writers * o.WriteBatch * 2, o.Records / 10), "warm");
            var before = await writer.Ask<OutboxWriter.WriterStats>(OutboxWriter.GetWriterStats.Instance, TimeSpan.FromSeconds(30));
            var (records, seconds) = await OutboxPassAsync(system, writer, o, o.Records, "run");
            var after = await writer.Ask<OutboxWriter.WriterStats>(OutboxWriter.GetWriterStats.Instance, TimeSpan.FromSeconds(30));
            if (after.Refused + after.Failed > 0) throw new InvalidOperationException($"bench outbox: {after.Refused} refused, {after.Failed} failed");
            return new StageResult("outbox", "sqlite", records, seconds, after.Transactions - before.Transactions);
        }
        finally
        {
            await writer.GracefulStop(TimeSpan.FromSeconds(30));
        }
    }

    private static async Task<(long Records, double Seconds)> OutboxPassAsync(ActorSystem system, IActorRef writer, Options o, int total, string prefix)
    {
        // each writer is one device; the records are split evenly (the first writers take the remainder)
        var writes = new List<IReadOnlyList<SyncRecord>>[o.Writers];
        for (var w = 0; w < o.Writers; w++)
        {
            var mine = total / o.Writers + (w < total % o.Writers ? 1 : 0);
            var device = $"{prefix}-dev-{w:D4}";
            writes[w] = new List<IReadOnlyList<SyncRecord>>();
            for (var start = 0; start < mine; start += o.WriteBatch)
                writes[w].Add([TelemetryRun(device, start, Math.Min(o.WriteBatch, mine - start))]); // one batch record per write
        }
        var tasks = new Task<long>[o.Writers];
        var sw = Stopwatch.StartNew();
        for (var w = 0; w < o.Writers; w++)
        {
            var tcs = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            system.ActorOf(Props.Create(() => new OutboxClient(writer, writes[w], 2, tcs)));
            tasks[w] = tcs.Task;
        }
        var appended = (await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(10))).Sum();
        sw.Stop();
        if (appended != total) throw new InvalidOperationException($"bench outbox: {appended} of {total} records written");
        return (appended, sw.Elapsed.TotalSeconds);
    }

    /// <summary>One writer (a device's ingest pipeline): keeps <c>window</c> writes outstanding until all are Written.</summary>
    private sealed class OutboxClient : ReceiveActor
    {
        private int _sent;
        private int _done;
        private long _appended;

        public OutboxClient(IActorRef writer, List<IReadOnlyList<SyncRecord>> writes, int window, TaskCompletionSource<long> done)
        {
            Receive<OutboxWritten>(w =>
            {
                _appended += w.Appended;
                if (w.Refused > 0) done.TrySetException(new InvalidOperationException($"bench outbox: {w.Refused} records refused"));
                if (++_done == writes.Count)
                {
                    done.TrySetResult(_appended);
                    Context.Stop(Self);
                }
                else if (_sent < writes.Count) writer.Tell(new OutboxWrite(writes[_sent], _sent++));
            });
            Receive<OutboxWriteFailed>(f =>
            {
                done.TrySetException(new InvalidOperationException($"bench outbox: write {f.Token} failed: {f.Reason}"));
                Context.Stop(Self);
            });
            if (writes.Count == 0)
            {
                done.TrySetResult(0);
                Context.Stop(Self);
                return;
            }
            for (; _sent < Math.Min(window, writes.Count); _sent++) writer.Tell(new OutboxWrite(writes[_sent], _sent));
        }
    }

    // ------------------------------------------------------------------ store

    private sealed record EncodedBatches(List<SyncBatch> Batches, List<IReadOnlyList<SyncRecord>> Records, long Readings, long RawBytes, long PayloadBytes);

    /// <summary>
    /// <paramref name="total"/> readings of 50 devices of one edge as batch records of <paramref name="recordSize"/>
    /// readings (one per accepted telemetry batch, as DeviceActor writes them), devices interleaved (record k: device
    /// k % 50), cut into sync batches of <see cref="Options.Batch"/> readings (whole records, as the SyncSender peeks
    /// them) and encoded as the SyncSender does, before any timing.
    /// </summary>
    private static EncodedBatches Encode(string edge, string prefix, int total, int batchSize, int recordSize)
    {
        const int devices = 50;
        var batches = new List<SyncBatch>();
        var records = new List<IReadOnlyList<SyncRecord>>();
        long raw = 0, payload = 0;
        var list = new List<SyncRecord>();
        var inBatch = 0;
        void Cut()
        {
            if (list.Count == 0) return;
            var bytes = SyncCodec.Encode(list, out var rawBytes);
            batches.Add(new SyncBatch(edge, batches.Count + 1, list.Count, rawBytes, bytes));
            records.Add(list.ToArray());
            raw += rawBytes;
            payload += bytes.Length;
            list.Clear();
            inBatch = 0;
        }
        var perDevice = new long[devices];
        var done = 0;
        for (var k = 0; done < total; k++)
        {
            var d = k % devices;
            var n = Math.Min(recordSize, total - done);
            if (inBatch > 0 && inBatch + n > batchSize) Cut();
            list.Add(TelemetryRun($"{prefix}-dev-{d:D3}", perDevice[d], n));
            perDevice[d] += n;
            inBatch += n;
            done += n;
        }
        Cut();
        return new EncodedBatches(batches, records, total, raw, payload);
    }

    private static async Task<StoreResult> StoreStageAsync(ActorSystem system, Options o, string db, Func<string, IDataStore> open)
    {
        var sinkSettings = SyncSinkSettings.Default with { MaxRecordsPerBatch = Math.Max(SyncSinkSettings.Default.MaxRecordsPerBatch, o.Batch) };
        // through the sink: one store, a warm-up pass (its own devices) then the measured pass
        var warm = Encode("edge-bench", "warm", Math.Max(o.Batch * 4, o.Records / 10), o.Batch, o.WriteBatch);
        var run = Encode("edge-bench", "run", o.Records, o.Batch, o.WriteBatch);
        var sink = system.ActorOf(SyncSink.Props(() => open("store-actor"), sinkSettings, "bench"), $"sink-{db}");
        double seconds;
        try
        {
            await SinkPassAsync(system, sink, warm);
            seconds = await SinkPassAsync(system, sink, run);
        }
        finally
        {
            await sink.GracefulStop(TimeSpan.FromSeconds(30)); // disposes the store
        }

        // the same store type called directly with the decoded records: no actor, no Brotli
        double direct;
        using (var store = open("store-direct"))
        {
            DirectPass(store, Encode("edge-bench", "dwarm", Math.Max(o.Batch * 4, o.Records / 10), o.Batch, o.WriteBatch));
            direct = DirectPass(store, Encode("edge-bench", "drun", o.Records, o.Batch, o.WriteBatch));
        }
        return new StoreResult(new StageResult("store", db, o.Records, seconds), new StageResult("store-direct", db, o.Records, direct),
            (double)run.RawBytes / run.PayloadBytes, (double)run.PayloadBytes / o.Records, o.Records / (double)run.Batches.Sum(b => (long)b.Count));
    }

    private static async Task<double> SinkPassAsync(ActorSystem system, IActorRef sink, EncodedBatches data)
    {
        var expected = data.Readings;
        var tcs = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sw = Stopwatch.StartNew();
        system.ActorOf(Props.Create(() => new SinkClient(sink, data.Batches, 2, tcs)));
        var stored = await tcs.Task.WaitAsync(TimeSpan.FromMinutes(10));
        sw.Stop();
        if (stored != expected) throw new InvalidOperationException($"bench store: {stored} of {expected} records stored");
        return sw.Elapsed.TotalSeconds;
    }

    private static double DirectPass(IDataStore store, EncodedBatches data)
    {
        long stored = 0;
        var sw = Stopwatch.StartNew();
        foreach (var records in data.Records) stored += store.Store("edge-bench", records, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).Stored;
        sw.Stop();
        var expected = data.Readings;
        if (stored != expected) throw new InvalidOperationException($"bench store (direct): {stored} of {expected} records stored");
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>The edge's sender, minus the network: keeps <c>window</c> batches in flight, counts SyncAck.Stored.</summary>
    private sealed class SinkClient : ReceiveActor
    {
        private int _sent;
        private int _acked;
        private long _stored;

        public SinkClient(IActorRef sink, List<SyncBatch> batches, int window, TaskCompletionSource<long> done)
        {
            Receive<SyncAck>(a =>
            {
                _stored += a.Stored;
                if (++_acked == batches.Count)
                {
                    done.TrySetResult(_stored);
                    Context.Stop(Self);
                }
                else if (_sent < batches.Count) sink.Tell(batches[_sent++]);
            });
            Receive<SyncRejected>(r =>
            {
                done.TrySetException(new InvalidOperationException($"bench store: batch {r.BatchId} rejected: {r.Reason}"));
                Context.Stop(Self);
            });
            if (batches.Count == 0)
            {
                done.TrySetResult(0);
                Context.Stop(Self);
                return;
            }
            for (; _sent < Math.Min(window, batches.Count); _sent++) sink.Tell(batches[_sent]);
        }
    }

    private static async Task<StoreResult> PostgresStageAsync(ActorSystem system, Options o)
    {
        var schemas = new List<string>();
        var baseCs = o.Postgres!;
        try
        {
            return await StoreStageAsync(system, o, "postgres", name =>
            {
                // a fresh schema per store, found through the search path
                var schema = $"bench_{Guid.NewGuid():N}";
                schemas.Add(schema);
                using (var c = new NpgsqlConnection(baseCs))
                {
                    c.Open();
                    using var cmd = new NpgsqlCommand($"CREATE SCHEMA {schema}", c);
                    cmd.ExecuteNonQuery();
                }
                var cs = new NpgsqlConnectionStringBuilder(baseCs) { SearchPath = schema }.ConnectionString;
                return new PostgresDataStore(cs);
            });
        }
        finally
        {
            if (schemas.Count > 0)
            {
                NpgsqlConnection.ClearAllPools();
                await using var c = new NpgsqlConnection(baseCs);
                await c.OpenAsync();
                foreach (var s in schemas)
                {
                    await using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {s} CASCADE", c);
                    await cmd.ExecuteNonQueryAsync();
                }
            }
        }
    }

    // ------------------------------------------------------------------ docs

    private const string Begin = "<!-- bench sync: begin (written by `./edgeactors bench sync`) -->";
    private const string End = "<!-- bench sync: end -->";

    private static void WriteMarkdown(string path, Options o, Result r)
    {
        const double target = 500_000;
        var sb = new StringBuilder();
        sb.AppendLine(Begin);
        sb.AppendLine("## Edge sync: outbox and data store (`bench sync`)");
        sb.AppendLine();
        sb.AppendLine(Inv($"Command: `./edgeactors bench sync --records {o.Records} --batch {o.Batch} --writers {o.Writers} --write-batch {o.WriteBatch}` (PostgreSQL from `EDGEACTORS_TEST_POSTGRES`, set by `scripts/postgres-setup.sh`)  "));
        sb.AppendLine(Inv($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, .NET {Environment.Version}. Telemetry readings with {Channels} channels, in batch records of {o.WriteBatch} readings (one per accepted telemetry batch, as `DeviceActor` writes them); each stage runs a warm-up pass (not counted) first. ") +
                      Inv($"Outbox: {o.Writers} writer actors (one device each) Tell `OutboxWrite` of one {o.WriteBatch}-reading batch record, 2 outstanding each, to one `OutboxWriter` over a fresh `SqliteOutbox` (WAL, synchronous=NORMAL, group commit); counted when `Written`. ") +
                      Inv($"Store: `SyncBatch`es of {o.Batch} readings (Brotli-encoded with `SyncCodec` before timing) sent to a `SyncSink` over a fresh data store, 2 in flight, counted by `SyncAck.Stored` (decode + one transaction per batch, one row per reading, durable before the ack). ") +
                      "Direct = `IDataStore.Store` called in a loop with the decoded records (no actor, no decode), for comparison. Target: 500,000 readings/s per stage (issue 11: the datacenter store into SQLite and into PostgreSQL).");
        sb.AppendLine();
        sb.AppendLine("| stage | db | readings | seconds | readings/s | vs target | notes |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---|");
        sb.AppendLine(Inv($"| outbox (OutboxWriter) | sqlite | {r.Outbox.Records:N0} | {r.Outbox.Seconds:0.00} | {r.Outbox.PerSecond:N0} | {r.Outbox.PerSecond / target:0.00} | {r.Outbox.Transactions:N0} transactions ({(double)r.Outbox.Records / Math.Max(1, r.Outbox.Transactions):0} readings each) |"));
        foreach (var s in new[] { r.Sqlite, r.Postgres })
        {
            if (s is null) continue;
            sb.AppendLine(Inv($"| store (SyncSink) | {s.Actor.Db} | {s.Actor.Records:N0} | {s.Actor.Seconds:0.00} | {s.Actor.PerSecond:N0} | {s.Actor.PerSecond / target:0.00} | Brotli {s.CompressionRatio:0.0}:1, {s.PayloadBytesPerRecord:0.0} B/reading on the wire |"));
            sb.AppendLine(Inv($"| store direct (no actor) | {s.Direct.Db} | {s.Direct.Records:N0} | {s.Direct.Seconds:0.00} | {s.Direct.PerSecond:N0} | {s.Direct.PerSecond / target:0.00} | for comparison |"));
        }
        if (r.PostgresNote is not null) sb.AppendLine($"| store (SyncSink) | postgres | – | – | – | – | {r.PostgresNote} |");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(OutboxLine(r.Outbox, o));
        sb.AppendLine(StoreLine(r.Sqlite, o));
        if (r.Postgres is not null) sb.AppendLine(StoreLine(r.Postgres, o));
        sb.AppendLine(StoreSummaryLine(r.Sqlite, r.Postgres));
        sb.AppendLine("```");
        sb.AppendLine(End);

        Bench.BenchmarkDocs.WriteBlock(path, Begin, End, sb.ToString());
    }
}
