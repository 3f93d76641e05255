using EdgeActors.Storage;
using EdgeActors.Client.Serialization;
using Akka.Cluster.Hosting;
using Akka.Configuration;
using Akka.Hosting;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;
using EdgeActors.Actors;
using EdgeActors.Actors.Adapters;
using EdgeActors.Actors.Cluster;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Federated;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Actors.Observability;
using EdgeActors.Actors.Registry;
using EdgeActors.Actors.Security;
using EdgeActors.Actors.Sync;
using EdgeActors.Actors.Twins;
using EdgeActors.Inference.Runtime;
using EdgeActors.Learning.Federated;
using EdgeActors.Http;
using EdgeActors.Client.Security;
using EdgeActors.Messages.Serialization;
using EdgeActors.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EdgeActors.Nodes.Hosting;

/// <summary>Composes a node from the actors' own registrations, by role. Hosts only compose.</summary>
public static class NodeHost
{
    public static IHost Build(Config config, IReadOnlyList<string> roles)
    {
        var sharding = DeviceShardingSettings.FromConfig(config.GetConfig("edgeactors.sharding"));
        var locality = LocalitySettings.FromConfig(config.GetConfig("edgeactors.locality"));
        var ingestion = IngestionSettings.FromConfig(config.GetConfig("edgeactors.ingestion"));
        var maxIdLength = config.GetInt("edgeactors.gateway.max-device-id-length", 128);
        var isEdge = roles.Contains(Roles.Edge);
        var isDatacenter = roles.Contains(Roles.Datacenter);
        var isGateway = isEdge || isDatacenter;
        var inference = config.GetConfig("edgeactors.inference");
        var runtime = InferenceRuntimeSettings.FromConfig(inference?.GetConfig("runtime"));
        var batching = BatchingSettings.FromConfig(inference?.GetConfig("batching"));
        var modelHost = ModelHostSettings.FromConfig(inference);
        var classification = ClassificationSettings.FromConfig(inference);
        var outboxEnabled = config.GetBoolean("edgeactors.outbox.enabled", true);
        var outbox = OutboxSettings.FromConfig(config.GetConfig("edgeactors.outbox"));
        outbox = outbox with { Path = NodeConfig.DataPath(config, outbox.Path) };
        var syncSection = config.GetConfig("edgeactors.sync");
        var syncSender = SyncSettings.SenderFromConfig(syncSection);
        var syncSink = SyncSettings.SinkFromConfig(syncSection);
        // where the datacenter state lives: the PostgreSQL tier (edgeactors.datacenter.postgres), per-section settings, SQLite files
        var datacenter = DatacenterSettings.FromConfig(config);
        var store = DataStoreSettings.FromConfig(DatacenterSettings.ResolvedSection(config, DatacenterSettings.StoreSection, datacenter.StorePostgres));
        if (store.Kind == DataStoreKind.Sqlite) store = store with { SqlitePath = NodeConfig.DataPath(config, store.SqlitePath) };
        var registrySettings = RegistrySettings.FromConfig(config.GetConfig("edgeactors.registry"));
        registrySettings = registrySettings with
        {
            DatabasePath = NodeConfig.DataPath(config, registrySettings.DatabasePath),
            ValidationRuntime = runtime,
            PostgresConnection = datacenter.RegistryPostgres,
        };

        var twins = TwinSettings.FromConfig(DatacenterSettings.ResolvedSection(config, TwinSettings.Section, datacenter.TwinsPostgres));
        if (twins.Kind == TwinStoreKind.Sqlite) twins = twins with { DatabasePath = NodeConfig.DataPath(config, twins.DatabasePath) };

        var federation = FederationSettings.FromConfig(config.GetConfig("edgeactors.federated"));
        federation = federation with { DatabasePath = NodeConfig.DataPath(config, federation.DatabasePath), PostgresConnection = datacenter.FederationPostgres };
        // an edge's labelled training frames are kept on disk too (its data directory), so they survive a restart
        var training = isEdge && federation.Enabled
            ? new LocalTrainingSet(federation.MaxFramesPerDevice, new Storage.TrainingFrameStore(NodeConfig.DataPath(config, "training.db")))
            : null;
        var evalDirectory = config.GetString("edgeactors.federated.eval-data", "");
        var adapters = AdapterSettings.FromConfig(config.GetConfig(AdapterSettings.ConfigPath),
            // devices attached to an edge with a site are homed there ('<site>/sensor-NN': they live on this edge while it is up)
            defaultPrefix: config.GetString("edgeactors.node.site", "") is { Length: > 0 } site ? $"{site}/" : $"hw-{config.GetInt("akka.remote.dot-netty.tcp.port")}-");

        var security = SecuritySettings.FromConfig(config.GetConfig(SecuritySettings.Section)).Resolve(p => NodeConfig.DataPath(config, p));
        var clientAuth = isGateway ? security.LoadClientAuth() : null;
        // secure aggregation authenticates round keys with the deployment's certificates (the TLS files); none when TLS is off
        var secAgg = federation.Enabled ? Actors.Federated.SecAggCredentials.From(security) : null;
        var http = HttpSettings.FromConfig(config.GetConfig(HttpSettings.Section));
        // binds where the node's remoting binds unless edgeactors.http.host says otherwise
        if (http.Host.Length == 0) http = http with { Host = config.GetString("akka.remote.dot-netty.tcp.hostname", "") };
        var mqtt = MqttSettings.FromConfig(config.GetConfig(MqttSettings.Section));

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddAkka(WellKnown.SystemName, (akka, _) =>
        {
            akka.AddHocon(config, HoconAddMode.Prepend)
                .AddHocon(EdgeSerialization.Config, HoconAddMode.Append)
                .AddTransportSecurity(security)
                .AddClusterListener()
                .AddModelRegistry(registrySettings, hostSingleton: isDatacenter)
                .AddTwinStore(twins, hostSingleton: isDatacenter);
            if (federation.Enabled)
                akka.AddFederatedCoordinator(federation, () => LoadEvaluationSet(evalDirectory, federation.EvalLimit, federation.ValidationSize), hostSingleton: isDatacenter, secAgg);
            if (isGateway) akka.AddModelHost(modelHost, runtime, batching);
            if (isDatacenter) akka.AddDatacenterInferenceService().AddSyncSink(() => DataStoreFactory.Open(store), syncSink);
            if (isEdge) akka.AddFrameClassifier(classification);
            if (isEdge && outboxEnabled) akka.AddOutbox(outbox).AddSyncSender<OutboxWriterKey>(syncSender);
            if (isEdge && locality.Restore) akka.AddDeviceRestorer(locality);
            akka.AddDeviceSharding(sharding, ingestion, hostEntities: isEdge, training, locality, twins);
            if (isEdge) akka.AddSensorAdapters(adapters.StatePath.Length == 0 ? adapters : adapters with { StatePath = NodeConfig.DataPath(config, adapters.StatePath) });
            if (training is not null) akka.AddFederatedWorker(training, federation, secAgg);
            if (isGateway)
            {
                akka.WithClusterClientReceptionist("receptionist", Roles.Gateway)
                    .AddGateway(GatewayRole.Of(roles, outbox: outboxEnabled, federation: federation.Enabled), maxIdLength, clientAuth);
                // device data goes straight to the edges that host the entities (a datacenter would only add a hop)
                if (isEdge) akka.AddIngestEndpoint(IngestEndpointSettings.FromConfig(config.GetConfig(IngestEndpointSettings.Section)), maxIdLength, clientAuth);
            }
            // devices that are not .NET: MQTT on every edge (docs/mqtt.md)
            if (isEdge && mqtt.Enabled) akka.AddMqttBroker(mqtt, MqttRegistration.SecurityFrom(security, clientAuth), maxIdLength);
        });
        // after AddAkka: the HTTP host starts once the actor system is up and stops before it
        builder.Services.AddHttp(new HttpHostOptions(http,
            security.Tls && http.Enabled ? TlsCredentials.Load(security.CaCertificate, security.Certificate, security.CertificatePassword).Certificate : null,
            clientAuth, isGateway, maxIdLength, batching.MaxBatchSize,
            MetricsSettings.FromConfig(config.GetConfig(MetricsSettings.Section)), isGateway ? modelHost.Serve : [], HostsEntities: isEdge,
            HasOutbox: isEdge && outboxEnabled, HasStore: isDatacenter));
        return builder.Build();
    }

    /// <summary>
    /// The Fashion-MNIST test images global models are scored on, with the coordinator's validation slice (the last
    /// <paramref name="validationSize"/> training images) for the publish gate (null, logged by the caller, when absent).
    /// </summary>
    private static EvaluationSet? LoadEvaluationSet(string directory, int limit, int validationSize)
    {
        try
        {
            var dir = Data.FashionMnist.ResolveDirectory(directory.Length > 0 ? directory : null);
            var test = Data.FashionMnist.Load(dir, train: false, limit);
            EvaluationSet? validation = null;
            if (validationSize > 0)
            {
                var train = Data.FashionMnist.Load(dir, train: true);
                var first = Math.Max(0, train.Count - validationSize);
                var pixels = train.Rows * train.Columns;
                validation = new EvaluationSet(ToFloats(train.Images.AsSpan(first * pixels)), train.Labels[first..]);
            }
            return new EvaluationSet(ToFloats(test.Images), test.Labels) { Validation = validation };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            Console.Error.WriteLine($"federated: no evaluation data ({ex.Message}); rounds report no test accuracy");
            return null;
        }
    }

    private static float[] ToFloats(ReadOnlySpan<byte> pixels)
    {
        var images = new float[pixels.Length];
        for (var i = 0; i < images.Length; i++) images[i] = pixels[i] / 255f;
        return images;
    }
}
