namespace EdgeActors.Mqtt;

/// <summary>What a topic of ours is for.</summary>
public enum MqttTopicKind
{
    /// <summary><c>edgeactors/devices/{id}/telemetry</c>: the device publishes readings (JSON).</summary>
    Telemetry,
    /// <summary><c>edgeactors/devices/{id}/frames</c>: the device publishes camera frames (raw 28×28, PNG or JSON).</summary>
    Frames,
    /// <summary><c>edgeactors/devices/{id}/ack</c>: the broker answers each publish.</summary>
    Ack,
    /// <summary><c>edgeactors/devices/{id}/commands</c>: the broker delivers commands.</summary>
    Commands,
    /// <summary><c>edgeactors/devices/{id}/commands/ack</c>: the device acknowledges a command.</summary>
    CommandAck,
    /// <summary><c>$hw/events/device/{id}/twin/update</c>: the device reports actual values.</summary>
    TwinUpdate,
    /// <summary><c>…/twin/update/result</c>: the broker answers a twin update.</summary>
    TwinUpdateResult,
    /// <summary><c>…/twin/update/delta</c>: desired values that differ from the reported ones (retained).</summary>
    TwinDelta,
    /// <summary><c>…/twin/update/document</c>: the whole twin after each change.</summary>
    TwinDocument,
    /// <summary><c>…/twin/get</c>: the device asks for its twin.</summary>
    TwinGet,
    /// <summary><c>…/twin/get/result</c>: the broker answers a twin get.</summary>
    TwinGetResult,
    /// <summary>A subscription filter <c>edgeactors/devices/{id}/#</c> or <c>$hw/events/device/{id}/#</c>: every topic of one device.</summary>
    AllOfDevice,
}

/// <summary>A parsed topic of ours: its kind and the device it belongs to.</summary>
public readonly record struct MqttTopic(MqttTopicKind Kind, string DeviceId)
{
    /// <summary>Whether devices publish on it (the others are published by the broker only).</summary>
    public bool PublishedByDevice => Kind is MqttTopicKind.Telemetry or MqttTopicKind.Frames or MqttTopicKind.CommandAck
        or MqttTopicKind.TwinUpdate or MqttTopicKind.TwinGet;
}

/// <summary>
/// The broker's topic layout (docs/mqtt.md). Device ids may contain '/' (<c>&lt;site&gt;/&lt;id&gt;</c>): the id is
/// everything between the prefix and the known suffix (the longest suffix that matches is taken, so an id cannot
/// end in one of the suffixes' first words, e.g. <c>…/commands</c>).
/// </summary>
public static class MqttTopics
{
    public const string DevicePrefix = "edgeactors/devices/";
    public const string TwinPrefix = "$hw/events/device/";

    // longest first: "/commands/ack" before "/ack", "/twin/update/result" before "/twin/update"
    private static readonly (string Suffix, MqttTopicKind Kind)[] DeviceSuffixes =
    [
        ("/commands/ack", MqttTopicKind.CommandAck),
        ("/telemetry", MqttTopicKind.Telemetry),
        ("/commands", MqttTopicKind.Commands),
        ("/frames", MqttTopicKind.Frames),
        ("/ack", MqttTopicKind.Ack),
        ("/#", MqttTopicKind.AllOfDevice),
    ];

    private static readonly (string Suffix, MqttTopicKind Kind)[] TwinSuffixes =
    [
        ("/twin/update/document", MqttTopicKind.TwinDocument),
        ("/twin/update/result", MqttTopicKind.TwinUpdateResult),
        ("/twin/update/delta", MqttTopicKind.TwinDelta),
        ("/twin/get/result", MqttTopicKind.TwinGetResult),
        ("/twin/update", MqttTopicKind.TwinUpdate),
        ("/twin/get", MqttTopicKind.TwinGet),
        // filters over one device's twin topics (the id must not swallow "/twin")
        ("/twin/update/#", MqttTopicKind.AllOfDevice),
        ("/twin/get/#", MqttTopicKind.AllOfDevice),
        ("/twin/#", MqttTopicKind.AllOfDevice),
        ("/#", MqttTopicKind.AllOfDevice),
    ];

    /// <summary>The topic (or subscription filter) when it is one of ours with a non-empty device id; else null.</summary>
    public static MqttTopic? Parse(string? topic)
    {
        if (string.IsNullOrEmpty(topic)) return null;
        var (prefix, suffixes) = topic.StartsWith(DevicePrefix, StringComparison.Ordinal) ? (DevicePrefix, DeviceSuffixes)
            : topic.StartsWith(TwinPrefix, StringComparison.Ordinal) ? (TwinPrefix, TwinSuffixes)
            : (null, null);
        if (prefix is null) return null;
        foreach (var (suffix, kind) in suffixes!)
        {
            if (topic.Length <= prefix.Length + suffix.Length || !topic.EndsWith(suffix, StringComparison.Ordinal)) continue;
            var id = topic.Substring(prefix.Length, topic.Length - prefix.Length - suffix.Length);
            return new MqttTopic(kind, id);
        }
        return null;
    }

    /// <summary>Whether the id part holds an MQTT wildcard (a filter over several devices).</summary>
    /// <summary>
    /// The device a subscription follows as that device's connection (its commands, twin delta or document, or all of
    /// its topics; no wildcard over devices), or null.
    /// </summary>
    public static string? FollowedDevice(string filter) =>
        Parse(filter) is { } t && !HasWildcard(t.DeviceId)
        && t.Kind is MqttTopicKind.Commands or MqttTopicKind.TwinDelta or MqttTopicKind.TwinDocument or MqttTopicKind.AllOfDevice
            ? t.DeviceId : null;

    public static bool HasWildcard(string deviceId) => deviceId.AsSpan().IndexOfAny('+', '#') >= 0;

    /// <summary>Whether the topic starts like one of ours (used to name a wrong suffix clearly).</summary>
    public static bool IsOurNamespace(string? topic) => topic is not null
        && (topic.StartsWith(DevicePrefix, StringComparison.Ordinal) || topic.StartsWith(TwinPrefix, StringComparison.Ordinal));

    public static string Telemetry(string id) => DevicePrefix + id + "/telemetry";
    public static string Frames(string id) => DevicePrefix + id + "/frames";
    public static string Ack(string id) => DevicePrefix + id + "/ack";
    public static string Commands(string id) => DevicePrefix + id + "/commands";
    public static string CommandAck(string id) => DevicePrefix + id + "/commands/ack";
    public static string TwinUpdate(string id) => TwinPrefix + id + "/twin/update";
    public static string TwinUpdateResult(string id) => TwinPrefix + id + "/twin/update/result";
    public static string TwinDelta(string id) => TwinPrefix + id + "/twin/update/delta";
    public static string TwinDocument(string id) => TwinPrefix + id + "/twin/update/document";
    public static string TwinGet(string id) => TwinPrefix + id + "/twin/get";
    public static string TwinGetResult(string id) => TwinPrefix + id + "/twin/get/result";
}
