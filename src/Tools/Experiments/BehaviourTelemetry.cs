using System.Globalization;
using System.Text.RegularExpressions;
using EdgeActors.Messages;
using EdgeActors.Client;

namespace EdgeActors.Tools.Experiments;

/// <summary>
/// Devices whose telemetry follows one of a few behaviour groups (channel levels and noise), plus outlier devices that
/// follow none; used to check federated k-means. Deterministic for a seed.
/// </summary>
public static partial class BehaviourTelemetry
{
    public const int Channels = 4;
    public const int Readings = 200;

    public static string DeviceName(int i) => string.Create(CultureInfo.InvariantCulture, $"behaviour-{i:000}");

    /// <summary>Sends every device's readings; returns the true group of each device (-1 for outliers).</summary>
    public static async Task<Dictionary<string, int>> SendAsync(EdgeClient client, int devices, int groups, int outliers, int seed, Action<string> log)
    {
        var truth = Generate(devices, groups, outliers, seed, out var batches);
        foreach (var b in batches)
        {
            var ack = (await client.SendTelemetryAsync(b)).Value;
            if (ack.Accepted != b.Count) throw new InvalidOperationException($"device {b.DeviceId}: {ack.Accepted} of {b.Count} readings accepted ({string.Join("; ", ack.Rejected.Select(r => r.Detail).Take(3))})");
        }
        log(string.Create(CultureInfo.InvariantCulture, $"sent {devices + outliers} devices × {Readings} readings × {Channels} channels ({groups} behaviour groups, {outliers} outliers)"));
        return truth;
    }

    public static Dictionary<string, int> Generate(int devices, int groups, int outliers, int seed, out List<TelemetryBatch> batches)
    {
        var rng = new Random(seed);
        var centres = new double[groups, Channels];
        var noise = new double[groups];
        for (var g = 0; g < groups; g++)
        {
            for (var c = 0; c < Channels; c++) centres[g, c] = rng.NextDouble() * 200 - 100;
            noise[g] = 1 + 2.5 * g; // groups differ in noise too, so every behaviour feature separates them
        }
        var truth = new Dictionary<string, int>(StringComparer.Ordinal);
        batches = [];
        var t0 = 1_767_225_600_000L;
        for (var i = 0; i < devices + outliers; i++)
        {
            var outlier = i >= devices;
            var group = outlier ? -1 : i % groups;
            var id = DeviceName(i);
            truth[id] = group;
            var sequences = new long[Readings];
            var timestamps = new long[Readings];
            var values = new float[Readings * Channels];
            var level = new double[Channels];
            // an outlier sits near a group (so it does not pull a centroid of its own) but well off it on every channel
            var near = outlier ? rng.Next(groups) : group;
            var sigma = noise[near];
            for (var c = 0; c < Channels; c++)
                level[c] = centres[near, c] + (outlier ? (rng.Next(2) == 0 ? -40 : 40) : (rng.NextDouble() - 0.5) * 4);
            for (var r = 0; r < Readings; r++)
            {
                sequences[r] = r + 1;
                timestamps[r] = t0 + r * 100L;
                for (var c = 0; c < Channels; c++) values[r * Channels + c] = (float)(level[c] + Gaussian(rng) * sigma);
            }
            batches.Add(new TelemetryBatch(new DeviceId(id), Channels, sequences, timestamps, values));
        }
        return truth;
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [GeneratedRegex(@"device (\S+) cluster (\d+) distance [0-9.]+( outlier)?$")]
    private static partial Regex AssignmentLine();

    /// <summary>(device, cluster, outlier) from a k-means job's result line, or null.</summary>
    public static (string Device, int Cluster, bool Outlier)? ParseAssignment(string line)
    {
        var m = AssignmentLine().Match(line);
        return m.Success ? (m.Groups[1].Value, int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), m.Groups[3].Success) : null;
    }

    public sealed record Scores(double Purity, int TrueOutliers, int Flagged, int CorrectOutliers);

    /// <summary>Purity of the clusters over the grouped devices, and outlier detection counts.</summary>
    public static Scores Score(IReadOnlyDictionary<string, int> truth, IReadOnlyList<(string Device, int Cluster, bool Outlier)> assigned)
    {
        var normal = assigned.Where(a => truth.TryGetValue(a.Device, out var g) && g >= 0).ToList();
        var purity = normal.Count == 0 ? 0 : (double)normal.GroupBy(a => a.Cluster).Sum(c => c.GroupBy(a => truth[a.Device]).Max(g => g.Count())) / normal.Count;
        var trueOutliers = truth.Count(kv => kv.Value < 0);
        var flagged = assigned.Count(a => a.Outlier);
        var correct = assigned.Count(a => a.Outlier && truth.TryGetValue(a.Device, out var g) && g < 0);
        return new Scores(purity, trueOutliers, flagged, correct);
    }
}
