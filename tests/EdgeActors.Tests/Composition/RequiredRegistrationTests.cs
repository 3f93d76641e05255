using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Federated;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Actors.Sync;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeActors.Tests.Composition;

/// <summary>A registration that needs another one fails the host's start, naming what is missing, instead of running without it.</summary>
public class RequiredRegistrationTests
{
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Errors { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (logLevel >= LogLevel.Error) owner.Errors.Enqueue(formatter(state, exception) + "\n" + exception);
            }
        }
    }

    [Fact]
    public async Task A_gateway_composed_without_a_model_host_should_fail_at_start_naming_it()
    {
        var logs = new CapturingLoggerProvider();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddAkka("composition-test", (akka, _) =>
        {
            akka.AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend)
                .WithActors((system, registry) => registry.Register<DeviceRegion>(system.ActorOf(Props.Empty, "region")))
                // no AddModelRegistry / AddModelHost: the gateway requires both
                .AddGateway(new GatewayRole(Edge: false, Datacenter: true));
        });
        using var host = builder.Build();

        string failure;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StartAsync(timeout.Token);
            failure = string.Join("\n", logs.Errors);
        }
        catch (Exception e)
        {
            failure = e.ToString();
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }

        Assert.Contains("ModelHostKey", failure);
        Assert.Contains("AddModelHost", failure);
        Assert.Contains("AddGateway", failure);
        Assert.False(host.Services.GetRequiredService<ActorRegistry>().TryGet<GatewayActor>(out _), "the gateway must not start without its model host");
    }

    /// <summary>
    /// Composes a gateway over stand-in registrations (empty actors) for the keys given, on a node with the cluster
    /// provider (the ClusterClient receptionist needs it; it never joins). Returns the start failure ("" when it
    /// started) and whether the gateway was registered.
    /// </summary>
    private static async Task<(string Failure, bool GatewayStarted)> ComposeGateway(GatewayRole role, params Type[] registered)
    {
        var logs = new CapturingLoggerProvider();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddAkka("gateway-role-test", (akka, _) =>
        {
            akka.AddHocon("""
                    akka.loglevel = WARNING
                    akka.actor.provider = cluster
                    akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
                    """, HoconAddMode.Prepend)
                .WithActors((system, registry) =>
                {
                    foreach (var key in registered)
                        Assert.True(registry.TryRegister(key, system.ActorOf(Props.Empty, "stand-in-" + key.Name), false));
                })
                .AddGateway(role);
        });
        using var host = builder.Build();
        string failure;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StartAsync(timeout.Token);
            failure = string.Join("\n", logs.Errors);
        }
        catch (Exception e)
        {
            failure = e.ToString();
        }
        var started = host.Services.GetRequiredService<ActorRegistry>().TryGet<GatewayActor>(out _);
        await host.StopAsync(CancellationToken.None);
        return (failure, started);
    }

    private static readonly Type[] Everywhere = [typeof(DeviceRegion), typeof(ModelHostKey), typeof(ModelRegistryKey)];

    [Fact]
    public async Task An_edge_gateway_without_the_frame_classifier_should_fail_at_start_naming_it()
    {
        var (failure, started) = await ComposeGateway(new GatewayRole(Edge: true, Datacenter: false), [.. Everywhere, typeof(SyncSenderKey)]);
        Assert.Contains("FrameClassifierKey", failure);
        Assert.Contains("AddFrameClassifier", failure);
        Assert.Contains("AddGateway (gateway role: edge)", failure);
        Assert.False(started, "an edge gateway must not start without its frame classifier");
    }

    [Fact]
    public async Task An_edge_gateway_with_its_outbox_on_should_fail_at_start_without_the_sync_sender()
    {
        var (failure, started) = await ComposeGateway(new GatewayRole(Edge: true, Datacenter: false), [.. Everywhere, typeof(FrameClassifierKey)]);
        Assert.Contains("SyncSenderKey", failure);
        Assert.Contains("AddSyncSender", failure);
        Assert.False(started);
    }

    [Fact]
    public async Task A_datacenter_gateway_without_the_sync_sink_should_fail_at_start_naming_it()
    {
        var (failure, started) = await ComposeGateway(new GatewayRole(Edge: false, Datacenter: true), Everywhere);
        Assert.Contains("SyncSinkKey", failure);
        Assert.Contains("AddSyncSink", failure);
        Assert.Contains("AddGateway (gateway role: datacenter)", failure);
        Assert.False(started);
    }

    [Fact]
    public async Task A_gateway_with_federated_learning_on_should_fail_at_start_without_the_round_coordinator()
    {
        var (failure, started) = await ComposeGateway(new GatewayRole(Edge: false, Datacenter: true, Federation: true), [.. Everywhere, typeof(SyncSinkKey)]);
        Assert.Contains("RoundCoordinator", failure);
        Assert.Contains("AddFederatedCoordinator", failure);
        Assert.False(started);
    }

    [Theory]
    [InlineData(true, false, true, false)]  // edge: classifier and sync sender
    [InlineData(true, false, false, false)] // edge with the outbox off: no sync sender (bench ingest stages)
    [InlineData(false, true, true, false)]  // datacenter: sync sink
    [InlineData(false, true, true, true)]   // datacenter with federated learning: and the round coordinator
    [InlineData(true, true, true, true)]    // both roles on one node
    public async Task A_gateway_with_what_its_role_requires_should_start(bool edge, bool datacenter, bool outbox, bool federation)
    {
        var role = new GatewayRole(edge, datacenter, outbox, federation);
        var keys = Everywhere.ToList();
        if (edge) keys.Add(typeof(FrameClassifierKey));
        if (edge && outbox) keys.Add(typeof(SyncSenderKey));
        if (datacenter) keys.Add(typeof(SyncSinkKey));
        if (federation) keys.Add(typeof(RoundCoordinator));
        var (failure, started) = await ComposeGateway(role, [.. keys]);
        Assert.True(started, $"the {role} gateway did not start: {failure}");
        Assert.Equal("", failure);
    }
}
