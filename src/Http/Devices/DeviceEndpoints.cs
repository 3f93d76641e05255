using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using EdgeActors.Actors.Gateway;
using EdgeActors.Messages;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace EdgeActors.Http.Devices;

/// <summary>
/// The device REST API (<c>/v1/devices/{id}/...</c>): ingest, state, twin, commands and a Server-Sent Events stream,
/// each request sent to the device entity through the node's shard region (the entity answers every request).
/// Device ids containing '/' are written URL-encoded in the path (<c>site-a%2Fcam-1</c>).
/// </summary>
public static class DeviceEndpoints
{
    public static void MapDevices(this IEndpointRouteBuilder app, ActorSystem system, IActorRef region, HttpAuth auth, HttpSettings settings, int maxIdLength)
    {
        DeviceId Id(string raw)
        {
            var id = new DeviceId(Uri.UnescapeDataString(raw));
            var problem = GatewayActor.ValidateDeviceId(id, maxIdLength);
            if (problem is not null) throw HttpProblem.BadRequest(problem);
            return id;
        }

        async Task<T> AskAsync<T>(IEdgeMessage request, HttpContext ctx)
        {
            object reply;
            try
            {
                reply = await region.Ask<object>(request, settings.RequestTimeout, ctx.RequestAborted);
            }
            catch (AskTimeoutException)
            {
                throw HttpProblem.Timeout($"device entity did not answer {request.GetType().Name} within {settings.RequestTimeout.TotalSeconds:0.#}s");
            }
            return reply switch
            {
                T t => t,
                RequestRejected r => throw HttpProblem.BadRequest(r.Reason),
                _ => throw new HttpProblem(500, $"unexpected answer {reply.GetType().Name} to {request.GetType().Name}"),
            };
        }

        static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        string? Authorization(HttpContext ctx) => ctx.Request.Headers.Authorization;

        async Task AckAsync(HttpContext ctx, IEdgeMessage request)
        {
            var ack = await AskAsync<IngestAck>(request, ctx);
            // nothing kept because the edge is over capacity: 503, resend later (the body still says what happened)
            var overloaded = ack.Accepted == 0 && ack.Rejected.Length > 0 &&
                             ack.Rejected.All(r => r.Reason is RejectReason.Overloaded or RejectReason.OutboxFull);
            await HttpIo.WriteJsonAsync(ctx, overloaded ? 503 : 200,
                DeviceJson.Ack(ack, overloaded ? "overloaded: nothing was kept; resend later" : null));
        }

        app.MapPost("/v1/devices/{id}/telemetry", async (HttpContext ctx, string id) =>
        {
            var device = Id(id);
            auth.Check(Authorization(ctx), new TelemetryBatch(device, 0, [], [], []));
            var body = await HttpIo.ReadBodyAsync(ctx, settings.MaxRequestBytes);
            await AckAsync(ctx, DeviceJson.ParseTelemetry(device, body, Now()));
        });
        app.MapPost("/v1/devices/{id}/frames", async (HttpContext ctx, string id) =>
        {
            var device = Id(id);
            auth.Check(Authorization(ctx), new CameraFrame(device, 0, 0, 0, 0, [], CameraFrame.NoLabel));
            var body = await HttpIo.ReadBodyAsync(ctx, settings.MaxRequestBytes);
            var json = ctx.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true;
            var frame = json
                ? DeviceJson.ParseFrameJson(device, body, Now())
                : DeviceJson.ParseFrameRaw(device, body, ctx.Request.Query["seq"], ctx.Request.Query["ts"].FirstOrDefault(), Now());
            await AckAsync(ctx, frame);
        });
        app.MapGet("/v1/devices/{id}", async (HttpContext ctx, string id) =>
        {
            var request = new GetDeviceState(Id(id));
            auth.Check(Authorization(ctx), request);
            await HttpIo.WriteJsonAsync(ctx, 200, DeviceJson.State(await AskAsync<DeviceState>(request, ctx)));
        });
        app.MapGet("/v1/devices/{id}/twin", async (HttpContext ctx, string id) =>
        {
            var request = new GetTwin(Id(id));
            auth.Check(Authorization(ctx), request);
            await TwinAsync(ctx, await AskAsync<TwinResult>(request, ctx));
        });

        async Task SetDesired(HttpContext ctx, string id)
        {
            var device = Id(id);
            auth.Check(Authorization(ctx), new SetDesired(device, []));
            var body = await HttpIo.ReadBodyAsync(ctx, settings.MaxRequestBytes);
            await TwinAsync(ctx, await AskAsync<TwinResult>(new SetDesired(device, DeviceJson.ParseDesired(body)), ctx));
        }

        app.MapMethods("/v1/devices/{id}/twin/desired", ["PATCH", "PUT"], SetDesired);
        app.MapPost("/v1/devices/{id}/commands", async (HttpContext ctx, string id) =>
        {
            var device = Id(id);
            auth.Check(Authorization(ctx), new SendCommand(device, "", "", "", 0));
            var body = await HttpIo.ReadBodyAsync(ctx, settings.MaxRequestBytes);
            var status = await AskAsync<CommandStatus>(DeviceJson.ParseCommand(device, body), ctx);
            await HttpIo.WriteJsonAsync(ctx, status.Error.Length > 0 ? 400 : 202, DeviceJson.Command(status));
        });
        app.MapGet("/v1/devices/{id}/commands", async (HttpContext ctx, string id) =>
        {
            var request = new GetCommands(Id(id));
            auth.Check(Authorization(ctx), request);
            var commands = await AskAsync<DeviceCommands>(request, ctx);
            if (commands.Error.Length > 0) throw HttpProblem.BadRequest(commands.Error);
            await HttpIo.WriteJsonAsync(ctx, 200, DeviceJson.Commands(commands));
        });
        app.MapGet("/v1/devices/{id}/events", async (HttpContext ctx, string id) =>
        {
            var device = Id(id);
            auth.Check(Authorization(ctx), new GetDeviceState(device)); // following a device is a query
            await StreamAsync(ctx, system, region, device, settings);
        });
    }

    private static Task TwinAsync(HttpContext ctx, TwinResult result)
    {
        if (result.Error.Length > 0 || result.Twin is null)
            throw HttpProblem.BadRequest(result.Error.Length > 0 ? result.Error : "the device entity returned no twin");
        return HttpIo.WriteJsonAsync(ctx, 200, DeviceJson.Twin(result.Twin));
    }

    /// <summary>Server-Sent Events until the client goes away: <c>event: twin|command|ack|alert</c>, <c>data: JSON</c>.</summary>
    private static async Task StreamAsync(HttpContext ctx, ActorSystem system, IActorRef region, DeviceId device, HttpSettings settings)
    {
        var channel = Channel.CreateBounded<object>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        var follower = system.ActorOf(SseFollower.Props(device, region, channel.Writer, TimeSpan.FromSeconds(30)));
        var ct = ctx.RequestAborted;
        try
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            ctx.Response.Headers["X-Accel-Buffering"] = "no";
            var body = ctx.Response.Body;
            await body.WriteAsync(Encoding.UTF8.GetBytes($": following {device.Value}\n\n"), ct);
            await body.FlushAsync(ct);
            var waiting = channel.Reader.WaitToReadAsync(ct).AsTask();
            while (true)
            {
                var first = await Task.WhenAny(waiting, Task.Delay(settings.SseHeartbeat, ct));
                if (first != waiting)
                {
                    await body.WriteAsync(": heartbeat\n\n"u8.ToArray(), ct);
                    await body.FlushAsync(ct);
                    continue;
                }
                if (!await waiting) break;
                while (channel.Reader.TryRead(out var message))
                {
                    if (DeviceJson.Event(message) is not { } e) continue;
                    await body.WriteAsync(Encoding.UTF8.GetBytes($"event: {e.Event}\ndata: "), ct);
                    await body.WriteAsync(e.Data, ct);
                    await body.WriteAsync("\n\n"u8.ToArray(), ct);
                }
                await body.FlushAsync(ct);
                waiting = channel.Reader.WaitToReadAsync(ct).AsTask();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // the client went away
        }
        finally
        {
            system.Stop(follower); // detaches from the entity
        }
    }
}
