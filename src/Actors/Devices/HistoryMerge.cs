using EdgeActors.Messages;

namespace EdgeActors.Actors.Devices;

/// <summary>Merging what several sources hold of one kind of a device's records (stores of several datacenters, a store and the outbox).</summary>
public static class HistoryMerge
{
    /// <summary>
    /// Union of two histories: the sequences of both (ascending, each once); the count is <paramref name="a"/>'s plus the
    /// sequences only <paramref name="b"/> lists, so a record both hold (a replica, one shared database, a record in flight
    /// from the outbox) counts once.
    /// </summary>
    public static KindHistory Union(KindHistory? a, KindHistory? b)
    {
        a ??= KindHistory.Empty;
        b ??= KindHistory.Empty;
        if (b.Count == 0) return a;
        if (a.Count == 0) return b;
        var inA = a.Sequences.ToHashSet();
        var extra = b.Sequences.Count(s => !inA.Contains(s));
        return new KindHistory(a.Count + extra, a.Sequences.Concat(b.Sequences).Distinct().Order().ToArray());
    }

    /// <summary>Both kinds of two stores' answers for one device merged; the sources named together.</summary>
    public static DeviceHistory Union(DeviceHistory a, DeviceHistory b) =>
        new(a.DeviceId, Union(a.Telemetry, b.Telemetry), Union(a.Frames, b.Frames),
            a.Source.Length == 0 ? b.Source : b.Source.Length == 0 || a.Source == b.Source ? a.Source : a.Source + "+" + b.Source);
}
