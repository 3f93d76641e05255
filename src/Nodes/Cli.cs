using EdgeActors.Nodes.Commands;

namespace EdgeActors.Nodes;

public static class Cli
{
    public const string Usage = """
        usage: edgeactors <command> [options]

        commands:
          node       start one cluster node (roles seed, edge, datacenter)
          demo       start a local cluster of real processes, stream simulated devices through it, summarise
          simulate   stream simulated telemetry and camera frames into a running cluster
          status     show cluster members and device placement, or one device's state
          models     the model registry: list, publish, rollback, pin, latest
          train      train the Fashion-MNIST MLP, export ONNX, verify against ONNX Runtime, publish
          infer      classify Fashion-MNIST test images through the cluster (accuracy, latency)
          sync       sync status: each edge's outbox backlog, lag and sink acknowledgements
          experiment federated learning on a local cluster: experiment fedavg | kmeans | gbdt
          certs      a new deployment's CA, node and client certificates, client tokens (TLS, client auth)
          fuzz       the wire format and a local cluster against mutated payloads (fixed seed)
          chaos      a local cluster under random kills, partitions, sensor/GPU faults and hostile input; SUMMARY line
          bench      benchmarks: bench ingest, bench inference, bench sync, bench aggregate
          help       this text

        Run 'edgeactors <command> --help' for a command's options.
        """;

    public static async Task<int> RunAsync(string[] argv)
    {
        if (argv.Length == 0 || argv[0] is "help" or "--help" or "-h")
        {
            Console.WriteLine(Usage);
            return argv.Length == 0 ? 2 : 0;
        }
        var command = argv[0];
        var rest = argv.Skip(1).ToArray();
        try
        {
            if (rest.Contains("--help") || rest.Contains("-h"))
            {
                Console.WriteLine(command switch
                {
                    "node" => NodeCommand.Usage,
                    "demo" => DemoCommand.Usage,
                    "simulate" => SimulateCommand.Usage,
                    "status" => StatusCommand.Usage,
                    "bench" => BenchCommand.Usage,
                    "models" => ModelsCommand.Usage,
                    "infer" => InferCommand.Usage,
                    "train" => TrainCommand.Usage,
                    "sync" => SyncCommand.Usage,
                    "experiment" => ExperimentCommand.Usage,
                    "fuzz" => FuzzCommand.Usage,
                    "chaos" => ChaosCommand.Usage,
                    "certs" => CertsCommand.Usage,
                    _ => Usage,
                });
                return 0;
            }
            return command switch
            {
                "node" => await NodeCommand.RunAsync(new CliArgs(rest)),
                "demo" => await DemoCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "no-models", "insecure" })),
                "certs" => CertsCommand.Run(new CliArgs(rest, new HashSet<string> { "force" })),
                "simulate" => await SimulateCommand.RunAsync(new CliArgs(rest)),
                "status" => await StatusCommand.RunAsync(new CliArgs(rest)),
                "bench" => await BenchCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "tls", "no-write", "insecure" })),
                "models" => await ModelsCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "fashion-labels" })),
                "infer" => await InferCommand.RunAsync(new CliArgs(rest)),
                "sync" => await SyncCommand.RunAsync(new CliArgs(rest)),
                "fuzz" => await FuzzCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "cluster" })),
                "chaos" => await ChaosCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "no-partitions", "no-kills", "no-malformed", "no-models" })),
                "experiment" => await ExperimentCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "secure-aggregation" })),
                "train" => await TrainCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "no-publish" })),
                _ => Unknown(command),
            };
        }
        catch (CliException ex)
        {
            Console.Error.WriteLine($"edgeactors {command}: {ex.Message}");
            return 2;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"edgeactors {command}: invalid setting: {ex.Message}");
            return 2;
        }
        catch (Akka.Configuration.ConfigurationException ex)
        {
            Console.Error.WriteLine($"edgeactors {command}: invalid configuration: {ex.Message}");
            return 2;
        }
    }

    private static int Unknown(string command)
    {
        Console.Error.WriteLine($"edgeactors: unknown command '{command}'\n\n{Usage}");
        return 2;
    }
}
