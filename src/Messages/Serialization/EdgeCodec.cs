using System.Collections.Frozen;
using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>
/// Compact binary codec (no Akka: the Akka.NET binding is EdgeActors.Client.Serialization.EdgeSerializer) for every <see cref="IEdgeMessage"/>: two-letter manifests, varints, delta-encoded
/// sequence numbers and timestamps, raw little-endian floats. Malformed payloads fail with a
/// <see cref="SerializationException"/> naming the manifest and the byte offset; they never produce a half-built message.
/// <para>
/// This class only dispatches: each feature codec (<see cref="DeviceCodec"/>, <see cref="ClusterCodec"/>,
/// <see cref="InferenceCodec"/>, <see cref="SyncCodec"/>, <see cref="IngestStreamCodec"/>, <see cref="FederatedCodec"/>,
/// <see cref="LocalityCodec"/>, <see cref="AdapterCodec"/>, <see cref="TwinCodec"/>) lists its <see cref="MessageKinds"/> (manifest, writer,
/// reader) once, the primitives are <see cref="BinWriter"/> and <see cref="BinReader"/>, and the
/// <see cref="Authenticated"/> envelope (<see cref="SecurityCodec"/>) wraps another message's manifest and payload.
/// </para>
/// <para>
/// Versioned so that two releases run side by side (<see cref="WireFormat"/>, docs/wire-format.md): every payload is
/// <c>[version byte 1][positional fields of version 1][extension fields]</c>, where extension fields are
/// <c>varint(field &lt;&lt; 3 | wire type)</c> + value; readers skip extension fields they do not know and use defaults for
/// missing ones. Extension fields in use: <see cref="Infer.ByteInput"/> (<c>if</c> field 1, bytes, <see cref="InferenceCodec"/>)
/// and <see cref="SyncStatus.BacklogRecords"/> (<c>ss</c> field 1, varint, <see cref="SyncCodec"/>), both omitted when unset.
/// </para>
/// </summary>
public sealed class EdgeCodec
{
    public const int Id = 4242;

    [ThreadStatic] private static BinWriter? _writer;

    /// <summary>One codec serves every thread (its write buffer is per thread).</summary>
    public static EdgeCodec Instance { get; } = new();

    private static readonly MessageKind[] Kinds =
    [
        .. DeviceCodec.Kinds, .. ClusterCodec.Kinds, .. InferenceCodec.Kinds, .. SyncCodec.Kinds, .. IngestStreamCodec.Kinds,
        .. FederatedCodec.Kinds, .. SecAggCodec.Kinds, .. LocalityCodec.Kinds, .. AdapterCodec.Kinds, .. TwinCodec.Kinds,
    ];

    private static readonly FrozenDictionary<Type, MessageKind> ByType = Kinds.ToFrozenDictionary(k => k.Type);

    /// <summary>By the manifest's two characters as one int: about half the cost of a lookup by string, on every message read.</summary>
    private static readonly FrozenDictionary<int, MessageKind> ByManifest = Kinds.ToFrozenDictionary(k =>
        ManifestKey(k.Manifest) is var key and >= 0 ? key : throw new InvalidOperationException($"manifest '{k.Manifest}' is not two characters"));

    private static int ManifestKey(string manifest) => manifest.Length == 2 ? manifest[0] << 16 | manifest[1] : -1;

    /// <summary>Every concrete message type this serializer handles, by manifest (used by tests and docs).</summary>
    public static IReadOnlyDictionary<Type, string> Manifests { get; } =
        Kinds.Select(k => KeyValuePair.Create(k.Type, k.Manifest)).Concat(SecurityCodec.Manifests).ToDictionary();

    public string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var m)
            ? m
            : throw new ArgumentException($"EdgeSerializer has no manifest for {o.GetType().FullName}; add it to a feature codec's Kinds (see EdgeCodec)");

    public byte[] ToBinary(object obj)
    {
        if (obj is Authenticated auth)
        {
            if (auth.Request is Authenticated) throw new ArgumentException("an Authenticated request cannot wrap another Authenticated");
            return SecurityCodec.WriteAuthenticated(auth.Token, Manifest(auth.Request), ToBinary(auth.Request));
        }
        var w = _writer ??= new BinWriter();
        w.Reset();
        w.Version();
        // The hottest kind skips the lookup: the lookup and the two delegate calls would add about a quarter to the
        // encoding of a one-reading batch (a type test adds nothing measurable).
        if (obj is TelemetryBatch t) DeviceCodec.WriteTelemetry(w, t);
        else if (ByType.TryGetValue(obj.GetType(), out var kind)) kind.Write(w, obj);
        else throw new ArgumentException($"EdgeSerializer cannot serialize {obj.GetType().FullName}");
        return w.ToArray();
    }

    public object FromBinary(byte[] bytes, string manifest)
    {
        WireLimits.Check(manifest, bytes.Length);
        if (manifest == SecurityCodec.AuthenticatedManifest)
        {
            var (token, innerManifest, payload) = SecurityCodec.ReadAuthenticated(bytes);
            return new Authenticated(token, (IEdgeMessage)FromBinary(payload, innerManifest));
        }
        var r = new BinReader(bytes, manifest);
        r.Version();
        if (!ByManifest.TryGetValue(ManifestKey(manifest), out var kind))
            throw new SerializationException($"EdgeSerializer: unknown manifest '{manifest}'");
        var result = kind.Read(ref r);
        r.EndMessage(); // skips the extension fields of a newer release
        return result;
    }
}
