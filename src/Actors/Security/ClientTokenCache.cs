using EdgeActors.Actors.Gateway;
using EdgeActors.Client.Security;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Security;

/// <summary>
/// Client-token checking for one actor (not thread-safe): a token's signature is verified once and its claims cached
/// (up to <see cref="ClientAuth.CacheSize"/> tokens), its expiry checked at every use, and each request authorised
/// against the token's scopes and device prefix. Used by the gateway and the ingest endpoint.
/// </summary>
public sealed class ClientTokenCache(ClientAuth auth)
{
    private readonly Dictionary<string, ClientClaims> _verified = new(StringComparer.Ordinal);

    /// <summary>The token's claims when it is valid now, else the reason it is not.</summary>
    public (ClientClaims? Claims, string? Problem) Check(string? token)
    {
        token ??= "";
        if (!_verified.TryGetValue(token, out var claims))
        {
            var check = ClientTokens.Verify(auth.Key, token, auth.Time.GetUtcNow());
            if (!check.Ok) return (null, check.Error);
            if (_verified.Count >= auth.CacheSize) _verified.Clear();
            claims = check.Claims!;
            _verified[token] = claims;
        }
        if (claims.ExpiresAt <= auth.Time.GetUtcNow())
        {
            _verified.Remove(token);
            return (null, $"unauthenticated: client token of '{claims.ClientId}' expired at {claims.ExpiresAt:u}");
        }
        return (claims, null);
    }

    /// <summary>Null when the token is valid now and allows the request; else the reason.</summary>
    public string? Check(string? token, IEdgeMessage request)
    {
        var (claims, problem) = Check(token);
        return problem ?? ClientTokens.Authorize(claims!, request);
    }
}
