using System.Globalization;
using Akka.Configuration;

namespace EdgeActors.Nodes.Hosting;

/// <summary>
/// Keeps a restarted node from joining while the cluster still holds its crashed predecessor.
/// <para>
/// A node that crashed (SIGKILL, power loss) stays a member until the others detect it and the split brain resolver
/// downs and removes it. A new incarnation on the same host and port that connects during that window races Akka.Remote
/// (1.5.73, classic remoting over TLS): a peer whose endpoint for that address is still being torn down (gated after the
/// failed association, then quarantined for the old UID) can hand the new inbound association to an endpoint writer
/// that has already stopped (logged on the peer as a dead-lettered <c>Handle</c> to <c>reliableEndpointWriter-…/endpointWriter</c>).
/// The connection stays open, so nothing resets it: the peer receives the joiner's messages but its replies never
/// arrive. On the seed that loses every <c>InitJoinAck</c> (the join never completes and the node exits after
/// <c>shutdown-after-unsuccessful-join-seed-nodes</c>); between other members it loses heartbeats both ways, and the
/// split brain resolver then downs every node involved as "indirectly connected".
/// </para>
/// <para>
/// The node writes a marker file into its data directory at start and deletes it on a clean stop. Finding the marker
/// at start means the previous run ended without one, so the node waits long enough for the cluster to have downed and
/// removed that run (failure detection + split brain resolver stable-after + removal margin + 1 s) before it starts.
/// A node stopped cleanly left the cluster before exiting and starts at once.
/// </para>
/// </summary>
public sealed class CrashRestartGuard : IDisposable
{
    public const string MarkerFile = "node.running";
    public const string DelayKey = "edgeactors.node.crash-restart-delay";

    private readonly string _marker;

    /// <summary>Whether the previous run in this data directory ended without a clean stop.</summary>
    public bool PreviousRunCrashed { get; }

    /// <summary>What the marker of the previous run said (pid and start time), or "" when there was none.</summary>
    public string PreviousRun { get; }

    private CrashRestartGuard(string marker, bool crashed, string previous)
    {
        _marker = marker;
        PreviousRunCrashed = crashed;
        PreviousRun = previous;
    }

    /// <summary>Reads the previous run's marker (if any) and writes this run's.</summary>
    public static CrashRestartGuard Acquire(string dataDirectory)
    {
        var marker = Path.Combine(dataDirectory, MarkerFile);
        var crashed = File.Exists(marker);
        var previous = crashed ? SafeRead(marker) : "";
        File.WriteAllText(marker, FormattableString.Invariant($"pid {Environment.ProcessId} started {DateTime.UtcNow:O}\n"));
        return new CrashRestartGuard(marker, crashed, previous);
    }

    /// <summary>The clean stop: the next start needs no wait.</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(_marker);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// <c>edgeactors.node.crash-restart-delay</c>: <c>auto</c> (the cluster's own time to down and remove a crashed node:
    /// acceptable-heartbeat-pause + split-brain-resolver.stable-after + down-removal-margin + 1 s), <c>off</c>/<c>0s</c>,
    /// or a duration.
    /// </summary>
    public static TimeSpan Delay(Config config)
    {
        var raw = config.GetString(DelayKey, "auto")?.Trim() ?? "auto";
        if (raw.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            var pause = config.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause", TimeSpan.FromSeconds(3));
            var stable = config.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after", TimeSpan.FromSeconds(20));
            var margin = DownRemovalMargin(config, stable);
            return pause + stable + margin + TimeSpan.FromSeconds(1);
        }
        if (raw.Equals("off", StringComparison.OrdinalIgnoreCase)) return TimeSpan.Zero;
        TimeSpan value;
        try
        {
            value = config.GetTimeSpan(DelayKey, null, allowInfinite: false);
        }
        catch (Exception ex) when (ex is FormatException or ConfigurationException or ArgumentException or OverflowException)
        {
            throw new ConfigurationException($"{DelayKey} = '{raw}' is not a duration; use auto, off or e.g. 8s");
        }
        if (value < TimeSpan.Zero || value > TimeSpan.FromMinutes(10))
            throw new ConfigurationException($"{DelayKey} = {raw} is out of range; use auto, off or a duration up to 10m");
        return value;
    }

    private static TimeSpan DownRemovalMargin(Config config, TimeSpan stableAfter)
    {
        var raw = config.GetString("akka.cluster.down-removal-margin", "off")?.Trim() ?? "off";
        if (raw.Equals("off", StringComparison.OrdinalIgnoreCase)) return stableAfter; // Akka's default: the margin is stable-after
        return config.GetTimeSpan("akka.cluster.down-removal-margin", stableAfter);
    }

    private static string SafeRead(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (IOException)
        {
            return "unreadable marker";
        }
    }

    public static string Describe(TimeSpan delay) => delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s";
}
