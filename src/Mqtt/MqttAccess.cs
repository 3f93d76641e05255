using EdgeActors.Actors.Gateway;
using EdgeActors.Client.Security;
using EdgeActors.Messages;

namespace EdgeActors.Mqtt;

/// <summary>
/// Who may publish and subscribe what (plain rules, no Akka). <c>claims</c> null: the node has no client tokens
/// configured (demo defaults) or the client authenticated with a certificate of the deployment's CA: everything is
/// allowed. With a token: publishing needs scope <c>ingest</c>, subscribing <c>ingest</c> or <c>query</c>, and the
/// device id of the topic must start with the token's device prefix; a token with a device prefix may use only its
/// devices' topics (no wildcards over devices, no other topics).
/// </summary>
public static class MqttAccess
{
    public const string Usage =
        "topics: edgeactors/devices/{id}/telemetry|frames|commands/ack and $hw/events/device/{id}/twin/update|get (publish); " +
        "edgeactors/devices/{id}/ack|commands and $hw/events/device/{id}/twin/update/result|delta|document, twin/get/result (subscribe)";

    /// <summary>Null when the client may publish on <paramref name="topic"/>; else why not.</summary>
    public static string? CanPublish(ClientClaims? claims, string topic, int maxIdLength)
    {
        var parsed = MqttTopics.Parse(topic);
        if (parsed is not { } t)
            return Foreign(claims, topic);
        if (t.Kind == MqttTopicKind.AllOfDevice || !t.PublishedByDevice)
            return $"topic '{topic}' is published by the broker only; {Usage}";
        return Device(claims, t.DeviceId, maxIdLength, ClientTokens.Ingest);
    }

    /// <summary>Null when the client may subscribe to <paramref name="filter"/>; else why not.</summary>
    public static string? CanSubscribe(ClientClaims? claims, string filter, int maxIdLength)
    {
        var parsed = MqttTopics.Parse(filter);
        if (parsed is not { } t)
            return Foreign(claims, filter);
        if (MqttTopics.HasWildcard(t.DeviceId))
            return claims is null || claims.DevicePrefix.Length == 0
                ? null
                : $"client '{claims.ClientId}' may not subscribe to '{filter}': a wildcard over devices needs a token without device prefix (its token covers devices starting with '{claims.DevicePrefix}')";
        return Device(claims, t.DeviceId, maxIdLength, ClientTokens.Ingest, ClientTokens.Query);
    }

    private static string? Foreign(ClientClaims? claims, string topic)
    {
        if (MqttTopics.IsOurNamespace(topic)) return $"topic '{topic}' is not one of the broker's topics; {Usage}";
        if (claims is null || claims.DevicePrefix.Length == 0) return null; // relayed like any broker
        return $"client '{claims.ClientId}' may use only its devices' topics (devices starting with '{claims.DevicePrefix}'), not '{topic}'";
    }

    private static string? Device(ClientClaims? claims, string deviceId, int maxIdLength, params string[] scopes)
    {
        var problem = GatewayActor.ValidateDeviceId(new DeviceId(deviceId), maxIdLength);
        if (problem is not null) return $"topic names a bad device id: {problem}";
        if (claims is null) return null;
        if (!scopes.Any(claims.Has))
            return $"client '{claims.ClientId}' is not authorised: it needs scope '{string.Join("' or '", scopes)}', the token grants [{string.Join(",", claims.Scopes)}]";
        if (claims.DevicePrefix.Length > 0 && !deviceId.StartsWith(claims.DevicePrefix, StringComparison.Ordinal))
            return $"client '{claims.ClientId}' is not authorised for device '{deviceId}': its token covers devices starting with '{claims.DevicePrefix}'";
        return null;
    }
}
