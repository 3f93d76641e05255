using Akka.Configuration;

namespace EdgeActors.Actors.Gateway;

/// <summary>
/// The ingest endpoint of a gateway node (<c>edgeactors.gateway.ingest</c>):
/// <code>
/// ingest {
///   max-outstanding-readings = 200000  # readings (a frame counts 1) forwarded by this node and not yet answered;
///                                      # beyond it a request is answered Overloaded at once
///   exchange-timeout = 10s             # a group's unanswered requests are given up after this (the client resends them)
/// }
/// </code>
/// </summary>
public sealed record IngestEndpointSettings
{
    public const string Section = "edgeactors.gateway.ingest";

    public int MaxOutstandingReadings { get; init; } = 200_000;

    public TimeSpan ExchangeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static IngestEndpointSettings Default { get; } = new();

    public static IngestEndpointSettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var s = new IngestEndpointSettings
        {
            MaxOutstandingReadings = section.GetInt("max-outstanding-readings", Default.MaxOutstandingReadings),
            ExchangeTimeout = section.GetTimeSpan("exchange-timeout", Default.ExchangeTimeout),
        };
        return s.Validate();
    }

    public IngestEndpointSettings Validate()
    {
        if (MaxOutstandingReadings < 1)
            throw new ArgumentException($"{Section}.max-outstanding-readings must be >= 1, got {MaxOutstandingReadings}");
        if (ExchangeTimeout <= TimeSpan.Zero || ExchangeTimeout > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"{Section}.exchange-timeout must be between 0 and 10 minutes, got {ExchangeTimeout}");
        return this;
    }
}
