using System.Runtime.Serialization;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// Hostile and corrupt payloads must fail with <see cref="SerializationException"/> (what Akka remoting expects),
/// never with another exception type, never with a half-built message and never with a huge allocation.
/// </summary>
public sealed class EdgeSerializerMalformedInputTests : EdgeSerializationTestKit
{
    /// <summary>Runs the deserializer; returns null on success, the exception otherwise.</summary>
    private Exception? TryDeserialize(byte[] bytes, string manifest)
    {
        try
        {
            Deserialize(bytes, manifest);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);

    [Fact]
    public void Truncated_TelemetryBatch_should_throw_SerializationException_for_every_prefix()
    {
        var (bytes, manifest) = Serialize(SampleMessages.Telemetry());
        Assert.True(bytes.Length > 1_600);

        for (var len = 0; len < bytes.Length; len++)
        {
            var prefix = bytes[..len];
            var e = TryDeserialize(prefix, manifest);
            Assert.True(e is not null, $"prefix of {len}/{bytes.Length} bytes deserialized without error");
            Assert.True(e is SerializationException, $"prefix of {len}/{bytes.Length} bytes threw {e}");
        }
    }

    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void Truncated_payload_should_throw_SerializationException_for_every_manifest(string manifest)
    {
        var (bytes, _) = Serialize(SampleMessages.ForManifest(manifest));

        for (var len = 0; len < bytes.Length; len++)
        {
            var e = TryDeserialize(bytes[..len], manifest);
            if (len == 0 && bytes.Length == 1 && e is null) continue; // an empty payload is a field-less message of version 1
            // the other exception: a prefix that stops right before a trailing extension field is what an older release
            // (without that optional field) writes, so it must decode, and to a message that encodes back to exactly it
            if (e is null && Serialize(Deserialize(bytes[..len], manifest)).Bytes.AsSpan().SequenceEqual(bytes.AsSpan(0, len))) continue;
            Assert.True(e is SerializationException, $"'{manifest}' prefix {len}/{bytes.Length}: {e?.ToString() ?? "no exception"}");
        }
    }

    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void Trailing_garbage_should_throw_SerializationException(string manifest)
    {
        var (bytes, _) = Serialize(SampleMessages.ForManifest(manifest));

        foreach (var extra in new[] { new byte[] { 0 }, new byte[] { 0xFF }, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 } })
        {
            var e = Assert.Throws<SerializationException>(() => Deserialize([.. bytes, .. extra], manifest));
            Assert.Contains("trailing", e.Message);
            Assert.Contains($"'{manifest}'", e.Message);
        }
    }

    [Theory]
    [InlineData("zz")]
    [InlineData("TB")] // manifests are case-sensitive
    [InlineData("tbx")]
    [InlineData("t")]
    [InlineData("EdgeActors.Messages.TelemetryBatch, EdgeActors.Messages")]
    public void Unknown_manifest_should_throw_SerializationException_naming_it(string manifest)
    {
        var (bytes, _) = Serialize(SampleMessages.Telemetry());

        var e = Assert.Throws<SerializationException>(() => Deserialize(bytes, manifest));

        Assert.Contains($"'{manifest}'", e.Message);
    }

    [Fact]
    public void Empty_manifest_should_throw_SerializationException()
    {
        var e = TryDeserialize([], "");

        Assert.IsType<SerializationException>(e);
    }

    public static IEnumerable<object[]> HostileLengthPayloads() =>
        HostilePositionalFields().Select(c => new object[] { c[0], c[1], new byte[] { 1 }.Concat((byte[])c[2]).ToArray() }); // format version 1

    private static IEnumerable<object[]> HostilePositionalFields()
    {
        const ulong huge = BinReader_MaxElements; // at the limit: passes the cap, must still be refused before allocating
        ulong[] lengths = [huge, huge + 1, int.MaxValue, uint.MaxValue, ulong.MaxValue];
        foreach (var n in lengths)
        {
            var ns = n.ToString();
            yield return ["tb", ns + " sequences", new PayloadBuilder().String("d").VarI(4).VarU(n).ToArray()];
            yield return ["tb", ns + " timestamps", new PayloadBuilder().String("d").VarI(4).VarU(0).VarU(n).ToArray()];
            yield return ["tb", ns + " values", new PayloadBuilder().String("d").VarI(4).VarU(0).VarU(0).VarU(n).ToArray()];
            yield return ["tb", ns + "-byte device id", new PayloadBuilder().VarU(n).Raw(1, 2, 3).ToArray()];
            yield return ["cf", ns + " pixels", new PayloadBuilder().String("c").VarI(1).VarI(2).VarI(28).VarI(28).VarU(n).ToArray()];
            yield return ["ia", ns + " rejections", new PayloadBuilder().String("d").VarI(1).VarI(1).VarU(n).Raw(0, 1, 1).ToArray()];
            yield return ["ds", ns + " reason counts", new PayloadBuilder().String("d").String("n").VarI(1).VarI(1).VarI(1).VarI(1).VarU(n).Raw(1, 2).ToArray()];
            yield return ["ds", ns + " channel stats", new PayloadBuilder().String("d").String("n").VarI(1).VarI(1).VarI(1).VarI(1).VarU(0).VarU(n).Raw(new byte[25]).ToArray()];
            yield return ["co", ns + " members", new PayloadBuilder().String("a").VarU(n).Raw(1, 0, 1).ToArray()];
            yield return ["co", ns + " roles", new PayloadBuilder().String("a").VarU(1).String("m").VarU(n).Raw(1, 1).ToArray()];
            yield return ["co", ns + " regions", new PayloadBuilder().String("a").VarU(0).VarU(n).Raw(1, 0, 0).ToArray()];
            yield return ["rr", ns + "-byte reason", new PayloadBuilder().VarU(n).Raw(0x41).ToArray()];
        }
    }

    /// <summary>Mirror of the reader's cap (BinReader.MaxElements is internal).</summary>
    private const ulong BinReader_MaxElements = 16 * 1024 * 1024;

    [Theory]
    [MemberData(nameof(HostileLengthPayloads))]
    public void Huge_length_prefix_should_throw_SerializationException_without_allocating(string manifest, string what, byte[] payload)
    {
        // warm up (JIT, Akka's lookup paths) so the measurement below only sees the deserializer's own allocations
        _ = TryDeserialize(payload, manifest);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = TryDeserialize(payload, manifest);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(e is SerializationException, $"{what}: {e?.ToString() ?? "no exception"}");
        Assert.True(allocated < 64 * 1024, $"{what}: allocated {allocated:N0} bytes before refusing the payload");
    }

    [Fact]
    public void Overlong_varint_should_throw_SerializationException()
    {
        var payload = new PayloadBuilder().Byte(1).Raw(Enumerable.Repeat((byte)0xFF, 11).ToArray()).ToArray();

        var e = Assert.Throws<SerializationException>(() => Deserialize(payload, "rr"));
        Assert.Contains("varint", e.Message);
    }

    [Fact]
    public void Int_field_out_of_range_should_throw_SerializationException()
    {
        var payload = new PayloadBuilder().Byte(1).String("d").VarI((long)int.MaxValue + 1).VarU(0).VarU(0).VarU(0).ToArray();

        var e = Assert.Throws<SerializationException>(() => Deserialize(payload, "tb"));
        Assert.Contains("out of range", e.Message);
    }

    [Fact]
    public void Invalid_utf8_should_throw_SerializationException()
    {
        var payload = new PayloadBuilder().Byte(1).VarU(3).Raw(0xC3, 0x28).ToArray(); // invalid 2-byte sequence

        var e = Assert.Throws<SerializationException>(() => Deserialize(payload, "gs"));
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void Null_string_where_a_value_is_required_should_throw_SerializationException()
    {
        Assert.Throws<SerializationException>(() => Deserialize([1, 0], "rr")); // version 1, null string
    }

    [Theory]
    [InlineData((byte)0)]
    [InlineData((byte)10)]
    [InlineData((byte)255)]
    public void Unknown_reject_reason_should_throw_SerializationException(byte reason)
    {
        var ack = new PayloadBuilder().Byte(1).String("d").VarI(1).VarI(0).VarU(1).VarI(5).Byte(reason).String("x").String("n").ToArray();
        var state = new PayloadBuilder().Byte(1).String("d").String("n").VarI(1).VarI(1).VarI(1).VarI(1).VarU(1).Byte(reason).VarI(3)
            .VarU(0).VarI(0).VarI(0).VarI(0).VarI(0).ToArray();

        Assert.Contains(nameof(RejectReason), Assert.Throws<SerializationException>(() => Deserialize(ack, "ia")).Message);
        Assert.Contains(nameof(RejectReason), Assert.Throws<SerializationException>(() => Deserialize(state, "ds")).Message);
    }

    [Fact]
    public void Invalid_bool_should_throw_SerializationException()
    {
        var (bytes, _) = Serialize(new ClusterOverview("x", [], [], true));
        bytes[^1] = 2;

        Assert.Throws<SerializationException>(() => Deserialize(bytes, "co"));
    }

    [Fact]
    public void Hand_built_payload_should_match_the_serializer_wire_format()
    {
        // guards the builder used above (and pins the wire format of one message)
        var payload = new PayloadBuilder().Byte(1).String("dev").VarI(2).VarU(2).VarI(10).VarI(1).VarU(2).VarI(-5).VarI(-1)
            .VarU(4).Raw(BitConverter.GetBytes(1f)).Raw(BitConverter.GetBytes(2f)).Raw(BitConverter.GetBytes(3f)).Raw(BitConverter.GetBytes(4f))
            .ToArray();
        var batch = new TelemetryBatch(new DeviceId("dev"), 2, [10, 11], [-5, -6], [1f, 2f, 3f, 4f]);

        Assert.Equal(payload, Serialize(batch).Bytes);
        MessageAssert.Equal(batch, (TelemetryBatch)Deserialize(payload, "tb"));
    }

    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void Random_payloads_should_deserialize_or_throw_SerializationException(string manifest)
    {
        var rng = new Random(42);
        var failures = new List<string>();
        for (var i = 0; i < 2_000; i++)
        {
            var payload = new byte[rng.Next(0, i % 10 == 0 ? 512 : 48)];
            rng.NextBytes(payload);
            if (i % 3 != 2 && payload.Length > 0) payload[0] = 1; // format version 1: reach the fields
            if (i % 3 == 0 && payload.Length > 1) payload[1] = (byte)rng.Next(0, 8); // short first string: reach deeper fields
            var e = TryDeserialize(payload, manifest);
            if (e is not null and not SerializationException)
                failures.Add($"{e.GetType().Name} for {Hex(payload)}: {e.Message}");
        }

        Assert.True(failures.Count == 0, $"'{manifest}': {failures.Count} payloads escaped with another exception type:\n" + string.Join("\n", failures.Take(10)));
    }

    [Theory]
    [MemberData(nameof(SampleMessages.ManifestData), MemberType = typeof(SampleMessages))]
    public void Mutated_valid_payloads_should_deserialize_or_throw_SerializationException(string manifest)
    {
        var (valid, _) = Serialize(SampleMessages.ForManifest(manifest));
        var rng = new Random(42);
        var failures = new List<string>();
        for (var i = 0; i < 2_000; i++)
        {
            var payload = (byte[])valid.Clone();
            if (payload.Length == 0)
            {
                payload = new byte[rng.Next(1, 8)];
                rng.NextBytes(payload);
            }
            else
            {
                for (var k = rng.Next(1, 4); k > 0; k--)
                    payload[rng.Next(payload.Length)] = rng.Next(3) switch
                    {
                        0 => (byte)rng.Next(256),
                        1 => 0xFF,
                        _ => (byte)(payload[rng.Next(payload.Length)] ^ (1 << rng.Next(8))),
                    };
                if (i % 5 == 0) payload = payload[..rng.Next(payload.Length + 1)];
            }
            var e = TryDeserialize(payload, manifest);
            if (e is not null and not SerializationException)
                failures.Add($"{e.GetType().Name} for {Hex(payload)}: {e.Message}");
        }

        Assert.True(failures.Count == 0, $"'{manifest}': {failures.Count} payloads escaped with another exception type:\n" + string.Join("\n", failures.Take(10)));
    }
}
