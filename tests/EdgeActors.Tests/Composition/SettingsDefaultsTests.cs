using EdgeActors.Storage;
using EdgeActors.Inference.Runtime;
using System.Text.Json;
using Akka.Configuration;
using EdgeActors.Actors.Adapters;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Federated;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Registry;
using EdgeActors.Actors.Security;
using EdgeActors.Actors.Sync;
using EdgeActors.Actors.Twins;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Mqtt;

namespace EdgeActors.Tests.Composition;

/// <summary>
/// hocon/base.conf is the one source of the settings' defaults: every settings class read from base.conf equals its C#
/// defaults (what FromConfig gives without the section), so a default changed in one place only fails here.
/// </summary>
public class SettingsDefaultsTests
{
    private static Config BaseConf() =>
        ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(NodeConfig.DefaultHoconDirectory(new Dictionary<string, string?>()), "base.conf")));

    private static readonly JsonSerializerOptions Json = new() { IncludeFields = false, WriteIndented = false };

    /// <summary>Property-by-property differences of two settings objects (nested records compared as JSON).</summary>
    private static IEnumerable<string> Differences(string what, object fromBase, object fromCode)
    {
        foreach (var p in fromBase.GetType().GetProperties())
        {
            if (p.GetIndexParameters().Length > 0 || p.GetMethod is not { IsStatic: false }) continue;
            var b = JsonSerializer.Serialize(p.GetValue(fromBase), Json);
            var c = JsonSerializer.Serialize(p.GetValue(fromCode), Json);
            if (b != c) yield return $"{what}.{p.Name}: base.conf {b}, C# {c}";
        }
    }

    /// <summary>
    /// Deployment values, not defaults: base.conf gives a node its models and devices, while code built without
    /// configuration (tests, tools) has none and persists nothing. Each is named here on purpose; any other difference fails.
    /// </summary>
    private static readonly string[] DeploymentValues =
    [
        "InferenceRuntimeSettings.ByteInputModels", // the node's shipped models get a uint8 input; code: no model is rewritten
        "AdapterSettings.Devices", // the node's simulated sensors; code: none attached
        "AdapterSettings.StatePath", // "adapters.db" under the node's data directory; code: no state file
    ];

    [Fact]
    public void Every_settings_class_read_from_base_conf_should_equal_its_code_defaults()
    {
        var conf = BaseConf();
        var inference = conf.GetConfig("edgeactors.inference");
        var sync = conf.GetConfig("edgeactors.sync");
        var pairs = new List<(string What, object FromBase, object FromCode)>
        {
            ("DeviceShardingSettings", DeviceShardingSettings.FromConfig(conf.GetConfig("edgeactors.sharding")), DeviceShardingSettings.FromConfig(Config.Empty)),
            ("LocalitySettings", LocalitySettings.FromConfig(conf.GetConfig("edgeactors.locality")), LocalitySettings.FromConfig(null)),
            ("IngestionSettings", IngestionSettings.FromConfig(conf.GetConfig(IngestionSettings.ConfigPath)), IngestionSettings.FromConfig(null)),
            ("IngestionSettings.DefaultHocon", IngestionSettings.FromConfig(ConfigurationFactory.ParseString(IngestionSettings.DefaultHocon).GetConfig(IngestionSettings.ConfigPath)),
                IngestionSettings.FromConfig(conf.GetConfig(IngestionSettings.ConfigPath))),
            ("InferenceRuntimeSettings", InferenceRuntimeSettings.FromConfig(conf.GetConfig(InferenceRuntimeSettings.Section)), InferenceRuntimeSettings.FromConfig(null)),
            ("BatchingSettings", BatchingSettings.FromConfig(conf.GetConfig(BatchingSettings.Section)), BatchingSettings.FromConfig(null)),
            ("ModelHostSettings", ModelHostSettings.FromConfig(inference), ModelHostSettings.FromConfig(null)),
            ("ClassificationSettings", ClassificationSettings.FromConfig(inference), ClassificationSettings.FromConfig(null)),
            ("OutboxSettings", OutboxSettings.FromConfig(conf.GetConfig(OutboxSettings.Section)), OutboxSettings.FromConfig(null)),
            ("SyncSenderSettings", SyncSettings.SenderFromConfig(sync), SyncSettings.SenderFromConfig(null)),
            ("SyncSinkSettings", SyncSettings.SinkFromConfig(sync), SyncSettings.SinkFromConfig(null)),
            ("DataStoreSettings", DataStoreSettings.FromConfig(conf.GetConfig(DataStoreSettings.ConfigPath)), DataStoreSettings.FromConfig(null)),
            ("RegistrySettings", RegistrySettings.FromConfig(conf.GetConfig("edgeactors.registry")), RegistrySettings.FromConfig(null)),
            ("FederationSettings", FederationSettings.FromConfig(conf.GetConfig("edgeactors.federated")), FederationSettings.FromConfig(null)),
            ("AdapterSettings", AdapterSettings.FromConfig(conf.GetConfig(AdapterSettings.ConfigPath)), AdapterSettings.FromConfig(null)),
            ("SecuritySettings", SecuritySettings.FromConfig(conf.GetConfig(SecuritySettings.Section)), SecuritySettings.FromConfig(null)),
            ("IngestEndpointSettings", IngestEndpointSettings.FromConfig(conf.GetConfig(IngestEndpointSettings.Section)), IngestEndpointSettings.FromConfig(null)),
            ("MqttSettings", MqttSettings.FromConfig(conf.GetConfig(MqttSettings.Section)), MqttSettings.FromConfig(null)),
            ("TwinSettings", TwinSettings.FromConfig(conf.GetConfig(TwinSettings.Section)), TwinSettings.FromConfig(null)),
            ("HttpSettings", global::EdgeActors.Http.HttpSettings.FromConfig(conf.GetConfig(global::EdgeActors.Http.HttpSettings.Section)), global::EdgeActors.Http.HttpSettings.FromConfig(null)),
        };

        var differences = pairs.SelectMany(p => Differences(p.What, p.FromBase, p.FromCode))
            .Where(d => !DeploymentValues.Any(k => d.StartsWith(k + ":", StringComparison.Ordinal)))
            .ToList();

        Assert.True(differences.Count == 0, "defaults disagree:\n" + string.Join("\n", differences));
    }

    /// <summary>FromConfig's fallbacks for keys a section leaves out are the C# defaults (not other literals).</summary>
    [Fact]
    public void FromConfig_fallbacks_should_equal_the_code_defaults()
    {
        var other = ConfigurationFactory.ParseString("unrelated-key = 1"); // not empty: FromConfig reads every key with its fallback
        var pairs = new List<(string What, object FromFallbacks, object FromCode)>
        {
            ("DeviceShardingSettings", DeviceShardingSettings.FromConfig(other), DeviceShardingSettings.FromConfig(Config.Empty)),
            ("LocalitySettings", LocalitySettings.FromConfig(other), LocalitySettings.FromConfig(null)),
            ("IngestionSettings", IngestionSettings.FromConfig(other), IngestionSettings.FromConfig(null)),
            ("InferenceRuntimeSettings", InferenceRuntimeSettings.FromConfig(other), InferenceRuntimeSettings.FromConfig(null)),
            ("BatchingSettings", BatchingSettings.FromConfig(other), BatchingSettings.FromConfig(null)),
            ("ModelHostSettings", ModelHostSettings.FromConfig(other), ModelHostSettings.FromConfig(null)),
            ("ClassificationSettings", ClassificationSettings.FromConfig(other), ClassificationSettings.FromConfig(null)),
            ("OutboxSettings", OutboxSettings.FromConfig(other), OutboxSettings.FromConfig(null)),
            ("SyncSenderSettings", SyncSettings.SenderFromConfig(other), SyncSettings.SenderFromConfig(null)),
            ("SyncSinkSettings", SyncSettings.SinkFromConfig(other), SyncSettings.SinkFromConfig(null)),
            ("DataStoreSettings", DataStoreSettings.FromConfig(other), DataStoreSettings.FromConfig(null)),
            ("RegistrySettings", RegistrySettings.FromConfig(other), RegistrySettings.FromConfig(null)),
            ("FederationSettings", FederationSettings.FromConfig(other), FederationSettings.FromConfig(null)),
            ("SecuritySettings", SecuritySettings.FromConfig(other), SecuritySettings.FromConfig(null)),
            ("IngestEndpointSettings", IngestEndpointSettings.FromConfig(other), IngestEndpointSettings.FromConfig(null)),
            ("TwinSettings", TwinSettings.FromConfig(other), TwinSettings.FromConfig(null)),
        };

        var differences = pairs.SelectMany(p => Differences(p.What, p.FromFallbacks, p.FromCode)).ToList();

        Assert.True(differences.Count == 0, "FromConfig fallbacks disagree with the C# defaults:\n" + string.Join("\n", differences));
    }

    [Fact]
    public void A_bad_value_in_base_conf_should_be_refused_naming_its_key()
    {
        var conf = ConfigurationFactory.ParseString("edgeactors.sharding.shards = 0").WithFallback(BaseConf());

        var e = Assert.Throws<ArgumentException>(() => DeviceShardingSettings.FromConfig(conf.GetConfig("edgeactors.sharding")));

        Assert.Contains("edgeactors.sharding.shards", e.Message);
    }
}
