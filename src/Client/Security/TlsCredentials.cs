using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace EdgeActors.Client.Security;

/// <summary>The loaded certificates for TLS on Akka.Remote (nodes and the client library).</summary>
public sealed record TlsCredentials(X509Certificate2 Certificate, X509Certificate2 Authority)
{
    /// <summary>Loads and checks the files: the own certificate must be issued by the configured CA.</summary>
    public static TlsCredentials Load(string caPath, string certificatePath, string? password, string settingPrefix = "edgeactors.security")
    {
        var ca = Certificates.LoadAuthority(caPath, $"{settingPrefix}.ca-certificate");
        var cert = Certificates.LoadWithKey(certificatePath, password, $"{settingPrefix}.certificate");
        var problem = Certificates.Check(cert, ca);
        if (problem is not null) throw new ArgumentException($"{settingPrefix}.certificate: {certificatePath}: {problem}");
        return new TlsCredentials(cert, ca);
    }

    /// <summary>
    /// Mutual TLS for DotNetty: this certificate on both sides of every connection, and the peer's certificate must
    /// chain to our CA (custom root trust; the OS store is not used). A refused peer is logged with its address and why.
    /// Host names are not checked (nodes are reached by IP; the CA is what authenticates them).
    /// </summary>
    public DotNettySslSetup Setup() => new(Certificate, suppressValidation: false, requireMutualAuthentication: true,
        validateCertificateHostname: false, customValidator: Validator(Authority));

    public static CertificateValidationCallback Validator(X509Certificate2 ca) => (cert, chain, peer, errors, log) =>
    {
        if (cert is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            log.Error("TLS: refused peer {0}: it presented no certificate (every node and client needs one issued by this deployment's CA '{1}')", peer, ca.Subject);
            return false;
        }
        var extra = chain is null ? null : new X509Certificate2Collection(chain.ChainElements.Select(e => e.Certificate).Where(c => c.Thumbprint != cert.Thumbprint).ToArray());
        var problem = Certificates.Check(cert, ca, extra);
        if (problem is null) return true;
        log.Error("TLS: refused peer {0}: {1}", peer, problem);
        return false;
    };
}
