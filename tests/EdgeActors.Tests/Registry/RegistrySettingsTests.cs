using Akka.Configuration;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;

namespace EdgeActors.Tests.Registry;

public sealed class RegistrySettingsTests
{
    [Fact]
    public void Missing_sections_should_give_the_defaults()
    {
        Assert.Equal(RegistrySettings.Default, RegistrySettings.FromConfig(null));
        Assert.Equal("registry.db", RegistrySettings.Default.DatabasePath);
        Assert.Equal(256 * 1024, RegistrySettings.Default.ChunkBytes);
        Assert.Empty(ModelHostSettings.FromConfig(null).Serve);
    }

    [Fact]
    public void Settings_should_bind_from_hocon()
    {
        var config = ConfigurationFactory.ParseString("""
            edgeactors.registry { database-path = "/var/lib/edge/models.db", chunk-bytes = 64KiB }
            edgeactors.inference {
              serve = ["fmnist-mlp", "fmnist-cnn", "fmnist-mlp"]
              fetch { chunk-timeout = 3s, chunk-bytes = 32KiB, backoff-min = 1s, backoff-max = 10s, resync-interval = 0s }
              status-timeout = 1s
            }
            """);

        var registry = RegistrySettings.FromConfig(config.GetConfig("edgeactors.registry"));
        var host = ModelHostSettings.FromConfig(config.GetConfig("edgeactors.inference"));

        Assert.Equal(new RegistrySettings("/var/lib/edge/models.db", 64 * 1024), registry);
        Assert.Equal(["fmnist-mlp", "fmnist-cnn"], host.Serve);
        Assert.Equal(TimeSpan.FromSeconds(3), host.ChunkTimeout);
        Assert.Equal(32 * 1024, host.ChunkBytes);
        Assert.Equal(TimeSpan.FromSeconds(1), host.BackoffMin);
        Assert.Equal(TimeSpan.FromSeconds(10), host.BackoffMax);
        Assert.Equal(TimeSpan.Zero, host.ResyncInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), host.StatusTimeout);
    }

    [Fact]
    public void A_chunk_size_above_256KiB_should_be_refused()
    {
        var config = ConfigurationFactory.ParseString("chunk-bytes = 1MiB");

        Assert.Throws<ArgumentException>(() => RegistrySettings.FromConfig(config));
    }

    [Fact]
    public void Base_conf_should_bind()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "hocon", "base.conf");
        Assert.True(File.Exists(path), path);
        var config = ConfigurationFactory.ParseString(File.ReadAllText(path));

        Assert.Equal(RegistrySettings.Default, RegistrySettings.FromConfig(config.GetConfig("edgeactors.registry")));
        var host = ModelHostSettings.FromConfig(config.GetConfig("edgeactors.inference"));
        Assert.Empty(host.Serve); // each role says what it serves
        Assert.Equal(256 * 1024, host.ChunkBytes);
        var edge = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "edge.conf"))).WithFallback(config);
        Assert.Equal(["fmnist-mlp", "fmnist-fed"], ModelHostSettings.FromConfig(edge.GetConfig("edgeactors.inference")).Serve); // fmnist-fed: federated rollout
        Assert.Equal(EdgeActors.Actors.Federated.FederationSettings.Default, EdgeActors.Actors.Federated.FederationSettings.FromConfig(config.GetConfig("edgeactors.federated")));
        var dc = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "datacenter.conf"))).WithFallback(config);
        Assert.Equal(["fmnist-mlp", "fmnist-large"], ModelHostSettings.FromConfig(dc.GetConfig("edgeactors.inference")).Serve);
    }
}
