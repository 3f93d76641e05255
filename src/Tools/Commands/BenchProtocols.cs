using System.CommandLine;
using EdgeActors.Nodes;
using EdgeActors.Tools.Bench;

namespace EdgeActors.Tools.Commands;

/// <summary>
/// `bench protocols`: the open protocols against their anchors, in one run. The MQTT part is <see cref="MqttProtocolBench"/>
/// (Mosquitto relay vs our edge's broker with durable acks vs the client library); the KServe part is
/// <see cref="KserveProtocolBench"/> (KServe v2 REST and gRPC vs the in-process inference actor). --only picks one.
/// </summary>
public static class BenchProtocols
{
    private static readonly Option<string> Only = CliOptions.Choice("--only", "all", "run one part (default: both, MQTT first)", "all", "mqtt", "kserve");
    private static readonly Option<int> Publishers = CliOptions.Int("--publishers", 20, "MQTT: publishers / devices, each with one QoS 1 publish in flight");
    private static readonly Option<int> Batch = CliOptions.Int("--batch", 10, "MQTT: readings per publish");
    private static readonly Option<double> Seconds = CliOptions.Double("--seconds", 8, "MQTT: seconds per stage", "SECONDS");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4900, "MQTT: the first node's port (the edge's broker: +3, Mosquitto: +50)");
    private static readonly Option<double> KserveSeconds = CliOptions.Double("--kserve-seconds", 5, "KServe: seconds per measurement", "SECONDS");
    private static readonly Option<int> Concurrency = CliOptions.Int("--concurrency", 16, "KServe: requests in flight (callers / HTTP and gRPC clients)");
    private static readonly Option<string[]?> KserveBatch = CliOptions.List("--kserve-batch", "KServe: samples per request, one measurement each (default 32,128,512; more than the node's max-batch-size (32 on CPU) is split into parallel requests of that size, by the node and for the actor alike); each path is reported at its best", "N,N,...");
    private static readonly Option<int> KservePort = CliOptions.Port("--kserve-port", 4890, "KServe: the node's port (its HTTP and gRPC ports are the next two)");
    private static readonly Option<string?> Dir = CliOptions.Text("--dir", "KServe: node log and data (default .data/bench-kserve)", "DIR");

    public static Command Create() => Cli.Command("protocols", """
        open protocols: MQTT (Mosquitto vs our broker vs the client) and KServe v2 (REST, gRPC vs the inference actor)
        In one run, MQTT first: Debian's Mosquitto relaying QoS 1 publishes from N publishers to subscribers (one shared subscription), our edge's
        broker ingesting the same publishes with durable acks, and the same readings through the client library
        (msgs/s, readings/s, p50/p99); then KServe: one node process serving the MLP, --concurrency clients sending
        requests of each --kserve-batch size of Fashion-MNIST images (UINT8) over REST (JSON) and gRPC (raw_input_contents),
        against the inference actor in this process with the same model, batching settings and requests; each path at
        its best request size. --only mqtt|kserve
        runs one part. Ends with
        'RESULT mqtt mosquitto_per_s=… ours_per_s=… ratio=… client_per_s=… client_ratio=…' and
        'RESULT kserve rest_per_s=… grpc_per_s=… actor_per_s=… grpc_ratio=…' (samples/s).
        Targets: ours >= 0.5 x mosquitto (msgs/s), ours >= 0.5 x client (readings/s), grpc >= 0.5 x actor.
        """, [Only, Publishers, Batch, Seconds, BasePort, KserveSeconds, Concurrency, KserveBatch, KservePort, Dir], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var only = args.GetValue(Only);
        var runMqtt = only is "all" or "mqtt";
        var runKserve = only is "all" or "kserve";
        var mqttOptions = new MqttProtocolBench.Options(args.GetValue(Publishers), args.GetValue(Batch), Seconds: args.GetValue(Seconds), BasePort: args.GetValue(BasePort));
        if (mqttOptions.Publishers < 1 || mqttOptions.Batch < 1 || mqttOptions.Seconds <= 0) throw new CliException("--publishers, --batch and --seconds must be positive");
        var sizes = (args.GetValue(KserveBatch) ?? []).Select(b => int.TryParse(b, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0
            ? n : throw new CliException($"--kserve-batch: '{b}' is not a positive number of samples")).ToArray();
        var kserveOptions = new KserveProtocolBench.Options(args.GetValue(KserveSeconds), args.GetValue(Concurrency), sizes, args.GetValue(KservePort), args.GetValue(Dir));
        if (kserveOptions.Seconds <= 0 || kserveOptions.Concurrency < 1) throw new CliException("--kserve-seconds and --concurrency must be positive");

        var lines = new List<string>();
        var ok = true;
        if (runMqtt) lines.Add((await MqttProtocolBench.RunAsync(mqttOptions, Console.WriteLine)).ResultLine);
        if (runKserve)
        {
            if (runMqtt) Console.WriteLine();
            var kserve = await KserveProtocolBench.RunAsync(kserveOptions, Console.WriteLine);
            if (kserve is null)
            {
                Console.WriteLine("bench protocols: the KServe part did not run (the node did not come up or serve the model; see --dir)");
                ok = false;
            }
            else lines.Add(kserve.ResultLine);
        }
        Console.WriteLine();
        foreach (var line in lines) Console.WriteLine(line);
        return ok ? 0 : 1;
    }
}
