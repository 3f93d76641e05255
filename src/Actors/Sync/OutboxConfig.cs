using Akka.Configuration;
using EdgeActors.Storage;

namespace EdgeActors.Actors.Sync;

/// <summary>Binds the Akka-free <see cref="OutboxSettings"/> (EdgeActors.Storage) from HOCON <c>edgeactors.outbox</c>.</summary>
public static class OutboxConfig
{
    extension(OutboxSettings)
    {
        public static OutboxSettings FromConfig(Config? section)
        {
            if (section is null || section.IsEmpty) return OutboxSettings.Default;
            var d = OutboxSettings.Default;
            var s = new OutboxSettings
            {
                Path = Read("path", () => section.GetString("path", d.Path)),
                MaxBytes = Read("max-bytes", () => section.GetByteSize("max-bytes", d.MaxBytes) ?? d.MaxBytes),
                Policy = Read("full-policy", () => ParsePolicy(section.GetString("full-policy", "overwrite-oldest"))),
                TelemetryTtl = Read("telemetry-ttl", () => section.GetTimeSpan("telemetry-ttl", d.TelemetryTtl)),
                FrameTtl = Read("frame-ttl", () => section.GetTimeSpan("frame-ttl", d.FrameTtl)),
                SynchronousFull = Read("synchronous-full", () => section.GetBoolean("synchronous-full", d.SynchronousFull)),
                WriterMaxBatch = Read("writer.max-batch", () => section.GetInt("writer.max-batch", d.WriterMaxBatch)),
                WriterMaxDelay = Read("writer.max-delay", () => section.GetTimeSpan("writer.max-delay", d.WriterMaxDelay)),
            };
            return s.Validate();
        }
    }

    private static OutboxFullPolicy ParsePolicy(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "overwrite-oldest" => OutboxFullPolicy.OverwriteOldest,
        "reject-new" => OutboxFullPolicy.RejectNew,
        _ => throw OutboxSettings.Bad("full-policy", $"must be overwrite-oldest or reject-new, got '{value}'"),
    };

    private static T Read<T>(string key, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (ArgumentException ex) when (ex.Message.StartsWith(OutboxSettings.Section, StringComparison.Ordinal))
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new ArgumentException($"{OutboxSettings.Section}.{key} cannot be read: {ex.Message}", ex);
        }
    }
}
