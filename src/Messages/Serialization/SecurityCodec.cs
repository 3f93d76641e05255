using System.Runtime.Serialization;

namespace EdgeActors.Messages.Serialization;

/// <summary>Wire encoding of the security messages (part of <see cref="EdgeCodec"/>; manifests start with 'Z').</summary>
internal static class SecurityCodec
{
    public const string AuthenticatedManifest = "Za";

    public static readonly IReadOnlyDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(Authenticated)] = AuthenticatedManifest,
    };

    /// <summary>Token, then the wrapped request as its own manifest and payload.</summary>
    public static byte[] WriteAuthenticated(string token, string innerManifest, byte[] inner)
    {
        var w = new BinWriter();
        w.Version();
        w.String(token);
        w.String(innerManifest);
        w.Bytes(inner);
        return w.ToArray();
    }

    public static (string Token, string Manifest, byte[] Payload) ReadAuthenticated(byte[] bytes)
    {
        var r = new BinReader(bytes, AuthenticatedManifest);
        r.Version();
        var token = r.String();
        var manifest = r.String();
        var payload = r.Bytes();
        r.EndMessage();
        if (manifest == AuthenticatedManifest)
            throw new SerializationException($"EdgeSerializer: payload for manifest '{AuthenticatedManifest}' (Authenticated) wraps another Authenticated; nesting is not allowed");
        return (token, manifest, payload);
    }
}
