using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeActors.Client.Security;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Learning.Federated;

/// <summary>
/// The SecAgg+ protocol end to end in one process with the real crypto: round keys signed by an edge node's certificate
/// from a real deployment CA, Shamir shares encrypted to each peer with AES-GCM, self-masks and pairwise masks, and the
/// unmasking of survivors and dropped clients (<see cref="SecAggClient"/>, <see cref="SecAggServer"/>).
/// </summary>
public sealed class SecAggPlusTests : IDisposable
{
    private const int Dimension = 1000;
    private const string Context = "secagg-exp/3/7";
    private readonly X509Certificate2 _ca = Certificates.CreateAuthority("secagg-test-ca");
    private readonly X509Certificate2 _node;
    private readonly ECDsa _credential;

    public SecAggPlusTests()
    {
        _node = Certificates.Issue(_ca, "edge-1", TimeSpan.FromDays(1));
        _credential = _node.GetECDsaPrivateKey()!;
    }

    public void Dispose()
    {
        _credential.Dispose();
        _node.Dispose();
        _ca.Dispose();
    }

    private sealed class Round : IDisposable
    {
        public required Dictionary<string, SecAggClient> Clients { get; init; }
        public required SecAggServer Server { get; init; }
        public required Dictionary<string, float[]> Inputs { get; init; }
        public required Dictionary<string, ulong[]> Masked { get; init; }

        public void Dispose()
        {
            foreach (var c in Clients.Values) c.Dispose();
        }
    }

    /// <summary>Rounds 0–2 for <paramref name="n"/> clients: keys advertised and verified, shares exchanged, every input masked.</summary>
    private Round Through_masking(int n)
    {
        var ids = Enumerable.Range(0, n).Select(i => $"client-{i}").ToArray();
        var clients = ids.ToDictionary(id => id, id => new SecAggClient(id, Context));
        var server = new SecAggServer(Context, Dimension);
        foreach (var c in clients.Values)
        {
            var keys = c.Advertise(_credential, _node.RawData);
            Assert.Null(SecAggPlus.Verify(keys, Context, _ca));
            server.Advertise(keys);
        }
        server.Freeze();
        var advertised = server.Order.Select(id => (id, server.Keys[id].CipherKey)).ToList();
        foreach (var c in clients.Values)
        foreach (var (to, ct) in c.ShareSecrets(advertised, server.Threshold))
            Assert.True(server.AddCiphertext(c.ClientId, to, ct));
        Assert.All(ids, id => Assert.True(server.SharedFully(id)));
        var maskKeys = server.Order.ToDictionary(id => id, id => server.Keys[id].MaskKey, StringComparer.Ordinal);
        var rng = new Random(5);
        var inputs = ids.ToDictionary(id => id, _ => Enumerable.Range(0, Dimension).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray());
        var masked = ids.ToDictionary(id => id, id => clients[id].Mask(inputs[id], maskKeys));
        return new Round { Clients = clients, Server = server, Inputs = inputs, Masked = masked };
    }

    /// <summary>Round 3: each survivor reveals its shares for <paramref name="survivors"/>; the server unmasks.</summary>
    private static void Unmask(Round r, string[] survivors, string[] dropped)
    {
        foreach (var s in survivors)
        {
            var refused = new List<string>();
            foreach (var share in r.Clients[s].Unmask(survivors, r.Server.CiphertextsTo(s, r.Server.Order), refused))
                Assert.True(r.Server.AddShare(s, share));
            Assert.Empty(refused);
        }
        Assert.Null(r.Server.Unmask(survivors, dropped));
    }

    private static void AssertSum(Round r, string[] survivors)
    {
        var sum = new float[Dimension];
        r.Server.Sum.Decode(sum);
        for (var i = 0; i < Dimension; i++)
        {
            var expected = survivors.Sum(s => (double)r.Inputs[s][i]);
            Assert.True(Math.Abs(expected - sum[i]) < 1e-4, $"[{i}]: expected {expected}, got {sum[i]}");
        }
    }

    [Fact]
    public void SecAgg_plus_should_give_the_exact_sum_when_no_client_drops()
    {
        using var r = Through_masking(4);
        var all = r.Server.Order.ToArray();
        foreach (var id in all) r.Server.Sum.Add(r.Masked[id]);

        Unmask(r, all, []);

        AssertSum(r, all);
        // each masked input alone is far from its plain value (the self-mask hides it even from the pair masks' sum)
        var alone = new float[Dimension];
        FixedPoint.Decode(r.Masked["client-0"], alone, FixedPoint.DefaultFractionBits);
        Assert.True(Enumerable.Range(0, Dimension).Count(i => Math.Abs(alone[i] - r.Inputs["client-0"][i]) > 1) > Dimension * 0.99);
    }

    [Fact]
    public void SecAgg_plus_should_give_the_survivors_sum_when_one_client_drops()
    {
        using var r = Through_masking(4);
        string[] survivors = ["client-0", "client-1", "client-3"], dropped = ["client-2"];
        foreach (var id in survivors) r.Server.Sum.Add(r.Masked[id]);

        Unmask(r, survivors, dropped);

        AssertSum(r, survivors);
        Assert.Equal(3, r.Server.SharesOf("client-2", SecAggSecret.MaskKey));
        Assert.Equal(0, r.Server.SharesOf("client-2", SecAggSecret.SelfMask));
    }

    [Fact]
    public void A_slow_clients_late_masked_input_should_not_be_unmasked_with_the_revealed_shares()
    {
        using var r = Through_masking(4);
        string[] survivors = ["client-0", "client-1", "client-3"];
        const string slow = "client-2"; // it masked its input, but it arrived after the survivor set was fixed
        foreach (var id in survivors) r.Server.Sum.Add(r.Masked[id]);
        Unmask(r, survivors, [slow]);
        AssertSum(r, survivors);

        // the server now knows the slow client's mask key, so it can strip every pair mask from its late input …
        var late = (ulong[])r.Masked[slow].Clone();
        using (var recovered = SecAggParty.FromPrivateScalar(slow, r.Server.Recover(slow, SecAggSecret.MaskKey), r.Server.Keys[slow].MaskKey))
            foreach (var peer in r.Server.Order.Where(p => p != slow))
                SecAggMasks.AddPairMask(late, recovered.PairSeed(peer, r.Server.Keys[peer].MaskKey, Context), add: string.CompareOrdinal(slow, peer) > 0);
        var stripped = new float[Dimension];
        FixedPoint.Decode(late, stripped, FixedPoint.DefaultFractionBits);
        // … but its self-mask stays: what is left is x + PRG(b), not x
        Assert.True(Enumerable.Range(0, Dimension).Count(i => Math.Abs(stripped[i] - r.Inputs[slow][i]) > 1) > Dimension * 0.99);
        // and no survivor gives a share of its self-mask seed, even when asked again with the slow client as a survivor
        Assert.Equal(0, r.Server.SharesOf(slow, SecAggSecret.SelfMask));
        foreach (var s in survivors)
        {
            var refused = new List<string>();
            var again = r.Clients[s].Unmask([.. survivors, slow], r.Server.CiphertextsTo(s, r.Server.Order), refused);
            Assert.DoesNotContain(again, share => share.Owner == slow);
            Assert.Contains(refused, why => why.Contains($"'{slow}'") && why.Contains("mask key share was revealed before"));
        }
        // too few shares of its self-mask to rebuild it: unmasking it fails, naming what is missing
        var problem = r.Server.Unmask([slow], []);
        Assert.NotNull(problem);
        Assert.Contains($"{slow} (self-mask, 0)", problem);
    }

    [Fact]
    public void Unmasking_with_the_dropped_masks_removed_should_fail_without_the_self_masks()
    {
        // the check the slow-client test relies on: without the survivors' self-masks removed the sum is wrong
        using var r = Through_masking(3);
        var all = r.Server.Order.ToArray();
        foreach (var id in all) r.Server.Sum.Add(r.Masked[id]);
        var sum = new float[Dimension];
        r.Server.Sum.Decode(sum);
        Assert.True(Enumerable.Range(0, Dimension).Count(i => Math.Abs(sum[i] - all.Sum(s => r.Inputs[s][i])) > 1) > Dimension * 0.99);
    }

    [Fact]
    public void A_round_key_signed_by_a_key_not_from_the_CA_should_be_refused_and_named()
    {
        using var client = new SecAggClient("client-9", Context);
        // a node certificate from another CA (same names): a valid signature, but not this deployment's credential
        using var otherCa = Certificates.CreateAuthority("secagg-test-ca");
        using var impostor = Certificates.Issue(otherCa, "edge-1", TimeSpan.FromDays(1));
        using var impostorKey = impostor.GetECDsaPrivateKey()!;
        var forged = client.Advertise(impostorKey, impostor.RawData);
        var why = SecAggPlus.Verify(forged, Context, _ca);
        Assert.NotNull(why);
        Assert.Contains("'client-9'", why);
        Assert.Contains("not from this deployment", why);

        // our node's certificate, but signed with another key: does not verify
        using var stray = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        why = SecAggPlus.Verify(client.Advertise(stray, _node.RawData), Context, _ca);
        Assert.Contains("'client-9'", why);
        Assert.Contains("does not verify", why);
    }

    [Fact]
    public void A_tampered_or_unsigned_or_replayed_round_key_should_be_refused_and_named()
    {
        using var client = new SecAggClient("client-9", Context);
        var good = client.Advertise(_credential, _node.RawData);
        Assert.Null(SecAggPlus.Verify(good, Context, _ca));

        var swapped = (byte[])good.MaskKey.Clone();
        swapped[^1] ^= 1;
        Assert.Contains("does not verify", SecAggPlus.Verify(good with { MaskKey = swapped }, Context, _ca));
        using var other = new SecAggClient("client-8", Context);
        Assert.Contains("does not verify", SecAggPlus.Verify(good with { CipherKey = other.CipherKey }, Context, _ca));
        Assert.Contains("does not verify", SecAggPlus.Verify(good with { ClientId = "client-8" }, Context, _ca));
        Assert.Contains("does not verify", SecAggPlus.Verify(good, "secagg-exp/3/8", _ca)); // replayed in another attempt
        Assert.Contains("'client-9' is not signed", SecAggPlus.Verify(good with { Signature = [] }, Context, _ca));
        Assert.Contains("without its node's certificate", SecAggPlus.Verify(good with { Certificate = [] }, Context, _ca));
    }
}
