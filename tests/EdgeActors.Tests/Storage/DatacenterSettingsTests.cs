using Akka.Configuration;
using EdgeActors.Actors;
using EdgeActors.Actors.Sync;
using EdgeActors.Actors.Twins;

namespace EdgeActors.Tests.Storage;

public sealed class DatacenterSettingsTests
{
    private const string Tier = "Host=db;Username=u;Password=p;Database=tier";
    private const string Other = "Host=db;Username=u;Password=p;Database=other";

    /// <summary>The embedded defaults (hocon/base.conf) under <paramref name="hocon"/>, as a node reads them.</summary>
    private static Config Node(string hocon)
    {
        var baseConf = File.ReadAllText(Path.Combine(EdgeActors.Nodes.Hosting.NodeConfig.DefaultHoconDirectory(new Dictionary<string, string?>()), "base.conf"));
        return ConfigurationFactory.ParseString(hocon).WithFallback(ConfigurationFactory.ParseString(baseConf));
    }

    [Fact]
    public void Defaults_should_keep_every_part_in_sqlite()
    {
        var s = DatacenterSettings.FromConfig(Node(""));

        Assert.Equal(("", "", "", "", ""), (s.Postgres, s.StorePostgres, s.RegistryPostgres, s.FederationPostgres, s.TwinsPostgres));
        var store = DataStoreSettings.FromConfig(DatacenterSettings.ResolvedSection(Node(""), DatacenterSettings.StoreSection, s.StorePostgres));
        Assert.Equal(DataStoreKind.Sqlite, store.Kind);
    }

    [Fact]
    public void A_multi_host_connection_string_should_reach_every_part_unchanged()
    {
        const string failover = "Host=10.0.0.9:5432,10.0.0.10:5433;Target Session Attributes=primary;Host Recheck Seconds=2;Username=u;Password=p;Database=tier";
        var config = Node($"edgeactors.datacenter.postgres = \"{failover}\"");
        var s = DatacenterSettings.FromConfig(config);

        Assert.Equal((failover, failover, failover, failover), (s.StorePostgres, s.RegistryPostgres, s.FederationPostgres, s.TwinsPostgres));
        var store = DataStoreSettings.FromConfig(DatacenterSettings.ResolvedSection(config, DatacenterSettings.StoreSection, s.StorePostgres));
        Assert.Equal(failover, store.PostgresConnection);
        Assert.Equal("postgres://10.0.0.9:5432,10.0.0.10:5433/tier", EdgeActors.Storage.PostgresSchema.Describe(failover)); // logs name both hosts, no password
    }

    [Fact]
    public void The_tier_setting_should_put_every_part_in_its_database()
    {
        var config = Node($"edgeactors.datacenter.postgres = \"{Tier}\"");
        var s = DatacenterSettings.FromConfig(config);

        Assert.Equal((Tier, Tier, Tier, Tier), (s.StorePostgres, s.RegistryPostgres, s.FederationPostgres, s.TwinsPostgres));
        var store = DataStoreSettings.FromConfig(DatacenterSettings.ResolvedSection(config, DatacenterSettings.StoreSection, s.StorePostgres));
        Assert.Equal((DataStoreKind.Postgres, Tier), (store.Kind, store.PostgresConnection));
        var twins = TwinSettings.FromConfig(DatacenterSettings.ResolvedSection(config, TwinSettings.Section, s.TwinsPostgres));
        Assert.Equal((TwinStoreKind.Postgres, Tier), (twins.Kind, twins.PostgresConnection));
        Assert.Equal("twins.db", twins.DatabasePath); // the rest of the section is still read
    }

    [Fact]
    public void A_section_naming_the_same_database_or_only_its_kind_should_agree_with_the_tier()
    {
        var s = DatacenterSettings.FromConfig(Node($$"""
            edgeactors.datacenter.postgres = "{{Tier}}"
            edgeactors.store { kind = postgres, postgres-connection = "{{Tier}}" }
            edgeactors.twins.kind = postgres
            """));

        Assert.Equal((Tier, Tier), (s.StorePostgres, s.TwinsPostgres));
    }

    [Fact]
    public void Per_section_settings_should_still_work_without_the_tier()
    {
        var s = DatacenterSettings.FromConfig(Node($$"""
            edgeactors.store { kind = postgres, postgres-connection = "{{Other}}" }
            edgeactors.registry.postgres-connection = "{{Tier}}"
            """));

        Assert.Equal((Other, Tier, "", ""), (s.StorePostgres, s.RegistryPostgres, s.FederationPostgres, s.TwinsPostgres));
    }

    [Theory]
    [InlineData("edgeactors.store.kind = sqlite", "edgeactors.store.kind", "edgeactors.datacenter.postgres")]
    [InlineData("edgeactors.twins.kind = sqlite", "edgeactors.twins.kind", "edgeactors.datacenter.postgres")]
    [InlineData("edgeactors.federated.kind = sqlite", "edgeactors.federated.kind", "edgeactors.datacenter.postgres")]
    [InlineData("edgeactors.registry.postgres-connection = \"" + Other + "\"", "edgeactors.registry.postgres-connection", "edgeactors.datacenter.postgres")]
    [InlineData("edgeactors.store { kind = postgres, postgres-connection = \"" + Other + "\" }", "edgeactors.store.postgres-connection", "edgeactors.datacenter.postgres")]
    public void A_section_conflicting_with_the_tier_should_be_refused_naming_both_keys(string section, string key, string tierKey)
    {
        var ex = Assert.Throws<ArgumentException>(() => DatacenterSettings.FromConfig(Node($"edgeactors.datacenter.postgres = \"{Tier}\"\n{section}")));

        Assert.Contains(key, ex.Message);
        Assert.Contains(tierKey, ex.Message);
    }

    [Theory]
    [InlineData("edgeactors.datacenter.postgres = \"Nonsense=1\"", "edgeactors.datacenter.postgres")]
    [InlineData("edgeactors.datacenter.postgres = \"Username=u\"", "edgeactors.datacenter.postgres")]
    [InlineData("edgeactors.registry.kind = mysql", "edgeactors.registry.kind")]
    [InlineData("edgeactors.federated.kind = postgres", "edgeactors.federated.postgres-connection")]
    [InlineData("edgeactors.twins.postgres-connection = \"Nonsense=1\"", "edgeactors.twins.postgres-connection")]
    public void Bad_values_should_be_refused_naming_the_key(string hocon, string key)
    {
        var ex = Assert.Throws<ArgumentException>(() => DatacenterSettings.FromConfig(Node(hocon)));

        Assert.Contains(key, ex.Message);
    }
}
