using System.Text.Json;

namespace EdgeActors.Actors.Observability;

/// <summary>One readiness check: its name, whether it passes, and what it found (why not, when it fails).</summary>
public sealed record HealthCheck(string Name, bool Ok, string Detail)
{
    public static HealthCheck Pass(string name, string detail) => new(name, true, detail);
    public static HealthCheck Fail(string name, string detail) => new(name, false, detail);
}

/// <summary>
/// Composes a node's readiness from its checks (<c>/health/ready</c>, docs/metrics.md): ready when every check passes
/// and there is at least one; the answer names each check, and the reason of each that fails.
/// </summary>
public static class Readiness
{
    public static bool IsReady(IReadOnlyList<HealthCheck> checks) => checks.Count > 0 && checks.All(c => c.Ok);

    /// <summary>200 when ready, else 503.</summary>
    public static int StatusCode(IReadOnlyList<HealthCheck> checks) => IsReady(checks) ? 200 : 503;

    /// <summary><c>{"ready":b,"checks":[{"name","ok","detail"}...],"notReady":["name: detail"...]}</c></summary>
    public static byte[] Json(IReadOnlyList<HealthCheck> checks)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteBoolean("ready", IsReady(checks));
            w.WriteStartArray("checks");
            foreach (var c in checks)
            {
                w.WriteStartObject();
                w.WriteString("name", c.Name);
                w.WriteBoolean("ok", c.Ok);
                w.WriteString("detail", c.Detail);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("notReady");
            if (checks.Count == 0) w.WriteStringValue("no checks: nothing says this node is ready");
            foreach (var c in checks.Where(c => !c.Ok)) w.WriteStringValue($"{c.Name}: {c.Detail}");
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The member check: this node's own status in the cluster must be Up.</summary>
    public static HealthCheck Member(string status) => status switch
    {
        "Up" => HealthCheck.Pass("member", "this node is Up in the cluster"),
        // Akka reports a node that has not joined yet (or was removed) as Removed
        "Removed" => HealthCheck.Fail("member", "this node is not a member of the cluster (not joined yet, or removed)"),
        _ => HealthCheck.Fail("member", $"this node is {status} in the cluster, not Up"),
    };

    /// <summary>
    /// The models check for a node serving <paramref name="serve"/>: ready when at least one of them is loaded and every
    /// one the registry has published (<paramref name="published"/>; null when the registry did not answer: only the
    /// loaded ones are judged) is loaded. A served model nobody has published yet (e.g. the federated model before the
    /// first round) does not hold the node back. <paramref name="loaded"/>: name → loaded version (0 = none yet);
    /// <paramref name="errors"/>: the last error per model, quoted in the reason.
    /// </summary>
    public static HealthCheck Models(IReadOnlyCollection<string> serve, IReadOnlyDictionary<string, int> loaded,
        IReadOnlySet<string>? published, IReadOnlyDictionary<string, string>? errors = null)
    {
        if (serve.Count == 0) return HealthCheck.Pass("models", "this node serves no model");
        bool IsLoaded(string n) => loaded.TryGetValue(n, out var v) && v > 0;
        string Why(string n) => errors is not null && errors.TryGetValue(n, out var e) && e.Length > 0 ? $" ({e})" : "";
        var have = serve.Where(IsLoaded).ToArray();
        var waiting = serve.Where(n => !IsLoaded(n) && published is not null && published.Contains(n)).ToArray();
        var unpublished = serve.Where(n => !IsLoaded(n) && published is not null && !published.Contains(n)).ToArray();
        if (waiting.Length > 0)
            return HealthCheck.Fail("models", "published but not loaded yet: " + string.Join(", ", waiting.Select(n => n + Why(n))));
        if (have.Length == 0)
            return HealthCheck.Fail("models", $"none of the models this node serves is loaded yet ({string.Join(", ", serve.Select(n => n + Why(n)))})" +
                (published is null ? "; the model registry did not answer" : unpublished.Length == serve.Count ? "; none is published in the registry" : ""));
        var detail = "loaded: " + string.Join(", ", have.Select(n => $"{n} v{loaded[n]}"));
        if (unpublished.Length > 0) detail += "; not published yet: " + string.Join(", ", unpublished);
        if (published is null) detail += "; the model registry did not answer (only loaded models judged)";
        return HealthCheck.Pass("models", detail);
    }
}

/// <summary>Bound from <c>edgeactors.metrics</c>: whether the node measures and serves <c>/metrics</c> (docs/metrics.md).</summary>
public sealed record MetricsSettings(bool Enabled, string Path, bool Runtime)
{
    public const string Section = "edgeactors.metrics";

    public static MetricsSettings Default { get; } = new(true, "/metrics", true);

    public static MetricsSettings FromConfig(Akka.Configuration.Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        return new MetricsSettings(
            section.GetBoolean("enabled", Default.Enabled),
            section.GetString("path", Default.Path),
            section.GetBoolean("runtime", Default.Runtime)).Validate();
    }

    public MetricsSettings Validate()
    {
        if (string.IsNullOrWhiteSpace(Path) || !Path.StartsWith('/') || Path.Length < 2)
            throw new ArgumentException($"{Section}.path must be an absolute URL path such as \"/metrics\", not \"{Path}\"");
        if (Path.StartsWith("/v1/", StringComparison.Ordinal) || Path.StartsWith("/v2/", StringComparison.Ordinal) || Path.StartsWith("/health/", StringComparison.Ordinal))
            throw new ArgumentException($"{Section}.path \"{Path}\" clashes with the node's API (/v1, /v2, /health)");
        return this;
    }
}
