using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// Secure aggregation by pairwise additive masks (the pairwise part of Bonawitz et al., CCS 2017): clients i and j agree
/// on a seed by ECDH; the one whose id sorts first (ordinal) adds PRG(seed) to its encoded update, the other subtracts it,
/// so the masks cancel exactly in the coordinator's wrap-around sum while each single masked vector looks uniformly random.
/// <para>
/// This is the pairwise part only; the protocol the rounds run (<see cref="SecAggClient"/>, <see cref="SecAggServer"/>)
/// adds signed round keys, a self-mask per client and Shamir-shared secrets, so that a dropped client's pair masks can be
/// removed without its own (slow) input ever becoming readable. The seeds are bound to a context (experiment/round/attempt).
/// </para>
/// </summary>
public sealed class SecAggParty : IDisposable
{
    private const string P256Oid = "1.2.840.10045.3.1.7";
    private static readonly byte[] SeedInfo = Encoding.UTF8.GetBytes("EdgeActors/SecAgg/v1/pair-mask-seed");

    private readonly ECDiffieHellman _key;
    private readonly byte[] _publicKey;
    private bool _disposed;

    /// <summary>A fresh P-256 key pair for <paramref name="clientId"/> (one party per client per round).</summary>
    public SecAggParty(string clientId) : this(clientId, ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256))
    {
    }

    private SecAggParty(string clientId, ECDiffieHellman key)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        ClientId = clientId;
        _key = key;
        _publicKey = _key.ExportSubjectPublicKeyInfo();
    }

    /// <summary>
    /// The party of <paramref name="clientId"/> rebuilt from its private scalar (recovered from Shamir shares after it
    /// dropped) and its advertised public key; the scalar must belong to that key.
    /// </summary>
    public static SecAggParty FromPrivateScalar(string clientId, byte[] scalar, byte[] publicKey)
    {
        ArgumentNullException.ThrowIfNull(scalar);
        using var pub = ImportPeerKey(clientId, publicKey);
        var q = pub.ExportParameters(false).Q;
        var key = ECDiffieHellman.Create();
        try
        {
            key.ImportParameters(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = scalar, Q = q });
            var party = new SecAggParty(clientId, key);
            if (!party._publicKey.AsSpan().SequenceEqual(publicKey)) throw new CryptographicException("the key does not match");
            return party;
        }
        catch (CryptographicException e)
        {
            key.Dispose();
            throw new ArgumentException($"the recovered private key of '{clientId}' does not belong to its public key: {e.Message}", nameof(scalar), e);
        }
    }

    /// <summary>The private scalar d (32 bytes, big-endian) of this party's key, to be Shamir-shared.</summary>
    internal byte[] ExportPrivateScalar()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _key.ExportParameters(true).D!;
    }

    public string ClientId { get; }

    /// <summary>The public key as DER SubjectPublicKeyInfo (a copy on each call).</summary>
    public byte[] PublicKey => (byte[])_publicKey.Clone();

    /// <summary>
    /// 32 bytes shared with <paramref name="peerId"/>: HKDF-SHA256 of the raw ECDH secret, salted with
    /// <paramref name="context"/> and the ordinal-ordered pair of ids. Both sides derive the same value.
    /// </summary>
    public byte[] PairSeed(string peerId, byte[] peerPublicKey, string context)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentException.ThrowIfNullOrEmpty(peerId);
        ArgumentNullException.ThrowIfNull(peerPublicKey);
        ArgumentNullException.ThrowIfNull(context);
        if (string.Equals(peerId, ClientId, StringComparison.Ordinal))
            throw new ArgumentException($"a client has no pair seed with itself ('{peerId}')", nameof(peerId));
        using var peer = ImportPeerKey(peerId, peerPublicKey);
        var secret = _key.DeriveRawSecretAgreement(peer.PublicKey);
        try
        {
            return HKDF.DeriveKey(HashAlgorithmName.SHA256, secret, 32, Salt(context, ClientId, peerId), SeedInfo);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>
    /// Encodes <paramref name="weightedUpdate"/> in fixed point and masks it: for each peer j ≠ me in
    /// <paramref name="peerPublicKeys"/> (which may include me), adds PRG(seed_ij) when me &lt; j (ordinal), else subtracts it.
    /// </summary>
    public ulong[] Mask(ReadOnlySpan<float> weightedUpdate, IReadOnlyDictionary<string, byte[]> peerPublicKeys, string context,
        int fractionBits = FixedPoint.DefaultFractionBits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(peerPublicKeys);
        var masked = new ulong[weightedUpdate.Length];
        FixedPoint.Encode(weightedUpdate, masked, fractionBits);
        foreach (var (peerId, key) in peerPublicKeys)
        {
            if (string.Equals(peerId, ClientId, StringComparison.Ordinal)) continue;
            var seed = PairSeed(peerId, key, context);
            try
            {
                SecAggMasks.AddPairMask(masked, seed, add: string.CompareOrdinal(ClientId, peerId) < 0);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(seed);
            }
        }
        return masked;
    }

    private static ECDiffieHellman ImportPeerKey(string peerId, byte[] peerPublicKey)
    {
        var peer = ECDiffieHellman.Create();
        try
        {
            peer.ImportSubjectPublicKeyInfo(peerPublicKey, out var read);
            if (read != peerPublicKey.Length) throw new CryptographicException("trailing bytes after the key");
            if (peer.ExportParameters(false).Curve.Oid?.Value != P256Oid) throw new CryptographicException("not a P-256 key");
            return peer;
        }
        catch (CryptographicException e)
        {
            peer.Dispose();
            throw new ArgumentException($"the public key of '{peerId}' is not a P-256 SubjectPublicKeyInfo: {e.Message}", nameof(peerPublicKey), e);
        }
    }

    /// <summary>Length-prefixed UTF-8 of the context and the two ids in ordinal order (unambiguous for any strings).</summary>
    internal static byte[] Salt(string context, string a, string b)
    {
        var (low, high) = string.CompareOrdinal(a, b) < 0 ? (a, b) : (b, a);
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var part in (ReadOnlySpan<string>)[context, low, high])
        {
            var bytes = Encoding.UTF8.GetBytes(part);
            BinaryPrimitives.WriteInt32BigEndian(buffer.GetSpan(4), bytes.Length);
            buffer.Advance(4);
            buffer.Write(bytes);
        }
        return buffer.WrittenSpan.ToArray();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _key.Dispose();
    }
}

/// <summary>
/// The mask generator: AES-256 in counter mode keyed by a 32-byte pair seed (block b = AES(seed, b as 64-bit little-endian
/// ‖ 8 zero bytes)); word w of the stream is bytes [8w, 8w+8) of the key stream, little-endian. Chunks of 64 KiB go
/// through one ECB call each, so the AES-NI path of the platform's crypto library does the work.
/// </summary>
public static class SecAggMasks
{
    internal const int ChunkWords = 8192; // even: chunk boundaries fall on block boundaries

    /// <summary>Fills <paramref name="dst"/> with the first dst.Length words of PRG(seed).</summary>
    public static void Expand(byte[] seed, Span<ulong> dst)
    {
        using var aes = CreateAes(seed);
        var counters = RentCounters();
        try
        {
            for (var offset = 0; offset < dst.Length; offset += ChunkWords)
                Fill(aes, offset, dst.Slice(offset, Math.Min(ChunkWords, dst.Length - offset)), counters);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(counters);
        }
    }

    /// <summary><paramref name="acc"/> += PRG(seed) (or −= when <paramref name="add"/> is false), wrapping mod 2⁶⁴.</summary>
    public static void AddPairMask(Span<ulong> acc, byte[] seed, bool add)
    {
        using var aes = CreateAes(seed);
        var counters = RentCounters();
        var stream = ArrayPool<ulong>.Shared.Rent(ChunkWords);
        try
        {
            for (var offset = 0; offset < acc.Length; offset += ChunkWords)
            {
                var target = acc.Slice(offset, Math.Min(ChunkWords, acc.Length - offset));
                var words = stream.AsSpan(0, target.Length);
                Fill(aes, offset, words, counters);
                if (add) TensorPrimitives.Add(target, words, target);
                else TensorPrimitives.Subtract(target, words, target);
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(stream);
            ArrayPool<byte>.Shared.Return(counters);
        }
    }

    private static Aes CreateAes(byte[] seed)
    {
        ArgumentNullException.ThrowIfNull(seed);
        if (seed.Length != 32) throw new ArgumentException($"a pair seed has 32 bytes, not {seed.Length}", nameof(seed));
        var aes = Aes.Create();
        aes.Key = seed;
        return aes;
    }

    private static byte[] RentCounters()
    {
        var counters = ArrayPool<byte>.Shared.Rent(ChunkWords * sizeof(ulong));
        Array.Clear(counters); // the high 8 bytes of every counter block stay zero
        return counters;
    }

    /// <summary>Words [firstWord, firstWord + words.Length) of the stream; firstWord is even.</summary>
    private static void Fill(Aes aes, int firstWord, Span<ulong> words, byte[] counters)
    {
        var firstBlock = (ulong)firstWord / 2;
        var blocks = (words.Length + 1) / 2;
        for (var b = 0; b < blocks; b++)
            BinaryPrimitives.WriteUInt64LittleEndian(counters.AsSpan(b * 16, 8), firstBlock + (ulong)b);
        var output = MemoryMarshal.AsBytes(words);
        var fullBytes = words.Length / 2 * 16;
        aes.EncryptEcb(counters.AsSpan(0, fullBytes), output[..fullBytes], PaddingMode.None);
        if ((words.Length & 1) == 1)
        {
            Span<byte> last = stackalloc byte[16];
            aes.EncryptEcb(counters.AsSpan(fullBytes, 16), last, PaddingMode.None);
            last[..8].CopyTo(output[fullBytes..]);
        }
        if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(words, words);
    }
}

/// <summary>
/// The coordinator's side of secure aggregation: the wrap-around sum of the masked vectors it received, from which it can
/// only decode the sum of the plain updates (once every pairwise mask cancelled or was removed).
/// </summary>
public sealed class SecAggAccumulator
{
    private readonly ulong[] _sum;
    private readonly HashSet<(string Survivor, string Dropped)> _removed = [];

    public SecAggAccumulator(int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        _sum = new ulong[dimension];
    }

    public int Dimension => _sum.Length;

    /// <summary>Masked vectors added so far.</summary>
    public int Count { get; private set; }

    /// <summary>Adds one client's masked vector (mod 2⁶⁴).</summary>
    public void Add(ReadOnlySpan<ulong> masked)
    {
        if (masked.Length != _sum.Length)
            throw new ArgumentException($"masked vector has {masked.Length} values but the accumulator's dimension is {_sum.Length}", nameof(masked));
        TensorPrimitives.Add(_sum, masked, _sum);
        Count++;
    }

    /// <summary>
    /// Dropped-client recovery: <paramref name="survivorId"/> (whose masked vector was added) revealed its pair seed with
    /// <paramref name="droppedId"/> (whose vector never came); this removes the mask the survivor applied for that peer.
    /// Call it once for every (survivor, dropped) pair.
    /// </summary>
    public void RemoveDroppedMask(string survivorId, string droppedId, byte[] pairSeed)
    {
        ArgumentException.ThrowIfNullOrEmpty(survivorId);
        ArgumentException.ThrowIfNullOrEmpty(droppedId);
        if (string.Equals(survivorId, droppedId, StringComparison.Ordinal))
            throw new ArgumentException($"survivor and dropped client are the same ('{survivorId}')", nameof(droppedId));
        if (_removed.Contains((survivorId, droppedId)))
            throw new InvalidOperationException($"the mask of '{survivorId}' for dropped '{droppedId}' was already removed");
        // the survivor added PRG when it sorts first, so the coordinator subtracts it then, and adds it back otherwise
        SecAggMasks.AddPairMask(_sum, pairSeed, add: string.CompareOrdinal(survivorId, droppedId) > 0);
        _removed.Add((survivorId, droppedId));
    }

    /// <summary>Removes a survivor's self-mask PRG(<paramref name="seed"/>) (its seed bᵤ rebuilt from shares).</summary>
    public void RemoveSelfMask(byte[] seed) => SecAggMasks.AddPairMask(_sum, seed, add: false);

    /// <summary>Decodes the sum (meaningful once all masks cancelled or were removed).</summary>
    public void Decode(Span<float> dst, int fractionBits = FixedPoint.DefaultFractionBits)
    {
        if (Count == 0) throw new InvalidOperationException("cannot decode: no masked vectors were added");
        FixedPoint.Decode(_sum, dst, fractionBits);
    }
}
