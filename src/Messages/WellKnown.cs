namespace EdgeActors.Messages;

/// <summary>
/// What a client must know of a node to reach it: the actor system's name, node addresses and the paths of the actors
/// it talks to. Nodes start those actors under these names; the client library sends to these paths.
/// </summary>
public static class WellKnown
{
    /// <summary>The name of every node's actor system (and so of the addresses <c>akka.tcp://edgeactors@host:port</c>).</summary>
    public const string SystemName = "edgeactors";

    /// <summary>The gateway's actor name, under <c>/user</c>; registered with the ClusterClient receptionist.</summary>
    public const string GatewayName = "gateway";

    /// <summary>The gateway's path (ClusterClient.Send target).</summary>
    public const string GatewayPath = "/user/" + GatewayName;

    /// <summary>The ingest endpoint's actor name, under <c>/user</c>: the client's streaming ingest connection talks to it.</summary>
    public const string IngestName = "ingest";

    /// <summary>The ingest endpoint's path, appended to a node address.</summary>
    public const string IngestPath = "/user/" + IngestName;

    /// <summary>Accepts a full address (<c>akka.tcp://edgeactors@host:port</c>) or just <c>host:port</c>; with TLS the scheme is akka.ssl.tcp.</summary>
    public static string NodeAddress(string hostPortOrAddress, bool tls = false) =>
        hostPortOrAddress.Contains("://", StringComparison.Ordinal)
            ? hostPortOrAddress
            : $"{(tls ? "akka.ssl.tcp" : "akka.tcp")}://{SystemName}@{hostPortOrAddress}";
}
