using Akka.Configuration;

namespace EdgeActors.Http;

/// <summary>
/// The node's HTTP and gRPC host (<c>edgeactors.http</c>):
/// <code>
/// http {
///   enabled = on              # one Kestrel host per node (gateway nodes map KServe v2 and the device REST API on it)
///   host = ""                 # address to bind; "" = the node's own (akka.remote.dot-netty.tcp.hostname)
///   port = 8080               # HTTP/1.1 (and HTTP/2 over TLS with ALPN: gRPC shares this port when TLS is on)
///   grpc-port = 8081          # without TLS: an HTTP/2-only (h2c) port for gRPC; 0 = none
///   max-request-bytes = 4MiB  # larger bodies are refused with 413
///   request-timeout = 10s     # how long a request waits for the cluster (inference, device entity) before 504
///   sse-heartbeat = 15s       # a comment line on idle Server-Sent Events streams (keeps proxies from closing them)
/// }
/// </code>
/// TLS: when <c>edgeactors.security.tls = on</c> the host serves HTTPS with the node's certificate from the deployment
/// (<c>edgeactors certs</c>), ALPN h1 + h2 on <c>port</c>; <c>grpc-port</c> is not opened.
/// </summary>
public sealed record HttpSettings
{
    public const string Section = "edgeactors.http";

    public bool Enabled { get; init; } = true;

    public string Host { get; init; } = "";

    public int Port { get; init; } = 8080;

    public int GrpcPort { get; init; } = 8081;

    public long MaxRequestBytes { get; init; } = 4L * 1024 * 1024;

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan SseHeartbeat { get; init; } = TimeSpan.FromSeconds(15);

    public static HttpSettings Default { get; } = new();

    public static HttpSettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var s = new HttpSettings
        {
            Enabled = OnOff(section, "enabled", Default.Enabled),
            Host = section.GetString("host", Default.Host),
            Port = section.GetInt("port", Default.Port),
            GrpcPort = section.GetInt("grpc-port", Default.GrpcPort),
            MaxRequestBytes = section.GetByteSize("max-request-bytes") ?? Default.MaxRequestBytes,
            RequestTimeout = section.GetTimeSpan("request-timeout", Default.RequestTimeout),
            SseHeartbeat = section.GetTimeSpan("sse-heartbeat", Default.SseHeartbeat),
        };
        return s.Validate();
    }

    public HttpSettings Validate()
    {
        if (Port is < 1 or > 65535) throw new ArgumentException($"{Section}.port must be 1..65535, got {Port}");
        if (GrpcPort is < 0 or > 65535) throw new ArgumentException($"{Section}.grpc-port must be 0 (none) or 1..65535, got {GrpcPort}");
        if (GrpcPort == Port) throw new ArgumentException($"{Section}.grpc-port must differ from {Section}.port ({Port}), or be 0");
        if (MaxRequestBytes is < 1024 or > 1L << 30) throw new ArgumentException($"{Section}.max-request-bytes must be 1KiB..1GiB, got {MaxRequestBytes}");
        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"{Section}.request-timeout must be between 0 and 10 minutes, got {RequestTimeout}");
        if (SseHeartbeat <= TimeSpan.Zero || SseHeartbeat > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"{Section}.sse-heartbeat must be between 0 and 10 minutes, got {SseHeartbeat}");
        return this;
    }

    private static bool OnOff(Config c, string key, bool fallback)
    {
        var raw = c.GetString(key, fallback ? "on" : "off").Trim().ToLowerInvariant();
        return raw switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw new ArgumentException($"{Section}.{key} must be on or off (got '{raw}')"),
        };
    }
}
