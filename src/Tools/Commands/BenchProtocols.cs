using System.CommandLine;
using EdgeActors.Nodes;
using EdgeActors.Tools.Bench;

namespace EdgeActors.Tools.Commands;

/// <summary>
/// `bench protocols`: the open protocols against their anchors. The MQTT part is <see cref="MqttProtocolBench"/>
/// (Mosquitto relay vs our edge's broker with durable acks vs the client library); the KServe part is added beside it.
/// </summary>
public static class BenchProtocols
{
    private static readonly Option<int> Publishers = CliOptions.Int("--publishers", 20, "MQTT publishers / devices, each with one QoS 1 publish in flight");
    private static readonly Option<int> Batch = CliOptions.Int("--batch", 10, "readings per publish");
    private static readonly Option<double> Seconds = CliOptions.Double("--seconds", 8, "seconds per stage", "SECONDS");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4900, "the first node's port (the edge's broker: +3, Mosquitto: +50)");

    public static Command Create() => Cli.Command("protocols", """
        MQTT: Mosquitto relay vs our edge's broker (durable acks) vs the client library
        In one run: Debian's Mosquitto relaying QoS 1 publishes from N publishers to a subscriber, our edge's broker
        ingesting the same publishes with durable acks, and the same readings through the client library; msgs/s,
        readings/s, p50/p99. Ends with 'RESULT mqtt mosquitto_per_s=… ours_per_s=… ratio=… client_per_s=… client_ratio=…'.
        """, [Publishers, Batch, Seconds, BasePort], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var o = new MqttProtocolBench.Options(args.GetValue(Publishers), args.GetValue(Batch), Seconds: args.GetValue(Seconds), BasePort: args.GetValue(BasePort));
        if (o.Publishers < 1 || o.Batch < 1 || o.Seconds <= 0) throw new CliException("--publishers, --batch and --seconds must be positive");
        var result = await MqttProtocolBench.RunAsync(o, Console.WriteLine);
        Console.WriteLine();
        Console.WriteLine(result.ResultLine);
        return 0;
    }
}
