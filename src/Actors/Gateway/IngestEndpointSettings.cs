using Akka.Configuration;

namespace EdgeActors.Actors.Gateway;

/// <summary>
/// The ingest endpoint of a gateway node (<c>edgeactors.gateway.ingest</c>):
/// <code>
/// ingest {
///   target-latency = 500ms             # admission keeps about this much work waiting: readings outstanding (forwarded by
///                                      # this node and not yet answered) are bounded by the recent answer rate x this
///                                      # (Little's law); beyond the bound a request is answered Overloaded at once
///   min-outstanding-readings = 20000   # the bound never falls below this ...
///   max-outstanding-readings = 500000  # ... nor rises above this
///   exchange-timeout = 12s             # a group's requests not answered by then are named for the client to resend: longer
///                                      # than a device entity's own 10 s backstop, so only a lost message gets there (a
///                                      # removed member makes every exchange name its open requests at once)
/// }
/// </code>
/// </summary>
public sealed record IngestEndpointSettings
{
    public const string Section = "edgeactors.gateway.ingest";

    public TimeSpan TargetLatency { get; init; } = TimeSpan.FromMilliseconds(500);

    public int MinOutstandingReadings { get; init; } = 20_000;

    public int MaxOutstandingReadings { get; init; } = 500_000;

    public TimeSpan ExchangeTimeout { get; init; } = TimeSpan.FromSeconds(12);

    public static IngestEndpointSettings Default { get; } = new();

    public static IngestEndpointSettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var s = new IngestEndpointSettings
        {
            TargetLatency = section.GetTimeSpan("target-latency", Default.TargetLatency),
            MinOutstandingReadings = section.GetInt("min-outstanding-readings", Default.MinOutstandingReadings),
            MaxOutstandingReadings = section.GetInt("max-outstanding-readings", Default.MaxOutstandingReadings),
            ExchangeTimeout = section.GetTimeSpan("exchange-timeout", Default.ExchangeTimeout),
        };
        return s.Validate();
    }

    public IngestEndpointSettings Validate()
    {
        if (TargetLatency <= TimeSpan.Zero || TargetLatency > TimeSpan.FromMinutes(1))
            throw new ArgumentException($"{Section}.target-latency must be between 0 and 1 minute, got {TargetLatency}");
        if (MinOutstandingReadings < 1)
            throw new ArgumentException($"{Section}.min-outstanding-readings must be >= 1, got {MinOutstandingReadings}");
        if (MaxOutstandingReadings < MinOutstandingReadings)
            throw new ArgumentException($"{Section}.max-outstanding-readings must be >= min-outstanding-readings ({MinOutstandingReadings}), got {MaxOutstandingReadings}");
        if (ExchangeTimeout <= TimeSpan.Zero || ExchangeTimeout > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"{Section}.exchange-timeout must be between 0 and 10 minutes, got {ExchangeTimeout}");
        return this;
    }
}
