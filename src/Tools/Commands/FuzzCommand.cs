using EdgeActors.Client.Serialization;
using System.CommandLine;
using EdgeActors.Nodes;
using System.Diagnostics;
using Akka.Actor;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Client;
using EdgeActors.Tools.Fuzz;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Commands;

/// <summary><c>fuzz</c>: the wire format against mutated payloads, then (optionally) a real cluster against what decodes.</summary>
public static class FuzzCommand
{
    private static readonly Option<int> Iterations = CliOptions.Int("--iterations", 1_000_000, "mutated payloads");
    private static readonly Option<int> Seed = CliOptions.Int("--seed", 1, "random seed");
    private static readonly Option<bool> Cluster = CliOptions.Flag("--cluster", "then send what decodes to a local cluster (seed, datacenter, 2 edges)");
    private static readonly Option<int> Send = CliOptions.Int("--send", 3_000, "decoded device commands sent with --cluster");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4453, "the local cluster's first port");
    private static readonly Option<int> HttpIterations = CliOptions.Int("--http", 0, "also this many random and mutated bodies through the HTTP API's JSON parsers (KServe v2 infer, device REST) (0: none)");
    private static readonly Option<int> MqttIterations = CliOptions.Int("--mqtt", 0, "also this many garbled MQTT payloads and topics through the broker's parsers and access rules (0: none)");

    public static Command Create() => Cli.Command("fuzz", """
        the wire format and a local cluster against mutated payloads (fixed seed)
        Feeds the serializer mutated payloads of every message kind: each must decode or be rejected with a
        SerializationException, and whatever decodes must serialize again. With --cluster it then sends up to --send of
        the decoded device commands through the client library: every one must be answered, every node must stay up,
        and the device must still hold what it accepted before.
        With --mqtt N, also N garbled MQTT payloads (telemetry, frames, twins, command acks) and topics through the edge
        broker's parsers and access rules: each must parse or be refused with a reason.
        With --http N, also N random and mutated bodies through the HTTP API's JSON parsers (the KServe v2 infer request;
        device telemetry, frames, desired twin properties, commands): each must parse or be refused with a 4xx naming
        the problem; any other exception (a 500) is a failure.
        Ends with: RESULT fuzz payloads=<n> decoded=<n> rejected=<n> failures=<n> [sent=<n> answered=<n> nodes_up=<n>/<n> intact=<bool>]
        and with --mqtt: RESULT fuzz-mqtt payloads=<n> parsed=<n> refused=<n> failures=<n>
        and with --http: RESULT fuzz-http bodies=<n> refused=<n> failures=<n> parsed=<n>
        """, [Iterations, Seed, Cluster, Send, BasePort, MqttIterations, HttpIterations], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var iterations = args.GetValue(Iterations);
        var seed = args.GetValue(Seed);
        var cluster = args.GetValue(Cluster);
        var send = args.GetValue(Send);
        var basePort = args.GetValue(BasePort);

        using var system = ActorSystem.Create("fuzz", EdgeSerialization.Config);
        var serializer = (EdgeSerializer)system.Serialization.FindSerializerForType(typeof(IEdgeMessage));
        var clock = Stopwatch.StartNew();
        var report = SerializerFuzzer.Run(serializer, SerializerFuzzer.Seeds(), iterations, seed, keepDecoded: Math.Max(send * 4, 1000));
        Console.WriteLine($"fuzz: {report.Payloads:N0} payloads in {clock.Elapsed.TotalSeconds:F1} s: {report.Decoded:N0} decoded, {report.Rejected:N0} rejected with SerializationException, {report.Failures.Count} failures");
        foreach (var f in report.Failures) Console.WriteLine("  FAILURE " + f);
        var result = $"RESULT fuzz payloads={report.Payloads} decoded={report.Decoded} rejected={report.Rejected} failures={report.Failures.Count}";
        var ok = report.Clean;
        if (cluster)
        {
            var (sent, answered, up, total, intact) = await AgainstClusterAsync(report, send, basePort);
            result += $" sent={sent} answered={answered} nodes_up={up}/{total} intact={intact.ToString().ToLowerInvariant()}";
            ok &= answered == sent && up == total && intact;
        }
        Console.WriteLine(result);
        if (args.GetValue(MqttIterations) is > 0 and var mqttIterations)
        {
            var mqtt = MqttFuzzer.Run(mqttIterations, seed);
            foreach (var f in mqtt.Failures) Console.WriteLine("  MQTT FAILURE " + f);
            Console.WriteLine($"RESULT fuzz-mqtt payloads={mqtt.Payloads} parsed={mqtt.Parsed} refused={mqtt.Refused} failures={mqtt.Failures.Count}");
            ok &= mqtt.Failures.Count == 0;
        }
        if (args.GetValue(HttpIterations) is > 0 and var httpIterations)
        {
            var http = HttpFuzzer.Run(httpIterations, seed);
            foreach (var f in http.Failures) Console.WriteLine("  HTTP FAILURE " + f);
            Console.WriteLine($"RESULT fuzz-http bodies={http.Bodies} refused={http.Refused} failures={http.FailureCount} parsed={http.Parsed}");
            ok &= http.FailureCount == 0;
        }
        return ok ? 0 : 1;
    }

    private static async Task<(int Sent, int Answered, int Up, int Total, bool Intact)> AgainstClusterAsync(FuzzReport report, int send, int basePort)
    {
        var dir = Path.GetFullPath(Path.Combine(".data", "fuzz-cluster"));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var layout = LocalCluster.DefaultLayout(basePort);
        await using var cluster = new LocalCluster(layout, dir);
        cluster.StartAll();
        await using var client = EdgeClient.Connect(new EdgeClientOptions { Contacts = cluster.GatewayContacts.ToList(), Credentials = cluster.ClientCredentials, RequestTimeout = TimeSpan.FromSeconds(5) });
        if (await ClusterProbe.WaitForMembersAsync(client, cluster, layout.Count, TimeSpan.FromSeconds(90)) is null)
            throw new CliException("the local cluster did not form (see " + dir + ")");
        var target = new DeviceId("fuzz-target");
        var good = new TelemetryGenerator(target, 4, new FaultSettings(), 11).NextBatch(20, 1_767_225_600_000, 100);
        var first = await client.SendTelemetryAsync(good);
        Console.WriteLine($"fuzz: target device accepted {first.Value.Accepted} readings on {first.Value.Node}");

        var commands = report.DecodedMessages.OfType<IDeviceCommand>().Take(send).ToList();
        int sent = 0, answered = 0;
        foreach (var command in commands)
        {
            IEdgeMessage aimed = (sent % 2, command) switch
            {
                (0, TelemetryBatch t) => t with { DeviceId = target },
                (0, CameraFrame f) => f with { DeviceId = target },
                (0, TrainingFrames t) => t with { DeviceId = target },
                _ => command,
            };
            sent++;
            try
            {
                await client.TryOnceAsync<IEdgeMessage>(aimed, TimeSpan.FromSeconds(5));
                answered++;
            }
            catch (EdgeClientException ex) when (ex.Message.Contains("rejected by the cluster", StringComparison.Ordinal))
            {
                answered++; // a clear refusal (e.g. an empty or over-long device id) is an answer
            }
            catch (EdgeClientException ex)
            {
                Console.WriteLine($"fuzz: no answer to {aimed.GetType().Name}: {ex.Message}");
            }
        }
        var again = await client.SendTelemetryAsync(good);
        var state = await client.GetDeviceStateAsync(target);
        var intact = again.Value.Accepted == 0 && state.AcceptedReadings >= first.Value.Accepted;
        var up = cluster.Nodes.Count(n => !n.HasExited);
        Console.WriteLine($"fuzz: {sent} decoded device commands sent through the client, {answered} answered; {up}/{layout.Count} nodes up; target device {(intact ? "intact" : "NOT intact")} ({state.AcceptedReadings} readings accepted)");
        await cluster.StopAllAsync(TimeSpan.FromSeconds(20));
        return (sent, answered, up, layout.Count, intact);
    }
}
