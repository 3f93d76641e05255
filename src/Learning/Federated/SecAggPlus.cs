using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace EdgeActors.Learning.Federated;

/// <summary>Which secret a Shamir share belongs to: a client's self-mask seed bᵤ or the private scalar of its mask key.</summary>
public enum SecAggSecret : byte
{
    SelfMask = 0,
    MaskKey = 1,
}

/// <summary>Holder's share (x = its position + 1 in the round's advertised list) of <c>Owner</c>'s <c>Secret</c>.</summary>
public sealed record SecAggShare(string Owner, SecAggSecret Secret, byte X, byte[] Y);

/// <summary>
/// The public keys one client advertises for one round (SecAgg+ round 0): <c>CipherKey</c> (ECDH P-256, encrypts the
/// shares sent to it), <c>MaskKey</c> (ECDH P-256, pairwise mask seeds), the signature over both made with the client's
/// edge node's deployment credential, and that node's certificate (DER), which must chain to the deployment's CA.
/// </summary>
public sealed record SecAggAdvertisedKeys(string ClientId, byte[] CipherKey, byte[] MaskKey, byte[] Signature, byte[] Certificate);

/// <summary>Shared rules of the SecAgg+ protocol (Bonawitz et al. 2017 with self-masks; see docs/federated-learning.md).</summary>
public static class SecAggPlus
{
    private static readonly byte[] ShareKeyInfo = Encoding.UTF8.GetBytes("EdgeActors/SecAgg/v2/share-key");

    /// <summary>The context every key, signature, seed and ciphertext of one round attempt is bound to.</summary>
    public static string Context(string experiment, int round, int attempt) => $"{experiment}/{round}/{attempt}";

    /// <summary>Shares needed to recover a secret among <paramref name="clients"/> advertised clients: a majority (all of 1 or 2).</summary>
    public static int Threshold(int clients) => clients <= 2 ? Math.Max(1, clients) : clients / 2 + 1;

    /// <summary>What a round-key signature covers besides the context and client id: both public keys, length-prefixed.</summary>
    public static byte[] KeyBundle(byte[] cipherKey, byte[] maskKey)
    {
        ArgumentNullException.ThrowIfNull(cipherKey);
        ArgumentNullException.ThrowIfNull(maskKey);
        var bundle = new byte[8 + cipherKey.Length + maskKey.Length];
        BinaryPrimitives.WriteInt32BigEndian(bundle, cipherKey.Length);
        cipherKey.CopyTo(bundle, 4);
        BinaryPrimitives.WriteInt32BigEndian(bundle.AsSpan(4 + cipherKey.Length), maskKey.Length);
        maskKey.CopyTo(bundle, 8 + cipherKey.Length);
        return bundle;
    }

    /// <summary>
    /// Null when <paramref name="keys"/> are authentic for <paramref name="context"/>: the certificate chains to
    /// <paramref name="authority"/> (the deployment CA, nothing else trusted) and its ECDSA key signed (context, client id,
    /// cipher key, mask key); else why not, naming the client.
    /// </summary>
    public static string? Verify(SecAggAdvertisedKeys keys, string context, X509Certificate2 authority)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(authority);
        if (keys.Certificate.Length == 0) return $"the round key of '{keys.ClientId}' comes without its node's certificate";
        X509Certificate2 cert;
        try
        {
            cert = X509CertificateLoader.LoadCertificate(keys.Certificate);
        }
        catch (CryptographicException e)
        {
            return $"the round key of '{keys.ClientId}' comes with a certificate that cannot be read: {e.Message}";
        }
        using (cert)
        {
            var chain = ChainProblem(cert, authority);
            if (chain is not null) return $"the round key of '{keys.ClientId}' is signed by a credential not from this deployment: {chain}";
            using var key = cert.GetECDsaPublicKey();
            if (key is null) return $"the round key of '{keys.ClientId}' comes with a certificate without an ECDSA key ('{cert.Subject}')";
            return SignedRoundKey.Problem(key, keys.ClientId, context, KeyBundle(keys.CipherKey, keys.MaskKey), keys.Signature);
        }
    }

    private static string? ChainProblem(X509Certificate2 cert, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain.Build(cert) && chain.ChainElements[^1].Certificate.Thumbprint == ca.Thumbprint) return null;
        var status = chain.ChainStatus.Length == 0 ? "does not chain to the CA" : string.Join("; ", chain.ChainStatus.Select(s => s.Status.ToString()));
        return $"certificate '{cert.Subject}' (issuer '{cert.Issuer}') is not valid for the CA '{ca.Subject}': {status}";
    }

    /// <summary>AES-256-GCM key for shares sent from <paramref name="from"/> to <paramref name="to"/>: HKDF of their cipher keys' ECDH secret.</summary>
    internal static byte[] ShareKey(ECDiffieHellman own, byte[] peerCipherKey, string context, string from, string to)
    {
        using var peer = ECDiffieHellman.Create();
        peer.ImportSubjectPublicKeyInfo(peerCipherKey, out _);
        var secret = own.DeriveRawSecretAgreement(peer.PublicKey);
        try
        {
            return HKDF.DeriveKey(HashAlgorithmName.SHA256, secret, 32, SecAggParty.Salt(context, from, to), ShareKeyInfo);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>Associated data of a share ciphertext: it is only valid from <paramref name="from"/> to <paramref name="to"/> in this context.</summary>
    internal static byte[] ShareAd(string context, string from, string to) => Encoding.UTF8.GetBytes($"{context}\n{from}\n{to}");

    internal static byte[] Encrypt(byte[] key, byte[] plaintext, byte[] ad)
    {
        var output = new byte[12 + 16 + plaintext.Length];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        using var gcm = new AesGcm(key, 16);
        gcm.Encrypt(output.AsSpan(0, 12), plaintext, output.AsSpan(28), output.AsSpan(12, 16), ad);
        return output;
    }

    internal static byte[] Decrypt(byte[] key, byte[] ciphertext, byte[] ad)
    {
        if (ciphertext.Length < 28) throw new CryptographicException($"a share ciphertext has {ciphertext.Length} bytes, fewer than nonce and tag");
        var plain = new byte[ciphertext.Length - 28];
        using var gcm = new AesGcm(key, 16);
        gcm.Decrypt(ciphertext.AsSpan(0, 12), ciphertext.AsSpan(28), ciphertext.AsSpan(12, 16), plain, ad);
        return plain;
    }
}

/// <summary>
/// One client's side of one SecAgg+ round attempt: two fresh ECDH P-256 key pairs (cipher, mask) and a self-mask seed bᵤ.
/// Round 1 (<see cref="ShareSecrets"/>): Shamir shares of bᵤ and of the mask key's private scalar, one per advertised
/// client, each encrypted to that client's cipher key. Round 2 (<see cref="Mask"/>): y = x + PRG(bᵤ) + Σ ±PRG(s_uv) over
/// the clients whose shares reached the coordinator. Round 3 (<see cref="Unmask"/>): for each of those clients, the
/// share of bᵥ when v survived, of v's mask key when it dropped — never both for one client (<see cref="SecAggRevealGuard"/>).
/// </summary>
public sealed class SecAggClient : IDisposable
{
    private readonly ECDiffieHellman _cipher = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
    private readonly SecAggParty _mask;
    private readonly byte[] _selfSeed = RandomNumberGenerator.GetBytes(32);
    private readonly SecAggRevealGuard _guard = new();
    private string[] _advertised = [];
    private int _threshold;
    private (byte X, byte[] Self, byte[] Key)? _own;
    private HashSet<string>? _maskedWith;
    private bool _disposed;

    public SecAggClient(string clientId, string context)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        ArgumentNullException.ThrowIfNull(context);
        ClientId = clientId;
        Context = context;
        _mask = new SecAggParty(clientId);
        CipherKey = _cipher.ExportSubjectPublicKeyInfo();
    }

    public string ClientId { get; }
    public string Context { get; }
    public byte[] CipherKey { get; }
    public byte[] MaskKey => _mask.PublicKey;

    /// <summary>The round keys signed with <paramref name="credential"/> (the edge node's certificate key), with that certificate (DER).</summary>
    public SecAggAdvertisedKeys Advertise(ECDsa credential, byte[] certificate) =>
        new(ClientId, CipherKey, MaskKey, SignedRoundKey.Sign(credential, ClientId, Context, SecAggPlus.KeyBundle(CipherKey, MaskKey)), certificate);

    /// <summary>
    /// Round 1: shares of bᵤ and of the mask key among <paramref name="advertised"/> (every client of the round in the
    /// coordinator's order, this one included; share x = position + 1), any <paramref name="threshold"/> of which recover
    /// a secret. Returns the ciphertext for each other client.
    /// </summary>
    public Dictionary<string, byte[]> ShareSecrets(IReadOnlyList<(string Id, byte[] CipherKey)> advertised, int threshold)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_own is not null) throw new InvalidOperationException($"'{ClientId}' already shared its secrets in {Context}");
        var ids = advertised.Select(a => a.Id).ToArray();
        var me = Array.IndexOf(ids, ClientId);
        if (me < 0) throw new ArgumentException($"'{ClientId}' is not among the advertised clients", nameof(advertised));
        if (ids.Distinct(StringComparer.Ordinal).Count() != ids.Length) throw new ArgumentException("a client is advertised twice", nameof(advertised));
        if (threshold < 1 || threshold > ids.Length) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, $"must be in 1..{ids.Length}");
        _advertised = ids;
        _threshold = threshold;
        foreach (var (id, key) in advertised)
            if (id != ClientId) _peerCipherKeys[id] = key;
        var scalar = _mask.ExportPrivateScalar();
        var selfShares = Shamir.Split(_selfSeed, ids.Length, threshold);
        var keyShares = Shamir.Split(scalar, ids.Length, threshold);
        CryptographicOperations.ZeroMemory(scalar);
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Length; i++)
        {
            if (i == me)
            {
                _own = (selfShares[i].X, selfShares[i].Y, keyShares[i].Y);
                continue;
            }
            var plain = selfShares[i].Y.Concat(keyShares[i].Y).ToArray();
            var key = SecAggPlus.ShareKey(_cipher, advertised[i].CipherKey, Context, ClientId, ids[i]);
            result[ids[i]] = SecAggPlus.Encrypt(key, plain, SecAggPlus.ShareAd(Context, ClientId, ids[i]));
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plain);
        }
        return result;
    }

    /// <summary>
    /// Round 2: encodes <paramref name="update"/> in fixed point and adds PRG(bᵤ) and the pairwise masks with every other
    /// client of <paramref name="maskKeys"/> (U1: the clients whose shares the coordinator got, this one included).
    /// </summary>
    public ulong[] Mask(ReadOnlySpan<float> update, IReadOnlyDictionary<string, byte[]> maskKeys, int fractionBits = FixedPoint.DefaultFractionBits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_own is null) throw new InvalidOperationException($"'{ClientId}' masks only after sharing its secrets");
        if (!maskKeys.ContainsKey(ClientId)) throw new ArgumentException($"'{ClientId}' is not among the clients it masks with", nameof(maskKeys));
        var stranger = maskKeys.Keys.FirstOrDefault(k => Array.IndexOf(_advertised, k) < 0);
        if (stranger is not null) throw new ArgumentException($"'{stranger}' was not advertised in {Context}", nameof(maskKeys));
        if (maskKeys.Count < _threshold) throw new ArgumentException($"only {maskKeys.Count} clients to mask with, fewer than the threshold {_threshold}", nameof(maskKeys));
        var others = maskKeys.Where(kv => kv.Key != ClientId).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var masked = _mask.Mask(update, others, Context, fractionBits);
        SecAggMasks.AddPairMask(masked, _selfSeed, add: true);
        _maskedWith = maskKeys.Keys.ToHashSet(StringComparer.Ordinal);
        return masked;
    }

    /// <summary>
    /// Round 3: the shares this client reveals once the coordinator fixed the survivors <paramref name="survivors"/> (U2):
    /// for v in U2 its share of bᵥ, for v in U1 \ U2 its share of v's mask key. <paramref name="ciphertexts"/>: what each
    /// other client sent it in round 1. A client for which the other secret was revealed before is refused (listed in
    /// <paramref name="refused"/>), as is a request that is not a proper survivor set.
    /// </summary>
    public List<SecAggShare> Unmask(IReadOnlyCollection<string> survivors, IReadOnlyDictionary<string, byte[]> ciphertexts, List<string> refused)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_own is not { } own || _maskedWith is not { } u1)
            throw new InvalidOperationException($"'{ClientId}' did not send a masked input in {Context}: it reveals nothing");
        var u2 = survivors.ToHashSet(StringComparer.Ordinal);
        if (!u2.Contains(ClientId)) throw new ArgumentException($"'{ClientId}' is not among the survivors it is asked to unmask", nameof(survivors));
        if (!u2.IsSubsetOf(u1)) throw new ArgumentException($"survivors {string.Join(",", u2.Except(u1))} did not mask with '{ClientId}'", nameof(survivors));
        if (u2.Count < _threshold) throw new ArgumentException($"only {u2.Count} survivors, fewer than the threshold {_threshold}: unmasking would reveal secrets of too few", nameof(survivors));
        var shares = new List<SecAggShare>();
        foreach (var v in u1.Order(StringComparer.Ordinal))
        {
            var survived = u2.Contains(v);
            if (!(survived ? _guard.AllowSelfMaskShare(v) : _guard.AllowPairSeed(v)))
            {
                refused.Add($"'{v}': its {(survived ? "mask key" : "self-mask")} share was revealed before, so its {(survived ? "self-mask" : "mask key")} share is not");
                continue;
            }
            byte[] plain;
            if (v == ClientId) plain = own.Self.Concat(own.Key).ToArray();
            else
            {
                var sender = Array.IndexOf(_advertised, v);
                if (!ciphertexts.TryGetValue(v, out var ct) || sender < 0)
                {
                    refused.Add($"'{v}': no share from it");
                    continue;
                }
                try
                {
                    // the share key is symmetric in (from, to): ECDH(c_me, c_v) = ECDH(c_v, c_me); it is bound to the direction v → me
                    plain = SecAggPlus.Decrypt(KeyFor(v), ct, SecAggPlus.ShareAd(Context, v, ClientId));
                }
                catch (CryptographicException e)
                {
                    refused.Add($"'{v}': its share does not decrypt ({e.Message})");
                    continue;
                }
            }
            if (plain.Length != 64)
            {
                refused.Add($"'{v}': its share has {plain.Length} bytes, not 64");
                continue;
            }
            shares.Add(new SecAggShare(v, survived ? SecAggSecret.SelfMask : SecAggSecret.MaskKey, own.X, survived ? plain[..32] : plain[32..]));
        }
        return shares;
    }

    private readonly Dictionary<string, byte[]> _peerCipherKeys = new(StringComparer.Ordinal);

    private byte[] KeyFor(string peer) =>
        _peerCipherKeys.TryGetValue(peer, out var key)
            ? SecAggPlus.ShareKey(_cipher, key, Context, peer, ClientId)
            : throw new CryptographicException($"no cipher key of '{peer}'");

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _cipher.Dispose();
        _mask.Dispose();
        CryptographicOperations.ZeroMemory(_selfSeed);
    }
}

/// <summary>
/// The coordinator's side of one SecAgg+ round attempt: the verified advertised keys, the encrypted shares it routes, the
/// masked inputs' sum, and at the end the unmasking: bᵤ recovered (and PRG(bᵤ) subtracted) for each survivor, the mask key
/// recovered (and its pair masks with the survivors removed) for each dropped client. What it learns is the sum of the
/// survivors' inputs; a dropped client's late input stays hidden under its self-mask.
/// </summary>
public sealed class SecAggServer(string context, int dimension)
{
    private readonly Dictionary<string, SecAggAdvertisedKeys> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<(string From, string To), byte[]> _ciphertexts = new();
    private readonly Dictionary<(string Owner, SecAggSecret Secret), Dictionary<byte, byte[]>> _shares = new();
    private string[] _order = [];

    public string Context { get; } = context;
    public SecAggAccumulator Sum { get; } = new(dimension);

    /// <summary>The advertised clients in the order that fixes share x values (ordinal), once <see cref="Freeze"/> ran.</summary>
    public IReadOnlyList<string> Order => _order;

    public int Threshold => SecAggPlus.Threshold(_order.Length);

    public IReadOnlyDictionary<string, SecAggAdvertisedKeys> Keys => _keys;

    /// <summary>Round 0: accepts keys the caller verified (<see cref="SecAggPlus.Verify"/>).</summary>
    public void Advertise(SecAggAdvertisedKeys keys)
    {
        if (_order.Length > 0) throw new InvalidOperationException("the advertised set is fixed already");
        _keys[keys.ClientId] = keys;
    }

    /// <summary>Fixes the advertised set (round 1 starts).</summary>
    public void Freeze() => _order = _keys.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Round 1: a ciphertext <paramref name="from"/> → <paramref name="to"/>; false when either is not advertised.</summary>
    public bool AddCiphertext(string from, string to, byte[] ciphertext)
    {
        if (from == to || Array.IndexOf(_order, from) < 0 || Array.IndexOf(_order, to) < 0) return false;
        _ciphertexts[(from, to)] = ciphertext;
        return true;
    }

    /// <summary>Whether <paramref name="client"/> sent a ciphertext to every other advertised client (it is in U1).</summary>
    public bool SharedFully(string client) => _order.All(o => o == client || _ciphertexts.ContainsKey((client, o)));

    /// <summary>The ciphertexts addressed to <paramref name="to"/> from the clients of <paramref name="from"/>.</summary>
    public Dictionary<string, byte[]> CiphertextsTo(string to, IEnumerable<string> from)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in from)
            if (_ciphertexts.TryGetValue((f, to), out var ct)) result[f] = ct;
        return result;
    }

    /// <summary>Round 3: <paramref name="holder"/>'s share; false when it is not well-formed (its x must be the holder's).</summary>
    public bool AddShare(string holder, SecAggShare share)
    {
        var x = Array.IndexOf(_order, holder) + 1;
        if (x == 0 || share.X != x || share.Y.Length != 32 || !_keys.ContainsKey(share.Owner)) return false;
        if (!_shares.TryGetValue((share.Owner, share.Secret), out var byX)) _shares[(share.Owner, share.Secret)] = byX = [];
        byX[share.X] = share.Y;
        return true;
    }

    /// <summary>How many shares of <paramref name="owner"/>'s <paramref name="secret"/> arrived.</summary>
    public int SharesOf(string owner, SecAggSecret secret) => _shares.TryGetValue((owner, secret), out var s) ? s.Count : 0;

    /// <summary>
    /// Removes the self-masks of <paramref name="survivors"/> and the pair masks the survivors applied for
    /// <paramref name="dropped"/> from <see cref="Sum"/>; null when done, else what is missing (nothing is half-removed then).
    /// </summary>
    public string? Unmask(IReadOnlyCollection<string> survivors, IReadOnlyCollection<string> dropped)
    {
        var t = Threshold;
        var shortOf = survivors.Select(s => (s, SecAggSecret.SelfMask)).Concat(dropped.Select(d => (d, SecAggSecret.MaskKey)))
            .Where(p => SharesOf(p.Item1, p.Item2) < t).ToList();
        if (shortOf.Count > 0)
            return $"fewer than {t} shares of: {string.Join(", ", shortOf.Select(p => $"{p.Item1} ({(p.Item2 == SecAggSecret.SelfMask ? "self-mask" : "mask key")}, {SharesOf(p.Item1, p.Item2)})"))}";
        var seeds = new List<(string Dropped, SecAggParty Party)>();
        try
        {
            foreach (var d in dropped)
            {
                var scalar = Recover(d, SecAggSecret.MaskKey);
                try
                {
                    seeds.Add((d, SecAggParty.FromPrivateScalar(d, scalar, _keys[d].MaskKey)));
                }
                catch (ArgumentException e)
                {
                    return $"the mask key of dropped '{d}' recovered from its shares does not match its advertised key: {e.Message}";
                }
            }
            foreach (var s in survivors)
            {
                var b = Recover(s, SecAggSecret.SelfMask);
                Sum.RemoveSelfMask(b);
                CryptographicOperations.ZeroMemory(b);
            }
            foreach (var (d, party) in seeds)
            foreach (var s in survivors)
                Sum.RemoveDroppedMask(s, d, party.PairSeed(s, _keys[s].MaskKey, Context));
            return null;
        }
        finally
        {
            foreach (var (_, party) in seeds) party.Dispose();
        }
    }

    /// <summary>The secret from its shares (at least the threshold many); for tests and the unmasking.</summary>
    public byte[] Recover(string owner, SecAggSecret secret) =>
        Shamir.Combine(_shares[(owner, secret)].Select(kv => (kv.Key, kv.Value)).Take(Threshold).ToList());
}
