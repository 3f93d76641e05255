namespace EdgeActors.Actors.Inference;

/// <summary>
/// What a node serves and how it downloads models, bound from <c>edgeactors.inference</c>: <c>serve</c> lists the model
/// names; the version of each is the registry's policy.
/// </summary>
public sealed record ModelHostSettings(IReadOnlyList<string> Serve)
{
    /// <summary>How often GetActiveModels is re-sent until the registry answers.</summary>
    public TimeSpan RegistryRetry { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Periodic re-sync with the registry after the first answer (covers lost announcements); zero disables it.</summary>
    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long one outstanding chunk may take before the download restarts.</summary>
    public TimeSpan ChunkTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public int ChunkBytes { get; init; } = 256 * 1024;
    /// <summary>First delay before a failed download restarts; doubles per failure up to <see cref="BackoffMax"/>.</summary>
    public TimeSpan BackoffMin { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Largest model this node downloads.</summary>
    public long MaxModelBytes { get; init; } = 1L << 30;
    /// <summary>How long GetInferenceStatus waits for the inference actors' statistics.</summary>
    public TimeSpan StatusTimeout { get; init; } = TimeSpan.FromSeconds(2);

    public static ModelHostSettings FromConfig(Akka.Configuration.Config? section)
    {
        var d = new ModelHostSettings([]);
        if (section is null || section.IsEmpty) return d;
        var serve = section.HasPath("serve") ? section.GetStringList("serve").Where(s => !string.IsNullOrWhiteSpace(s)).Distinct().ToArray() : [];
        var s = new ModelHostSettings(serve)
        {
            RegistryRetry = section.GetTimeSpan("fetch.registry-retry", d.RegistryRetry),
            ResyncInterval = section.GetTimeSpan("fetch.resync-interval", d.ResyncInterval),
            ChunkTimeout = section.GetTimeSpan("fetch.chunk-timeout", d.ChunkTimeout),
            ChunkBytes = (int)Math.Min(int.MaxValue, section.GetByteSize("fetch.chunk-bytes", d.ChunkBytes) ?? d.ChunkBytes),
            BackoffMin = section.GetTimeSpan("fetch.backoff-min", d.BackoffMin),
            BackoffMax = section.GetTimeSpan("fetch.backoff-max", d.BackoffMax),
            MaxModelBytes = section.GetByteSize("fetch.max-model-bytes", d.MaxModelBytes) ?? d.MaxModelBytes,
            StatusTimeout = section.GetTimeSpan("status-timeout", d.StatusTimeout),
        };
        if (s.RegistryRetry <= TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.fetch.registry-retry must be positive");
        if (s.ResyncInterval < TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.fetch.resync-interval must be >= 0");
        if (s.ChunkTimeout <= TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.fetch.chunk-timeout must be positive");
        if (s.ChunkBytes < 1) throw new ArgumentException("edgeactors.inference.fetch.chunk-bytes must be positive");
        if (s.BackoffMin <= TimeSpan.Zero || s.BackoffMax < s.BackoffMin)
            throw new ArgumentException("edgeactors.inference.fetch.backoff-min must be positive and <= backoff-max");
        if (s.MaxModelBytes < 1 || s.MaxModelBytes > Array.MaxLength) throw new ArgumentException($"edgeactors.inference.fetch.max-model-bytes must be within 1..{Array.MaxLength}");
        if (s.StatusTimeout <= TimeSpan.Zero) throw new ArgumentException("edgeactors.inference.status-timeout must be positive");
        return s;
    }
}
