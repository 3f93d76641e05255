using EdgeActors.Actors;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Observability;
using EdgeActors.Actors.Registry;
using EdgeActors.Actors.Sync;
using EdgeActors.Messages;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace EdgeActors.Http;

/// <summary>
/// <c>/health/live</c> (the process answers) and <c>/health/ready</c> (member Up, this node's shard region registered
/// with the coordinator, its models loaded, its stores open): 200 or 503 with a JSON body naming every check
/// (docs/metrics.md). No token: probes (Kubernetes, load balancers) call them.
/// </summary>
public static class HealthEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);

    public static void MapHealth(this IEndpointRouteBuilder app, ActorSystem system, ActorRegistry registry, HttpHostOptions options)
    {
        var deps = Dependencies.Resolve(registry, options);
        app.MapGet("/health/live", (HttpContext ctx) => HttpIo.WriteJsonAsync(ctx, 200, "{\"live\":true}"u8.ToArray()));
        app.MapGet("/health/ready", async (HttpContext ctx) =>
        {
            var checks = await ChecksAsync(system, deps, options);
            await HttpIo.WriteJsonAsync(ctx, Readiness.StatusCode(checks), Readiness.Json(checks));
        });
    }

    /// <summary>
    /// What the checks ask, resolved once at start. An edge or gateway without its device shard region, or a gateway
    /// without its model host or registry, an edge with its outbox on without the outbox writer, or a datacenter without
    /// its sync sink, fails the node's start naming the registration (the host says which of them the node has: an edge may
    /// run with <c>edgeactors.outbox.enabled = off</c>); a non-edge node's region proxy is checked when it has one.
    /// </summary>
    private sealed record Dependencies(IActorRef? Region, IActorRef? Models, IActorRef? ModelRegistry, IActorRef? Outbox, IActorRef? Sink)
    {
        public static Dependencies Resolve(ActorRegistry registry, HttpHostOptions options)
        {
            var region = options.HostsEntities || options.Gateway
                ? registry.Require<DeviceRegion>("MapHealth", "AddDeviceSharding")
                : registry.TryGet<DeviceRegion>(out var r) ? r : null;
            return new Dependencies(region,
                options.Gateway ? registry.Require<ModelHostKey>("MapHealth", "AddModelHost") : null,
                options.Gateway ? registry.Require<ModelRegistryKey>("MapHealth", "AddModelRegistry") : null,
                options.HasOutbox ? registry.Require<OutboxWriterKey>("MapHealth", "AddOutbox") : null,
                options.HasStore ? registry.Require<SyncSinkKey>("MapHealth", "AddSyncSink") : null);
        }
    }

    /// <summary>The checks that apply to this node's roles, run concurrently (each Ask at most 2 s).</summary>
    private static async Task<IReadOnlyList<HealthCheck>> ChecksAsync(ActorSystem system, Dependencies deps, HttpHostOptions options)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var checks = new List<Task<HealthCheck>> { Task.FromResult(Readiness.Member(cluster.IsTerminated ? "Removed" : cluster.SelfMember.Status.ToString())) };
        if (deps.Region is { } region) checks.Add(RegionAsync(region, cluster.SelfAddress, options.HostsEntities));
        if (deps.Models is { } models) checks.Add(ModelsAsync(models, deps.ModelRegistry, options.Serve ?? []));
        if (deps.Outbox is { } outbox) checks.Add(OutboxAsync(outbox));
        if (deps.Sink is { } sink) checks.Add(StoreAsync(sink));
        return await Task.WhenAll(checks);
    }

    private static async Task<HealthCheck> RegionAsync(IActorRef region, Address self, bool hostsEntities)
    {
        try
        {
            var regions = await region.Ask<CurrentRegions>(GetCurrentRegions.Instance, AskTimeout);
            if (!hostsEntities) return HealthCheck.Pass("shard-region", $"the device shard region proxy reaches the coordinator ({regions.Regions.Count} region(s))");
            return regions.Regions.Contains(self)
                ? HealthCheck.Pass("shard-region", $"this node's device shard region is registered with the coordinator ({regions.Regions.Count} region(s))")
                : HealthCheck.Fail("shard-region", $"the coordinator does not list this node's device shard region yet ({regions.Regions.Count} other region(s))");
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            return HealthCheck.Fail("shard-region", $"the shard coordinator did not answer within {AskTimeout.TotalSeconds:0} s");
        }
    }

    private static async Task<HealthCheck> ModelsAsync(IActorRef modelHost, IActorRef? modelRegistry, IReadOnlyList<string> serve)
    {
        try
        {
            var listing = modelRegistry?.Ask<ModelList>(ListModels.Instance, AskTimeout);
            var status = await modelHost.Ask<InferenceStatus>(GetInferenceStatus.Instance, AskTimeout);
            IReadOnlySet<string>? published = null;
            try
            {
                if (listing is not null) published = (await listing).Models.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
            }
            catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
            {
                // the registry (a datacenter singleton) is unreachable: judge the loaded models only
            }
            var loaded = status.Models.GroupBy(m => m.Name).ToDictionary(g => g.Key, g => g.Max(m => m.Version), StringComparer.Ordinal);
            var errors = status.Models.GroupBy(m => m.Name).ToDictionary(g => g.Key, g => g.First().LastError, StringComparer.Ordinal);
            return Readiness.Models(serve, loaded, published, errors);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            return HealthCheck.Fail("models", $"this node's model host did not answer within {AskTimeout.TotalSeconds:0} s");
        }
    }

    private static async Task<HealthCheck> OutboxAsync(IActorRef outbox)
    {
        try
        {
            var stats = await outbox.Ask<OutboxWriter.WriterStats>(OutboxWriter.GetWriterStats.Instance, AskTimeout);
            return HealthCheck.Pass("outbox", $"the durable outbox is open ({stats.Pending} write(s) pending)");
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            return HealthCheck.Fail("outbox", $"the outbox writer did not answer within {AskTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>The sync sink answers and its data store takes writes (PostgreSQL reachable: not during an outage or failover).</summary>
    private static async Task<HealthCheck> StoreAsync(IActorRef sink)
    {
        try
        {
            var health = await sink.Ask<SinkHealth>(GetSinkHealth.Instance, AskTimeout);
            return health.StoreAvailable
                ? HealthCheck.Pass("store", $"the datacenter's sync sink is up and {health.Detail}")
                : HealthCheck.Fail("store", $"the datacenter's sync sink refuses batches: {health.Detail} ({health.Refused} refused since start)");
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            return HealthCheck.Fail("store", $"{sink.Path} did not answer within {AskTimeout.TotalSeconds:0} s");
        }
    }
}
