using EdgeActors.Nodes.Commands;

namespace EdgeActors.Nodes;

public static class Cli
{
    public const string Usage = """
        usage: edgeactors <command> [options]

        commands:
          node       start one cluster node (roles seed, edge, datacenter)
          demo       start a local cluster of real processes, stream simulated devices through it, summarise
          status     show cluster members and device placement, or one device's state
          models     the model registry: list, publish, rollback, pin, latest
          train      train the Fashion-MNIST MLP, export ONNX, verify against ONNX Runtime, publish
          infer      classify Fashion-MNIST test images through the cluster (accuracy, latency)
          sync       sync status: each edge's outbox backlog, lag and sink acknowledgements
          certs      a new deployment's CA, node and client certificates, client tokens (TLS, client auth)
          help       this text

        Run 'edgeactors <command> --help' for a command's options. Benchmarks, simulate, chaos, fuzz and experiments
        are in edgeactors-tools (./edgeactors forwards them).
        """;

    public static Task<int> RunAsync(string[] argv) => RunAsync("edgeactors", Usage, argv, command => command switch
    {
        "node" => NodeCommand.Usage,
        "demo" => DemoCommand.Usage,
        "status" => StatusCommand.Usage,
        "models" => ModelsCommand.Usage,
        "infer" => InferCommand.Usage,
        "train" => TrainCommand.Usage,
        "sync" => SyncCommand.Usage,
        "certs" => CertsCommand.Usage,
        _ => null,
    }, (command, rest) => command switch
    {
        "node" => NodeCommand.RunAsync(new CliArgs(rest)),
        "demo" => DemoCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "no-models", "insecure" })),
        "certs" => Task.FromResult(CertsCommand.Run(new CliArgs(rest, new HashSet<string> { "force" }))),
        "status" => StatusCommand.RunAsync(new CliArgs(rest)),
        "models" => ModelsCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "fashion-labels" })),
        "infer" => InferCommand.RunAsync(new CliArgs(rest)),
        "sync" => SyncCommand.RunAsync(new CliArgs(rest)),
        "train" => TrainCommand.RunAsync(new CliArgs(rest, new HashSet<string> { "no-publish" })),
        _ => null,
    });

    /// <summary>
    /// A command line: help (the usage, or a command's own with --help), then the command, with the CLI's errors as
    /// exit code 2. Shared by edgeactors and edgeactors-tools.
    /// </summary>
    /// <param name="usageOf">A command's usage; null for an unknown command.</param>
    /// <param name="run">Runs a command with the rest of the arguments; null for an unknown command.</param>
    public static async Task<int> RunAsync(string program, string usage, string[] argv, Func<string, string?> usageOf, Func<string, string[], Task<int>?> run)
    {
        if (argv.Length == 0 || argv[0] is "help" or "--help" or "-h")
        {
            Console.WriteLine(usage);
            return argv.Length == 0 ? 2 : 0;
        }
        var command = argv[0];
        var rest = argv.Skip(1).ToArray();
        try
        {
            if (rest.Contains("--help") || rest.Contains("-h"))
            {
                Console.WriteLine(usageOf(command) ?? usage);
                return 0;
            }
            var task = run(command, rest);
            if (task is null)
            {
                Console.Error.WriteLine($"{program}: unknown command '{command}'\n\n{usage}");
                return 2;
            }
            return await task;
        }
        catch (CliException ex)
        {
            Console.Error.WriteLine($"{program} {command}: {ex.Message}");
            return 2;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"{program} {command}: invalid setting: {ex.Message}");
            return 2;
        }
        catch (Akka.Configuration.ConfigurationException ex)
        {
            Console.Error.WriteLine($"{program} {command}: invalid configuration: {ex.Message}");
            return 2;
        }
    }
}
