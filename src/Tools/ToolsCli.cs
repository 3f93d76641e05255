using System.CommandLine;
using EdgeActors.Nodes;
using EdgeActors.Tools.Commands;

namespace EdgeActors.Tools;

/// <summary>edgeactors-tools: the developer commands beside the product's operational CLI (<see cref="Cli"/>).</summary>
public static class ToolsCli
{
    public const string Footer = "Run 'edgeactors-tools <command> --help' for a command's options. Node processes are started with the product\nexecutable (edgeactors) from the same folder.";

    /// <summary>The tools' commands.</summary>
    public static RootCommand Root() => new("EdgeActors developer tools (./edgeactors <command> forwards these)")
    {
        SimulateCommand.Create(),
        ExperimentCommand.Create(),
        FuzzCommand.Create(),
        ChaosCommand.Create(),
        RollingCommand.Create(),
        BenchCommand.Create(),
        EvaluateCommand.Create(),
    };

    public static Task<int> RunAsync(string[] argv) => Cli.RunAsync("edgeactors-tools", Root(), Footer, argv);
}
