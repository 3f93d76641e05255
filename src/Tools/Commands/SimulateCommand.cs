using System.CommandLine;
using EdgeActors.Client;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Commands;

public static class SimulateCommand
{
    private static readonly Option<string[]> Contacts = CliOptions.Contacts();
    private static readonly SimulatorCliOptions Sim = new(duration: 30);
    private static readonly CertsCommand.ClientOptions Credentials = new();

    public static Command Create() => Cli.Command("simulate", """
        stream simulated telemetry and camera frames into a running cluster
        Streams simulated sensors and cameras into a running cluster through the client library.
        """, [Contacts, .. Sim.All, .. Credentials.All], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var contacts = args.GetValue(Contacts)!;
        var sim = Sim.From(args);
        var credentials = Credentials.From(args);
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
