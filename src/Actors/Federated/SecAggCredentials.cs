using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// What secure aggregation authenticates round keys with: the deployment's CA (the coordinator and every client check each
/// round key's certificate chain against it) and this node's certificate with its ECDSA key (an edge signs its clients'
/// round keys with it). Loaded from <c>edgeactors.security</c> (the same files as mutual TLS); none when TLS is off.
/// </summary>
public sealed class SecAggCredentials
{
    public SecAggCredentials(X509Certificate2 authority, X509Certificate2 certificate)
    {
        Authority = authority;
        Certificate = certificate.RawData;
        SigningKey = certificate.GetECDsaPrivateKey()
            ?? throw new ArgumentException($"{SecuritySettings.Section}.certificate: '{certificate.Subject}' has no ECDSA private key; secure aggregation signs round keys with it");
    }

    public X509Certificate2 Authority { get; }

    /// <summary>This node's certificate (DER), sent with the round keys it signs.</summary>
    public byte[] Certificate { get; }

    public ECDsa SigningKey { get; }

    /// <summary>The node's credentials when <c>edgeactors.security.tls = on</c> (paths resolved), else null (secure aggregation is refused then).</summary>
    public static SecAggCredentials? From(SecuritySettings settings)
    {
        if (!settings.Tls) return null;
        var tls = TlsCredentials.Load(settings.CaCertificate, settings.Certificate, settings.CertificatePassword);
        return new SecAggCredentials(tls.Authority, tls.Certificate);
    }

    public const string Missing =
        "secure aggregation needs the deployment's credentials to authenticate round keys (edgeactors.security.tls = on, with ca-certificate and certificate)";
}
