using EdgeActors.Nodes;
using EdgeActors.Tools.Commands;

namespace EdgeActors.Tools;

/// <summary>edgeactors-tools: the developer commands beside the product's operational CLI (<see cref="Cli"/>).</summary>
public static class ToolsCli
{
    public const string Usage = """
        usage: edgeactors-tools <command> [options]   (./edgeactors <command> forwards these)

        tool commands:
          simulate   stream simulated telemetry and camera frames into a running cluster
          experiment federated learning on a local cluster: experiment fedavg | kmeans | gbdt
          fuzz       the wire format and a local cluster against mutated payloads (fixed seed)
          chaos      a local cluster under random kills, partitions, sensor/GPU faults and hostile input; SUMMARY line
          bench      benchmarks: bench ingest, bench inference, bench sync, bench aggregate
          help       this text

        Run 'edgeactors-tools <command> --help' for a command's options. Node processes are started with the product
        executable (edgeactors) from the same folder.
        """;

    public static Task<int> RunAsync(string[] argv) => Cli.RunAsync("edgeactors", Usage, argv, command => command switch
    {
        "simulate" => SimulateCommand.Usage,
        "bench" => BenchCommand.Usage,
        "experiment" => ExperimentCommand.Usage,
        "fuzz" => FuzzCommand.Usage,
        "chaos" => ChaosCommand.Usage,
        _ => null,
    }, (command, rest) => command switch
    {
        "simulate" => SimulateCommand.RunAsync(new CliArgs(rest)),
        "bench" => BenchCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "tls", "no-write", "insecure" })),
        "fuzz" => FuzzCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "cluster" })),
        "chaos" => ChaosCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "no-partitions", "no-kills", "no-malformed", "no-models" })),
        "experiment" => ExperimentCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "secure-aggregation" })),
        _ => null,
    });
}
