using EdgeActors.Messages;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Commands;

namespace EdgeActors.Tests.Cli;

/// <summary>What <c>twin set</c> and <c>command send --ttl</c> make of their arguments.</summary>
public sealed class TwinCommandTests
{
    [Fact]
    public void Assignments_and_removals_should_become_one_update_in_order()
    {
        var values = TwinCommand.ParseValues(["sampling-rate=10", "note=a=b", "empty="], ["mode"]);

        Assert.Equal(
            [new TwinValue("sampling-rate", "10"), new TwinValue("note", "a=b"), new TwinValue("empty", ""), new TwinValue("mode", "", Remove: true)],
            values);
    }

    [Theory]
    [InlineData("=10", "not name=value")]
    [InlineData("rate", "not name=value")]
    public void A_bad_assignment_should_be_refused_naming_it(string argument, string expected) =>
        Assert.Contains(expected, Assert.Throws<CliException>(() => TwinCommand.ParseValues([argument], [])).Message);

    [Fact]
    public void Nothing_to_set_should_be_refused() =>
        Assert.Contains("nothing to set", Assert.Throws<CliException>(() => TwinCommand.ParseValues([], [])).Message);

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("90s", 90_000)]
    [InlineData("90", 90_000)]
    [InlineData("10m", 600_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1d", 86_400_000)]
    public void Durations_should_parse_with_their_unit(string text, long ms) =>
        Assert.Equal(TimeSpan.FromMilliseconds(ms), TwinCommand.ParseDuration(text, "--ttl"));

    [Theory]
    [InlineData("10q")]
    [InlineData("-5m")]
    [InlineData("soon")]
    public void A_bad_duration_should_be_refused_naming_the_option(string text) =>
        Assert.Contains("--ttl", Assert.Throws<CliException>(() => TwinCommand.ParseDuration(text, "--ttl")).Message);
}
