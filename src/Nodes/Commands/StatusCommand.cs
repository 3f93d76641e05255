using System.CommandLine;
using EdgeActors.Messages;
using EdgeActors.Client;

namespace EdgeActors.Nodes.Commands;

public static class StatusCommand
{
    private static readonly Option<string[]> Contacts = CliOptions.Contacts();
    private static readonly Option<string?> Device = CliOptions.Text("--device", "one device's state instead of the cluster's", "ID");
    private static readonly CertsCommand.ClientOptions Credentials = new();

    public static Command Create() => Cli.Command("status", """
        show cluster members and device placement, or one device's state
        Without --device: cluster members (roles, status), per edge node shards and live device entities, and the
        answering node's inference runtime (execution provider, models, queues, escalations, overflow).
        With --device: that device's state (sequences, counts, rejections, channel statistics, buffer fill) and, when a
        hardware adapter reports for it, its health, faults by kind and the adapter's counters.
        """, [Contacts, Device, .. Credentials.All], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var contacts = args.GetValue(Contacts)!;
        var device = args.GetValue(Device);
        var credentials = Credentials.From(args);
        await using var client = EdgeClient.Connect(new EdgeClientOptions
        {
            Contacts = contacts, Credentials = credentials, RequestTimeout = TimeSpan.FromSeconds(5), RetryDeadline = TimeSpan.FromSeconds(15),
        });
        try
        {
            if (device is null)
            {
                var o = await client.GetOverviewAsync();
                Console.WriteLine($"answered by {o.AnsweredBy}");
                Console.WriteLine("members:");
                foreach (var m in o.Members) Console.WriteLine($"  {m.Address,-40} {m.Status,-12} roles={string.Join(",", m.Roles)}");
                Console.WriteLine($"device regions{(o.StatsComplete ? "" : " (incomplete: some region did not answer)")}:");
                foreach (var r in o.Regions) Console.WriteLine($"  {r.Address,-40} shards={r.Shards,-4} devices={r.Entities}");
                Console.WriteLine($"devices: {o.Devices}");
                try
                {
                    var inf = await client.GetInferenceStatusAsync();
                    Console.WriteLine($"inference on {inf.Node}: provider {inf.Provider}{(inf.ProviderNote.Length > 0 ? $" ({inf.ProviderNote})" : "")}");
                    foreach (var m in inf.Models)
                    {
                        Console.WriteLine($"  {m.Name,-14} v{m.Version,-3} queue {m.QueueDepth,-4} served {m.Served,-8} batches {m.Batches,-7} overloaded {m.Overloaded,-5} escalated {m.Escalated,-5} overflowed {m.Overflowed}{(m.LastError.Length > 0 ? $"  last error: {m.LastError}" : "")}");
                        if (m.Session is { } h)
                            Console.WriteLine($"    session: primary {h.Primary}, serving on {h.Serving}; primary failures {h.PrimaryFailures} ({h.ConsecutiveFailures} in a row), " +
                                              $"recreated {h.Recreations}, CPU fallback batches {h.FallbackBatches}" +
                                              (h.NextPrimaryRetryMs > 0 ? $", primary retry at {DateTimeOffset.FromUnixTimeMilliseconds(h.NextPrimaryRetryMs):HH:mm:ss.fff} UTC" : "") +
                                              (h.FallbackReason.Length > 0 ? $"; last failure: {h.FallbackReason}" : ""));
                    }
                    if (inf.Datacenter is { } b)
                        Console.WriteLine($"  datacenter breaker: {b.State} ({b.ConsecutiveFailures} failures in a row), opened {b.Opens} times, {b.FastAnswers} frames answered at once" +
                                          (b.RetryAtMs > 0 ? $", trial call at {DateTimeOffset.FromUnixTimeMilliseconds(b.RetryAtMs):HH:mm:ss.fff} UTC" : "") +
                                          (b.LastFailure.Length > 0 ? $"; last failure: {b.LastFailure}" : ""));
                }
                catch (EdgeClientException ex)
                {
                    Console.WriteLine($"inference: {ex.Message}");
                }
            }
            else
            {
                WriteDevice(Console.Out, await client.GetDeviceStateAsync(new DeviceId(device)));
            }
            return 0;
        }
        catch (EdgeClientException ex)
        {
            Console.Error.WriteLine($"status: {ex.Message} (contacts {string.Join(",", contacts)})");
            return 1;
        }
    }

    /// <summary>One device's state as <c>status --device</c> prints it (with its hardware health when an adapter reports).</summary>
    public static void WriteDevice(TextWriter w, DeviceState s)
    {
        w.WriteLine($"device {s.DeviceId} on {s.Node}");
        w.WriteLine($"  last sequence {s.LastSequence}, highest contiguous {s.HighestContiguous}");
        w.WriteLine($"  accepted readings {s.AcceptedReadings}, accepted frames {s.AcceptedFrames}, rejected {s.RejectedTotal} ({string.Join(" ", s.Rejections.Select(r => $"{r.Reason}={r.Count}"))})");
        w.WriteLine($"  buffer {s.BufferFill}/{s.BufferCapacity} readings, {s.FrameBufferFill}/{s.FrameBufferCapacity} frames" +
                (s.Restore == RestoreOutcome.None ? "" : $"; restore {s.Restore}"));
        if (s.Sensor is { } h)
        {
            var since = DateTimeOffset.FromUnixTimeMilliseconds(h.SinceMs).UtcDateTime;
            w.WriteLine($"  health {h.Health} since {since:HH:mm:ss.fff} UTC{(h.Reason.Length > 0 ? $" ({h.Reason})" : "")}; " +
                    $"degraded {h.Degradations}x, offline {h.Offlines}x, recovered {h.Recoveries}x");
            w.WriteLine($"  faults {(h.Faults.Length == 0 ? "none" : string.Join(" ", h.Faults.Select(f => $"{f.Kind}={f.Count}")))}");
            w.WriteLine($"  adapter on {h.AdapterNode}: produced {h.Produced}, last sequence {h.AdapterLastSequence}, " +
                    $"unacknowledged {h.Unacknowledged}, dropped {h.Dropped}, restarts {h.Restarts}");
        }
        for (var i = 0; i < s.Channels.Length; i++)
        {
            var c = s.Channels[i];
            w.WriteLine($"  ch{i}: n={c.Count} mean={c.Mean:0.###} var={c.Variance:0.###} min={c.Min:0.###} max={c.Max:0.###}");
        }
    }
}
