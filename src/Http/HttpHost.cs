using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Observability;
using EdgeActors.Actors.Registry;
using EdgeActors.Http.Devices;
using EdgeActors.Http.Kserve;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace EdgeActors.Http;

/// <summary>
/// What the node's HTTP host serves: <paramref name="Settings"/> (host already resolved), the deployment's TLS
/// certificate (null: plain HTTP plus an h2c port for gRPC), client-token checking (null: none), and whether this node
/// is a gateway (edge, datacenter: KServe v2 and the device API are mapped; other roles serve health only).
/// <c>MaxInferCount</c>: the inference actors' largest batch (larger requests are split).
/// </summary>
/// <c>Metrics</c>: <c>edgeactors.metrics</c> (null: the defaults, on); <c>Serve</c>: the models this node serves (its
/// readiness waits for them); <c>HostsEntities</c>: an edge (its readiness waits for its shard region's registration).
public sealed record HttpHostOptions(HttpSettings Settings, X509Certificate2? Certificate, ClientAuth? Auth, bool Gateway, int MaxDeviceIdLength, int MaxInferCount = 32,
    MetricsSettings? Metrics = null, IReadOnlyList<string>? Serve = null, bool HostsEntities = false, bool HasOutbox = false, bool HasStore = false);

/// <summary>
/// The node's one Kestrel host, run as a hosted service of the node's host after Akka (it starts once the actor system
/// and its registrations are up, and stops before it). Its endpoints resolve the actors they use from the
/// <see cref="ActorRegistry"/>; a missing registration fails the node's start naming it.
/// </summary>
public sealed class HttpHost(IServiceProvider services, HttpHostOptions options) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;
    private WebConsole.ConsoleStats? _stats;

    /// <summary>The URLs the host listens on once started (http:// or https://).</summary>
    public IReadOnlyList<string> Urls { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var system = services.GetRequiredService<ActorSystem>();
        var registry = services.GetRequiredService<ActorRegistry>();
        var settings = options.Settings;
        var auth = new HttpAuth(options.Auth);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "edgeactors", Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning);
        var tls = options.Certificate;
        var address = BindAddress(settings.Host);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = settings.MaxRequestBytes;
            void Listen(int port, Action<ListenOptions> configure)
            {
                if (address is null) k.ListenAnyIP(port, configure);
                else k.Listen(address, port, configure);
            }

            if (tls is not null)
            {
                // one port: ALPN offers h2 (gRPC) and http/1.1 (REST, curl)
                Listen(settings.Port, o =>
                {
                    o.Protocols = HttpProtocols.Http1AndHttp2;
                    o.UseHttps(tls);
                });
            }
            else
            {
                Listen(settings.Port, o => o.Protocols = HttpProtocols.Http1);
                if (settings.GrpcPort > 0 && options.Gateway) Listen(settings.GrpcPort, o => o.Protocols = HttpProtocols.Http2); // h2c, prior knowledge
            }
        });

        KserveBackend? backend = null;
        if (options.Gateway)
        {
            var models = registry.Require<ModelHostKey>("AddHttp", "AddModelHost");
            var modelRegistry = registry.Require<ModelRegistryKey>("AddHttp", "AddModelRegistry");
            backend = new KserveBackend(models, modelRegistry, settings.RequestTimeout, options.MaxInferCount);
            builder.Services.AddSingleton(backend);
            builder.Services.AddSingleton(auth);
            builder.Services.AddSingleton(settings);
            builder.Services.AddGrpc(o =>
            {
                o.MaxReceiveMessageSize = (int)Math.Min(int.MaxValue, settings.MaxRequestBytes);
                o.MaxSendMessageSize = null;
            });
        }

        var metrics = options.Metrics ?? MetricsSettings.Default;
        if (metrics.Enabled)
        {
            builder.Services.AddOpenTelemetry()
                // target_info names the node: service "edgeactors", instance = its cluster address
                .ConfigureResource(r => r.AddService("edgeactors", serviceVersion: Kserve.KserveEndpoints.ServerVersion,
                    serviceInstanceId: Akka.Cluster.Cluster.Get(system).SelfAddress.ToString()))
                .WithMetrics(m =>
            {
                foreach (var meter in EdgeMeters.Initialize()) m.AddMeter(meter);
                if (metrics.Runtime)
                {
                    m.AddRuntimeInstrumentation().AddProcessInstrumentation();
                    foreach (var (from, to) in EdgeMeters.RuntimeRenames) m.AddView(from, new MetricStreamConfiguration { Name = to });
                }
                m.AddPrometheusExporter();
            });
        }

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("EdgeActors.Http");
        app.Use(async (ctx, next) =>
        {
            await next(ctx);
            EntryMetrics.HttpAnswered(ctx.Response.StatusCode);
        });
        app.Use((ctx, next) => HttpIo.ErrorsAsync(ctx, next, log));
        // every node: Prometheus metrics and health probes, no token (docs/metrics.md)
        if (metrics.Enabled) app.MapPrometheusScrapingEndpoint(metrics.Path);
        app.MapHealth(system, registry, options);
        if (backend is not null)
        {
            var region = registry.Require<DeviceRegion>("AddHttp", "AddDeviceSharding");
            app.MapKserve(backend, auth, settings);
            app.MapDevices(system, region, auth, settings, options.MaxDeviceIdLength);
            app.MapGrpcService<KserveGrpcService>();
            _stats = new WebConsole.ConsoleStats();
            WebConsole.ConsoleEndpoints.MapConsole(app, system, registry, auth, settings, _stats, options.MaxDeviceIdLength);
        }
        else
        {
            app.MapGet("/v2/health/live", (HttpContext ctx) => HttpIo.WriteJsonAsync(ctx, 200, "{\"live\":true}"u8.ToArray()));
        }
        app.MapFallback((HttpContext ctx) => HttpIo.WriteJsonAsync(ctx, 404,
            KserveTensors.Error($"no endpoint {ctx.Request.Method} {ctx.Request.Path}" + (options.Gateway ? "" : " on this node (KServe v2 and /v1/devices are served by edge and datacenter nodes)"))));

        await app.StartAsync(cancellationToken);
        _app = app;
        var scheme = tls is null ? "http" : "https";
        var shown = address is null ? "0.0.0.0" : address.ToString();
        Urls = [$"{scheme}://{shown}:{settings.Port}/"];
        var grpc = tls is not null ? "gRPC on the same port (ALPN h2)" : settings.GrpcPort > 0 && options.Gateway ? $"gRPC (h2c) on port {settings.GrpcPort}" : "no gRPC";
        system.Log.Info("HTTP host: {0} ({1}; {2}; /health/live, /health/ready{3})", Urls[0], options.Gateway ? "KServe v2, /v1/devices, console at /" : "health only", grpc,
            metrics.Enabled ? $", metrics at {metrics.Path}" : "");
        Console.WriteLine($"http: {Urls[0]}");
    }

    /// <summary>The address to bind: null = every interface.</summary>
    internal static IPAddress? BindAddress(string host)
    {
        if (string.IsNullOrWhiteSpace(host) || host == "0.0.0.0" || host == "*") return null;
        if (host == "localhost") return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out var ip)) return ip;
        return Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new ArgumentException($"{HttpSettings.Section}.host: cannot resolve '{host}'");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is null) return;
        await _app.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
        _app = null;
        _stats?.Dispose();
    }
}

public static class HttpRegistration
{
    /// <summary>
    /// Adds the node's HTTP host (nothing when <c>edgeactors.http.enabled = off</c>). Call after AddAkka: hosted services
    /// start in order, so the actor system and its registrations are up when the host starts, and it stops first.
    /// </summary>
    public static IServiceCollection AddHttp(this IServiceCollection services, HttpHostOptions options)
    {
        if (!options.Settings.Enabled) return services;
        services.AddSingleton(sp => new HttpHost(sp, options));
        services.AddHostedService(sp => sp.GetRequiredService<HttpHost>());
        return services;
    }
}
