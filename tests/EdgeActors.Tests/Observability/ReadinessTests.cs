using System.Text.Json;
using EdgeActors.Actors.Observability;

namespace EdgeActors.Tests.Observability;

public sealed class ReadinessTests
{
    private static readonly Dictionary<string, int> None = new();

    [Fact]
    public void Ready_should_need_every_check_to_pass()
    {
        HealthCheck[] all = [Readiness.Member("Up"), HealthCheck.Pass("outbox", "open")];
        Assert.True(Readiness.IsReady(all));
        Assert.Equal(200, Readiness.StatusCode(all));
        HealthCheck[] one = [Readiness.Member("Joining"), HealthCheck.Pass("outbox", "open")];
        Assert.False(Readiness.IsReady(one));
        Assert.Equal(503, Readiness.StatusCode(one));
        Assert.False(Readiness.IsReady([]));
    }

    [Fact]
    public void Json_should_name_every_check_and_why_the_failing_ones_fail()
    {
        var json = JsonDocument.Parse(Readiness.Json([Readiness.Member("Leaving"), HealthCheck.Pass("outbox", "open")])).RootElement;
        Assert.False(json.GetProperty("ready").GetBoolean());
        Assert.Equal(["member", "outbox"], json.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToArray());
        var reasons = json.GetProperty("notReady").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(["member: this node is Leaving in the cluster, not Up"], reasons);
    }

    [Fact]
    public void Models_should_not_be_ready_before_a_served_model_is_loaded()
    {
        var check = Readiness.Models(["fmnist-mlp"], new Dictionary<string, int> { ["fmnist-mlp"] = 0 }, new HashSet<string> { "fmnist-mlp" });
        Assert.False(check.Ok);
        Assert.Contains("published but not loaded yet: fmnist-mlp", check.Detail);
        Assert.False(Readiness.Models(["fmnist-mlp"], None, new HashSet<string>()).Ok);
        Assert.False(Readiness.Models(["fmnist-mlp"], None, published: null).Ok);
    }

    [Fact]
    public void Models_should_be_ready_when_every_published_served_model_is_loaded()
    {
        var loaded = new Dictionary<string, int> { ["fmnist-mlp"] = 2, ["fmnist-fed"] = 0 };
        // fmnist-fed is served but nobody published it yet (no federated round ran): it does not hold the node back
        var check = Readiness.Models(["fmnist-mlp", "fmnist-fed"], loaded, new HashSet<string> { "fmnist-mlp" });
        Assert.True(check.Ok, check.Detail);
        Assert.Contains("fmnist-mlp v2", check.Detail);
        Assert.Contains("not published yet: fmnist-fed", check.Detail);
        // once published, it must be loaded too
        var waiting = Readiness.Models(["fmnist-mlp", "fmnist-fed"], loaded, new HashSet<string> { "fmnist-mlp", "fmnist-fed" },
            new Dictionary<string, string> { ["fmnist-fed"] = "download failed" });
        Assert.False(waiting.Ok);
        Assert.Contains("fmnist-fed (download failed)", waiting.Detail);
        Assert.True(Readiness.Models([], None, null).Ok);
    }

    [Fact]
    public void Metrics_settings_should_refuse_a_path_that_is_not_absolute_or_clashes_with_the_api()
    {
        Assert.Equal("/metrics", MetricsSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("enabled = on")).Path);
        Assert.False(MetricsSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("enabled = off")).Enabled);
        var e = Assert.Throws<ArgumentException>(() => MetricsSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("path = metrics")));
        Assert.Contains("edgeactors.metrics.path", e.Message);
        Assert.Throws<ArgumentException>(() => MetricsSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("path = \"/v2/metrics\"")));
    }
}
