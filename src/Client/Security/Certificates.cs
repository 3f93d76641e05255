using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EdgeActors.Client.Security;

/// <summary>
/// The deployment's own certificate authority and the certificates it issues (ECDSA P-256, made with the BCL only).
/// Layout of a certificates directory (made by <c>edgeactors certs</c>):
/// <c>ca.crt</c> (PEM, give to every node and client), <c>ca.key</c> (PEM, keep offline: it issues certificates),
/// <c>nodes/&lt;name&gt;.pfx</c>, <c>clients/&lt;name&gt;.pfx</c>, <c>clients/&lt;name&gt;.token</c>, <c>token.key</c> (gateways only).
/// </summary>
public static class Certificates
{
    public const string CaCertificateFile = "ca.crt";
    public const string CaKeyFile = "ca.key";
    public const string TokenKeyFile = "token.key";
    public const string NodesDirectory = "nodes";
    public const string ClientsDirectory = "clients";

    public static string NodeCertificatePath(string dir, string name) => Path.Combine(dir, NodesDirectory, name + ".pfx");
    public static string ClientCertificatePath(string dir, string name) => Path.Combine(dir, ClientsDirectory, name + ".pfx");
    public static string ClientTokenPath(string dir, string name) => Path.Combine(dir, ClientsDirectory, name + ".token");

    /// <summary>A new self-signed CA (10 years).</summary>
    public static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(new X500DistinguishedName($"CN={name}, O=EdgeActors"), key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return req.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
    }

    /// <summary>A node or client certificate issued by <paramref name="ca"/> (with its private key), usable for both TLS sides.</summary>
    public static X509Certificate2 Issue(X509Certificate2 ca, string commonName, TimeSpan validity)
    {
        if (!ca.HasPrivateKey) throw new ArgumentException("the CA certificate has no private key; certificates can only be issued with ca.key");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(new X500DistinguishedName($"CN={commonName}, O=EdgeActors"), key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // server and client authentication
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + validity < ca.NotAfter ? now + validity : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        using var issued = req.Create(ca, now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    public static void SaveAuthority(X509Certificate2 ca, string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, CaCertificateFile), ca.ExportCertificatePem());
        using var key = ca.GetECDsaPrivateKey() ?? throw new ArgumentException("the CA has no ECDSA private key");
        WritePrivate(Path.Combine(dir, CaKeyFile), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>The CA with its private key (ca.crt + ca.key), for issuing.</summary>
    public static X509Certificate2 LoadAuthorityWithKey(string dir)
    {
        var crt = Path.Combine(dir, CaCertificateFile);
        var key = Path.Combine(dir, CaKeyFile);
        if (!File.Exists(key)) throw new ArgumentException($"{key} not found: certificates can only be issued where the CA's key is");
        using var pem = X509Certificate2.CreateFromPemFile(crt, key);
        // round-trip through PKCS#12 so the key is usable on every platform
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
    }

    /// <summary>Loads a CA certificate (PEM or DER); errors name the setting.</summary>
    public static X509Certificate2 LoadAuthority(string path, string setting)
    {
        if (!File.Exists(path)) throw new ArgumentException($"{setting}: CA certificate file not found: {path}");
        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"{setting}: {path} is not a certificate: {ex.Message}");
        }
    }

    /// <summary>Loads a PKCS#12 file with its private key; errors name the setting.</summary>
    public static X509Certificate2 LoadWithKey(string path, string? password, string setting)
    {
        if (!File.Exists(path)) throw new ArgumentException($"{setting}: certificate file not found: {path}");
        X509Certificate2 cert;
        try
        {
            cert = X509CertificateLoader.LoadPkcs12FromFile(path, string.IsNullOrEmpty(password) ? null : password, X509KeyStorageFlags.Exportable);
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"{setting}: cannot read {path} as PKCS#12 (wrong password?): {ex.Message}");
        }
        if (!cert.HasPrivateKey) throw new ArgumentException($"{setting}: {path} holds no private key");
        return cert;
    }

    public static void SavePfx(X509Certificate2 cert, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        WritePrivate(path, cert.Export(X509ContentType.Pkcs12));
    }

    /// <summary>
    /// Null when <paramref name="cert"/> chains to <paramref name="ca"/> (only that CA is trusted, not the OS store) and is
    /// within its validity; else the reason, naming the certificate.
    /// </summary>
    public static string? Check(X509Certificate2 cert, X509Certificate2 ca, X509Certificate2Collection? extra = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        if (extra is not null) chain.ChainPolicy.ExtraStore.AddRange(extra);
        if (chain.Build(cert) && chain.ChainElements[^1].Certificate.Thumbprint == ca.Thumbprint) return null;
        var status = chain.ChainStatus.Length == 0
            ? "does not chain to the CA"
            : string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}"));
        return $"certificate '{cert.Subject}' (issuer '{cert.Issuer}', thumbprint {cert.Thumbprint}) is not valid for this deployment's CA '{ca.Subject}': {status}";
    }

    private static void WritePrivate(string path, string text) => WritePrivate(path, System.Text.Encoding.ASCII.GetBytes(text));

    private static void WritePrivate(string path, byte[] bytes)
    {
        if (File.Exists(path)) File.Delete(path);
        using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
            fs.Write(bytes);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public record Made(string Path, string What);

    /// <summary>
    /// Creates what is missing in <paramref name="dir"/>: the CA (unless one exists and <paramref name="replace"/> is
    /// false), one certificate per node and per client, the token key, and one token per client. Existing node/client
    /// files are kept unless the CA was (re)made. Returns what it wrote.
    /// </summary>
    public static IReadOnlyList<Made> Ensure(string dir, IEnumerable<string> nodes, IEnumerable<(string Name, string[] Scopes)> clients,
        bool replace = false, TimeSpan? validity = null, TimeSpan? tokenValidity = null)
    {
        var made = new List<Made>();
        var life = validity ?? TimeSpan.FromDays(825);
        var caPath = Path.Combine(dir, CaCertificateFile);
        var fresh = replace || !File.Exists(caPath);
        X509Certificate2 ca;
        if (fresh)
        {
            ca = CreateAuthority($"EdgeActors deployment CA {Convert.ToHexString(RandomNumberGenerator.GetBytes(4))}");
            SaveAuthority(ca, dir);
            made.Add(new Made(caPath, "CA certificate (give to every node and client)"));
            made.Add(new Made(Path.Combine(dir, CaKeyFile), "CA private key (keep offline; issues certificates)"));
        }
        else ca = LoadAuthorityWithKey(dir);
        using (ca)
        {
            foreach (var node in nodes)
            {
                ValidateName(node, "node");
                var path = NodeCertificatePath(dir, node);
                if (!fresh && File.Exists(path)) continue;
                using var cert = Issue(ca, $"edgeactors-node-{node}", life);
                SavePfx(cert, path);
                made.Add(new Made(path, $"node certificate for '{node}'"));
            }
            var keyPath = Path.Combine(dir, TokenKeyFile);
            var clientList = clients.ToList();
            if (fresh || !File.Exists(keyPath))
            {
                WritePrivate(keyPath, Convert.ToBase64String(ClientTokens.NewKey()) + "\n");
                made.Add(new Made(keyPath, "client-token signing key (gateway nodes only)"));
            }
            var tokenKey = ClientTokens.LoadKey(keyPath);
            foreach (var (name, scopes) in clientList)
            {
                ValidateName(name, "client");
                var path = ClientCertificatePath(dir, name);
                if (!fresh && File.Exists(path) && File.Exists(ClientTokenPath(dir, name))) continue;
                using var cert = Issue(ca, $"edgeactors-client-{name}", life);
                SavePfx(cert, path);
                made.Add(new Made(path, $"client certificate for '{name}'"));
                var token = ClientTokens.Issue(tokenKey, new ClientClaims(name, scopes, "", DateTimeOffset.UtcNow + (tokenValidity ?? life)));
                WritePrivate(ClientTokenPath(dir, name), token + "\n");
                made.Add(new Made(ClientTokenPath(dir, name), $"client token for '{name}' (scopes {string.Join(",", scopes)})"));
            }
        }
        return made;
    }

    private static void ValidateName(string name, string what)
    {
        if (name.Length == 0 || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"{what} name '{name}' must be 1-64 characters of letters, digits, '-', '_' or '.'");
    }
}
