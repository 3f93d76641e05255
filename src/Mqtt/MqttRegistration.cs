using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;

namespace EdgeActors.Mqtt;

/// <summary>Registry key of the broker's device bridge actor (<c>/user/mqtt</c>).</summary>
public sealed class MqttBridgeKey;

public static class MqttRegistration
{
    /// <summary>The broker's authentication from the node's security settings (paths resolved) and its token checking.</summary>
    public static MqttSecurity SecurityFrom(SecuritySettings security, ClientAuth? tokens) => new(tokens,
        security.Tls ? TlsCredentials.Load(security.CaCertificate, security.Certificate, security.CertificatePassword) : null);

    /// <summary>
    /// Starts the MQTT broker of an edge node (needs the device region: call after AddDeviceSharding). The ports are
    /// bound when the actor system starts (a port in use fails the node's start, naming it) and closed in the
    /// coordinated shutdown's service-unbind phase.
    /// </summary>
    public static AkkaConfigurationBuilder AddMqttBroker(this AkkaConfigurationBuilder builder, MqttSettings settings, MqttSecurity security,
        int maxDeviceIdLength = 128) =>
        builder.WithActors((system, registry) =>
        {
            var region = registry.Require<DeviceRegion>("AddMqttBroker", "AddDeviceSharding");
            var broker = new MqttBroker(region, settings, security, maxDeviceIdLength, Logging.GetLogger(system, "mqtt"));
            var bridge = system.ActorOf(MqttDeviceBridge.Props(region, broker.PublishAsync), "mqtt");
            broker.UseBridge(bridge);
            registry.Register<MqttBridgeKey>(bridge);
            try
            {
                // host start-up, not an actor: the node must not come up without the ports it was told to open
                broker.StartAsync().GetAwaiter().GetResult();
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                throw new InvalidOperationException(
                    $"{MqttSettings.Section}: cannot listen on {settings.Bind} port {broker.PlainPort} / TLS port {broker.TlsPort}: {ex.Message}", ex);
            }
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceUnbind, "mqtt-broker-stop", async () =>
            {
                await broker.DisposeAsync().ConfigureAwait(false);
                return Akka.Done.Instance;
            });
        });
}
