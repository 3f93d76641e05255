using System.CommandLine;
using EdgeActors.Nodes.Commands;
using EdgeActors.Nodes;
using EdgeActors.Tools.Chaos;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Commands;

/// <summary><c>edgeactors chaos --duration 60</c>: the local cluster under random faults; ends with a SUMMARY line.</summary>
public static class ChaosCommand
{
    private static readonly SimulatorCliOptions Sim = new(duration: 60, sensors: 40, cameras: 4, rate: 4_000, frameRate: 8, batch: 20);
    private static readonly Option<int> Edges = CliOptions.Int("--edges", 3, "edge node processes (at least 2)");
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4653, "the first node's port");
    private static readonly Option<string> Dir = CliOptions.Text("--dir", Path.Combine(".data", "chaos"), "node logs and data", "DIR");
    private static readonly Option<double> FaultInterval = CliOptions.Double("--fault-interval", 6, "seconds between injected faults (about)", "SECONDS");
    private static readonly Option<bool> NoPartitions = CliOptions.Flag("--no-partitions", "no network partitions");
    private static readonly Option<bool> NoKills = CliOptions.Flag("--no-kills", "no SIGKILLed edges");
    private static readonly Option<bool> NoMalformed = CliOptions.Flag("--no-malformed", "no hostile or malformed requests");
    private static readonly Option<double> SensorFaults = CliOptions.Double("--sensor-faults", 0.02, "probability of a sensor adapter fault per read", "P");
    private static readonly Option<double> GpuFaults = CliOptions.Double("--gpu-faults", 0.05, "probability of an injected GPU failure per batch", "P");
    private static readonly Option<bool> NoModels = CliOptions.Flag("--no-models", "no camera-frame classification");
    private static readonly Option<string> ModelCache = CliOptions.Text("--model-cache", Path.Combine(".data", "models"), "where the trained models are cached", "DIR");

    public static Command Create() => Cli.Command("chaos", """
        a local cluster under random kills, partitions, sensor/GPU faults and hostile input; SUMMARY line
        Starts seed, datacenter and N edge node processes (each in a network namespace of its own when run as root, so
        partitions are real), streams the simulator through the client, and injects a fault every ~fault-interval
        seconds: an edge SIGKILLed and restarted, an edge cut off by a network partition and healed, hostile and
        malformed requests; sensor adapters and ONNX Runtime sessions fail at random. At the end every node is back,
        the outboxes drain, and the summary is computed from the client's records and the datacenter's database:
        SUMMARY sent=<n> accepted=<n> stored=<n> duplicates=<n> lost=<n> max_failover_s=<x>
        Exit code 0 when nothing was lost or duplicated and every node is up.
        """, [Edges, FaultInterval, BasePort, Dir, NoPartitions, NoKills, NoMalformed, SensorFaults, GpuFaults, NoModels, ModelCache, .. Sim.All], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var duration = TimeSpan.FromSeconds(args.GetValue(Sim.Duration));
        var seed = args.GetValue(Sim.Seed);
        var options = new ChaosOptions
        {
            Duration = duration,
            Edges = args.GetValue(Edges),
            Seed = seed,
            BasePort = args.GetValue(BasePort),
            Directory = Path.GetFullPath(args.GetValue(Dir)!),
            FaultInterval = TimeSpan.FromSeconds(args.GetValue(FaultInterval)),
            Partitions = !args.GetValue(NoPartitions),
            Kills = !args.GetValue(NoKills),
            Malformed = !args.GetValue(NoMalformed),
            EdgeArgs = FaultArgs(args.GetValue(SensorFaults), args.GetValue(GpuFaults), seed),
            AdapterDevicesPerEdge = AdapterDevices,
            ModelCache = args.GetValue(NoModels) ? null : Path.GetFullPath(args.GetValue(ModelCache)!),
            Simulator = Sim.From(args) with { DevicePrefix = "chaos-" },
        };
        if (options.Edges < 2) throw new CliException("--edges must be at least 2 (a killed edge's devices need somewhere to go)");
        if (duration < TimeSpan.FromSeconds(10)) throw new CliException("--duration must be at least 10 seconds");
        var summary = await new ChaosRun(options).RunAsync();
        Console.WriteLine($"CHAOS kills={summary.Kills} partitions={summary.PartitionsMade} malformed={summary.MalformedSent} " +
                          $"malformed_answered={summary.MalformedAnswered} unplanned_exits={summary.UnplannedExits} nodes_up={summary.AllNodesUp.ToString().ToLowerInvariant()}" +
                          (summary.Adapters is { } a ? $" adapter_devices={a.Devices} adapter_gaps={a.DevicesWithGaps} adapter_restarts={a.Restarts}" : ""));
        Console.WriteLine(summary.Line);
        return summary.Clean ? 0 : 1;
    }

    /// <summary>Sensor adapters attached to each edge in a chaos run.</summary>
    public const int AdapterDevices = 4;

    /// <summary>Node arguments that turn on the edges' sensor adapters and GPU fault injection.</summary>
    public static IReadOnlyList<string> FaultArgs(double sensorFaults, double gpuFaults, int seed)
    {
        if (sensorFaults is < 0 or > 1) throw new CliException($"--sensor-faults must be a probability in [0, 1], got {sensorFaults}");
        if (gpuFaults is < 0 or > 1) throw new CliException($"--gpu-faults must be a probability in [0, 1], got {gpuFaults}");
        var p = sensorFaults.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            // sensor adapters on every edge (devices '<site>/sensor-NN', homed on that edge) with every fault kind at
            // probability p per read: exceptions, hangs, garbage values, disconnects, clock jumps
            "--set", $"edgeactors.adapters {{ enabled = on, devices.count = {AdapterDevices}, read-interval = 100ms, seed = {seed} }}",
            "--set", $"edgeactors.adapters.faults {{ exception = {p}, hang = {p}, garbage = {p}, disconnect = {p}, clock-jump = {p} }}",
            // ONNX Runtime: a primary-session Run fails with this probability (CUDA error / out of memory / corrupt state);
            // the batch is re-run on CPU, the session recreated, and after repeated failures the node serves from CPU
            "--set", $"edgeactors.inference.runtime.fault-injection {{ failure-probability = {gpuFaults.ToString(System.Globalization.CultureInfo.InvariantCulture)}, seed = {seed} }}",
        };
        return args;
    }
}
