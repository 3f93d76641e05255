using System.Text.Json;

namespace EdgeActors.Nodes.Hosting;

/// <summary>Reading a node's <c>/health/ready</c> answer (docs/metrics.md): plain functions, no Akka, no HTTP.</summary>
public static class NodeHealth
{
    /// <summary>The checks that say a node has joined: its member is Up and, where it has one, its shard region is registered.</summary>
    public static readonly IReadOnlyList<string> JoinChecks = ["member", "shard-region"];

    /// <summary>
    /// Null when the <c>/health/ready</c> body says the node has joined (every check of <see cref="JoinChecks"/> it lists
    /// passed, and it lists <c>member</c>), else why not. Other checks (models, outbox, store) are not judged: a
    /// cluster has formed before any model is published.
    /// </summary>
    public static string? NotJoined(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (!doc.RootElement.TryGetProperty("checks", out var checks) || checks.ValueKind != JsonValueKind.Array)
                return "no checks in the answer";
            var member = false;
            foreach (var c in checks.EnumerateArray())
            {
                var name = c.TryGetProperty("name", out var n) ? n.GetString() : null;
                if (name is null || !JoinChecks.Contains(name)) continue;
                member |= name == "member";
                if (!c.TryGetProperty("ok", out var ok) || ok.ValueKind != JsonValueKind.True)
                    return $"{name}: {(c.TryGetProperty("detail", out var d) ? d.GetString() : "not ok")}";
            }
            return member ? null : "no member check in the answer";
        }
        catch (JsonException ex)
        {
            return "not a health answer: " + ex.Message;
        }
    }
}
