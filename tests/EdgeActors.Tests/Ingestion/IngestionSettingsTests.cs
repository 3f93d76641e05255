using Akka.Configuration;
using EdgeActors.Actors.Ingestion;

namespace EdgeActors.Tests.Ingestion;

public class IngestionSettingsTests
{
    [Fact]
    public void FromConfig_should_parse_every_key()
    {
        var config = ConfigurationFactory.ParseString("""
            denoise = ema
            median-window = 7
            ema-alpha = 0.5
            range { min = -10, max = 20.5 }
            channel-ranges = [ { min = 0, max = 100 }, { min = -40, max = 85 } ]
            buffer-capacity = 1000
            frame-buffer-capacity = 16
            max-channels = 8
            max-batch-readings = 500
            sequence-window = 1024
            """);

        var s = IngestionSettings.FromConfig(config);

        Assert.Equal(DenoiseKind.Ema, s.Denoise);
        Assert.Equal(7, s.MedianWindow);
        Assert.Equal(0.5, s.EmaAlpha);
        Assert.Equal(new ChannelRange(-10, 20.5f), s.DefaultRange);
        Assert.Equal([new ChannelRange(0, 100), new ChannelRange(-40, 85)], s.ChannelRanges);
        Assert.Equal(1000, s.BufferCapacity);
        Assert.Equal(16, s.FrameBufferCapacity);
        Assert.Equal(8, s.MaxChannels);
        Assert.Equal(500, s.MaxBatchReadings);
        Assert.Equal(1024, s.SequenceWindow);
        Assert.Equal(new ChannelRange(-40, 85), s.RangeFor(1));
        Assert.Equal(new ChannelRange(-10, 20.5f), s.RangeFor(2));
    }

    [Theory]
    [InlineData("median", DenoiseKind.Median)]
    [InlineData("none", DenoiseKind.None)]
    [InlineData("EMA", DenoiseKind.Ema)]
    public void FromConfig_should_parse_denoise_names(string name, DenoiseKind kind) =>
        Assert.Equal(kind, IngestionSettings.FromConfig(ConfigurationFactory.ParseString($"denoise = {name}")).Denoise);

    [Fact]
    public void FromConfig_should_reject_bad_denoise_naming_the_key()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            IngestionSettings.FromConfig(ConfigurationFactory.ParseString("denoise = kalman")));
        Assert.Contains("denoise", e.Message);
        Assert.Contains("kalman", e.Message);
    }

    [Theory]
    [InlineData("median-window = 4", "median-window", "4")]
    [InlineData("median-window = abc", "median-window", "abc")]
    [InlineData("ema-alpha = 0", "ema-alpha", "0")]
    [InlineData("ema-alpha = 1.5", "ema-alpha", "1.5")]
    [InlineData("sequence-window = 1000", "sequence-window", "1000")]
    [InlineData("buffer-capacity = 0", "buffer-capacity", "0")]
    [InlineData("frame-buffer-capacity = -1", "frame-buffer-capacity", "-1")]
    [InlineData("max-channels = 0", "max-channels", "0")]
    [InlineData("max-batch-readings = many", "max-batch-readings", "many")]
    [InlineData("range { min = 5, max = 1 }", "range", "5")]
    [InlineData("range { min = x }", "range.min", "x")]
    [InlineData("channel-ranges = [ { min = 0, max = 1 }, { min = 3, max = 2 } ]", "channel-ranges[1]", "3")]
    [InlineData("channel-ranges = [ 5 ]", "channel-ranges[0]", "5")]
    [InlineData("max-channels = 1\nchannel-ranges = [ { min = 0, max = 1 }, { min = 0, max = 2 } ]", "channel-ranges", "2")]
    public void FromConfig_should_reject_invalid_values_naming_key_and_value(string hocon, string key, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => IngestionSettings.FromConfig(ConfigurationFactory.ParseString(hocon)));
        Assert.Contains(key, e.Message);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void FromConfig_should_default_missing_keys()
    {
        var s = IngestionSettings.FromConfig(ConfigurationFactory.ParseString("median-window = 3"));
        Assert.Equal(IngestionSettings.Default with { MedianWindow = 3, ChannelRanges = s.ChannelRanges }, s);
        Assert.Empty(s.ChannelRanges);
        Assert.Equal(IngestionSettings.Default, IngestionSettings.FromConfig(Config.Empty));
    }

    [Fact]
    public void DefaultHocon_should_parse_to_the_defaults()
    {
        var section = ConfigurationFactory.ParseString(IngestionSettings.DefaultHocon).GetConfig(IngestionSettings.ConfigPath);
        var s = IngestionSettings.FromConfig(section);
        var d = IngestionSettings.Default;
        Assert.Equal(d with { ChannelRanges = s.ChannelRanges }, s);
        Assert.Empty(s.ChannelRanges);
        Assert.Equal(DenoiseKind.Median, s.Denoise);
        Assert.Equal(new ChannelRange(-1e6f, 1e6f), s.DefaultRange);
    }

    [Fact]
    public void Validate_should_name_what_is_wrong()
    {
        var e = Assert.Throws<ArgumentException>(() => (IngestionSettings.Default with { SequenceWindow = 3000 }).Validate());
        Assert.Contains("SequenceWindow", e.Message);
        Assert.Contains("3000", e.Message);
        e = Assert.Throws<ArgumentException>(() => (IngestionSettings.Default with { DefaultRange = new(float.NaN, 1) }).Validate());
        Assert.Contains("DefaultRange", e.Message);
        e = Assert.Throws<ArgumentException>(() => new TelemetryPreprocessor(IngestionSettings.Default with { MedianWindow = 33 }));
        Assert.Contains("MedianWindow", e.Message);
        IngestionSettings.Default.Validate();
    }
}
