using Akka.Configuration;
using EdgeActors.Nodes.Hosting;
using Xunit;

namespace EdgeActors.Tests.Cluster;

public sealed class CrashRestartGuardTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("crash-guard-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void First_start_should_not_see_a_crash_and_a_clean_stop_should_leave_no_marker()
    {
        using (var guard = CrashRestartGuard.Acquire(_dir))
        {
            Assert.False(guard.PreviousRunCrashed);
            Assert.True(File.Exists(Path.Combine(_dir, CrashRestartGuard.MarkerFile)));
        }
        Assert.False(File.Exists(Path.Combine(_dir, CrashRestartGuard.MarkerFile)));
        using var next = CrashRestartGuard.Acquire(_dir);
        Assert.False(next.PreviousRunCrashed);
    }

    [Fact]
    public void Start_after_a_run_that_never_stopped_should_see_the_crash_and_name_that_run()
    {
        var crashed = CrashRestartGuard.Acquire(_dir); // never disposed: the process was killed
        using var next = CrashRestartGuard.Acquire(_dir);
        Assert.True(next.PreviousRunCrashed);
        Assert.Contains($"pid {Environment.ProcessId}", next.PreviousRun);
        GC.KeepAlive(crashed);
    }

    [Fact]
    public void Auto_delay_should_cover_detection_downing_and_removal()
    {
        var config = ConfigurationFactory.ParseString("""
            edgeactors.node.crash-restart-delay = auto
            akka.cluster.failure-detector.acceptable-heartbeat-pause = 2s
            akka.cluster.split-brain-resolver.stable-after = 2.5s
            akka.cluster.down-removal-margin = 1s
            """);
        Assert.Equal(TimeSpan.FromSeconds(2 + 2.5 + 1 + 1), CrashRestartGuard.Delay(config));
        // Akka's default margin (off) is stable-after itself
        var noMargin = ConfigurationFactory.ParseString("""
            akka.cluster.failure-detector.acceptable-heartbeat-pause = 3s
            akka.cluster.split-brain-resolver.stable-after = 20s
            akka.cluster.down-removal-margin = off
            """);
        Assert.Equal(TimeSpan.FromSeconds(3 + 20 + 20 + 1), CrashRestartGuard.Delay(noMargin));
    }

    [Theory]
    [InlineData("off", 0)]
    [InlineData("0s", 0)]
    [InlineData("8s", 8)]
    public void Explicit_delay_should_be_taken_as_given(string value, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), CrashRestartGuard.Delay(ConfigurationFactory.ParseString($"edgeactors.node.crash-restart-delay = \"{value}\"")));

    [Theory]
    [InlineData("soon")]
    [InlineData("11m")]
    public void Bad_delay_should_be_refused_naming_the_key(string value)
    {
        var ex = Assert.Throws<ConfigurationException>(() => CrashRestartGuard.Delay(ConfigurationFactory.ParseString($"edgeactors.node.crash-restart-delay = \"{value}\"")));
        Assert.Contains(CrashRestartGuard.DelayKey, ex.Message);
    }
}
