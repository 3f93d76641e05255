using System.Buffers;
using System.Text.Json;
using EdgeActors.Http.Kserve;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace EdgeActors.Http;

/// <summary>Reading bodies within the size limit, writing JSON answers and errors.</summary>
public static class HttpIo
{
    public const string JsonType = "application/json";

    /// <summary>Readable JSON (quotes and non-ASCII text as they are, not \u escapes); bodies are never embedded in HTML.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The whole body, at most <paramref name="max"/> bytes (413 beyond, whatever Content-Length says).</summary>
    public static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpContext ctx, long max)
    {
        if (ctx.Request.ContentLength is { } declared && declared > max)
            throw HttpProblem.TooLarge($"request body of {declared} bytes is larger than this node's limit of {max} bytes (edgeactors.http.max-request-bytes)");
        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(max, ctx.Request.ContentLength ?? 16 * 1024) + 1);
        var body = ctx.Request.Body;
        while (true)
        {
            var span = buffer.GetMemory(16 * 1024);
            int n;
            try
            {
                n = await body.ReadAsync(span, ctx.RequestAborted);
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == 413)
            {
                throw HttpProblem.TooLarge($"request body is larger than this node's limit of {max} bytes (edgeactors.http.max-request-bytes)");
            }
            if (n == 0) break;
            buffer.Advance(n);
            if (buffer.WrittenCount > max)
                throw HttpProblem.TooLarge($"request body is larger than this node's limit of {max} bytes (edgeactors.http.max-request-bytes)");
        }
        return buffer.WrittenMemory;
    }

    public static Task WriteJsonAsync(HttpContext ctx, int status, byte[] json)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = JsonType;
        ctx.Response.ContentLength = json.Length;
        return ctx.Response.Body.WriteAsync(json, ctx.RequestAborted).AsTask();
    }

    public static Task WriteJsonAsync(HttpContext ctx, int status, Action<Utf8JsonWriter> write) =>
        WriteJsonAsync(ctx, status, Json(write));

    public static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, HttpIo.WriterOptions)) write(w);
        return buffer.ToArray();
    }

    /// <summary>
    /// Middleware: every <see cref="HttpProblem"/> (and Kestrel's own bad-request refusals) becomes <c>{"error": ...}</c>
    /// with its status; anything else a logged 500. The node keeps running.
    /// </summary>
    public static async Task ErrorsAsync(HttpContext ctx, RequestDelegate next, ILogger log)
    {
        try
        {
            await next(ctx);
        }
        catch (HttpProblem p) when (!ctx.Response.HasStarted)
        {
            await WriteJsonAsync(ctx, p.Status, KserveTensors.Error(p.Message));
        }
        catch (BadHttpRequestException ex) when (!ctx.Response.HasStarted)
        {
            var message = ex.StatusCode == 413
                ? "request body is larger than this node's limit (edgeactors.http.max-request-bytes)"
                : $"bad request: {ex.Message}";
            await WriteJsonAsync(ctx, ex.StatusCode, KserveTensors.Error(message));
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // the client went away
        }
        catch (Exception ex) when (!ctx.Response.HasStarted)
        {
            log.LogError(ex, "HTTP {Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            await WriteJsonAsync(ctx, 500, KserveTensors.Error($"internal error: {ex.GetType().Name}: {ex.Message}"));
        }
    }
}
