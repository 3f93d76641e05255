using System.Globalization;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using EdgeActors.Storage;

namespace EdgeActors.Actors.Adapters;

/// <summary>Exponential backoff of a failed adapter's restart (Akka.Pattern.BackoffSupervisor).</summary>
public sealed record AdapterBackoff(TimeSpan Min, TimeSpan Max, double RandomFactor, TimeSpan ResetAfter);

/// <summary>
/// Typed settings of the sensor hardware adapters of an edge node, bound from <c>edgeactors.adapters</c>
/// (see hocon/base.conf for every key with its default). Invalid values fail start-up naming the key.
/// </summary>
public sealed record AdapterSettings
{
    public const string ConfigPath = "edgeactors.adapters";

    public bool Enabled { get; init; }
    /// <summary>Devices attached to this edge (their ids).</summary>
    public IReadOnlyList<string> Devices { get; init; } = [];
    public int Channels { get; init; } = 4;
    public TimeSpan ReadInterval { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromMilliseconds(500);
    public int BatchSize { get; init; } = 10;
    public TimeSpan MaxBatchDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(2);
    public int MaxPending { get; init; } = 100_000;
    public long MaxReadings { get; init; }
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);
    public int RecoverAfter { get; init; } = 5;
    public TimeSpan OfflineAfter { get; init; } = TimeSpan.FromSeconds(3);
    public TimeSpan ClockJumpThreshold { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(3);
    public int Seed { get; init; } = 1;
    /// <summary>
    /// The SQLite file of the uplinks' durable sequence counters (<see cref="SqliteSequenceStore"/>); the node resolves a
    /// relative path under its data directory. "" = none: numbering follows the device entity only, and an edge killed
    /// before its outbox synced may reuse sequence numbers.
    /// </summary>
    public string StatePath { get; init; } = "";
    public HardwareFaults Faults { get; init; } = HardwareFaults.None with
    {
        DisconnectDuration = TimeSpan.FromSeconds(2),
        ClockJumpSize = TimeSpan.FromHours(1),
    };
    public AdapterBackoff Backoff { get; init; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2), 0.2, TimeSpan.FromSeconds(10));

    /// <summary>
    /// Reads the section (the node passes <c>config.GetConfig("edgeactors.adapters")</c>); missing keys take the defaults.
    /// <paramref name="defaultPrefix"/> names the devices when <c>devices.prefix</c> is "" (the node uses <c>&lt;site&gt;/</c> on an
    /// edge with a site, so its devices are homed on it, else <c>hw-&lt;port&gt;-</c>; two edges never attach the same device).
    /// </summary>
    public static AdapterSettings FromConfig(Config? section, string defaultPrefix = "hw-")
    {
        var d = new AdapterSettings();
        if (section is null || section.IsEmpty) return d;
        var list = ReadList(section, "devices.list");
        var count = ReadInt(section, "devices.count", 4, 0, 100_000);
        var prefix = section.GetString("devices.prefix", "");
        if (prefix.Length == 0) prefix = defaultPrefix;
        var devices = list.Count > 0 ? list : Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{prefix}sensor-{i:D2}")).ToList();
        if (devices.Distinct(StringComparer.Ordinal).Count() != devices.Count) throw Bad("devices.list", string.Join(",", devices), "device ids must be unique");
        if (devices.Any(string.IsNullOrWhiteSpace)) throw Bad("devices.list", string.Join(",", devices), "device ids must not be empty");

        var settings = new AdapterSettings
        {
            Enabled = ReadBool(section, "enabled", false),
            Devices = devices,
            Channels = ReadInt(section, "channels", d.Channels, 1, 64),
            ReadInterval = ReadTime(section, "read-interval", d.ReadInterval, TimeSpan.FromMilliseconds(1)),
            ReadTimeout = ReadTime(section, "read-timeout", d.ReadTimeout, TimeSpan.FromMilliseconds(1)),
            BatchSize = ReadInt(section, "batch-size", d.BatchSize, 1, 10_000),
            MaxBatchDelay = ReadTime(section, "max-batch-delay", d.MaxBatchDelay, TimeSpan.FromMilliseconds(1)),
            AckTimeout = ReadTime(section, "ack-timeout", d.AckTimeout, TimeSpan.FromMilliseconds(1)),
            MaxPending = ReadInt(section, "max-pending", d.MaxPending, 1, 100_000_000),
            MaxReadings = ReadInt(section, "max-readings", 0, 0, int.MaxValue),
            ReportInterval = ReadTime(section, "report-interval", d.ReportInterval, TimeSpan.FromMilliseconds(10)),
            RecoverAfter = ReadInt(section, "recover-after", d.RecoverAfter, 1, 1_000_000),
            OfflineAfter = ReadTime(section, "offline-after", d.OfflineAfter, TimeSpan.FromMilliseconds(1)),
            ClockJumpThreshold = ReadTime(section, "clock-jump-threshold", d.ClockJumpThreshold, TimeSpan.FromMilliseconds(1)),
            DrainTimeout = ReadTime(section, "drain-timeout", d.DrainTimeout, TimeSpan.Zero),
            Seed = ReadInt(section, "seed", d.Seed, int.MinValue, int.MaxValue),
            StatePath = (Raw(section, "state-path") ?? d.StatePath).Trim(),
            Faults = new HardwareFaults(
                ReadProbability(section, "faults.exception"),
                ReadProbability(section, "faults.hang"),
                ReadProbability(section, "faults.garbage"),
                ReadProbability(section, "faults.disconnect"),
                ReadProbability(section, "faults.clock-jump"),
                ReadTime(section, "faults.disconnect-duration", d.Faults.DisconnectDuration, TimeSpan.Zero),
                ReadTime(section, "faults.clock-jump-size", d.Faults.ClockJumpSize, TimeSpan.FromMilliseconds(1))),
            Backoff = new AdapterBackoff(
                ReadTime(section, "backoff.min", d.Backoff.Min, TimeSpan.FromMilliseconds(1)),
                ReadTime(section, "backoff.max", d.Backoff.Max, TimeSpan.FromMilliseconds(1)),
                ReadDouble(section, "backoff.random-factor", d.Backoff.RandomFactor, 0, 1),
                ReadTime(section, "backoff.reset-after", d.Backoff.ResetAfter, TimeSpan.FromMilliseconds(1))),
        };
        if (settings.Faults.Total > 1) throw Bad("faults", settings.Faults.Total, "the fault probabilities must add up to at most 1");
        if (settings.Backoff.Max < settings.Backoff.Min) throw Bad("backoff.max", settings.Backoff.Max, $"must be >= backoff.min ({settings.Backoff.Min})");
        if (settings.OfflineAfter <= settings.MaxBatchDelay)
            throw Bad("offline-after", settings.OfflineAfter, $"must be longer than max-batch-delay ({settings.MaxBatchDelay}), or healthy devices look silent");
        if (settings.ClockJumpThreshold <= settings.Faults.DisconnectDuration + settings.Backoff.Max)
            throw Bad("clock-jump-threshold", settings.ClockJumpThreshold,
                $"must be longer than faults.disconnect-duration + backoff.max ({settings.Faults.DisconnectDuration + settings.Backoff.Max}), or a reconnect looks like a clock jump");
        return settings;
    }

    private static ArgumentException Bad(string key, object? value, string rule) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{ConfigPath}.{key} = '{value}' is invalid: {rule}"), key);

    private static string? Raw(Config c, string key)
    {
        if (!c.HasPath(key)) return null;
        var v = c.GetValue(key);
        if (v is null) return null;
        if (v.IsObject() || v.IsArray()) throw Bad(key, v.ToString(), "expected a single value");
        return v.GetString();
    }

    private static bool ReadBool(Config c, string key, bool fallback) => Raw(c, key)?.Trim().ToLowerInvariant() switch
    {
        null => fallback,
        "on" or "true" or "yes" => true,
        "off" or "false" or "no" => false,
        var raw => throw Bad(key, raw, "expected on or off"),
    };

    private static int ReadInt(Config c, string key, int fallback, int min, int max)
    {
        var raw = Raw(c, key);
        if (raw is null) return fallback;
        if (!int.TryParse(raw.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) throw Bad(key, raw, "expected an integer");
        if (v < min || v > max) throw Bad(key, raw, $"must be in {min}..{max}");
        return v;
    }

    private static double ReadDouble(Config c, string key, double fallback, double min, double max)
    {
        var raw = Raw(c, key);
        if (raw is null) return fallback;
        if (!double.TryParse(raw.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw Bad(key, raw, "expected a finite number");
        if (v < min || v > max) throw Bad(key, raw, string.Create(CultureInfo.InvariantCulture, $"must be in [{min}, {max}]"));
        return v;
    }

    private static double ReadProbability(Config c, string key) => ReadDouble(c, key, 0, 0, 1);

    private static TimeSpan ReadTime(Config c, string key, TimeSpan fallback, TimeSpan min)
    {
        var raw = Raw(c, key);
        if (raw is null) return fallback;
        TimeSpan v;
        try
        {
            v = c.GetTimeSpan(key, fallback, allowInfinite: false);
        }
        catch (Exception ex) when (ex is FormatException or ConfigurationException or OverflowException or ArgumentException)
        {
            throw Bad(key, raw, "expected a duration such as 250ms or 2s");
        }
        if (v < min) throw Bad(key, raw, $"must be at least {min}");
        return v;
    }

    private static IReadOnlyList<string> ReadList(Config c, string key)
    {
        if (!c.HasPath(key)) return [];
        var v = c.GetValue(key);
        if (v is null || v.IsEmpty) return [];
        if (!v.IsArray())
        {
            // Akka's HOCON parses "[]" to a value whose IsArray() is false; anything else here is a mistake
            if (v.Values.All(x => x is HoconArray { Count: 0 } || (x is HoconLiteral l && string.IsNullOrWhiteSpace(l.Value)))) return [];
            throw Bad(key, v.ToString(), "expected a list of device ids, e.g. [\"sensor-a\", \"sensor-b\"]");
        }
        return v.GetArray().Select(x => x.GetString()).ToList();
    }
}
