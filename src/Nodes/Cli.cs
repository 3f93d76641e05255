using System.CommandLine;
using EdgeActors.Nodes.Commands;

namespace EdgeActors.Nodes;

/// <summary>
/// The command line of edgeactors (and, through <see cref="RunAsync(string, RootCommand, string, string[], TextWriter?, TextWriter?)"/>,
/// of edgeactors-tools): System.CommandLine commands, each declaring its own options; help is generated from them.
/// </summary>
public static class Cli
{
    public const string Footer = "Run 'edgeactors <command> --help' for a command's options. Benchmarks, simulate, chaos, fuzz and experiments\nare in edgeactors-tools (./edgeactors forwards them).";

    /// <summary>The product's commands.</summary>
    public static RootCommand Root()
    {
        var root = new RootCommand("EdgeActors: edge nodes, the local demo cluster and the operational commands")
        {
            NodeCommand.Create(),
            DemoCommand.Create(),
            StatusCommand.Create(),
            ModelsCommand.Create(),
            TrainCommand.Create(),
            InferCommand.Create(),
            SyncCommand.Create(),
            TwinCommand.CreateTwin(),
            TwinCommand.CreateCommand(),
            CertsCommand.Create(),
        };
        return root;
    }

    public static Task<int> RunAsync(string[] argv) => RunAsync("edgeactors", Root(), Footer, argv);

    /// <summary>
    /// Runs a command line: without arguments or with help/--help/-h, the list of commands; a command's --help, its
    /// generated help; errors in the arguments (unknown options, bad values) and <see cref="CliException"/>s from the command
    /// as one line naming the command, exit code 2.
    /// </summary>
    public static async Task<int> RunAsync(string program, RootCommand root, string footer, string[] argv, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        if (argv.Length == 0 || argv[0] is "help" or "--help" or "-h" or "-?")
        {
            output.WriteLine(Usage(program, root, footer));
            return argv.Length == 0 ? 2 : 0;
        }
        var command = argv[0];
        if (!command.StartsWith('-') && root.Subcommands.All(c => c.Name != command))
        {
            error.WriteLine($"{program}: unknown command '{command}'\n\n{Usage(program, root, footer)}");
            return 2;
        }
        var parse = root.Parse(argv, new ParserConfiguration { ResponseFileTokenReplacer = null });
        var path = CommandPath(program, parse);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) error.WriteLine($"{path}: {e.Message}");
            error.WriteLine($"Run '{path} --help' for its options.");
            return 2;
        }
        try
        {
            // no termination handling of its own: node stops gracefully on SIGTERM through its host
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
            });
        }
        catch (CliException ex)
        {
            error.WriteLine($"{path}: {ex.Message}");
            return 2;
        }
        catch (ArgumentException ex)
        {
            error.WriteLine($"{path}: invalid setting: {ex.Message}");
            return 2;
        }
        catch (Akka.Configuration.ConfigurationException ex)
        {
            error.WriteLine($"{path}: invalid configuration: {ex.Message}");
            return 2;
        }
    }

    /// <summary>The list of commands with their descriptions (the first line is the usage line).</summary>
    public static string Usage(string program, RootCommand root, string footer)
    {
        var width = Math.Max(10, root.Subcommands.Max(c => c.Name.Length) + 1);
        var lines = new List<string> { $"usage: {program} <command> [options]", "", "commands:" };
        lines.AddRange(root.Subcommands.Where(c => !c.Hidden).Select(c => $"  {c.Name.PadRight(width)} {c.Description?.Split('\n')[0]}"));
        lines.Add($"  {"help".PadRight(width)} this text");
        lines.Add("");
        lines.Add(footer);
        return string.Join('\n', lines);
    }

    private static string CommandPath(string program, ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null && r.Command is not RootCommand; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        return string.Join(' ', names.Prepend(program));
    }

    /// <summary>A command with its options and an action.</summary>
    public static Command Command(string name, string description, IEnumerable<Option> options, Func<ParseResult, Task<int>> action)
    {
        var c = new Command(name, description);
        foreach (var o in options) c.Options.Add(o);
        c.SetAction((r, _) => action(r));
        return c;
    }
}

/// <summary>A mistake in the command line or its settings: the message is printed and the exit code is 2.</summary>
public class CliException(string message) : Exception(message);
