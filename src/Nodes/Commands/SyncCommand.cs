using System.CommandLine;
using EdgeActors.Messages;
using EdgeActors.Client;

namespace EdgeActors.Nodes.Commands;

public static class SyncCommand
{
    private static readonly Option<string[]> Contacts = CliOptions.Contacts();
    private static readonly CertsCommand.ClientOptions Credentials = new();

    public static Command Create()
    {
        var sync = new Command("sync", "sync status: each edge's outbox backlog, lag and sink acknowledgements");
        sync.Subcommands.Add(Cli.Command("status", """
            each edge's outbox backlog, sync lag and sink acknowledgements; each datacenter store's counts
            For every edge node: readings waiting in its durable outbox (records, bytes), how old the oldest waiting
            record is (sync lag), readings synced, expired by TTL, overwritten by the disk bound, refused when full, and
            per datacenter sink the last acknowledged batch; then each datacenter store's counts and, per edge, when its
            last batch was stored and how old its data was then.
            """, [Contacts, .. Credentials.All], RunAsync));
        return sync;
    }

    private static async Task<int> RunAsync(ParseResult args)
    {
        var contacts = args.GetValue(Contacts)!;
        var credentials = Credentials.From(args);
        await using var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = contacts, Credentials = credentials, RetryDeadline = TimeSpan.FromSeconds(15) });
        ClusterOverview overview;
        try
        {
            overview = await client.GetOverviewAsync();
        }
        catch (EdgeClientException ex)
        {
            Console.Error.WriteLine($"sync status: {ex.Message}");
            return 1;
        }
        var edges = overview.Members.Where(m => m.Roles.Contains("edge")).Select(m => m.Address.Split('@').Last()).ToList();
        if (edges.Count == 0)
        {
            Console.WriteLine("no edge nodes in the cluster");
            return 0;
        }
        var failed = 0;
        foreach (var edge in edges)
        {
            var status = await EdgeSyncStatusAsync(client, edge);
            if (status is null)
            {
                Console.WriteLine($"{edge}: no answer");
                failed++;
                continue;
            }
            Console.WriteLine(Describe(status));
        }
        foreach (var dc in overview.Members.Where(m => m.Roles.Contains("datacenter")).Select(m => m.Address.Split('@').Last()))
        {
            try
            {
                var st = await client.GetStoreStatusAsync(dc);
                Console.WriteLine($"store on {dc} ({st.StoreKind}): {st.Telemetry:N0} readings, {st.Frames:N0} frames, {st.DuplicatesAbsorbed:N0} resent deliveries absorbed");
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                foreach (var e in st.Edges)
                    Console.WriteLine($"  from {e.Edge.Split('@').Last()}: {e.Records:N0} records, last batch stored {(now - e.LastStoredAtMs) / 1000.0:0.0}s ago, its data {e.LastBatchLagMs / 1000.0:0.0}s old when stored");
            }
            catch (EdgeClientException ex)
            {
                Console.WriteLine($"store on {dc}: {ex.Message}");
                failed++;
            }
        }
        return failed == 0 ? 0 : 1;
    }

    /// <summary>One edge's sync status (the query is routed to that edge whichever gateway the client reaches); null when it does not answer.</summary>
    public static async Task<SyncStatus?> EdgeSyncStatusAsync(EdgeClient client, string hostPort)
    {
        try
        {
            return await client.GetSyncStatusAsync(hostPort);
        }
        catch (EdgeClientException)
        {
            return null;
        }
    }

    public static string Describe(SyncStatus s)
    {
        var records = s.BacklogRecords < 0 ? "" : $" in {s.BacklogRecords:N0} records";
        var backlog = s.Backlog < 0 ? "unknown" : $"{s.Backlog:N0} readings{records} ({s.BacklogBytes:N0} bytes)";
        var lines = new List<string>
        {
            $"{s.Edge.Split('@').Last()}: backlog {backlog}, oldest waiting {s.OldestWaitingMs / 1000.0:0.0}s, synced {s.Synced:N0}, " +
            $"expired {s.ExpiredByTtl:N0}, overwritten {s.Overwritten:N0}, refused (full) {s.RefusedFull:N0}",
        };
        foreach (var sink in s.Sinks)
        {
            var ago = sink.LastAckAtMs > 0 ? $"{(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - sink.LastAckAtMs) / 1000.0:0.0}s ago" : "never";
            lines.Add($"  sink {sink.Sink.Split('@').Last()}: last ack batch {sink.LastAckedBatch} {ago}, {sink.Acked:N0} acked, {sink.Failures:N0} failures");
        }
        return string.Join('\n', lines);
    }
}
