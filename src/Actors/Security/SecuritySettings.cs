using Akka.Configuration;
using Akka.Hosting;
using EdgeActors.Client.Security;

namespace EdgeActors.Actors.Security;

/// <summary>
/// <c>edgeactors.security</c>: TLS with mutual authentication on Akka.Remote, and signed client tokens at the gateways.
/// Paths are as configured; the host resolves relative ones (under the node's data directory).
/// </summary>
public sealed record SecuritySettings
{
    public const string Section = "edgeactors.security";

    public bool Tls { get; init; }
    public string CaCertificate { get; init; } = "";
    public string Certificate { get; init; } = "";
    public string CertificatePassword { get; init; } = "";
    public bool ClientTokens { get; init; }
    public string TokenKey { get; init; } = "";
    public int TokenCacheSize { get; init; } = 4096;

    public static readonly SecuritySettings Off = new();

    public static SecuritySettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Off;
        var s = new SecuritySettings
        {
            Tls = OnOff(section, "tls"),
            CaCertificate = section.GetString("ca-certificate", ""),
            Certificate = section.GetString("certificate", ""),
            CertificatePassword = section.GetString("certificate-password", ""),
            ClientTokens = OnOff(section, "client-tokens"),
            TokenKey = section.GetString("token-key", ""),
            TokenCacheSize = section.GetInt("token-cache-size", 4096),
        };
        if (s.Tls && string.IsNullOrWhiteSpace(s.CaCertificate)) throw new ArgumentException($"{Section}.ca-certificate is required when {Section}.tls = on");
        if (s.Tls && string.IsNullOrWhiteSpace(s.Certificate)) throw new ArgumentException($"{Section}.certificate is required when {Section}.tls = on");
        if (s.ClientTokens && string.IsNullOrWhiteSpace(s.TokenKey)) throw new ArgumentException($"{Section}.token-key is required when {Section}.client-tokens = on");
        if (s.TokenCacheSize is < 1 or > 1_000_000) throw new ArgumentException($"{Section}.token-cache-size must be 1..1000000 (got {s.TokenCacheSize})");
        return s;
    }

    private static bool OnOff(Config c, string key)
    {
        var raw = c.GetString(key, "off").Trim().ToLowerInvariant();
        return raw switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" or "" => false,
            _ => throw new ArgumentException($"{Section}.{key} must be on or off (got '{raw}')"),
        };
    }

    /// <summary>The gateway's token checking when client-tokens = on (key loaded; errors name the setting), else null.</summary>
    public Gateway.ClientAuth? LoadClientAuth()
    {
        if (!ClientTokens) return null;
        try
        {
            return new Gateway.ClientAuth(EdgeActors.Client.Security.ClientTokens.LoadKey(TokenKey), TokenCacheSize);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{Section}.token-key: {ex.Message}");
        }
    }

    /// <summary>The same settings with every relative path made absolute by <paramref name="resolve"/>.</summary>
    public SecuritySettings Resolve(Func<string, string> resolve) => this with
    {
        CaCertificate = CaCertificate.Length > 0 ? resolve(CaCertificate) : "",
        Certificate = Certificate.Length > 0 ? resolve(Certificate) : "",
        TokenKey = TokenKey.Length > 0 ? resolve(TokenKey) : "",
    };
}

public static class TransportSecurityRegistration
{
    public const string EnableSslHocon = "akka.remote.dot-netty.tcp.enable-ssl = true";

    /// <summary>
    /// TLS with mutual authentication on Akka.Remote when <c>edgeactors.security.tls = on</c> (paths already resolved);
    /// nothing when off. Fails at start-up, naming the setting, when a file is missing or the node's own certificate
    /// is not issued by the configured CA.
    /// </summary>
    public static AkkaConfigurationBuilder AddTransportSecurity(this AkkaConfigurationBuilder builder, SecuritySettings settings)
    {
        if (!settings.Tls) return builder;
        var tls = TlsCredentials.Load(settings.CaCertificate, settings.Certificate, settings.CertificatePassword);
        return builder.AddHocon(EnableSslHocon, HoconAddMode.Prepend).AddSetup(tls.Setup());
    }
}
