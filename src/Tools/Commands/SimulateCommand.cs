using EdgeActors.Client;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Commands;

public static class SimulateCommand
{
    public static readonly string Usage = $"""
        edgeactors simulate --contacts host:port[,host:port...] [--duration <seconds>] [simulator options]
          Streams simulated sensors and cameras into a running cluster through the client library.
          Contacts are edge or datacenter nodes (default 127.0.0.1:4054,127.0.0.1:4055,127.0.0.1:4056).
        {CertsCommand.ClientOptionsUsage}
        {SimulatorOptions.Usage}
        """;

    public static async Task<int> RunAsync(CliArgs args)
    {
        var contacts = args.Contacts();
        var sim = SimulatorOptions.FromArgs(args, TimeSpan.FromSeconds(30));
        var credentials = CertsCommand.ClientCredentialsFrom(args);
        args.EnsureAllUsed();
        await using var client = EdgeClient.Connect(new EdgeClientOptions
        {
            Contacts = contacts, Credentials = credentials, OverloadRetries = SimulatorOptions.DeviceOverloadRetries,
        });
        var simulator = new Simulator(sim);
        var run = simulator.RunAsync(client);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!run.IsCompleted)
        {
            await Task.WhenAny(run, Task.Delay(1000));
            var t = simulator.Telemetry;
            Console.WriteLine($"[{clock.Elapsed.TotalSeconds,5:0}s] sent {t.Sent:N0} accepted {t.Accepted:N0} rejected {t.Rejected:N0} frames {simulator.Frames.Accepted:N0}/{simulator.Frames.Sent:N0}");
        }
        await run;
        var sent = simulator.Telemetry.Sent + simulator.Frames.Sent;
        var accepted = simulator.Telemetry.Accepted + simulator.Frames.Accepted;
        var rejected = simulator.Telemetry.Rejected + simulator.Frames.Rejected;
        Console.WriteLine($"SUMMARY sent={sent} accepted={accepted} rejected={rejected} lost={sent - accepted - rejected}");
        return sent - accepted - rejected == 0 ? 0 : 1;
    }

}
