using System.Diagnostics;
using System.Globalization;
using System.Text;
using EdgeActors.Messages;
using EdgeActors.Client;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Hosting;

namespace EdgeActors.Tools.Bench;

/// <summary>
/// <c>bench devices</c>: many device entities on ONE edge. Starts a local cluster of real processes (seed, datacenter,
/// one edge; TLS as in the demo), sends one small telemetry batch to each of N new devices through the client library
/// (many requests in flight), and measures (1) the time from the first message to the last device acknowledged
/// (every entity started, restored in bulk and its readings made durable) and (2) the edge process's resident memory
/// (VmRSS from /proc/&lt;pid&gt;/status) before and after, each read after the process has settled, per device.
/// </summary>
public static class DeviceFleetBench
{
    /// <param name="Count">New devices, one telemetry batch each.</param>
    /// <param name="InFlight">Requests the client keeps in flight.</param>
    /// <param name="Readings">Readings per batch (4 channels).</param>
    /// <param name="BasePort">seed, datacenter and edge on BasePort, +1, +2 (away from the demo's 4053–4056).</param>
    /// <param name="Settle">Wait before each memory reading (sync drains, GC settles).</param>
    /// <param name="Directory">Node data and logs (a fresh temporary directory when null).</param>
    public sealed record Options(int Count = 100_000, int InFlight = 2000, int Readings = 4, int BasePort = 4880, double Settle = 8,
        string? Directory = null, bool Secure = true);

    /// <param name="BytesPerDevice">(live managed heap after − before) / Count, each after a full GC in the edge (SIGUSR1).</param>
    /// <param name="RssBytesPerDevice">(RSS after − RSS before) / Count: includes garbage and heap the GC keeps committed.</param>
    /// <param name="StartAllSeconds">First message sent → last device acknowledged.</param>
    /// <param name="RestoreIncomplete">Restore timeouts/failures the edge logged (restorer batch warnings and entity backstops).</param>
    public sealed record Result(int Count, long HeapBeforeBytes, long HeapAfterBytes, long RssBeforeBytes, long RssAfterBytes, double BytesPerDevice,
        double RssBytesPerDevice, double StartAllSeconds,
        long Accepted, long Failed, long RetriedRequests, int RestoreIncomplete, string Directory)
    {
        /// <summary>The machine's 1-minute load average when the devices were acknowledged (/proc/loadavg; "" elsewhere).</summary>
        public string LoadAverage { get; init; } = "";

        public string ResultLine => string.Create(CultureInfo.InvariantCulture,
            $"RESULT devices count={Count} bytes_per_device={BytesPerDevice:0} start_all_s={StartAllSeconds:0.00} rss_bytes_per_device={RssBytesPerDevice:0}");
    }

    /// <summary>Runs the whole measurement (cluster start to stop); progress goes to <paramref name="log"/> (default: the console).</summary>
    public static async Task<Result> RunAsync(Options o, Action<string>? log = null)
    {
        log ??= Console.WriteLine;
        if (o.Count < 1) throw new ArgumentException("count must be at least 1");
        if (o.InFlight < 1) throw new ArgumentException("in-flight must be at least 1");
        var dir = o.Directory ?? Path.Combine(Path.GetTempPath(), "edgeactors-bench-devices-" + Guid.NewGuid().ToString("N")[..8]);
        if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir, recursive: true);
        var layout = new List<NodeSpec>
        {
            new("seed", "seed", o.BasePort),
            new("datacenter", "datacenter", o.BasePort + 1),
            new("edge1", "edge", o.BasePort + 2),
        };
        log($"bench devices: {o.Count:N0} new devices, one {o.Readings}-reading batch each, {o.InFlight} requests in flight; " +
            $"cluster seed+datacenter+edge on 127.0.0.1:{o.BasePort}-{o.BasePort + 2}{(o.Secure ? " (TLS)" : "")}; logs in {dir}");
        await using var cluster = new LocalCluster(layout, dir, o.Secure);
        EdgeClient? client = null;
        try
        {
            cluster.StartAll();
            client = EdgeClient.Connect(new EdgeClientOptions
            {
                Contacts = cluster.GatewayContacts.ToList(),
                Credentials = cluster.ClientCredentials,
                RequestTimeout = TimeSpan.FromSeconds(10),
                RetryDeadline = TimeSpan.FromSeconds(180),
            });
            if (await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(120)) is null)
                throw new InvalidOperationException("the cluster did not form; node logs in " + dir);
            var edge = cluster["edge1"];

            // warm-up: the region, its shards' allocation, the outbox and the sync path exist before the baseline is read
            var warm = Math.Min(200, o.Count);
            await SendAllAsync(client, Enumerable.Range(0, warm).Select(i => new DeviceId($"warm-{i:D4}")).ToArray(), o, new IngestTally());
            await Task.Delay(TimeSpan.FromSeconds(o.Settle));
            var heapBefore = await HeapAsync(edge);
            var before = Rss(edge.Pid);
            log(string.Create(CultureInfo.InvariantCulture, $"bench devices: edge managed heap before {heapBefore / 1048576.0:0.0} MiB, RSS {before / 1048576.0:0.0} MiB (after {warm} warm-up devices)"));

            var ids = Enumerable.Range(0, o.Count).Select(i => new DeviceId($"fleet-{i:D7}")).ToArray();
            var tally = new IngestTally();
            var sw = Stopwatch.StartNew();
            using var done = new CancellationTokenSource();
            var progress = Task.Run(async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(2000, done.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    log(string.Create(CultureInfo.InvariantCulture,
                        $"bench devices: t={sw.Elapsed.TotalSeconds:0}s acknowledged {(tally.Accepted + tally.Rejected) / o.Readings:N0} of {o.Count:N0} devices; edge RSS {Rss(edge.Pid) / 1048576.0:0} MiB"));
                    if (edge.HasExited) return;
                }
            });
            var failed = await SendAllAsync(client, ids, o, tally);
            var seconds = sw.Elapsed.TotalSeconds;
            var load = LoadAverage();
            await done.CancelAsync();
            await progress;
            log(string.Create(CultureInfo.InvariantCulture,
                $"bench devices: {o.Count:N0} devices acknowledged in {seconds:0.00}s ({o.Count / seconds:N0} devices/s): accepted {tally.Accepted:N0} readings, rejected {tally.Rejected:N0}, failed requests {failed}, retried {tally.RetriedRequests}"));
            await Task.Delay(TimeSpan.FromSeconds(o.Settle));
            var heapAfter = await HeapAsync(edge);
            var after = Rss(edge.Pid);
            var overview = await ClusterProbe.TryOverviewAsync(client);
            log(string.Create(CultureInfo.InvariantCulture, $"bench devices: edge managed heap after {heapAfter / 1048576.0:0.0} MiB, RSS {after / 1048576.0:0.0} MiB; {(overview is null ? "no overview" : ClusterProbe.Describe(overview))}"));
            var incomplete = CountRestoreProblems(edge.LogPath);
            var result = new Result(o.Count, heapBefore, heapAfter, before, after, (heapAfter - heapBefore) / (double)o.Count, (after - before) / (double)o.Count,
                seconds, tally.Accepted, failed, tally.RetriedRequests, incomplete, dir) { LoadAverage = load };
            log($"bench devices: restore problems logged by the edge: {incomplete}");
            log(result.ResultLine);
            return result;
        }
        finally
        {
            if (client is not null) await client.DisposeAsync();
            await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        }
    }

    /// <summary>One batch per device, at most InFlight at once; returns the requests that failed (no answer after retries).</summary>
    private static async Task<long> SendAllAsync(EdgeClient client, DeviceId[] ids, Options o, IngestTally tally)
    {
        long failed = 0;
        var next = -1;
        var workers = Enumerable.Range(0, Math.Min(o.InFlight, ids.Length)).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < ids.Length)
            {
                var batch = Batch(ids[i], o.Readings, i);
                tally.AddSent(batch.Count);
                try
                {
                    tally.Record(await client.SendTelemetryAsync(batch).ConfigureAwait(false));
                }
                catch (EdgeClientException)
                {
                    tally.AddUnanswered(batch.Count);
                    Interlocked.Increment(ref failed);
                }
            }
        });
        await Task.WhenAll(workers);
        return failed;
    }

    private static TelemetryBatch Batch(DeviceId id, int readings, int salt)
    {
        const int channels = 4;
        var seqs = new long[readings];
        var ts = new long[readings];
        var values = new float[readings * channels];
        for (var r = 0; r < readings; r++)
        {
            seqs[r] = r + 1;
            ts[r] = 1_700_000_000_000 + r * 100;
            for (var c = 0; c < channels; c++) values[r * channels + c] = 20 + c + ((salt + r) % 17) * 0.1f;
        }
        return new TelemetryBatch(id, channels, seqs, ts, values);
    }

    /// <summary>
    /// The node's live managed heap: SIGUSR1 makes it run a full compacting GC and print the size (see
    /// <see cref="NodeCommand.HeapReportPrefix"/>); the newest such line in its log, waited for up to 30 s.
    /// </summary>
    public static async Task<long> HeapAsync(NodeProcess node)
    {
        var seen = HeapLines(node.LogPath).Count;
        node.Signal(10);
        for (var i = 0; i < 300; i++)
        {
            await Task.Delay(100);
            var lines = HeapLines(node.LogPath);
            if (lines.Count > seen) return lines[^1];
        }
        throw new InvalidOperationException($"node {node.Spec.Name} did not report its heap within 30 s of SIGUSR1 (log {node.LogPath})");
    }

    private static List<long> HeapLines(string logPath)
    {
        var result = new List<long>();
        using var fs = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(fs);
        while (reader.ReadLine() is { } line)
        {
            var at = line.IndexOf(NodeCommand.HeapReportPrefix, StringComparison.Ordinal);
            if (at < 0) continue;
            var rest = line[(at + NodeCommand.HeapReportPrefix.Length)..];
            if (long.TryParse(rest.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var bytes)) result.Add(bytes);
        }
        return result;
    }

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>VmRSS of a process in bytes (Linux /proc), 0 when it cannot be read.</summary>
    public static long Rss(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
        }
        return 0;
    }

    /// <summary>Restore timeouts and failures in an edge log: the restorer's per-batch warnings and entity backstop warnings.</summary>
    /// <param name="fromByte">where in the log to start (the log's length when the phase of interest began).</param>
    public static int CountRestoreProblems(string logPath, long fromByte = 0)
    {
        using var fs = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        fs.Seek(Math.Min(fromByte, fs.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(fs);
        var n = 0;
        while (reader.ReadLine() is { } line)
            if (line.Contains("Device restore batch", StringComparison.Ordinal) ||
                (line.Contains("did not answer within", StringComparison.Ordinal) && line.Contains("Device ", StringComparison.Ordinal)))
                n++;
        return n;
    }

    // ------------------------------------------------------------------ docs

    private const string Begin = "<!-- bench devices: begin (written by `./edgeactors bench devices`) -->";
    private const string End = "<!-- bench devices: end -->";

    public static void WriteMarkdown(string path, Options o, Result r)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Begin);
        sb.AppendLine("## Devices per edge (`bench devices`)");
        sb.AppendLine();
        sb.AppendLine(Inv($"Command: `./edgeactors bench devices --count {o.Count} --in-flight {o.InFlight}`  "));
        sb.AppendLine(Inv($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, .NET {Environment.Version}. ") +
                      "Real node processes (seed, datacenter, ONE edge; TLS and client tokens as in the demo); one telemetry batch " +
                      Inv($"of {o.Readings} readings × 4 channels to each of {o.Count:N0} new devices through the client library, {o.InFlight} requests in flight. ") +
                      "Every device entity starts on the edge, restores in bulk (DeviceRestorer: one outbox query and one datacenter query per batch) " +
                      "and makes its readings durable in the outbox before it is acknowledged. start_all = first message sent → last device acknowledged. " +
                      Inv($"bytes/device = the edge's live managed heap (a full compacting GC in the edge, triggered by SIGUSR1, after {o.Settle:0} s of settling), after − before (before: after 200 warm-up devices), per device; ") +
                      "RSS/device = the same with the process's VmRSS, which also counts the burst's garbage and heap the GC keeps committed. " +
                      "Targets: ≤ 16 KB per idle device, 100,000 devices serving within 30 s." +
                      (r.LoadAverage.Length > 0 ? $" Machine load average (1 min) when the last device was acknowledged: {r.LoadAverage} on {Environment.ProcessorCount} cores (client, three nodes and anything else running)." : ""));
        sb.AppendLine();
        sb.AppendLine("| devices | edge heap before → after | bytes/device | edge RSS before → after | RSS/device | start_all (s) | devices/s | failed requests | restore problems logged |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        sb.AppendLine(Inv($"| {r.Count:N0} | {r.HeapBeforeBytes / 1048576.0:0} → {r.HeapAfterBytes / 1048576.0:0} MiB | {r.BytesPerDevice:N0} | {r.RssBeforeBytes / 1048576.0:0} → {r.RssAfterBytes / 1048576.0:0} MiB | {r.RssBytesPerDevice:N0} | {r.StartAllSeconds:0.00} | {r.Count / r.StartAllSeconds:N0} | {r.Failed} | {r.RestoreIncomplete} |"));
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(r.ResultLine);
        sb.AppendLine("```");
        sb.AppendLine(End);
        BenchmarkDocs.WriteBlock(path, Begin, End, sb.ToString());
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
