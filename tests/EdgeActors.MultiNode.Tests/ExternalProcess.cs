using System.Diagnostics;
using System.Text;

namespace EdgeActors.MultiNode.Tests;

/// <summary>What a finished external process left: its exit code, its whole stdout and stderr, and whether it was killed for running past its timeout.</summary>
internal sealed record ProcessResult(int Exit, string Out, string Err, bool TimedOut);

/// <summary>
/// Runs a program nobody here wrote (mosquitto_pub/sub, /usr/bin/python3 with paho, the CLI as its own process) to its end:
/// stdout and stderr captured, the whole process tree killed once it runs past the timeout.
/// </summary>
internal static class ExternalProcess
{
    /// <summary>
    /// Starts <paramref name="file"/> with <paramref name="args"/> and waits until it exits (killed, with its children, after
    /// <paramref name="timeout"/>). <paramref name="onLine"/>, when given, sees each stdout line as it comes (on a thread-pool
    /// thread), for callers that act while the process runs; it must not throw. The line is in <see cref="ProcessResult.Out"/> as well.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, Action<string>? onLine = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.Append(e.Data).Append('\n');
            onLine?.Invoke(e.Data);
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.Append(e.Data).Append('\n');
        };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var timedOut = false;
        using (var cts = new CancellationTokenSource(timeout))
        {
            try
            {
                await p.WaitForExitAsync(cts.Token); // also waits for the end of both streams
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
            }
        }
        lock (stdout)
        lock (stderr)
            return new ProcessResult(p.ExitCode, stdout.ToString(), stderr.ToString(), timedOut);
    }
}
