using System.Security.Cryptography;
using System.Text;
using EdgeActors.Messages;

namespace EdgeActors.Client.Security;

/// <summary>What a client token grants: who, which scopes, which devices (id prefix, "" = all), until when.</summary>
public sealed record ClientClaims(string ClientId, IReadOnlyList<string> Scopes, string DevicePrefix, DateTimeOffset ExpiresAt)
{
    public bool Has(string scope) => Scopes.Contains(scope);
}

/// <summary>A verified token's claims, or why it was refused.</summary>
public readonly record struct TokenCheck(ClientClaims? Claims, string? Error)
{
    public bool Ok => Claims is not null;
}

/// <summary>
/// Signed client tokens: <c>ea1.&lt;base64url(claims)&gt;.&lt;base64url(HMAC-SHA256(key, "ea1." + claims))&gt;</c>, with
/// claims = <c>client|scope,scope|device-prefix|expires-unix-seconds</c>. The key is the deployment's
/// <c>token.key</c> (made by <c>edgeactors certs</c>); whoever holds it can issue tokens, so only the gateways and the
/// <c>certs</c> command read it.
/// </summary>
public static class ClientTokens
{
    public const string Version = "ea1";
    public const string Ingest = "ingest";
    public const string Query = "query";
    public const string Infer = "infer";
    public const string Admin = "admin";
    public const string Federate = "federate";

    public static readonly IReadOnlyList<string> Scopes = [Ingest, Query, Infer, Admin, Federate];

    public const int KeyBytes = 32;

    /// <summary>Longest token accepted (a longer one is refused before any work is done on it).</summary>
    public const int MaxTokenLength = 2048;

    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeyBytes);

    /// <summary>Reads a key file (base64 of at least 32 bytes); errors name the file.</summary>
    public static byte[] LoadKey(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"token key file not found: {path}");
        byte[] key;
        try
        {
            key = Convert.FromBase64String(File.ReadAllText(path).Trim());
        }
        catch (FormatException)
        {
            throw new ArgumentException($"token key file {path} is not base64");
        }
        if (key.Length < KeyBytes) throw new ArgumentException($"token key in {path} is {key.Length} bytes; at least {KeyBytes} are needed");
        return key;
    }

    public static string Issue(byte[] key, ClientClaims claims)
    {
        if (string.IsNullOrWhiteSpace(claims.ClientId) || claims.ClientId.IndexOfAny(['|', ',']) >= 0)
            throw new ArgumentException($"client id '{claims.ClientId}' must be non-empty and contain no '|' or ','");
        foreach (var s in claims.Scopes)
            if (!Scopes.Contains(s))
                throw new ArgumentException($"unknown scope '{s}'; scopes are {string.Join(", ", Scopes)}");
        if (claims.DevicePrefix.Contains('|')) throw new ArgumentException("device prefix must not contain '|'");
        var body = $"{claims.ClientId}|{string.Join(",", claims.Scopes)}|{claims.DevicePrefix}|{claims.ExpiresAt.ToUnixTimeSeconds()}";
        var signed = Version + "." + B64(Encoding.UTF8.GetBytes(body));
        return signed + "." + B64(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(signed)));
    }

    public static TokenCheck Verify(byte[] key, string? token, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(token)) return Fail("no client token");
        if (token.Length > MaxTokenLength) return Fail($"client token is {token.Length} characters long; the limit is {MaxTokenLength}");
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[0] != Version) return Fail($"client token is malformed (expected {Version}.<claims>.<signature>)");
        byte[] body, signature;
        try
        {
            body = FromB64(parts[1]);
            signature = FromB64(parts[2]);
        }
        catch (FormatException)
        {
            return Fail("client token is malformed (not base64url)");
        }
        var expected = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
        if (!CryptographicOperations.FixedTimeEquals(expected, signature))
            return Fail("client token signature is invalid (tampered, or signed with another deployment's key)");
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(body);
        }
        catch (DecoderFallbackException)
        {
            return Fail("client token claims are not UTF-8");
        }
        var f = text.Split('|');
        if (f.Length != 4 || !long.TryParse(f[3], out var expires)) return Fail("client token claims are malformed");
        var claims = new ClientClaims(f[0], f[1].Split(',', StringSplitOptions.RemoveEmptyEntries), f[2], DateTimeOffset.FromUnixTimeSeconds(expires));
        if (claims.ExpiresAt <= now) return Fail($"client token of '{claims.ClientId}' expired at {claims.ExpiresAt:u}");
        return new TokenCheck(claims, null);
    }

    /// <summary>
    /// The scope a request needs. Twins and commands: a device reports its twin and acknowledges its commands with
    /// <c>ingest</c> (and its device prefix), apps read them with <c>query</c>; setting desired values and sending commands
    /// changes what devices do, so it needs <c>admin</c>.
    /// </summary>
    public static string ScopeFor(IEdgeMessage request) => request switch
    {
        TelemetryBatch or CameraFrame or TrainingFrames or ReportTwin or AcknowledgeCommand => Ingest,
        GetTwin or GetCommands => Query,
        SetDesired or SendCommand => Admin,
        Messages.Infer => Infer,
        GetDeviceState or GetClusterOverview or INodeQuery or ListModels or GetActiveModels
            or GetExperimentStatus or GetFederationStatus or GetJobStatus => Query,
        IFederationRequest => Federate,
        _ => Admin,
    };

    /// <summary>Null when the claims allow the request, else why not.</summary>
    public static string? Authorize(ClientClaims claims, IEdgeMessage request)
    {
        var scope = ScopeFor(request);
        if (!claims.Has(scope))
            return $"client '{claims.ClientId}' is not authorised for {request.GetType().Name}: it needs scope '{scope}', the token grants [{string.Join(",", claims.Scopes)}]";
        if (claims.DevicePrefix.Length > 0 && request is IWithDeviceId d && !d.DeviceId.Value.StartsWith(claims.DevicePrefix, StringComparison.Ordinal))
            return $"client '{claims.ClientId}' is not authorised for device '{d.DeviceId.Value}': its token covers devices starting with '{claims.DevicePrefix}'";
        return null;
    }

    private static TokenCheck Fail(string error) => new(null, "unauthenticated: " + error);

    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromB64(string s)
    {
        var t = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(t.PadRight(t.Length + (4 - t.Length % 4) % 4, '='));
    }
}
