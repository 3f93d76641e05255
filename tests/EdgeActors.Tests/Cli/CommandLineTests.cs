using System.CommandLine;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;
using Xunit;

namespace EdgeActors.Tests.Cli;

public class CommandLineTests
{
    private static async Task<(int Code, string Out, string Err)> Run(params string[] argv)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = await Nodes.Cli.RunAsync("edgeactors", Nodes.Cli.Root(), Nodes.Cli.Footer, argv, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static IEnumerable<(string[] Path, Command Command)> Leaves(Command c, string[] path)
    {
        if (c.Subcommands.Count == 0) yield return (path, c);
        foreach (var s in c.Subcommands)
            foreach (var leaf in Leaves(s, [.. path, s.Name]))
                yield return leaf;
    }

    [Fact]
    public async Task Every_command_help_should_list_its_options()
    {
        var leaves = Leaves(Nodes.Cli.Root(), []).ToList();
        Assert.True(leaves.Count >= 12);
        foreach (var (path, command) in leaves)
        {
            var (code, output, _) = await Run([.. path, "--help"]);
            Assert.Equal(0, code);
            Assert.NotEmpty(command.Options);
            foreach (var option in command.Options)
                Assert.True(output.Contains(option.Name), $"{string.Join(' ', path)} --help does not list {option.Name}:\n{output}");
        }
    }

    [Fact]
    public async Task Help_should_show_defaults()
    {
        var (_, output, _) = await Run("demo", "--help");
        Assert.Contains("--edges", output);
        Assert.Contains("--insecure", output);
        Assert.Contains("[default: 2]", output);
    }

    [Fact]
    public async Task An_unknown_option_should_be_an_error_naming_it()
    {
        var (code, _, err) = await Run("status", "--contact", "127.0.0.1:4054");
        Assert.Equal(2, code);
        Assert.Contains("--contact", err);
    }

    [Fact]
    public async Task A_bad_port_should_be_an_error_naming_the_option()
    {
        var (code, _, err) = await Run("node", "--port", "abc");
        Assert.Equal(2, code);
        Assert.Contains("--port", err);
        Assert.Contains("abc", err);
        (code, _, err) = await Run("status", "--contacts", "127.0.0.1:99999");
        Assert.Equal(2, code);
        Assert.Contains("--contacts", err);
    }

    [Fact]
    public async Task An_unknown_command_should_fail()
    {
        var (code, _, err) = await Run("nope");
        Assert.Equal(2, code);
        Assert.Contains("unknown command 'nope'", err);
    }

    [Fact]
    public void Set_given_twice_should_keep_both_in_order()
    {
        var parse = Nodes.Cli.Root().Parse(["node", "--set", "a.b = 1", "--set", "c.d = 2", "--config", "x.conf", "--port", "4053", "--seeds", "127.0.0.1:4053", "--roles", "seed,edge"]);
        Assert.Empty(parse.Errors);
        var options = NodeCommand.Parse(parse);
        Assert.Equal(["a.b = 1", "c.d = 2"], options.Sets);
        Assert.Equal(["x.conf"], options.ConfigFiles);
        Assert.Equal(4053, options.Port);
        Assert.Equal(["127.0.0.1:4053"], options.Seeds);
        Assert.Equal(["seed", "edge"], options.Roles);
    }
}
