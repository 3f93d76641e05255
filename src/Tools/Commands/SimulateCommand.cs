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
    private static readonly Option<string> Protocol = CliOptions.Choice("--protocol", "client",
        "how the simulated devices reach the cluster: the client library, or MQTT to edges' brokers (docs/mqtt.md)", "client", "mqtt");
    private static readonly Option<string[]?> Brokers = CliOptions.List("--mqtt", "the edges' MQTT brokers (with --protocol mqtt; devices are spread over them)", "HOST:PORT,...");
    private static readonly Option<string?> BrokerCa = CliOptions.Text("--mqtt-ca", "the deployment's CA certificate: MQTT over TLS (default: plain MQTT)", "FILE");
    private static readonly Option<string?> BrokerToken = CliOptions.Text("--mqtt-token", "a client token file: username = its client id, password = the token (default: anonymous)", "FILE");

    public static Command Create() => Cli.Command("simulate", """
        stream simulated telemetry and camera frames into a running cluster
        Streams simulated sensors and cameras into a running cluster through the client library.
        """, [Contacts, Protocol, Brokers, BrokerCa, BrokerToken, .. Sim.All, .. Credentials.All], RunAsync);

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
        await using var fleet = args.GetValue(Protocol) == "mqtt" ? new Mqtt.MqttFleet(Endpoints(args)) : null;
        var run = fleet is null ? simulator.RunAsync(client) : simulator.RunAsync(fleet.SendAsync);
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

    private static List<Mqtt.MqttEndpoint> Endpoints(ParseResult args)
    {
        var brokers = args.GetValue(Brokers) ?? throw new CliException("--protocol mqtt needs --mqtt HOST:PORT,... (the edges' brokers; the demo prints them)");
        var tokenFile = args.GetValue(BrokerToken);
        var token = tokenFile is null ? "" : File.ReadAllText(tokenFile).Trim();
        var user = token.Length == 0 ? "simulator" : ClientIdOf(token);
        try
        {
            return brokers.Select(b => Mqtt.MqttEndpoint.Parse(b, args.GetValue(BrokerCa), user, token)).ToList();
        }
        catch (ArgumentException ex)
        {
            throw new CliException(ex.Message);
        }
    }

    /// <summary>The client id inside a token (its claims are readable without the key; the broker checks the signature).</summary>
    private static string ClientIdOf(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3) return "simulator";
        var b64 = parts[1].Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
        try
        {
            return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(b64)).Split('|')[0];
        }
        catch (FormatException)
        {
            return "simulator";
        }
    }
}
