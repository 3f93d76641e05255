using System.Runtime.Serialization;
using Akka.Configuration;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>Size limits per message kind, checked before a payload is decoded (derived from the manifest table).</summary>
public sealed class WireLimitTests : EdgeSerializationTestKit
{
    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void Every_message_kind_should_have_its_own_limit_within_the_frame_size(string manifest)
    {
        Assert.True(WireLimits.PerManifest.TryGetValue(manifest, out var limit),
            $"manifest '{manifest}' ({WireLimits.KindName(manifest)}) has no size limit: add it to WireLimits.PerManifest");
        Assert.InRange(limit, 1, WireLimits.MaxFrameBytes);
    }

    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void A_payload_over_its_kinds_limit_should_be_refused_naming_kind_size_and_limit(string manifest)
    {
        var limit = WireLimits.MaxPayloadBytes(manifest);
        var oversized = new byte[limit + 1];

        var ex = Assert.Throws<SerializationException>(() => Deserialize(oversized, manifest));

        Assert.Contains($"'{manifest}'", ex.Message);
        Assert.Contains(WireLimits.KindName(manifest), ex.Message);
        Assert.Contains($"{limit + 1} bytes", ex.Message);
        Assert.Contains($"limit for this kind is {limit} bytes", ex.Message);
    }

    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void Every_sample_should_fit_its_kinds_limit(string manifest)
    {
        var (bytes, _) = Serialize(SampleMessages.ForManifest(manifest));

        Assert.True(bytes.Length <= WireLimits.MaxPayloadBytes(manifest), $"{manifest}: sample is {bytes.Length} bytes");
    }

    [Fact]
    public void A_full_telemetry_batch_at_the_default_count_limits_should_fit_and_round_trip()
    {
        var s = IngestionSettings.Default;
        var n = s.MaxBatchReadings;
        var values = new float[n * s.MaxChannels];
        for (var i = 0; i < values.Length; i++) values[i] = i * 0.37f - 1e5f;
        var seq = Enumerable.Range(0, n).Select(i => 1_000_000_000L + i * 7L).ToArray();
        var ts = Enumerable.Range(0, n).Select(i => 1_735_689_600_000L + i * 13L).ToArray();
        var batch = new TelemetryBatch(new DeviceId(new string('d', 128)), s.MaxChannels, seq, ts, values);

        var (bytes, manifest) = Serialize(batch);

        Assert.True(bytes.Length <= WireLimits.MaxPayloadBytes(manifest), $"a full batch is {bytes.Length} bytes; the tb limit is {WireLimits.MaxPayloadBytes(manifest)}");
        Assert.Equal(n, ((TelemetryBatch)Deserialize(bytes, manifest)).Sequences.Length);
    }

    [Fact]
    public void The_frame_size_limit_should_match_the_nodes_configuration()
    {
        var conf = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "base.conf")));

        Assert.Equal(WireLimits.MaxFrameBytes, conf.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
    }

    [Fact]
    public void An_authenticated_request_should_be_held_to_its_inner_kinds_limit()
    {
        var query = new GetDeviceState(new DeviceId(new string('x', WireLimits.Request)));
        var (bytes, manifest) = Serialize(new Authenticated("token", query));
        Assert.Equal("Za", manifest);

        var ex = Assert.Throws<SerializationException>(() => Deserialize(bytes, manifest));

        Assert.Contains("'gs'", ex.Message);
        Assert.Contains(nameof(GetDeviceState), ex.Message);
    }

    [Fact]
    public void An_authenticated_request_should_round_trip_and_refuse_nesting()
    {
        var wrapped = new Authenticated(SampleMessages.SampleToken, new GetDeviceState(new DeviceId("sensor-ü")));
        var back = (Authenticated)Deserialize(Serialize(wrapped).Bytes, "Za");
        Assert.Equal(wrapped, back);

        Assert.Throws<ArgumentException>(() => Serialize(new Authenticated("a", new Authenticated("b", GetClusterOverview.Instance))));
        // hand-made: an envelope whose request claims to be another envelope
        var forged = Serialize(new Authenticated("a", new RequestRejected("x"))).Bytes;
        var patched = forged.ToArray();
        var at = Array.IndexOf(patched, (byte)'r');
        patched[at] = (byte)'Z';
        patched[at + 1] = (byte)'a';
        var ex = Assert.Throws<SerializationException>(() => Deserialize(patched, "Za"));
        Assert.Contains("nesting", ex.Message);
    }
}
