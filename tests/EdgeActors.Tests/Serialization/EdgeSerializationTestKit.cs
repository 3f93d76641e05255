using EdgeActors.Client.Serialization;
using Akka.Serialization;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// TestKit whose actor system is configured with <see cref="EdgeSerialization.Config"/> only, so every assertion
/// goes through Akka's own serializer lookup (bindings) and not through a hand-constructed serializer.
/// </summary>
public abstract class EdgeSerializationTestKit : Akka.TestKit.Xunit2.TestKit
{
    protected EdgeSerializationTestKit() : base(EdgeSerialization.Config)
    {
    }

    /// <summary>The serializer Akka picks for <paramref name="message"/>; fails unless it is the EdgeSerializer.</summary>
    protected EdgeSerializer SerializerFor(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        var edge = Assert.IsType<EdgeSerializer>(serializer);
        Assert.Equal(EdgeSerializer.Id, edge.Identifier);
        return edge;
    }

    /// <summary>The EdgeSerializer instance the actor system binds <see cref="Messages.IEdgeMessage"/> to.</summary>
    protected EdgeSerializer EdgeSerializerInstance =>
        Assert.IsType<EdgeSerializer>(Sys.Serialization.FindSerializerForType(typeof(Messages.IEdgeMessage)));

    protected (byte[] Bytes, string Manifest) Serialize(object message)
    {
        var serializer = SerializerFor(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        Assert.Equal(((SerializerWithStringManifest)serializer).Manifest(message), manifest);
        return (serializer.ToBinary(message), manifest);
    }

    protected object Deserialize(byte[] bytes, string manifest) =>
        Sys.Serialization.Deserialize(bytes, EdgeSerializer.Id, manifest);

    /// <summary>Serialize and deserialize through the actor system; also checks the encoding is canonical.</summary>
    protected T RoundTrip<T>(T message) where T : notnull
    {
        var (bytes, manifest) = Serialize(message);
        var back = Deserialize(bytes, manifest);
        var typed = Assert.IsType<T>(back);
        // re-serializing the copy yields byte-identical output (deterministic, canonical encoding)
        Assert.Equal(bytes, SerializerFor(typed).ToBinary(typed));
        return typed;
    }
}
