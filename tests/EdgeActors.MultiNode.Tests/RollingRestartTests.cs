using System.Diagnostics;
using EdgeActors.Tools.Rolling;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// Rolling upgrade on real node processes (<c>./edgeactors rolling --from-build</c>, through the same <see cref="RollingRun"/>):
/// the five nodes (seed, two datacenters, two edges) start from the baseline release's build and are replaced one by one
/// by this build (SIGTERM, start, Up and ready) while the simulator streams and a federated experiment runs. The restart
/// path is the same (a rolling restart is this run without the old build), so this one test covers both.
/// </summary>
public sealed class RollingRestartTests(ITestOutputHelper output)
{
    /// <summary>The last released commit: the build the upgrade starts from.</summary>
    public const string BaselineRelease = "03a68e6";

    [Fact]
    public async Task Rolling_upgrade_should_lose_nothing_and_apply_each_round_once()
    {
        var oldBuild = await BuildReleaseAsync(BaselineRelease);
        var p = Ports.Free(9);
        var dir = TestCluster.FreshDirectory("rolling", p[0]);
        var run = new RollingRun(new RollingOptions
        {
            Directory = dir,
            Ports = p,
            FromBuild = oldBuild,
            Rounds = 3,
            LocalEpochs = 5,
            Log = output.WriteLine,
        });
        var summary = await run.RunAsync();
        output.WriteLine(summary.Line);

        Assert.True(summary.Upgrade);
        Assert.Equal(RollingRun.Order, summary.Restarts.Select(r => r.Node)); // every node, seed and both datacenters included
        Assert.All(summary.Restarts, r => Assert.True(r.CleanStop, $"{r.Node} did not stop cleanly on SIGTERM (exit {r.ExitCode}); logs in {dir}"));
        Assert.All(summary.Restarts, r => Assert.Equal("current build", r.To));
        Assert.True(summary.AllNodesUp, "not every node was Up at the end; logs in " + dir);
        Assert.True(summary.Accepted > 0, "nothing was accepted while rolling");
        Assert.Equal(0, summary.Lost);
        Assert.Equal(0, summary.Duplicates);
        Assert.Equal("done", summary.ExperimentState);
        // experiments run back to back through the roll, the last to its end: every one holds rounds 1..3, each once
        Assert.True(summary.RoundsExpected >= 3 && summary.RoundsCommitted == summary.RoundsExpected,
            $"{summary.RoundsCommitted} of {summary.RoundsExpected} rounds committed");
        Assert.True(summary.RoundsAppliedOnce, "the federation store does not hold rounds 1..3 of every experiment each once");
        Assert.True(summary.RoundsDuringRoll > 0, "no round was committed while nodes restarted");
        // pauses are reported, not judged (no wall-clock asserts): they must have been measured
        Assert.True(summary.MaxPauseSeconds > 0 && summary.P99PauseSeconds > 0 && summary.P99PauseSeconds <= summary.MaxPauseSeconds,
            $"pauses not measured: max {summary.MaxPauseSeconds}, p99 {summary.P99PauseSeconds}");
        Assert.True(summary.Clean);
    }

    /// <summary>
    /// The node executable of <paramref name="commit"/> (scripts/build-release.sh), built once per machine into a temp
    /// folder keyed by the commit and reused by later runs. The commit must be in this clone: CI runs on a full clone.
    /// </summary>
    private async Task<string> BuildReleaseAsync(string commit)
    {
        var root = RepositoryRoot();
        var (rc, text) = await RunAsync("git", ["-C", root, "cat-file", "-e", commit + "^{commit}"], TimeSpan.FromSeconds(30));
        Assert.True(rc == 0, $"the baseline release commit {commit} is not in this clone ({root}): the rolling upgrade test needs the full history " +
                             $"(git fetch --unshallow); git said: {text}");
        var outDir = Path.Combine(Path.GetTempPath(), $"edgeactors-release-{commit}");
        var sw = Stopwatch.StartNew();
        (rc, text) = await RunAsync(Path.Combine(root, "scripts", "build-release.sh"), [commit, outDir], TimeSpan.FromMinutes(8));
        Assert.True(rc == 0, $"scripts/build-release.sh {commit} {outDir} failed (exit {rc}):\n{text}");
        output.WriteLine($"baseline release {commit}: {outDir} ({sw.Elapsed.TotalSeconds:0.0}s; {text.Trim()})");
        return outDir;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "EdgeActors.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no EdgeActors.sln above {AppContext.BaseDirectory}: the test runs from the repository's build output");
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout.TotalSeconds:0}s: {await stdout}{await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
