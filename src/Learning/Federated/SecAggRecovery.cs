using System.Security.Cryptography;
using System.Text;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// Shamir secret sharing over GF(2⁸) (byte by byte, the AES field), used to share each client's self-mask seed bᵤ
/// (Bonawitz et al. 2017): any <c>threshold</c> shares give the secret back, fewer give nothing.
/// </summary>
public static class Shamir
{
    private static readonly byte[] Exp = new byte[510];
    private static readonly byte[] Log = new byte[256];

    static Shamir()
    {
        var x = 1;
        for (var i = 0; i < 255; i++)
        {
            Exp[i] = (byte)x;
            Log[x] = (byte)i;
            x ^= x << 1; // multiply by the generator 3
            if ((x & 0x100) != 0) x ^= 0x11B;
        }
        for (var i = 255; i < 510; i++) Exp[i] = Exp[i - 255];
    }

    private static byte Mul(byte a, byte b) => a == 0 || b == 0 ? (byte)0 : Exp[Log[a] + Log[b]];

    private static byte Div(byte a, byte b) => b == 0 ? throw new DivideByZeroException() : a == 0 ? (byte)0 : Exp[Log[a] + 255 - Log[b]];

    /// <summary><paramref name="count"/> shares (x = 1..count) of <paramref name="secret"/>, any <paramref name="threshold"/> of which recover it.</summary>
    public static (byte X, byte[] Y)[] Split(ReadOnlySpan<byte> secret, int count, int threshold)
    {
        if (threshold < 1 || threshold > count) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, $"the threshold must be in 1..{count}");
        if (count > 255) throw new ArgumentOutOfRangeException(nameof(count), count, "at most 255 shares");
        var coefficients = new byte[threshold - 1, secret.Length];
        var random = RandomNumberGenerator.GetBytes(coefficients.Length);
        Buffer.BlockCopy(random, 0, coefficients, 0, random.Length);
        var shares = new (byte, byte[])[count];
        for (var s = 0; s < count; s++)
        {
            var x = (byte)(s + 1);
            var y = new byte[secret.Length];
            for (var i = 0; i < secret.Length; i++)
            {
                // Horner: a_{t-1}·x^{t-1} + … + a_1·x + secret
                byte acc = 0;
                for (var k = threshold - 2; k >= 0; k--) acc = (byte)(Mul(acc, x) ^ coefficients[k, i]);
                y[i] = (byte)(Mul(acc, x) ^ secret[i]);
            }
            shares[s] = (x, y);
        }
        return shares;
    }

    /// <summary>The secret from shares with distinct non-zero x (Lagrange interpolation at 0); needs at least the threshold many.</summary>
    public static byte[] Combine(IReadOnlyList<(byte X, byte[] Y)> shares)
    {
        if (shares.Count == 0) throw new ArgumentException("no shares", nameof(shares));
        var length = shares[0].Y.Length;
        if (shares.Any(s => s.Y.Length != length)) throw new ArgumentException("shares of different lengths", nameof(shares));
        if (shares.Any(s => s.X == 0) || shares.Select(s => s.X).Distinct().Count() != shares.Count)
            throw new ArgumentException("share x values must be distinct and non-zero", nameof(shares));
        var secret = new byte[length];
        for (var j = 0; j < shares.Count; j++)
        {
            // basis_j(0) = Π_{m≠j} x_m / (x_m − x_j); subtraction is XOR in GF(2⁸)
            byte basis = 1;
            for (var m = 0; m < shares.Count; m++)
                if (m != j) basis = Mul(basis, Div(shares[m].X, (byte)(shares[m].X ^ shares[j].X)));
            for (var i = 0; i < length; i++) secret[i] ^= Mul(basis, shares[j].Y[i]);
        }
        return secret;
    }
}

/// <summary>
/// What a surviving client agrees to reveal during secure-aggregation recovery (Bonawitz et al. 2017, Flower SecAgg+):
/// for each other client u of the round, EITHER its pairwise seed with u (u dropped: its pair masks must be removed)
/// OR its share of u's self-mask seed bᵤ (u survived: bᵤ's mask must be removed) — never both, so a client that was only
/// slow (declared dropped, then its masked update arrives) cannot be unmasked: its pair masks are revealed but its
/// self-mask bᵤ stays hidden. One guard per client per round.
/// </summary>
public sealed class SecAggRevealGuard
{
    private readonly Dictionary<string, bool> _revealed = new(StringComparer.Ordinal); // peer → true: pair seed, false: self-mask share

    /// <summary>Whether the pair seed with <paramref name="peer"/> may be revealed (it was declared dropped); records the answer.</summary>
    public bool AllowPairSeed(string peer) => Allow(peer, pairSeed: true);

    /// <summary>Whether the share of <paramref name="peer"/>'s self-mask seed may be revealed (it survived); records the answer.</summary>
    public bool AllowSelfMaskShare(string peer) => Allow(peer, pairSeed: false);

    private bool Allow(string peer, bool pairSeed)
    {
        ArgumentException.ThrowIfNullOrEmpty(peer);
        if (_revealed.TryGetValue(peer, out var before)) return before == pairSeed;
        _revealed[peer] = pairSeed;
        return true;
    }
}

/// <summary>
/// A round's secure-aggregation public key signed with the client's deployment credential (an ECDSA P-256 key whose
/// public half the coordinator and the peers know, e.g. from the certificate the deployment's CA issued): the signature
/// covers the context (experiment/round/attempt), the client id and the key, so a key cannot be swapped, replayed in
/// another round or moved to another client. An unsigned or wrongly signed key is refused.
/// </summary>
public static class SignedRoundKey
{
    public static byte[] Sign(ECDsa credential, string clientId, string context, byte[] publicKey)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return credential.SignData(Payload(clientId, context, publicKey), HashAlgorithmName.SHA256);
    }

    /// <summary>Null when <paramref name="signature"/> is <paramref name="clientId"/>'s over this key and context, else why not.</summary>
    public static string? Problem(ECDsa clientPublicKey, string clientId, string context, byte[] publicKey, byte[]? signature)
    {
        ArgumentNullException.ThrowIfNull(clientPublicKey);
        if (signature is null || signature.Length == 0) return $"the round key of '{clientId}' is not signed";
        return clientPublicKey.VerifyData(Payload(clientId, context, publicKey), signature, HashAlgorithmName.SHA256)
            ? null
            : $"the round key of '{clientId}' has a signature that does not verify with its credential";
    }

    private static byte[] Payload(string clientId, string context, byte[] publicKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(publicKey);
        var id = Encoding.UTF8.GetBytes(clientId);
        var ctx = Encoding.UTF8.GetBytes(context);
        var payload = new byte[12 + id.Length + ctx.Length + publicKey.Length];
        var span = payload.AsSpan();
        BitConverter.TryWriteBytes(span, ctx.Length);
        ctx.CopyTo(span[4..]);
        BitConverter.TryWriteBytes(span[(4 + ctx.Length)..], id.Length);
        id.CopyTo(span[(8 + ctx.Length)..]);
        BitConverter.TryWriteBytes(span[(8 + ctx.Length + id.Length)..], publicKey.Length);
        publicKey.CopyTo(span[(12 + ctx.Length + id.Length)..]);
        return payload;
    }
}
