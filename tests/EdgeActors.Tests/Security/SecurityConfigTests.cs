using Akka.Configuration;
using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;
using EdgeActors.Nodes;
using EdgeActors.Nodes.Hosting;

namespace EdgeActors.Tests.Security;

/// <summary>edgeactors.security from HOCON and from --certs: validation names the key; TLS switches the address scheme.</summary>
public sealed class SecurityConfigTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-seccfg-tests", Guid.NewGuid().ToString("N"));
    private static readonly IReadOnlyDictionary<string, string?> NoEnv = new Dictionary<string, string?>();

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static NodeOptions Options(string? certs = null, string? name = null, params string[] sets) => new()
    {
        Roles = ["edge"], Port = 4055, Seeds = ["127.0.0.1:4053"], HoconDirectory = Path.Combine(AppContext.BaseDirectory, "hocon"),
        CertsDirectory = certs, CertName = name, Sets = sets,
    };

    [Fact]
    public void Security_should_be_off_by_default_with_plain_seed_addresses()
    {
        var (config, _) = NodeConfig.Build(Options(), NoEnv);

        var s = SecuritySettings.FromConfig(config.GetConfig(SecuritySettings.Section));
        Assert.False(s.Tls);
        Assert.False(s.ClientTokens);
        Assert.Equal(["akka.tcp://edgeactors@127.0.0.1:4053"], config.GetStringList("akka.cluster.seed-nodes"));
    }

    [Fact]
    public void Certs_should_turn_on_tls_and_client_tokens_with_the_named_certificate_and_ssl_seed_addresses()
    {
        Certificates.Ensure(_dir, ["edge1", "edge2"], []);

        var (config, _) = NodeConfig.Build(Options(_dir, "edge1"), NoEnv);

        var s = SecuritySettings.FromConfig(config.GetConfig(SecuritySettings.Section));
        Assert.True(s.Tls);
        Assert.True(s.ClientTokens);
        Assert.Equal(Certificates.NodeCertificatePath(Path.GetFullPath(_dir), "edge1"), s.Certificate);
        Assert.Equal(["akka.ssl.tcp://edgeactors@127.0.0.1:4053"], config.GetStringList("akka.cluster.seed-nodes"));
    }

    [Fact]
    public void Certs_with_several_node_certificates_and_no_name_should_ask_for_one()
    {
        Certificates.Ensure(_dir, ["edge1", "edge2"], []);

        var ex = Assert.Throws<CliException>(() => NodeConfig.Build(Options(_dir), NoEnv));

        Assert.Contains("--cert-name", ex.Message);
    }

    [Theory]
    [InlineData("edgeactors.security.tls = maybe", "edgeactors.security.tls must be on or off")]
    [InlineData("edgeactors.security.tls = on", "edgeactors.security.ca-certificate is required")]
    [InlineData("edgeactors.security { tls = on, ca-certificate = ca.crt }", "edgeactors.security.certificate is required")]
    [InlineData("edgeactors.security.client-tokens = on", "edgeactors.security.token-key is required")]
    [InlineData("edgeactors.security.token-cache-size = 0", "edgeactors.security.token-cache-size")]
    public void Invalid_security_settings_should_be_refused_naming_the_key(string hocon, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => SecuritySettings.FromConfig(ConfigurationFactory.ParseString(hocon).GetConfig(SecuritySettings.Section)));

        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void A_missing_token_key_file_should_be_named_with_its_setting()
    {
        var s = new SecuritySettings { ClientTokens = true, TokenKey = Path.Combine(_dir, "nope.key") };

        var ex = Assert.Throws<ArgumentException>(() => s.LoadClientAuth());

        Assert.Contains("edgeactors.security.token-key", ex.Message);
        Assert.Contains("nope.key", ex.Message);
    }
}
