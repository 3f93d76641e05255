namespace EdgeActors.Messages;

/// <summary>
/// A client request with the client's signed token (issued by <c>edgeactors certs</c>). When client tokens are on,
/// the gateway accepts nothing else from clients: it verifies the token (signature, expiry, scope, device prefix)
/// and forwards <c>Request</c> only when it passes; otherwise the client gets <see cref="RequestRejected"/> naming why.
/// </summary>
public sealed record Authenticated(string Token, IEdgeMessage Request) : IEdgeMessage;
