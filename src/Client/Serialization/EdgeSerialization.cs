using Akka.Configuration;

using EdgeActors.Messages;

namespace EdgeActors.Client.Serialization;

/// <summary>The one binding of <see cref="IEdgeMessage"/> to <see cref="EdgeSerializer"/>, as HOCON.</summary>
public static class EdgeSerialization
{
    public const string SerializerName = "edgeactors";

    public static readonly string Hocon = $$"""
        akka.actor {
          serializers.{{SerializerName}} = "{{typeof(EdgeSerializer).AssemblyQualifiedName!.Split(',')[0]}}, {{typeof(EdgeSerializer).Assembly.GetName().Name}}"
          serialization-bindings {
            "{{typeof(IEdgeMessage).FullName}}, {{typeof(IEdgeMessage).Assembly.GetName().Name}}" = {{SerializerName}}
          }
          serialization-identifiers {
            "{{typeof(EdgeSerializer).FullName}}, {{typeof(EdgeSerializer).Assembly.GetName().Name}}" = {{EdgeSerializer.Id}}
          }
        }
        """;

    public static Config Config => ConfigurationFactory.ParseString(Hocon);
}
