using Akka.Configuration;

namespace EdgeActors.Mqtt;

/// <summary>
/// The MQTT broker of an edge node (<c>edgeactors.mqtt</c>, defaults in hocon/base.conf; docs/mqtt.md):
/// <code>
/// mqtt {
///   enabled = off                # on for edges (edge.conf)
///   bind = "0.0.0.0"             # address the broker listens on
///   port = 1883                  # plain MQTT (0 = none); closed when edgeactors.security.tls = on unless plain-with-tls = on
///   tls-port = 8883              # MQTT over TLS with the node's certificate (only when edgeactors.security.tls = on; 0 = none)
///   plain-with-tls = off         # keep the plain port open when TLS is on (tokens would travel in clear text)
///   max-payload = 256KiB         # larger publishes are refused
///   max-connections = 10000      # further connects are refused with ServerBusy
///   receive-maximum = 64         # QoS 1 publishes a client may have unacknowledged (advertised in MQTT 5's CONNACK)
///   ask-timeout = 10s            # wait for the device entity's answer; none by then: the connection is closed without PUBACK
///   backpressure-timeout = 30s   # Overloaded/OutboxFull answers are retried (PUBACK withheld) for this long, then the connection is closed without PUBACK
///   retry-backoff-min = 50ms     # ... first pause between retries, doubling ...
///   retry-backoff-max = 2s       # ... up to this
///   persistent-sessions = on     # clean start off keeps a client's subscriptions and queued messages while it is away
///   max-pending-per-client = 1000  # messages queued for one client (the oldest are dropped beyond it)
///   session-expiry = 24h         # a persistent session whose client is away longer is deleted (MQTT 3.1.1; the cap of MQTT 5's Session Expiry Interval)
/// }
/// </code>
/// </summary>
public sealed record MqttSettings
{
    public const string Section = "edgeactors.mqtt";

    public bool Enabled { get; init; }
    public string Bind { get; init; } = "0.0.0.0";
    public int Port { get; init; } = 1883;
    public int TlsPort { get; init; } = 8883;
    public bool PlainWithTls { get; init; }
    public int MaxPayload { get; init; } = 256 * 1024;
    public int MaxConnections { get; init; } = 10_000;
    public int ReceiveMaximum { get; init; } = 64;
    public TimeSpan AskTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan BackpressureTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan RetryBackoffMin { get; init; } = TimeSpan.FromMilliseconds(50);
    public TimeSpan RetryBackoffMax { get; init; } = TimeSpan.FromSeconds(2);
    public bool PersistentSessions { get; init; } = true;
    public int MaxPendingPerClient { get; init; } = 1000;
    public TimeSpan SessionExpiry { get; init; } = TimeSpan.FromHours(24);

    public static MqttSettings Default { get; } = new();

    public static MqttSettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var s = new MqttSettings
        {
            Enabled = OnOff(section, "enabled", Default.Enabled),
            Bind = section.GetString("bind", Default.Bind),
            Port = section.GetInt("port", Default.Port),
            TlsPort = section.GetInt("tls-port", Default.TlsPort),
            PlainWithTls = OnOff(section, "plain-with-tls", Default.PlainWithTls),
            MaxPayload = Bytes(section, "max-payload", Default.MaxPayload),
            MaxConnections = section.GetInt("max-connections", Default.MaxConnections),
            ReceiveMaximum = section.GetInt("receive-maximum", Default.ReceiveMaximum),
            AskTimeout = Duration(section, "ask-timeout", Default.AskTimeout),
            BackpressureTimeout = Duration(section, "backpressure-timeout", Default.BackpressureTimeout),
            RetryBackoffMin = Duration(section, "retry-backoff-min", Default.RetryBackoffMin),
            RetryBackoffMax = Duration(section, "retry-backoff-max", Default.RetryBackoffMax),
            PersistentSessions = OnOff(section, "persistent-sessions", Default.PersistentSessions),
            MaxPendingPerClient = section.GetInt("max-pending-per-client", Default.MaxPendingPerClient),
            SessionExpiry = Duration(section, "session-expiry", Default.SessionExpiry),
        };
        return s.Validate();
    }

    public MqttSettings Validate()
    {
        if (!System.Net.IPAddress.TryParse(Bind, out _)) throw new ArgumentException($"{Section}.bind must be an IP address, got '{Bind}'");
        if (Port is < 0 or > 65535) throw new ArgumentException($"{Section}.port must be 0..65535 (0 = no plain port), got {Port}");
        if (TlsPort is < 0 or > 65535) throw new ArgumentException($"{Section}.tls-port must be 0..65535 (0 = no TLS port), got {TlsPort}");
        if (Port != 0 && Port == TlsPort) throw new ArgumentException($"{Section}.port and {Section}.tls-port must differ, both are {Port}");
        if (MaxPayload is < 1024 or > 256 * 1024 * 1024) throw new ArgumentException($"{Section}.max-payload must be 1KiB..256MiB, got {MaxPayload}");
        if (MaxConnections < 1) throw new ArgumentException($"{Section}.max-connections must be >= 1, got {MaxConnections}");
        if (ReceiveMaximum is < 1 or > 65535) throw new ArgumentException($"{Section}.receive-maximum must be 1..65535, got {ReceiveMaximum}");
        if (AskTimeout <= TimeSpan.Zero || AskTimeout > TimeSpan.FromMinutes(5)) throw new ArgumentException($"{Section}.ask-timeout must be between 0 and 5 minutes, got {AskTimeout}");
        if (BackpressureTimeout < TimeSpan.Zero || BackpressureTimeout > TimeSpan.FromHours(1)) throw new ArgumentException($"{Section}.backpressure-timeout must be between 0 and 1 hour, got {BackpressureTimeout}");
        if (RetryBackoffMin <= TimeSpan.Zero) throw new ArgumentException($"{Section}.retry-backoff-min must be positive, got {RetryBackoffMin}");
        if (RetryBackoffMax < RetryBackoffMin) throw new ArgumentException($"{Section}.retry-backoff-max must be >= retry-backoff-min ({RetryBackoffMin}), got {RetryBackoffMax}");
        if (MaxPendingPerClient < 1) throw new ArgumentException($"{Section}.max-pending-per-client must be >= 1, got {MaxPendingPerClient}");
        if (SessionExpiry < TimeSpan.FromSeconds(1) || SessionExpiry > TimeSpan.FromSeconds(uint.MaxValue - 1))
            throw new ArgumentException($"{Section}.session-expiry must be between 1s and {uint.MaxValue - 1} seconds (MQTT 5's largest finite Session Expiry Interval), got {SessionExpiry}");
        return this;
    }

    private static TimeSpan Duration(Config c, string key, TimeSpan fallback)
    {
        try
        {
            return c.GetTimeSpan(key, fallback);
        }
        catch (FormatException)
        {
            throw new ArgumentException($"{Section}.{key} must be a positive duration such as 30s, 5m or 24h (got '{c.GetString(key, "")}')");
        }
    }

    private static int Bytes(Config c, string key, int fallback)
    {
        var v = c.GetByteSize(key) ?? fallback;
        if (v is < 0 or > int.MaxValue) throw new ArgumentException($"{Section}.{key} is out of range: {v}");
        return (int)v;
    }

    private static bool OnOff(Config c, string key, bool fallback)
    {
        if (!c.HasPath(key)) return fallback;
        var raw = c.GetString(key, "").Trim().ToLowerInvariant();
        return raw switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw new ArgumentException($"{Section}.{key} must be on or off (got '{raw}')"),
        };
    }
}
