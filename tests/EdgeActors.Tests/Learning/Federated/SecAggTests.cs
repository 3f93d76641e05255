using System.Security.Cryptography;
using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Learning.Federated;

/// <summary>Fixed-point encoding, the pairwise-mask PRG and the mask protocol end to end.</summary>
public sealed class SecAggTests
{
    private const string Context = "exp-1/round-3/attempt-0";

    private static float[][] Updates(int parties, int dimension, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, parties)
            .Select(_ => Enumerable.Range(0, dimension).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
    }

    private static ulong[] Encode(float[] v)
    {
        var encoded = new ulong[v.Length];
        FixedPoint.Encode(v, encoded, FixedPoint.DefaultFractionBits);
        return encoded;
    }

    private static ulong[] WrappingSum(IEnumerable<ulong[]> vectors, int dimension)
    {
        var sum = new ulong[dimension];
        foreach (var v in vectors)
        {
            for (var i = 0; i < dimension; i++) sum[i] = unchecked(sum[i] + v[i]);
        }
        return sum;
    }

    private static float[] Decode(ulong[] sum)
    {
        var decoded = new float[sum.Length];
        FixedPoint.Decode(sum, decoded, FixedPoint.DefaultFractionBits);
        return decoded;
    }

    private static int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void FixedPoint_should_round_trip_and_encode_negatives_in_twos_complement()
    {
        float[] values = [-1.5f, 0f, 2.25f, 1e-3f, -123456.75f];
        var encoded = Encode(values);
        Assert.Equal(unchecked((ulong)-(1L << 24)), Encode([-1f])[0]);
        Assert.Equal(9UL << 22, encoded[2]); // 2.25 · 2^24 = 9 · 2^22
        var decoded = Decode(encoded);
        for (var i = 0; i < values.Length; i++) Assert.Equal(values[i], decoded[i], 1e-7f);
        Assert.Equal(-123456.75f, decoded[4]);
    }

    [Fact]
    public void FixedPoint_sums_of_encodings_should_decode_to_the_sum()
    {
        float[] a = [-3.5f, 1.25f, 1000f], b = [1.5f, -2.5f, -0.125f];
        var decoded = Decode(WrappingSum([Encode(a), Encode(b)], 3));
        Assert.Equal([-2f, -1.25f, 999.875f], decoded);
    }

    [Fact]
    public void FixedPoint_should_reject_values_outside_the_ring()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Encode([1e12f]));   // 1e12 · 2^24 > 2^63
        Assert.Throws<ArgumentOutOfRangeException>(() => Encode([float.NaN]));
        Assert.Throws<ArgumentOutOfRangeException>(() => FixedPoint.Encode([1f], new ulong[1], 60));
        Assert.Throws<ArgumentException>(() => FixedPoint.Encode([1f, 2f], new ulong[1], 24));
    }

    [Fact]
    public void PairSeed_should_be_the_same_on_both_sides_and_differ_by_context_and_pair()
    {
        using var alice = new SecAggParty("alice");
        using var bob = new SecAggParty("bob");
        using var carol = new SecAggParty("carol");
        var ab = alice.PairSeed("bob", bob.PublicKey, Context);
        var ba = bob.PairSeed("alice", alice.PublicKey, Context);
        Assert.Equal(32, ab.Length);
        Assert.Equal(ab, ba);
        Assert.NotEqual(ab, alice.PairSeed("bob", bob.PublicKey, "exp-1/round-3/attempt-1"));
        Assert.NotEqual(ab, alice.PairSeed("carol", carol.PublicKey, Context));
        // the ids are part of the salt: the same keys under other names give another seed
        Assert.NotEqual(ab, alice.PairSeed("bob2", bob.PublicKey, Context));
    }

    [Fact]
    public void PairSeed_should_reject_itself_and_keys_that_are_not_P256()
    {
        using var alice = new SecAggParty("alice");
        Assert.Throws<ArgumentException>(() => alice.PairSeed("alice", alice.PublicKey, Context));
        using var p384 = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP384);
        var e = Assert.Throws<ArgumentException>(() => alice.PairSeed("mallory", p384.ExportSubjectPublicKeyInfo(), Context));
        Assert.Contains("'mallory'", e.Message);
        Assert.Throws<ArgumentException>(() => alice.PairSeed("mallory", [1, 2, 3], Context));
    }

    [Fact]
    public void Expand_should_be_AES256_CTR_deterministic_and_prefix_consistent()
    {
        var seed = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var words = new ulong[20_001]; // more than one chunk, odd tail
        SecAggMasks.Expand(seed, words);
        var again = new ulong[20_001];
        SecAggMasks.Expand(seed, again);
        Assert.Equal(words, again);
        var prefix = new ulong[5];
        SecAggMasks.Expand(seed, prefix);
        Assert.Equal(words[..5], prefix);

        // block b = AES-256(seed, b little-endian ‖ 0⁸); words are little-endian halves of the blocks
        using var aes = Aes.Create();
        aes.Key = seed;
        byte[] Block(ulong b)
        {
            var counter = new byte[16];
            BitConverter.TryWriteBytes(counter, b);
            return aes.EncryptEcb(counter, PaddingMode.None);
        }
        foreach (var block in new ulong[] { 0, 1, 4095, 4096, 9_999 })
        {
            Assert.Equal(BitConverter.ToUInt64(Block(block), 0), words[2 * block]);
            Assert.Equal(BitConverter.ToUInt64(Block(block), 8), words[2 * block + 1]);
        }
        Assert.Equal(BitConverter.ToUInt64(Block(10_000), 0), words[20_000]); // the odd tail: first half of the last block
        var other = new ulong[5];
        SecAggMasks.Expand(Enumerable.Range(2, 32).Select(i => (byte)i).ToArray(), other);
        Assert.NotEqual(prefix, other);
        Assert.Throws<ArgumentException>(() => SecAggMasks.Expand(new byte[16], words));
    }

    [Fact]
    public void AddPairMask_should_add_and_subtract_the_expanded_stream_with_wrap_around()
    {
        var seed = RandomNumberGenerator.GetBytes(32);
        const int n = 17_000;
        var stream = new ulong[n];
        SecAggMasks.Expand(seed, stream);
        var acc = Enumerable.Range(0, n).Select(i => ulong.MaxValue - (ulong)i).ToArray();
        var original = (ulong[])acc.Clone();
        SecAggMasks.AddPairMask(acc, seed, add: true);
        for (var i = 0; i < n; i++) Assert.Equal(unchecked(original[i] + stream[i]), acc[i]);
        SecAggMasks.AddPairMask(acc, seed, add: false);
        Assert.Equal(original, acc);
    }

    private sealed class Round : IDisposable
    {
        public readonly SecAggParty[] Parties;
        public readonly Dictionary<string, byte[]> Keys;

        public Round(params string[] ids)
        {
            Parties = ids.Select(id => new SecAggParty(id)).ToArray();
            Keys = Parties.ToDictionary(p => p.ClientId, p => p.PublicKey);
        }

        public void Dispose()
        {
            foreach (var p in Parties) p.Dispose();
        }
    }

    [Fact]
    public void Masks_should_cancel_exactly_in_the_sum()
    {
        const int dimension = 9_001;
        using var round = new Round("carol", "alice", "dave", "bob");
        var updates = Updates(4, dimension, seed: 11);
        var accumulator = new SecAggAccumulator(dimension);
        for (var p = 0; p < 4; p++) accumulator.Add(round.Parties[p].Mask(updates[p], round.Keys, Context));
        Assert.Equal(4, accumulator.Count);
        var decoded = new float[dimension];
        accumulator.Decode(decoded);

        var plain = Decode(WrappingSum(updates.Select(Encode), dimension));
        Assert.Equal(Bits(plain), Bits(decoded));
        // and the plain fixed-point sum is the float sum up to rounding
        for (var i = 0; i < dimension; i += 100) Assert.Equal(updates.Sum(u => (double)u[i]), decoded[i], 1e-5);
    }

    [Fact]
    public void Removing_a_dropped_clients_masks_should_give_the_survivors_sum_exactly()
    {
        const int dimension = 1_000;
        using var round = new Round("alice", "bob", "carol", "dave");
        var updates = Updates(4, dimension, seed: 12);
        // every party masked against all four keys, then carol (index 2) never delivered
        var accumulator = new SecAggAccumulator(dimension);
        int[] survivors = [0, 1, 3];
        foreach (var s in survivors) accumulator.Add(round.Parties[s].Mask(updates[s], round.Keys, Context));
        var expected = Bits(Decode(WrappingSum(survivors.Select(s => Encode(updates[s])), dimension)));
        var decoded = new float[dimension];
        accumulator.Decode(decoded);
        Assert.NotEqual(expected, Bits(decoded));

        // each survivor reveals its seed with carol; alice and bob sort before carol (they added), dave after (subtracted)
        foreach (var s in survivors)
        {
            var party = round.Parties[s];
            accumulator.RemoveDroppedMask(party.ClientId, "carol", party.PairSeed("carol", round.Keys["carol"], Context));
        }
        accumulator.Decode(decoded);
        Assert.Equal(expected, Bits(decoded));
        Assert.Throws<InvalidOperationException>(() =>
            accumulator.RemoveDroppedMask("alice", "carol", round.Parties[0].PairSeed("carol", round.Keys["carol"], Context)));
    }

    [Fact]
    public void A_single_masked_vector_should_decode_far_from_the_plain_update()
    {
        const int dimension = 2_000;
        using var round = new Round("alice", "bob", "carol");
        var update = Updates(1, dimension, seed: 13)[0];
        var masked = round.Parties[0].Mask(update, round.Keys, Context);
        var encoded = Encode(update);
        var decoded = Decode(masked);
        // a uniform ring element decodes to roughly ±2^39: every coordinate is off by far more than the update's ±1
        Assert.All(Enumerable.Range(0, dimension), i =>
        {
            Assert.NotEqual(encoded[i], masked[i]);
            Assert.True(Math.Abs(decoded[i] - update[i]) > 1_000, $"coordinate {i}: {decoded[i]} vs {update[i]}");
        });
        // and the masked words look uniform: about half of all bits set
        var ones = masked.Sum(w => System.Numerics.BitOperations.PopCount(w));
        Assert.InRange(ones / (64.0 * dimension), 0.49, 0.51);
    }

    [Fact]
    public void Mask_should_ignore_its_own_key_and_a_party_alone_should_send_its_encoding()
    {
        using var alice = new SecAggParty("alice");
        var update = new[] { 0.5f, -2f };
        var keys = new Dictionary<string, byte[]> { ["alice"] = alice.PublicKey };
        Assert.Equal(Encode(update), alice.Mask(update, keys, Context));
    }

    [Fact]
    public void Accumulator_should_check_dimensions_ids_and_emptiness()
    {
        var accumulator = new SecAggAccumulator(3);
        Assert.Throws<InvalidOperationException>(() => accumulator.Decode(new float[3]));
        Assert.Throws<ArgumentException>(() => accumulator.Add(new ulong[2]));
        Assert.Throws<ArgumentException>(() => accumulator.RemoveDroppedMask("a", "a", new byte[32]));
        Assert.Throws<ArgumentException>(() => accumulator.RemoveDroppedMask("a", "b", new byte[31]));
        // a rejected seed did not count as removed
        accumulator.RemoveDroppedMask("a", "b", new byte[32]);
    }
}
