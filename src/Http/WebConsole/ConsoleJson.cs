using System.Text.Json;
using Akka.Cluster;
using EdgeActors.Messages;

namespace EdgeActors.Http.WebConsole;

/// <summary>The console's JSON documents (plain functions of the messages they describe).</summary>
public static class ConsoleJson
{
    public static void WriteCluster(Utf8JsonWriter w, ClusterOverview o, string self)
    {
        w.WriteStartObject();
        w.WriteString("answeredBy", self);
        w.WriteStartArray("members");
        foreach (var m in o.Members)
        {
            var region = o.Regions.FirstOrDefault(r => r.Address == m.Address);
            w.WriteStartObject();
            w.WriteString("address", m.Address);
            w.WriteStartArray("roles");
            foreach (var r in m.Roles) w.WriteStringValue(r);
            w.WriteEndArray();
            w.WriteString("status", m.Status);
            if (region is not null)
            {
                w.WriteNumber("shards", region.Shards);
                w.WriteNumber("entities", region.Entities);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteBoolean("statsComplete", o.StatsComplete);
        w.WriteNumber("devices", o.Devices);
        w.WriteEndObject();
    }

    public static void WriteModels(Utf8JsonWriter w, ModelList list, InferenceStatus status,
        IReadOnlyList<(string Address, InferenceStatus? Status, string? Error)>? nodes = null)
    {
        w.WriteStartObject();
        w.WriteStartArray("models");
        foreach (var name in list.Models.Select(m => m.Name).Distinct().Order(StringComparer.Ordinal))
        {
            var policy = list.Policies.FirstOrDefault(p => p.Name == name);
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteNumber("activeVersion", policy?.ActiveVersion ?? 0);
            w.WriteNumber("pinnedVersion", policy?.PinnedVersion ?? 0);
            w.WriteStartArray("versions");
            foreach (var m in list.Models.Where(m => m.Name == name).OrderBy(m => m.Version))
            {
                w.WriteStartObject();
                w.WriteNumber("version", m.Version);
                w.WriteString("sha256", m.Sha256);
                w.WriteNumber("sizeBytes", m.SizeBytes);
                w.WriteNumber("createdAtMs", m.CreatedAtMs);
                w.WriteString("description", m.Description);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        // what the node that answered serves (the other nodes' /api/console/models say theirs)
        w.WriteStartObject("served");
        w.WriteString("node", status.Node);
        w.WriteString("provider", status.Provider);
        w.WriteStartArray("models");
        foreach (var m in status.Models)
        {
            w.WriteStartObject();
            w.WriteString("name", m.Name);
            w.WriteNumber("version", m.Version);
            w.WriteNumber("served", m.Served);
            w.WriteNumber("queueDepth", m.QueueDepth);
            if (!string.IsNullOrEmpty(m.LastError)) w.WriteString("lastError", m.LastError);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        // what every gateway node serves, by node (a node that did not answer is listed with its error)
        w.WriteStartArray("nodes");
        foreach (var (address, s, error) in nodes ?? [])
        {
            w.WriteStartObject();
            w.WriteString("node", address);
            if (s is null) w.WriteString("error", error ?? "no answer");
            else
            {
                w.WriteString("provider", s.Provider);
                w.WriteStartArray("models");
                foreach (var m in s.Models.OrderBy(m => m.Name, StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("name", m.Name);
                    w.WriteNumber("version", m.Version);
                    w.WriteNumber("served", m.Served);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A device search's answer: each match's node, health and last values (null state: its entity did not answer).</summary>
    public static void WriteSearch(Utf8JsonWriter w, string prefix, IReadOnlyList<string> matches, IReadOnlyList<DeviceState?> states, bool truncated, int edges, int edgesAnswered)
    {
        w.WriteStartObject();
        w.WriteString("prefix", prefix);
        w.WriteBoolean("truncated", truncated);
        w.WriteNumber("edges", edges);
        w.WriteNumber("edgesAnswered", edgesAnswered);
        w.WriteStartArray("matches");
        for (var i = 0; i < matches.Count; i++)
        {
            w.WriteStartObject();
            w.WriteString("id", matches[i]);
            if (i < states.Count && states[i] is { } s)
            {
                w.WriteString("node", s.Node);
                w.WriteString("health", (s.Sensor?.Health ?? DeviceHealth.Unknown).ToString().ToLowerInvariant());
                w.WriteNumber("lastSequence", s.LastSequence);
                w.WriteNumber("acceptedReadings", s.AcceptedReadings);
                w.WriteNumber("acceptedFrames", s.AcceptedFrames);
                w.WriteNumber("rejected", s.RejectedTotal);
                w.WriteStartArray("means");
                foreach (var c in s.Channels) w.WriteNumberValue(Math.Round(c.Mean, 3));
                w.WriteEndArray();
            }
            else w.WriteString("error", "its entity did not answer in time");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static void WritePolicy(Utf8JsonWriter w, ModelPolicyChanged c)
    {
        w.WriteStartObject();
        w.WriteString("name", c.Policy.Name);
        w.WriteNumber("activeVersion", c.Policy.ActiveVersion);
        w.WriteNumber("pinnedVersion", c.Policy.PinnedVersion);
        w.WriteEndObject();
    }

    /// <summary>address → status ("Unreachable" overrides the member status) of the members this node sees.</summary>
    public static IReadOnlyDictionary<string, string> Members(ClusterEvent.CurrentClusterState state)
    {
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        return state.Members.ToDictionary(m => m.Address.ToString(), m => unreachable.Contains(m.Address) ? "Unreachable" : m.Status.ToString());
    }

    public static byte[] Tick(ConsoleSample s, long readingsPerSecond, IReadOnlyDictionary<string, string> members, IReadOnlyList<string> alerts) => HttpIo.Json(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("readingsTotal", s.ReadingsTotal);
        w.WriteNumber("readingsPerSecond", readingsPerSecond);
        if (s.AckP50Ms is { } p50) w.WriteNumber("ackP50Ms", Math.Round(p50, 3)); else w.WriteNull("ackP50Ms");
        if (s.AckP99Ms is { } p99) w.WriteNumber("ackP99Ms", Math.Round(p99, 3)); else w.WriteNull("ackP99Ms");
        w.WriteNumber("breaker", s.Breaker);
        w.WriteStartObject("members");
        foreach (var (a, st) in members.OrderBy(m => m.Key, StringComparer.Ordinal)) w.WriteString(a, st);
        w.WriteEndObject();
        w.WriteStartArray("alerts");
        foreach (var a in alerts) w.WriteStringValue(a);
        w.WriteEndArray();
        w.WriteEndObject();
    });
}
