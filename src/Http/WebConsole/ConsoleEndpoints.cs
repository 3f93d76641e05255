using System.Reflection;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using EdgeActors.Actors;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Observability;
using EdgeActors.Actors.Registry;
using EdgeActors.Http.Devices;
using EdgeActors.Messages;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace EdgeActors.Http.WebConsole;

/// <summary>
/// The web console (docs/console.md): static page, script and style embedded in this assembly, served at <c>/</c>;
/// read-only JSON under <c>/api/console/</c> (no token, like /metrics); live updates as Server-Sent Events; model
/// pin/rollback as POSTs that need an admin client token (401/403 JSON errors, the same checks as the REST API).
/// </summary>
public static class ConsoleEndpoints
{
    private static readonly (string Path, string Resource, string Type)[] Assets =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/console.js", "console.js", "text/javascript; charset=utf-8"),
        ("/console.css", "console.css", "text/css; charset=utf-8"),
    ];

    public static void MapConsole(this IEndpointRouteBuilder app, ActorSystem system, ActorRegistry registry, HttpAuth auth, HttpSettings settings, ConsoleStats stats, int maxIdLength)
    {
        foreach (var (path, resource, type) in Assets)
        {
            var bytes = Asset(resource);
            app.MapGet(path, async (HttpContext ctx) =>
            {
                ctx.Response.ContentType = type;
                ctx.Response.Headers.CacheControl = "no-cache";
                await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted);
            });
        }

        var modelRegistry = registry.Require<ModelRegistryKey>("MapConsole", "AddModelRegistry");
        var modelHost = registry.Require<ModelHostKey>("MapConsole", "AddModelHost");
        var region = registry.Require<DeviceRegion>("MapConsole", "AddDeviceSharding");
        var cluster = Akka.Cluster.Cluster.Get(system);

        // members Up (or WeaklyUp) with a role, as this node sees them
        IEnumerable<string> Members(string role) => cluster.State.Members
            .Where(m => m.Roles.Contains(role) && m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.WeaklyUp)
            .Select(m => m.Address.ToString()).Order(StringComparer.Ordinal);
        IEnumerable<string> EdgeMembers() => Members(Roles.Edge);
        IEnumerable<string> GatewayMembers() => Members(Roles.Edge).Concat(Members(Roles.Datacenter)).Distinct().Order(StringComparer.Ordinal);

        async Task<T> AskAsync<T>(IActorRef actor, object request, HttpContext ctx)
        {
            object reply;
            try
            {
                reply = await actor.Ask<object>(request, settings.RequestTimeout, ctx.RequestAborted);
            }
            catch (AskTimeoutException)
            {
                throw HttpProblem.Timeout($"{request.GetType().Name} was not answered within {settings.RequestTimeout.TotalSeconds:0.#}s");
            }
            return reply switch
            {
                T t => t,
                RequestRejected r => throw HttpProblem.BadRequest(r.Reason),
                ModelCommandRejected r => throw HttpProblem.BadRequest($"model '{r.Name}': {r.Reason}"),
                _ => throw new HttpProblem(500, $"unexpected answer {reply.GetType().Name} to {request.GetType().Name}"),
            };
        }

        app.MapGet("/api/console/cluster", async (HttpContext ctx) =>
        {
            // members from this node's own view (no token, no Ask); shards and entities from the sharding statistics
            var state = cluster.State;
            var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
            var members = state.Members.Select(m => new EdgeActors.Messages.MemberInfo(m.Address.ToString(), [.. m.Roles],
                unreachable.Contains(m.Address) ? "Unreachable" : m.Status.ToString())).ToArray();
            RegionInfo[] regions = [];
            var complete = false;
            try
            {
                var stats = await region.Ask<ClusterShardingStats>(new GetClusterShardingStats(TimeSpan.FromSeconds(2)), settings.RequestTimeout, ctx.RequestAborted);
                regions = [.. stats.Regions.Select(r => new RegionInfo(r.Key.ToString(), r.Value.Stats.Count, r.Value.Stats.Values.Sum()))];
                complete = true;
            }
            catch (AskTimeoutException)
            {
                // members only: the page shows no shard counts
            }
            var overview = new ClusterOverview(cluster.SelfAddress.ToString(), members, regions, complete);
            await HttpIo.WriteJsonAsync(ctx, 200, w => ConsoleJson.WriteCluster(w, overview, cluster.SelfAddress.ToString()));
        });

        app.MapGet("/api/console/models", async (HttpContext ctx) =>
        {
            var list = AskAsync<ModelList>(modelRegistry, ListModels.Instance, ctx);
            var nodes = GatewayMembers().Select(async address =>
            {
                // every gateway node's model host (/user/models) says what it serves: one Ask each, in parallel
                try
                {
                    var s = await system.ActorSelection($"{address}/user/{ModelHost.Name}")
                        .Ask<InferenceStatus>(GetInferenceStatus.Instance, NodeTimeout, ctx.RequestAborted);
                    return (address, (InferenceStatus?)s, (string?)null);
                }
                catch (AskTimeoutException)
                {
                    return (address, null, $"no answer within {NodeTimeout.TotalSeconds:0} s");
                }
            }).ToArray();
            var status = await AskAsync<InferenceStatus>(modelHost, GetInferenceStatus.Instance, ctx);
            var models = await list;
            var perNode = await Task.WhenAll(nodes);
            await HttpIo.WriteJsonAsync(ctx, 200, w => ConsoleJson.WriteModels(w, models, status, perNode));
        });

        app.MapGet("/api/console/devices", async (HttpContext ctx) =>
        {
            // search by id prefix: ONE query per edge (its shard region's live entity ids), then the state of at most `limit` matches
            var q = ctx.Request.Query["q"].ToString().Trim();
            if (q.Length == 0) throw HttpProblem.BadRequest("q: give a device id or the start of one (for example /api/console/devices?q=sensor-)");
            if (q.Length > maxIdLength) throw HttpProblem.BadRequest($"q: longer than the longest device id ({maxIdLength} characters)");
            var (limit, limitError) = DeviceSearch.ParseLimit(ctx.Request.Query["limit"].ToString());
            if (limitError is not null) throw HttpProblem.BadRequest(limitError);
            var edges = EdgeMembers().ToArray();
            var answers = await Task.WhenAll(edges.Select(async address =>
            {
                try
                {
                    var s = await system.ActorSelection($"{address}/system/sharding/{DeviceShardingSettings.TypeName}")
                        .Ask<CurrentShardRegionState>(GetShardRegionState.Instance, NodeTimeout, ctx.RequestAborted);
                    return s.Shards.SelectMany(sh => sh.EntityIds).ToArray();
                }
                catch (AskTimeoutException)
                {
                    return null;
                }
            }));
            var (matches, truncated) = DeviceSearch.Match(answers.Where(a => a is not null).SelectMany(a => a!), q, limit);
            var states = await Task.WhenAll(matches.Select(async m =>
            {
                try
                {
                    return await region.Ask<DeviceState>(new GetDeviceState(new DeviceId(m)), NodeTimeout, ctx.RequestAborted);
                }
                catch (AskTimeoutException)
                {
                    return null;
                }
            }));
            await HttpIo.WriteJsonAsync(ctx, 200, w => ConsoleJson.WriteSearch(w, q, matches, states, truncated, edges.Length, answers.Count(a => a is not null)));
        });

        app.MapGet("/api/console/devices/{name}", async (HttpContext ctx, string name) =>
        {
            var id = new DeviceId(name);
            var problem = GatewayActor.ValidateDeviceId(id, maxIdLength);
            if (problem is not null) throw HttpProblem.BadRequest("device id: " + problem);
            var state = AskAsync<DeviceState>(region, new GetDeviceState(id), ctx);
            var twin = await AskAsync<TwinResult>(region, new GetTwin(id), ctx);
            var s = await state;
            await HttpIo.WriteJsonAsync(ctx, 200, w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("state");
                using (var doc = JsonDocument.Parse(DeviceJson.State(s))) doc.RootElement.WriteTo(w);
                if (twin.Twin is not null)
                {
                    w.WritePropertyName("twin");
                    DeviceJson.WriteTwin(w, twin.Twin);
                }
                w.WriteEndObject();
            });
        });

        app.MapGet("/api/console/events", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            var token = ctx.RequestAborted;
            IReadOnlyDictionary<string, string>? before = null;
            long? last = null;
            long? anomalies = null;
            var offlineSeq = AdapterMetrics.OfflineSince(long.MaxValue).Seq; // devices that go offline from now on
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            try
            {
                do
                {
                    var sample = stats.SampleShared();
                    var members = ConsoleJson.Members(cluster.State);
                    var alerts = ConsoleStats.MemberChanges(before, members).ToList();
                    if (sample.Breaker == 2) alerts.Add("breaker open: this node's datacenter circuit breaker is open (inference answered locally)");
                    var (offline, seq) = AdapterMetrics.OfflineSince(offlineSeq);
                    offlineSeq = seq;
                    alerts.AddRange(ConsoleStats.DeviceAlerts(anomalies, sample.AnomaliesTotal, offline));
                    anomalies = sample.AnomaliesTotal;
                    before = members;
                    var rate = last is null ? 0 : sample.ReadingsTotal - last.Value;
                    last = sample.ReadingsTotal;
                    var json = ConsoleJson.Tick(sample, rate, members, alerts);
                    await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes("event: tick\ndata: "), token);
                    await ctx.Response.Body.WriteAsync(json, token);
                    await ctx.Response.Body.WriteAsync("\n\n"u8.ToArray(), token);
                    await ctx.Response.Body.FlushAsync(token);
                }
                while (await timer.WaitForNextTickAsync(token));
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // the page closed
            }
        });

        app.MapPost("/api/console/models/{name}/pin", async (HttpContext ctx, string name) =>
        {
            var version = ctx.Request.Query["version"].ToString();
            if (!int.TryParse(version, out var v) || v < 0)
                throw HttpProblem.BadRequest($"version: '{version}' is not a version number (0 follows the latest)");
            var request = new SetModelPolicy(name, v);
            auth.Check(ctx.Request.Headers.Authorization, request);
            var changed = await AskAsync<ModelPolicyChanged>(modelRegistry, request, ctx);
            await HttpIo.WriteJsonAsync(ctx, 200, w => ConsoleJson.WritePolicy(w, changed));
        });

        app.MapPost("/api/console/models/{name}/rollback", async (HttpContext ctx, string name) =>
        {
            var request = new RollbackModel(name);
            auth.Check(ctx.Request.Headers.Authorization, request);
            var changed = await AskAsync<ModelPolicyChanged>(modelRegistry, request, ctx);
            await HttpIo.WriteJsonAsync(ctx, 200, w => ConsoleJson.WritePolicy(w, changed));
        });
    }

    /// <summary>How long the console waits for one other node's answer (a node that does not answer is left out and named).</summary>
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(2);

    private static byte[] Asset(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("console/" + name)
            ?? throw new InvalidOperationException($"console asset '{name}' is not embedded in {Assembly.GetExecutingAssembly().GetName().Name}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
