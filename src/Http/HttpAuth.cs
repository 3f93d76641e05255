using EdgeActors.Actors.Gateway;
using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;
using EdgeActors.Messages;

namespace EdgeActors.Http;

/// <summary>
/// Bearer-token checking for the HTTP and gRPC endpoints: the same client tokens, scopes and device prefixes as the
/// client library (<see cref="ClientTokens"/>). Null <see cref="ClientAuth"/> (the node has no client-tokens): every
/// request passes (demo defaults). Thread-safe (one lock around the token cache; a verified token is a dictionary hit).
/// </summary>
public sealed class HttpAuth(ClientAuth? auth)
{
    private readonly ClientTokenCache? _cache = auth is null ? null : new ClientTokenCache(auth);
    private readonly Lock _gate = new();

    public bool Enabled => _cache is not null;

    /// <summary>
    /// Nothing when <paramref name="authorization"/> (the Authorization header, "Bearer &lt;token&gt;") allows
    /// <paramref name="request"/>; else <see cref="HttpProblem"/> 401 (missing, malformed, expired) or 403 (scope, device).
    /// </summary>
    public void Check(string? authorization, IEdgeMessage request)
    {
        if (_cache is null) return;
        var token = BearerToken(authorization);
        ClientClaims? claims;
        string? problem;
        lock (_gate) (claims, problem) = _cache.Check(token);
        if (problem is not null) throw HttpProblem.Unauthorized(problem);
        var refused = ClientTokens.Authorize(claims!, request);
        if (refused is not null) throw HttpProblem.Forbidden(refused);
    }

    /// <summary>The token of an "Authorization: Bearer &lt;token&gt;" header; 401 when there is none.</summary>
    public static string BearerToken(string? authorization)
    {
        if (string.IsNullOrWhiteSpace(authorization))
            throw HttpProblem.Unauthorized("unauthenticated: this node requires a client token: send 'Authorization: Bearer <token>' (edgeactors certs issues tokens)");
        const string scheme = "Bearer ";
        if (!authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || authorization.Length == scheme.Length)
            throw HttpProblem.Unauthorized("unauthenticated: the Authorization header must be 'Bearer <token>'");
        return authorization[scheme.Length..].Trim();
    }
}
