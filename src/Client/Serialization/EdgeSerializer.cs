using Akka.Actor;
using Akka.Serialization;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Client.Serialization;

/// <summary>
/// The Akka.NET binding of our wire format: every <see cref="Messages.IEdgeMessage"/> crosses the wire through
/// <see cref="EdgeCodec"/> (src/Messages, no Akka), with its two-letter manifests. Bound by <see cref="EdgeSerialization"/>.
/// It lives in the client library because client apps and nodes both load it (the nodes reference the client library).
/// </summary>
public sealed class EdgeSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = EdgeCodec.Id;

    /// <summary>Every concrete message type on the wire, by manifest.</summary>
    public static IReadOnlyDictionary<Type, string> Manifests => EdgeCodec.Manifests;

    public override int Identifier => Id;

    public override string Manifest(object o) => EdgeCodec.Instance.Manifest(o);

    public override byte[] ToBinary(object obj) => EdgeCodec.Instance.ToBinary(obj);

    public override object FromBinary(byte[] bytes, string manifest) => EdgeCodec.Instance.FromBinary(bytes, manifest);
}
