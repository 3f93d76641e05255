using System.Globalization;
using System.Numerics;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace EdgeActors.Actors.Ingestion;

/// <summary>Denoising filter applied to every channel of accepted telemetry readings.</summary>
public enum DenoiseKind
{
    /// <summary>Pass-through: the denoised value is the raw value.</summary>
    None,

    /// <summary>Median of the last <see cref="IngestionSettings.MedianWindow"/> accepted raw values of the channel.</summary>
    Median,

    /// <summary>Exponential moving average <c>y = a*x + (1-a)*y_prev</c>, first <c>y = x</c>.</summary>
    Ema,
}

/// <summary>Inclusive accepted range of one channel's raw values.</summary>
public readonly record struct ChannelRange(float Min, float Max)
{
    /// <summary>True when <paramref name="value"/> lies in <c>[Min, Max]</c>.</summary>
    public bool Contains(float value) => value >= Min && value <= Max;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[{Min}, {Max}]");
}

/// <summary>
/// Settings of the per-device ingestion preprocessing (<see cref="TelemetryPreprocessor"/>,
/// <see cref="FramePreprocessor"/>). Read from the HOCON section <c>edgeactors.ingestion</c> with
/// <see cref="FromConfig"/>; see <see cref="DefaultHocon"/> for every key and its default.
/// </summary>
public sealed record IngestionSettings
{
    /// <summary>Largest accepted <see cref="MedianWindow"/>.</summary>
    public const int MaxMedianWindow = 31;

    /// <summary>Upper bound of <see cref="MaxChannels"/>.</summary>
    public const int ChannelsLimit = 1024;

    /// <summary>Upper bound of <see cref="MaxBatchReadings"/>.</summary>
    public const int BatchReadingsLimit = 10_000_000;

    /// <summary>Upper bound of <see cref="BufferCapacity"/>, <see cref="FrameBufferCapacity"/> and <see cref="SequenceWindow"/>.</summary>
    public const int CapacityLimit = 1 << 24;

    /// <summary>The HOCON path of the section in the application configuration.</summary>
    public const string ConfigPath = "edgeactors.ingestion";

    /// <summary>
    /// The ingestion section with its defaults and comments, ready to paste into <c>hocon/base.conf</c>
    /// (the content of <c>hocon-ingestion-sample.conf</c>). Parsing it and passing
    /// <c>GetConfig("edgeactors.ingestion")</c> to <see cref="FromConfig"/> yields <see cref="Default"/>.
    /// </summary>
    public const string DefaultHocon = """
        # Per-device ingestion preprocessing (EdgeActors.Actors.Ingestion.IngestionSettings).
        # Missing keys take the defaults below; an invalid value fails start-up naming the key.
        edgeactors.ingestion {
          # Denoising filter per channel: median | ema | none
          denoise = median
          # Median filter window (accepted readings per channel), odd, 1..31
          median-window = 5
          # EMA smoothing factor a in (0, 1]: y = a*x + (1-a)*y_prev
          ema-alpha = 0.3
          # Inclusive accepted range of raw values for channels without an override
          range { min = -1000000, max = 1000000 }
          # Per channel overrides, list index = channel index, e.g.
          # channel-ranges = [ { min = 0, max = 100 }, { min = -40, max = 85 } ]
          channel-ranges = []
          # Most channels a device may declare (a batch's channel count must be in 1..max-channels)
          max-channels = 64
          # Most readings in one telemetry batch; bigger batches are rejected as Malformed
          max-batch-readings = 10000
          # Preprocessed readings kept per device (ring buffer, oldest overwritten)
          buffer-capacity = 4096
          # Camera frames kept per device (ring buffer, oldest overwritten)
          frame-buffer-capacity = 256
          # Duplicate / out-of-order detection window in sequences, power of two
          sequence-window = 4096
        }
        """;

    public DenoiseKind Denoise { get; init; } = DenoiseKind.Median;

    /// <summary>Median window, odd, 1..31.</summary>
    public int MedianWindow { get; init; } = 5;

    /// <summary>EMA smoothing factor in (0, 1].</summary>
    public double EmaAlpha { get; init; } = 0.3;

    /// <summary>Range of channels without an entry in <see cref="ChannelRanges"/>.</summary>
    public ChannelRange DefaultRange { get; init; } = new(-1e6f, 1e6f);

    /// <summary>Per channel index override of <see cref="DefaultRange"/>.</summary>
    public IReadOnlyList<ChannelRange> ChannelRanges { get; init; } = [];

    public int MaxChannels { get; init; } = 64;

    public int MaxBatchReadings { get; init; } = 10_000;

    /// <summary>Readings kept per device.</summary>
    public int BufferCapacity { get; init; } = 4096;

    /// <summary>Frames kept per device.</summary>
    public int FrameBufferCapacity { get; init; } = 256;

    /// <summary>Sequence tracking window, a power of two.</summary>
    public int SequenceWindow { get; init; } = 4096;

    /// <summary>The settings with every default.</summary>
    public static IngestionSettings Default { get; } = new();

    /// <summary>The accepted range of <paramref name="channel"/>: its override if any, else <see cref="DefaultRange"/>.</summary>
    public ChannelRange RangeFor(int channel) =>
        channel >= 0 && channel < ChannelRanges.Count ? ChannelRanges[channel] : DefaultRange;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and its value.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Denoise))
            throw Bad(nameof(Denoise), Denoise, "must be None, Median or Ema");
        if (MedianWindow < 1 || MedianWindow > MaxMedianWindow || MedianWindow % 2 == 0)
            throw Bad(nameof(MedianWindow), MedianWindow, $"must be odd and in 1..{MaxMedianWindow}");
        if (!(EmaAlpha > 0.0 && EmaAlpha <= 1.0))
            throw Bad(nameof(EmaAlpha), EmaAlpha, "must be in (0, 1]");
        CheckRange(nameof(DefaultRange), DefaultRange);
        if (ChannelRanges is null)
            throw new ArgumentException($"{nameof(ChannelRanges)} must not be null", nameof(ChannelRanges));
        if (MaxChannels < 1 || MaxChannels > ChannelsLimit)
            throw Bad(nameof(MaxChannels), MaxChannels, $"must be in 1..{ChannelsLimit}");
        if (ChannelRanges.Count > MaxChannels)
            throw Bad(nameof(ChannelRanges), ChannelRanges.Count, $"has more entries than {nameof(MaxChannels)} {MaxChannels}");
        for (var i = 0; i < ChannelRanges.Count; i++)
            CheckRange($"{nameof(ChannelRanges)}[{i}]", ChannelRanges[i]);
        if (MaxBatchReadings < 1 || MaxBatchReadings > BatchReadingsLimit)
            throw Bad(nameof(MaxBatchReadings), MaxBatchReadings, $"must be in 1..{BatchReadingsLimit}");
        if (BufferCapacity < 1 || BufferCapacity > CapacityLimit)
            throw Bad(nameof(BufferCapacity), BufferCapacity, $"must be in 1..{CapacityLimit}");
        if (FrameBufferCapacity < 1 || FrameBufferCapacity > CapacityLimit)
            throw Bad(nameof(FrameBufferCapacity), FrameBufferCapacity, $"must be in 1..{CapacityLimit}");
        if (SequenceWindow < 1 || SequenceWindow > CapacityLimit || !BitOperations.IsPow2(SequenceWindow))
            throw Bad(nameof(SequenceWindow), SequenceWindow, $"must be a power of two in 1..{CapacityLimit}");
    }

    private static void CheckRange(string name, ChannelRange range)
    {
        if (float.IsNaN(range.Min) || float.IsNaN(range.Max) || range.Min > range.Max)
            throw Bad(name, range, "must have Min <= Max and no NaN");
    }

    private static ArgumentException Bad(string name, object value, string rule) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{name} {value} is invalid: {rule}"), name);

    /// <summary>
    /// Reads the ingestion section itself (the app passes <c>config.GetConfig("edgeactors.ingestion")</c>).
    /// Missing keys (or a null/empty section) take the defaults; a value that does not parse or breaks a rule
    /// throws <see cref="ArgumentException"/> naming the HOCON key and the bad value.
    /// </summary>
    public static IngestionSettings FromConfig(Config? section)
    {
        var d = Default;
        if (section is null || section.IsEmpty)
            return d;

        var settings = new IngestionSettings
        {
            Denoise = ReadDenoise(section, "denoise", d.Denoise),
            MedianWindow = ReadInt(section, "median-window", d.MedianWindow),
            EmaAlpha = ReadDouble(section, "ema-alpha", d.EmaAlpha),
            DefaultRange = ReadRangeObject(section, "range", d.DefaultRange),
            ChannelRanges = ReadRangeList(section, "channel-ranges"),
            MaxChannels = ReadInt(section, "max-channels", d.MaxChannels),
            MaxBatchReadings = ReadInt(section, "max-batch-readings", d.MaxBatchReadings),
            BufferCapacity = ReadInt(section, "buffer-capacity", d.BufferCapacity),
            FrameBufferCapacity = ReadInt(section, "frame-buffer-capacity", d.FrameBufferCapacity),
            SequenceWindow = ReadInt(section, "sequence-window", d.SequenceWindow),
        };

        try
        {
            settings.Validate();
        }
        catch (ArgumentException e)
        {
            var key = e.ParamName switch
            {
                nameof(Denoise) => "denoise",
                nameof(MedianWindow) => "median-window",
                nameof(EmaAlpha) => "ema-alpha",
                nameof(DefaultRange) => "range",
                nameof(MaxChannels) => "max-channels",
                nameof(MaxBatchReadings) => "max-batch-readings",
                nameof(BufferCapacity) => "buffer-capacity",
                nameof(FrameBufferCapacity) => "frame-buffer-capacity",
                nameof(SequenceWindow) => "sequence-window",
                { } p when p.StartsWith(nameof(ChannelRanges), StringComparison.Ordinal) => "channel-ranges" + p[nameof(ChannelRanges).Length..],
                _ => "?",
            };
            throw new ArgumentException($"{ConfigPath}.{key}: {e.Message}", key, e);
        }

        return settings;
    }

    private static string? Raw(Config c, string key)
    {
        if (!c.HasPath(key))
            return null;
        var value = c.GetValue(key);
        if (value is null)
            return null;
        if (value.IsObject() || value.IsArray())
            throw KeyError(key, value.ToString(), "expected a single value");
        return value.GetString();
    }

    private static ArgumentException KeyError(string key, string? value, string rule) =>
        new($"{ConfigPath}.{key} = '{value}' is invalid: {rule}", key);

    private static DenoiseKind ReadDenoise(Config c, string key, DenoiseKind fallback)
    {
        var raw = Raw(c, key);
        if (raw is null)
            return fallback;
        return raw.Trim().ToLowerInvariant() switch
        {
            "median" => DenoiseKind.Median,
            "ema" => DenoiseKind.Ema,
            "none" => DenoiseKind.None,
            _ => throw KeyError(key, raw, "expected median, ema or none"),
        };
    }

    private static int ReadInt(Config c, string key, int fallback)
    {
        var raw = Raw(c, key);
        if (raw is null)
            return fallback;
        if (!int.TryParse(raw.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw KeyError(key, raw, "expected an integer");
        return v;
    }

    private static double ReadDouble(Config c, string key, double fallback)
    {
        var raw = Raw(c, key);
        if (raw is null)
            return fallback;
        return ParseDouble(key, raw);
    }

    private static double ParseDouble(string key, string raw)
    {
        if (!double.TryParse(raw.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw KeyError(key, raw, "expected a finite number");
        return v;
    }

    private static ChannelRange ReadRangeObject(Config c, string key, ChannelRange fallback)
    {
        if (!c.HasPath(key))
            return fallback;
        var value = c.GetValue(key);
        if (value is null)
            return fallback;
        if (!value.IsObject())
            throw KeyError(key, value.ToString(), "expected an object { min = ..., max = ... }");
        return ParseRange(key, value.GetObject(), fallback);
    }

    private static ChannelRange ParseRange(string key, HoconObject obj, ChannelRange fallback)
    {
        var min = fallback.Min;
        var max = fallback.Max;
        foreach (var (name, v) in obj.Items)
        {
            var field = $"{key}.{name}";
            if (v is null || v.IsObject() || v.IsArray())
                throw KeyError(field, v?.ToString(), "expected a number");
            var parsed = ParseDouble(field, v.GetString());
            if (parsed < float.MinValue || parsed > float.MaxValue)
                throw KeyError(field, v.GetString(), "out of float range");
            switch (name)
            {
                case "min": min = (float)parsed; break;
                case "max": max = (float)parsed; break;
                default: throw KeyError(field, v.GetString(), "unknown key (expected min and max)");
            }
        }
        if (min > max)
            throw KeyError(key, $"{{ min = {min.ToString(CultureInfo.InvariantCulture)}, max = {max.ToString(CultureInfo.InvariantCulture)} }}", "min must be <= max");
        return new ChannelRange(min, max);
    }

    // Akka's HOCON parses "[]" to a value whose IsArray() is false; recognise it by its single empty array element.
    private static bool IsEmptyArray(HoconValue value) =>
        value.Values.Count == 1 && value.Values[0] is HoconArray { Count: 0 };

    private static IReadOnlyList<ChannelRange> ReadRangeList(Config c, string key)
    {
        if (!c.HasPath(key))
            return [];
        var value = c.GetValue(key);
        if (value is null || value.IsEmpty || value.Values.Count == 0 || IsEmptyArray(value))
            return [];
        if (!value.IsArray())
            throw KeyError(key, value.ToString(), "expected a list of { min = ..., max = ... } objects");
        var items = value.GetArray();
        var result = new ChannelRange[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            var itemKey = string.Create(CultureInfo.InvariantCulture, $"{key}[{i}]");
            if (item is null || !item.IsObject())
                throw KeyError(itemKey, item?.ToString(), "expected an object { min = ..., max = ... }");
            result[i] = ParseRange(itemKey, item.GetObject(), Default.DefaultRange);
        }
        return result;
    }
}
