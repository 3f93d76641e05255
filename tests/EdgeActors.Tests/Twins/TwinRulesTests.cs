using EdgeActors.Actors.Twins;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Twins;

/// <summary>The Akka-free rules of twins and commands: versions, removal, limits, TTLs and acknowledgement states.</summary>
public sealed class TwinRulesTests
{
    private static readonly DeviceId Id = new("sensor-1");
    private static readonly TwinSettings Settings = TwinSettings.Default with { MaxProperties = 2, MaxValueLength = 8 };

    [Fact]
    public void Apply_should_version_each_side_separately_and_stamp_the_properties_it_sets()
    {
        var twin = DeviceTwin.Empty(Id);

        var (desired, _) = TwinRules.Apply(twin, [new TwinValue("a", "1")], desired: true, now: 100, Settings);
        var (reported, _) = TwinRules.Apply(desired!, [new TwinValue("a", "1")], desired: false, now: 200, Settings);
        var (again, _) = TwinRules.Apply(reported!, [new TwinValue("b", "2")], desired: true, now: 300, Settings);

        Assert.Equal((2L, 1L), (again!.DesiredVersion, again.ReportedVersion));
        Assert.Equal(new TwinProperty("a", "1", 1, 100), again.Desired[0]); // untouched by the second update
        Assert.Equal(new TwinProperty("b", "2", 2, 300), again.Desired[1]);
        Assert.Equal(new TwinProperty("a", "1", 1, 200), Assert.Single(again.Reported));
        Assert.Equal("b", Assert.Single(again.Delta()).Name);
    }

    [Fact]
    public void Apply_should_remove_a_property_and_refuse_a_side_over_the_limit()
    {
        var (twin, _) = TwinRules.Apply(DeviceTwin.Empty(Id), [new TwinValue("a", "1"), new TwinValue("b", "2")], true, 1, Settings);

        var (full, error) = TwinRules.Apply(twin!, [new TwinValue("c", "3")], true, 2, Settings);
        Assert.Null(full);
        Assert.Contains("would hold 3 properties; the limit is 2", error);

        var (removed, _) = TwinRules.Apply(twin!, [new TwinValue("a", "", Remove: true), new TwinValue("c", "3")], true, 3, Settings);
        Assert.Equal(["b", "c"], removed!.Desired.Select(p => p.Name));
    }

    [Theory]
    [InlineData("", "name is empty")]
    [InlineData("a\nb", "control character")]
    public void Validate_should_name_a_bad_property_name(string name, string expected) =>
        Assert.Contains(expected, TwinRules.Validate([new TwinValue(name, "1")], Settings, "desired"));

    [Fact]
    public void Validate_should_refuse_an_empty_update_and_a_repeated_name()
    {
        Assert.Contains("no properties", TwinRules.Validate([], Settings, "desired"));
        Assert.Contains("appears twice", TwinRules.Validate([new TwinValue("a", "1"), new TwinValue("a", "2")], Settings, "desired"));
    }

    [Fact]
    public void New_command_should_take_the_default_ttl_and_refuse_one_over_the_maximum()
    {
        var (command, _) = TwinRules.NewCommand(new SendCommand(Id, "c", "reboot", "", 0), "c", 1_000, Settings);
        Assert.Equal(1_000 + (long)Settings.DefaultCommandTtl.TotalMilliseconds, command!.ExpiresAt);
        Assert.Equal(CommandState.Pending, command.State);

        var (tooLong, error) = TwinRules.NewCommand(new SendCommand(Id, "c", "reboot", "", (long)TimeSpan.FromDays(8).TotalMilliseconds), "c", 1_000, Settings);
        Assert.Null(tooLong);
        Assert.Contains("max-command-ttl", error);
    }

    [Fact]
    public void Acknowledge_should_finish_a_command_once_and_refuse_an_expired_one()
    {
        var pending = new CommandStatus(Id, "c", "reboot", "", CommandState.Delivered, 1, 10, 1, "");

        var (failed, changed, _) = TwinRules.Acknowledge(pending, new AcknowledgeCommand(Id, "c", false, "no power"), 5, Settings);
        Assert.True(changed);
        Assert.Equal((CommandState.Failed, "no power", 5L), (failed.State, failed.Result, failed.UpdatedAt));

        var (resent, changedAgain, error) = TwinRules.Acknowledge(failed, new AcknowledgeCommand(Id, "c", true, "ok"), 6, Settings);
        Assert.False(changedAgain);
        Assert.Null(error);
        Assert.Equal(CommandState.Failed, resent.State);

        var (_, _, expired) = TwinRules.Acknowledge(pending with { State = CommandState.Expired }, new AcknowledgeCommand(Id, "c", true, ""), 20, Settings);
        Assert.Contains("expired", expired);
    }
}
