using System.Reflection;
using EdgeActors.Messages;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace EdgeActors.Http.Kserve;

/// <summary>The KServe / Open Inference Protocol v2 REST endpoints (<c>/v2/...</c>).</summary>
public static class KserveEndpoints
{
    public static string ServerVersion { get; } =
        typeof(KserveEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    public static void MapKserve(this IEndpointRouteBuilder app, KserveBackend backend, HttpAuth auth, HttpSettings settings)
    {
        app.MapGet("/v2/health/live", (HttpContext ctx) => HttpIo.WriteJsonAsync(ctx, 200, w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("live", true);
            w.WriteEndObject();
        }));
        app.MapGet("/v2/health/ready", async (HttpContext ctx) =>
        {
            var models = await backend.ModelsAsync();
            var ready = models.Values.Any(m => m.Loaded);
            // the protocol: 200 = ready, a 4xx = not ready
            await HttpIo.WriteJsonAsync(ctx, ready ? 200 : 400, w =>
            {
                w.WriteStartObject();
                w.WriteBoolean("ready", ready);
                w.WriteEndObject();
            });
        });
        app.MapGet("/v2", (HttpContext ctx) =>
        {
            auth.Check(ctx.Request.Headers.Authorization, ListModels.Instance);
            return HttpIo.WriteJsonAsync(ctx, 200, w =>
            {
                w.WriteStartObject();
                w.WriteString("name", "edgeactors");
                w.WriteString("version", ServerVersion);
                w.WriteStartArray("extensions");
                w.WriteEndArray();
                w.WriteEndObject();
            });
        });

        async Task Metadata(HttpContext ctx, string name, string? version)
        {
            auth.Check(ctx.Request.Headers.Authorization, ListModels.Instance);
            var served = await backend.ModelAsync(name, version);
            await HttpIo.WriteJsonAsync(ctx, 200, KserveTensors.WriteMetadata(served.Signature));
        }

        async Task Ready(HttpContext ctx, string name, string? version)
        {
            auth.Check(ctx.Request.Headers.Authorization, ListModels.Instance);
            var served = await backend.ModelAsync(name, version);
            await HttpIo.WriteJsonAsync(ctx, served.Loaded ? 200 : 400, w =>
            {
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteBoolean("ready", served.Loaded);
                w.WriteEndObject();
            });
        }

        async Task Infer(HttpContext ctx, string name, string? version)
        {
            auth.Check(ctx.Request.Headers.Authorization, new Infer(name, 0, 0, [], InferencePriority.Normal));
            var body = await HttpIo.ReadBodyAsync(ctx, settings.MaxRequestBytes);
            var served = await backend.ModelAsync(name, version);
            var batch = KserveTensors.ParseRequest(body, served.Signature);
            var result = await backend.InferAsync(served.Signature, batch, ctx.RequestAborted);
            await HttpIo.WriteJsonAsync(ctx, 200, KserveTensors.WriteResponse(served.Signature, batch, result));
        }

        app.MapGet("/v2/models/{name}", (HttpContext ctx, string name) => Metadata(ctx, name, null));
        app.MapGet("/v2/models/{name}/versions/{version}", (HttpContext ctx, string name, string version) => Metadata(ctx, name, version));
        app.MapGet("/v2/models/{name}/ready", (HttpContext ctx, string name) => Ready(ctx, name, null));
        app.MapGet("/v2/models/{name}/versions/{version}/ready", (HttpContext ctx, string name, string version) => Ready(ctx, name, version));
        app.MapPost("/v2/models/{name}/infer", (HttpContext ctx, string name) => Infer(ctx, name, null));
        app.MapPost("/v2/models/{name}/versions/{version}/infer", (HttpContext ctx, string name, string version) => Infer(ctx, name, version));
    }
}
