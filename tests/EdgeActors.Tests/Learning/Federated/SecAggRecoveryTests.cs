using System.Security.Cryptography;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Tests.Learning.Federated;

/// <summary>Self-masks with Shamir-shared seeds, the reveal guard, and signed round keys.</summary>
public sealed class SecAggRecoveryTests
{
    [Fact]
    public void Shamir_should_recover_the_secret_from_any_threshold_shares_and_not_from_fewer()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var shares = Shamir.Split(secret, count: 5, threshold: 3);
        Assert.Equal(secret, Shamir.Combine([shares[0], shares[2], shares[4]]));
        Assert.Equal(secret, Shamir.Combine([shares[3], shares[1], shares[0]]));
        Assert.Equal(secret, Shamir.Combine(shares));
        Assert.NotEqual(secret, Shamir.Combine([shares[0], shares[1]]));
        Assert.Throws<ArgumentException>(() => Shamir.Combine([shares[0], shares[0]]));
    }

    [Fact]
    public void Self_masks_should_cancel_only_for_survivors_whose_seed_is_reconstructed()
    {
        // two survivors u, v; each adds PRG(b) to its encoded update; the server rebuilds b from shares and removes it
        ulong[] u = [1, 2, 3], v = [10, 20, 30];
        var bu = RandomNumberGenerator.GetBytes(32);
        var bv = RandomNumberGenerator.GetBytes(32);
        var mu = (ulong[])u.Clone();
        var mv = (ulong[])v.Clone();
        SecAggMasks.AddPairMask(mu, bu, add: true);
        SecAggMasks.AddPairMask(mv, bv, add: true);
        Assert.NotEqual(u, mu); // a single masked vector reveals nothing
        var sum = new ulong[3];
        for (var i = 0; i < 3; i++) sum[i] = mu[i] + mv[i];
        foreach (var b in new[] { bu, bv })
        {
            var shares = Shamir.Split(b, 4, 3);
            SecAggMasks.AddPairMask(sum, Shamir.Combine([shares[1], shares[2], shares[3]]), add: false);
        }
        Assert.Equal([11UL, 22UL, 33UL], sum);
    }

    [Fact]
    public void A_survivor_should_never_reveal_both_the_pair_seed_and_the_self_mask_share_of_one_client()
    {
        var guard = new SecAggRevealGuard();
        Assert.True(guard.AllowPairSeed("slow"));          // the server said "slow" dropped
        Assert.False(guard.AllowSelfMaskShare("slow"));    // ... then asks to unmask its self-mask: refused
        Assert.True(guard.AllowPairSeed("slow"));          // asking the same thing again is fine
        Assert.True(guard.AllowSelfMaskShare("alive"));
        Assert.False(guard.AllowPairSeed("alive"));
    }

    [Fact]
    public void A_round_key_should_be_accepted_only_with_its_clients_signature()
    {
        using var credential = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var party = new SecAggParty("fl-client-01");
        var key = party.PublicKey;
        var signature = SignedRoundKey.Sign(credential, "fl-client-01", "x/3/1", key);
        Assert.Null(SignedRoundKey.Problem(credential, "fl-client-01", "x/3/1", key, signature));
        Assert.Contains("not signed", SignedRoundKey.Problem(credential, "fl-client-01", "x/3/1", key, null));
        Assert.Contains("does not verify", SignedRoundKey.Problem(other, "fl-client-01", "x/3/1", key, SignedRoundKey.Sign(other, "fl-client-02", "x/3/1", key)));
        Assert.NotNull(SignedRoundKey.Problem(other, "fl-client-01", "x/3/1", key, signature));          // wrong credential
        Assert.NotNull(SignedRoundKey.Problem(credential, "fl-client-01", "x/4/1", key, signature));     // replayed in another round
        Assert.NotNull(SignedRoundKey.Problem(credential, "fl-client-02", "x/3/1", key, signature));     // moved to another client
        var swapped = (byte[])key.Clone();
        swapped[^1] ^= 1;
        Assert.NotNull(SignedRoundKey.Problem(credential, "fl-client-01", "x/3/1", swapped, signature)); // key swapped
    }
}
