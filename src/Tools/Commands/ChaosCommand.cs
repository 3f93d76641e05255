using EdgeActors.Nodes;
using EdgeActors.Tools.Chaos;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tools.Commands;

/// <summary><c>edgeactors chaos --duration 60</c>: the local cluster under random faults; ends with a SUMMARY line.</summary>
public static class ChaosCommand
{
    public const string Usage = """
        edgeactors chaos [--duration 60] [--edges 3] [--seed 1] [--fault-interval 6] [--base-port 4653] [--dir DIR]
                         [--no-partitions] [--no-kills] [--no-malformed] [--sensor-faults 0.02] [--gpu-faults 0.05]
                         [--no-models] [--model-cache DIR] [simulator options]
          Starts seed, datacenter and N edge node processes (each in a network namespace of its own when run as root,
          so partitions are real; otherwise partitions are off and the run says why), streams the simulator through
          the client, and injects a fault every ~fault-interval seconds: an edge SIGKILLed and restarted 2-5 s later,
          an edge cut off by a network partition for 4-8 s and healed (restarted if it downed itself), hostile and
          malformed requests. Edges run sensor adapters with fault injection (exceptions, hangs, garbage, disconnects,
          clock jumps; probability --sensor-faults per read) and ONNX Runtime sessions with injected GPU failures
          (probability --gpu-faults per batch). At the end every node is back, the outboxes drain, and the summary is
          computed from the client's records and the datacenter's database:
          SUMMARY sent=<n> accepted=<n> stored=<n> duplicates=<n> lost=<n> max_failover_s=<x>
          (accepted = readings the cluster acknowledged, stored = those the datacenter's store holds, duplicates = rows
          stored twice plus readings acknowledged twice, lost = accepted but not stored plus requests never answered,
          max_failover_s = the longest time from a kill or partition until every device of that edge was accepted again).
          Exit code 0 when nothing was lost or duplicated and every node is up.
        """;

    public static async Task<int> RunAsync(CliArgs args)
    {
        var duration = TimeSpan.FromSeconds(args.Double("duration", 60));
        var sim = SimulatorOptions.FromArgs(args, duration);
        var options = new ChaosOptions
        {
            Duration = duration,
            Edges = args.Int("edges", 3),
            Seed = args.Int("seed", 1),
            BasePort = args.Int("base-port", 4653),
            Directory = Path.GetFullPath(args.Get("dir", Path.Combine(".data", "chaos"))),
            FaultInterval = TimeSpan.FromSeconds(args.Double("fault-interval", 6)),
            Partitions = !args.Flag("no-partitions"),
            Kills = !args.Flag("no-kills"),
            Malformed = !args.Flag("no-malformed"),
            EdgeArgs = FaultArgs(args.Double("sensor-faults", 0.02), args.Double("gpu-faults", 0.05), args.Int("seed", 1)),
            AdapterDevicesPerEdge = AdapterDevices,
            ModelCache = args.Flag("no-models") ? null : Path.GetFullPath(args.Get("model-cache", Path.Combine(".data", "models"))),
            Simulator = sim with
            {
                Sensors = args.Int("sensors", 40),
                Cameras = args.Int("cameras", 4),
                ReadingsPerSecond = args.Double("rate", 4_000),
                FramesPerSecond = args.Double("frame-rate", 8),
                BatchSize = args.Int("batch", 20),
                DevicePrefix = "chaos-",
            },
        };
        args.EnsureAllUsed();
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
