using System.CommandLine;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;
using EdgeActors.Tools.Rolling;

namespace EdgeActors.Tools.Commands;

/// <summary><c>edgeactors rolling [--from-build DIR] [--postgres CONNSTR]</c>: every node restarted (or upgraded) one at a time under load.</summary>
public static class RollingCommand
{
    private static readonly Option<int> BasePort = CliOptions.Port("--base-port", 4753, "the first node's port (9 consecutive ports: 5 nodes, 4 HTTP)");
    private static readonly Option<string> Dir = CliOptions.Text("--dir", Path.Combine(".data", "rolling"), "node logs and data", "DIR");
    private static readonly Option<string?> FromBuild = CliOptions.Text("--from-build",
        "rolling upgrade: the nodes start from the node executable in DIR (scripts/build-release.sh <commit> DIR) and are replaced by this build one by one", "DIR");
    private static readonly Option<string?> Postgres = CliOptions.Text("--postgres",
        "the datacenter tier in this PostgreSQL database (a database of its own: lost/duplicates are counted over all of it); default SQLite", "CONNSTR");
    private static readonly Option<int> Sensors = CliOptions.Int("--sensors", 20, "simulated sensors");
    private static readonly Option<int> Cameras = CliOptions.Int("--cameras", 2, "simulated cameras");
    private static readonly Option<double> Rate = CliOptions.Double("--rate", 1_000, "readings/s over all sensors");
    private static readonly Option<int> Rounds = CliOptions.Int("--rounds", 5, "rounds of each federated experiment (experiments run back to back through the roll)");
    private static readonly Option<int> LocalEpochs = CliOptions.Int("--local-epochs", 5, "local epochs per round");
    private static readonly Option<int> TrainLimit = CliOptions.Int("--train-limit", 1_000, "training images spread over the 4 federated clients");

    public static Command Create() => Cli.Command("rolling", """
        restart (or, with --from-build, upgrade) every node of a local cluster one at a time under load; RESULT line
        Starts seed, two datacenters (also seed nodes) and two edges, uploads a small Fashion-MNIST federated training
        set, runs FedAvg experiments back to back (the last one to its end) and streams the simulator; then each node in turn (edges, datacenters, seed) gets
        SIGTERM, is started again (from this build) and waited for until it is Up with every shard region registered and
        /health/ready answers. Reports each restart's time, lost and duplicate readings (datacenter stores against the
        client's records), the experiments' rounds in the federation store (each once) and each device's longest pause
        between accepted requests during the roll:
        RESULT rolling nodes=<n> lost=<n> duplicates=<n> rounds=<n> rounds_applied_once=<bool> max_pause_s=<x> p99_pause_s=<x>
        Exit code 0 when every node restarted cleanly, nothing was lost or duplicated and every round was applied once.
        """, [FromBuild, Postgres, BasePort, Dir, Sensors, Cameras, Rate, Rounds, LocalEpochs, TrainLimit], RunAsync);

    private static async Task<int> RunAsync(ParseResult args)
    {
        var rounds = args.GetValue(Rounds);
        var epochs = args.GetValue(LocalEpochs);
        var limit = args.GetValue(TrainLimit);
        if (rounds < 1) throw new CliException($"--rounds must be at least 1, got {rounds}");
        if (epochs < 1) throw new CliException($"--local-epochs must be at least 1, got {epochs}");
        if (limit < 40 || limit > 55_000) throw new CliException($"--train-limit must be in [40, 55000], got {limit}");
        var sensors = args.GetValue(Sensors);
        var rate = args.GetValue(Rate);
        if (sensors < 1 || rate <= 0) throw new CliException("--sensors must be at least 1 and --rate above 0 (the roll is measured on the stream)");
        var options = new RollingOptions
        {
            Directory = Path.GetFullPath(args.GetValue(Dir)!),
            BasePort = args.GetValue(BasePort),
            FromBuild = args.GetValue(FromBuild),
            Postgres = args.GetValue(Postgres) ?? "",
            Rounds = rounds,
            LocalEpochs = epochs,
            ImagesPerClient = limit / 4,
            Simulator = new RollingOptions { Directory = "" }.Simulator with { Sensors = sensors, Cameras = args.GetValue(Cameras), ReadingsPerSecond = rate },
        };
        var summary = await new RollingRun(options).RunAsync();
        Console.WriteLine("RESTARTS " + string.Join(" ", summary.Restarts.Select(r => FormattableString.Invariant($"{r.Node}={r.TotalSeconds:0.0}s"))));
        Console.WriteLine(summary.Line);
        return summary.Clean ? 0 : 1;
    }
}
