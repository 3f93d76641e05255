using EdgeActors.Client.Serialization;
using System.Runtime.CompilerServices;
using System.Runtime.Serialization;
using System.Text.Json;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// Compatibility between releases (docs/wire-format.md): the bytes of one sample of every message kind, written by the
/// serializer of wire format version 1, are frozen in <c>Frozen/v1.json</c> (manifest → base64). They must decode
/// forever; a release that can no longer read them cannot run side by side with version 1 nodes.
/// <para>
/// Never regenerate <c>Frozen/v1.json</c> to make a failing test pass: that is exactly the incompatibility this test
/// exists to catch. (It was generated once with <c>EDGEACTORS_FREEZE_WIRE=1</c>, which rewrites the file from the
/// current serializer.)
/// </para>
/// </summary>
public sealed class WireFormatCompatibilityTests : EdgeSerializationTestKit
{
    private static string FrozenPath([CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "Frozen", "v1.json");

    /// <summary>Samples beyond <see cref="SampleMessages.All"/>: messages whose optional extension fields are set.</summary>
    private static IEnumerable<(string Key, IEdgeMessage Message)> Samples()
    {
        foreach (var m in SampleMessages.All()) yield return (EdgeSerializer.Manifests[m.GetType()], m);
        var pixels = Enumerable.Range(0, 2 * 784).Select(i => (byte)(i * 7)).ToArray();
        yield return ("if+ByteInput", Infer.Bytes("fmnist-cnn", 12_345, 2, pixels, InferencePriority.Normal));
        yield return ("ss-BacklogRecords", SampleMessages.SyncState() with { BacklogRecords = 0 });
    }

    private static string ManifestOf(string key) => key.Split('+', '-')[0];

    private static Dictionary<string, byte[]> Frozen()
    {
        var path = FrozenPath();
        if (Environment.GetEnvironmentVariable("EDGEACTORS_FREEZE_WIRE") == "1" && !File.Exists(path)) return [];
        Assert.True(File.Exists(path), $"{path} is missing");
        return JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path))!
            .ToDictionary(kv => kv.Key, kv => Convert.FromBase64String(kv.Value));
    }

    [Fact]
    public void Frozen_v1_file_should_hold_every_message_kind()
    {
        if (Environment.GetEnvironmentVariable("EDGEACTORS_FREEZE_WIRE") == "1")
        {
            var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, message) in Samples()) map[key] = Convert.ToBase64String(Serialize(message).Bytes);
            Directory.CreateDirectory(Path.GetDirectoryName(FrozenPath())!);
            File.WriteAllText(FrozenPath(), JsonSerializer.Serialize(map, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }

        var frozen = Frozen();
        var missing = EdgeSerializer.Manifests.Values.Concat(Samples().Select(s => s.Key)).Distinct()
            .Where(m => !frozen.ContainsKey(m)).Order(StringComparer.Ordinal).ToList();

        Assert.True(missing.Count == 0, "no frozen v1 payload for: " + string.Join(", ", missing));
        Assert.All(frozen.Values, bytes => Assert.Equal(WireFormat.Version, bytes[0]));
    }

    public static IEnumerable<object[]> FrozenKeys() => Samples().Select(s => new object[] { s.Key });

    [Theory]
    [MemberData(nameof(FrozenKeys))]
    public void Frozen_v1_payload_should_decode_to_the_sample_message(string key)
    {
        var expected = Samples().Single(s => s.Key == key).Message;
        var frozen = Frozen()[key];

        var decoded = Deserialize(frozen, ManifestOf(key));

        AssertSameMessage(expected, decoded);
        // what this release writes starts with the frozen bytes: positional fields never change, anything new is an
        // extension field appended after them (which a version 1 reader skips)
        var again = Serialize(decoded).Bytes;
        Assert.True(again.AsSpan().StartsWith(frozen), $"'{key}': this release no longer writes the v1 positional fields");
    }

    private static readonly byte[] Future = System.Text.Encoding.UTF8.GetBytes("added by release n+1 — ü");

    /// <summary>Unknown extension fields of every wire type, as a newer release would append them.</summary>
    private static byte[] NewerReleaseFields() =>
        new PayloadBuilder()
            .VarU(15 << 3 | 0).VarI(-123_456_789)                          // field 15, varint
            .VarU(16 << 3 | 2).VarU((ulong)Future.Length).Raw(Future)      // field 16, length-delimited
            .VarU(17 << 3 | 5).Raw(1, 2, 3, 4)                              // field 17, fixed32
            .VarU(300 << 3 | 1).Raw(1, 2, 3, 4, 5, 6, 7, 8)                 // field 300 (two-byte key), fixed64
            .VarU(18 << 3 | 2).VarU(0)                                      // field 18, empty bytes
            .ToArray();

    [Theory]
    [MemberData(nameof(FrozenKeys))]
    public void Payload_of_a_newer_release_should_decode_skipping_its_unknown_fields(string key)
    {
        var expected = Samples().Single(s => s.Key == key).Message;
        var manifest = ManifestOf(key);
        var newer = Frozen()[key].Concat(NewerReleaseFields()).ToArray();

        AssertSameMessage(expected, Deserialize(newer, manifest));
    }

    [Fact]
    public void Payload_of_an_older_release_without_a_trailing_optional_field_should_decode_with_the_default()
    {
        var withField = Frozen()["ss"];
        var withoutField = Frozen()["ss-BacklogRecords"];
        // the only difference is the extension field (1 << 3 | varint) holding BacklogRecords
        Assert.Equal(withoutField, withField[..withoutField.Length]);
        Assert.Equal((byte)(1 << 3 | 0), withField[withoutField.Length]);

        var older = (SyncStatus)Deserialize(withoutField, "ss");
        var newer = (SyncStatus)Deserialize(withField, "ss");

        Assert.Equal(0, older.BacklogRecords);
        Assert.Equal(1_235, newer.BacklogRecords);
        AssertSameMessage(newer with { BacklogRecords = 0 }, older);

        // same for Infer.ByteInput: without the field, the request carries floats (ByteInput null)
        var bytesInfer = Frozen()["if+ByteInput"];
        var floatsOnly = (Infer)Deserialize(bytesInfer[..(bytesInfer.Length - 2 * 784 - 3)], "if"); // key 1 byte, length 2 bytes, pixels
        Assert.Null(floatsOnly.ByteInput);
        Assert.Equal("fmnist-cnn", floatsOnly.Model);
        Assert.Equal(12_345, floatsOnly.RequestId);
    }

    [Fact]
    public void Payload_of_an_unknown_format_version_should_be_refused_naming_manifest_and_version()
    {
        var payload = (byte[])Frozen()["tb"].Clone();
        payload[0] = 2;

        var e = Assert.Throws<SerializationException>(() => Deserialize(payload, "tb"));

        Assert.Contains("'tb'", e.Message);
        Assert.Contains("version 2", e.Message);
        Assert.Contains("at byte 1", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0 })]                 // field number 0
    [InlineData(new byte[] { 1 << 3 | 3 })]        // wire type 3 (protobuf's deprecated groups): not in this format
    [InlineData(new byte[] { 1 << 3 | 2, 5, 1 })]  // length 5, one byte there
    [InlineData(new byte[] { 1 << 3 | 1, 1, 2 })]  // fixed64 cut short
    [InlineData(new byte[] { 0x80 })]              // key varint cut short
    public void Malformed_extension_field_should_throw_SerializationException_naming_manifest_and_offset(byte[] extension)
    {
        var frozen = Frozen()["ia"];

        var e = Assert.Throws<SerializationException>(() => Deserialize([.. frozen, .. extension], "ia"));

        Assert.Contains("'ia'", e.Message);
        Assert.Contains("trailing extension", e.Message);
        Assert.Contains("at byte", e.Message);
    }

    [Fact]
    public void Empty_payload_should_decode_a_field_less_message_as_version_1()
    {
        Assert.Same(StopDevice.Instance, Deserialize([], "sd"));
        Assert.Same(StopDevice.Instance, Deserialize([WireFormat.Version], "sd"));
        Assert.Equal(new[] { WireFormat.Version }, Serialize(StopDevice.Instance).Bytes);
    }

    private static void AssertSameMessage(IEdgeMessage expected, object actual)
    {
        if (expected is SyncBatch sb)
        {
            // Brotli's output may change with the runtime: compare the records the payload holds, not its bytes
            var sa = Assert.IsType<SyncBatch>(actual);
            Assert.Equal((sb.Edge, sb.BatchId, sb.Count), (sa.Edge, sa.BatchId, sa.Count));
            var want = SyncCodec.Decode(sb.Payload, sb.Count, sb.RawBytes, 1 << 24);
            var got = SyncCodec.Decode(sa.Payload, sa.Count, sa.RawBytes, 1 << 24);
            Assert.Equal(want.Count, got.Count);
            for (var i = 0; i < want.Count; i++) MessageAssert.Equal(want[i], got[i]);
            return;
        }
        MessageAssert.Equal(expected, actual);
    }
}
