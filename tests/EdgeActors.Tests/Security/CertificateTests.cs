using EdgeActors.Client.Security;
using System.Security.Cryptography.X509Certificates;
using EdgeActors.Actors.Security;
using EdgeActors.Nodes.Commands;

namespace EdgeActors.Tests.Security;

/// <summary>The deployment CA and the certificates `certs` makes; validation trusts only our CA.</summary>
public sealed class CertificateTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgeactors-certs-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Certificates_made_for_a_deployment_should_chain_to_its_CA()
    {
        var made = Certificates.Ensure(_dir, ["seed", "edge1"], [("app", [ClientTokens.Ingest])]);

        Assert.Contains(made, m => m.Path.EndsWith("ca.crt"));
        var tls = TlsCredentials.Load(Path.Combine(_dir, "ca.crt"), Certificates.NodeCertificatePath(_dir, "edge1"), null);
        Assert.True(tls.Certificate.HasPrivateKey);
        Assert.Null(Certificates.Check(tls.Certificate, tls.Authority));
        var client = X509CertificateLoader.LoadPkcs12FromFile(Certificates.ClientCertificatePath(_dir, "app"), null);
        Assert.Null(Certificates.Check(client, tls.Authority));
        var token = File.ReadAllText(Certificates.ClientTokenPath(_dir, "app")).Trim();
        var check = ClientTokens.Verify(ClientTokens.LoadKey(Path.Combine(_dir, "token.key")), token, DateTimeOffset.UtcNow);
        Assert.True(check.Ok, check.Error);
        Assert.Equal([ClientTokens.Ingest], check.Claims!.Scopes);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "ca.key")));
    }

    [Fact]
    public void A_certificate_from_another_CA_should_be_refused_naming_both_CAs()
    {
        Certificates.Ensure(Path.Combine(_dir, "ours"), ["seed"], []);
        Certificates.Ensure(Path.Combine(_dir, "theirs"), ["rogue"], []);
        var ours = Certificates.LoadAuthority(Path.Combine(_dir, "ours", "ca.crt"), "test");
        var rogue = X509CertificateLoader.LoadPkcs12FromFile(Certificates.NodeCertificatePath(Path.Combine(_dir, "theirs"), "rogue"), null);

        var problem = Certificates.Check(rogue, ours);

        Assert.NotNull(problem);
        Assert.Contains("edgeactors-node-rogue", problem);
        Assert.Contains(ours.Subject, problem);
    }

    [Fact]
    public void A_self_signed_certificate_with_the_CAs_name_should_be_refused()
    {
        Certificates.Ensure(_dir, ["seed"], []);
        var ours = Certificates.LoadAuthority(Path.Combine(_dir, "ca.crt"), "test");
        using var impostor = Certificates.CreateAuthority(ours.GetNameInfo(X509NameType.SimpleName, false));

        Assert.NotNull(Certificates.Check(impostor, ours));
    }

    [Fact]
    public void A_node_whose_own_certificate_is_from_another_CA_should_fail_at_start_naming_the_setting()
    {
        Certificates.Ensure(Path.Combine(_dir, "a"), ["seed"], []);
        Certificates.Ensure(Path.Combine(_dir, "b"), ["seed"], []);

        var ex = Assert.Throws<ArgumentException>(() =>
            TlsCredentials.Load(Path.Combine(_dir, "a", "ca.crt"), Certificates.NodeCertificatePath(Path.Combine(_dir, "b"), "seed"), null));

        Assert.Contains("edgeactors.security.certificate", ex.Message);
        Assert.Contains("not valid for this deployment's CA", ex.Message);
    }

    [Fact]
    public void Missing_files_should_be_named_with_their_setting()
    {
        var ex = Assert.Throws<ArgumentException>(() => TlsCredentials.Load(Path.Combine(_dir, "nope.crt"), Path.Combine(_dir, "nope.pfx"), null));

        Assert.Contains("edgeactors.security.ca-certificate", ex.Message);
        Assert.Contains("nope.crt", ex.Message);
    }

    [Fact]
    public void Running_certs_again_should_keep_the_CA_and_add_new_names_and_force_should_replace_it()
    {
        Certificates.Ensure(_dir, ["seed"], []);
        var first = File.ReadAllText(Path.Combine(_dir, "ca.crt"));

        var again = Certificates.Ensure(_dir, ["seed", "edge9"], []);
        Assert.Equal(first, File.ReadAllText(Path.Combine(_dir, "ca.crt")));
        Assert.Single(again, m => m.Path.EndsWith("edge9.pfx"));
        Assert.DoesNotContain(again, m => m.Path.EndsWith("seed.pfx"));

        Certificates.Ensure(_dir, ["seed"], [], replace: true);
        Assert.NotEqual(first, File.ReadAllText(Path.Combine(_dir, "ca.crt")));
    }

    [Fact]
    public async Task The_certs_command_should_write_a_deployment_and_refuse_unknown_scopes()
    {
        Assert.Equal(0, await EdgeActors.Nodes.Cli.RunAsync(["certs", "--out", _dir, "--nodes", "n1", "--clients", "dash:query"]));
        Assert.True(File.Exists(Certificates.NodeCertificatePath(_dir, "n1")));
        Assert.True(File.Exists(Certificates.ClientTokenPath(_dir, "dash")));

        var ex = Assert.Throws<EdgeActors.Nodes.CliException>(() => CertsCommand.ParseClient("dash:query+root"));
        Assert.Contains("unknown scope 'root'", ex.Message);
    }
}
