namespace EdgeActors.Messages;

// ================================================================ secure aggregation (SecAgg+), coordinator ⇄ edge workers
// Round 0: MaskKeyRequest → SecAggKeys. Round 1: SecAggShareRequest → SecAggShares. Round 2: TrainRound (MaskPeers/MaskKeys:
// the clients whose shares reached the coordinator, with their mask keys) → MaskedClientUpdate. Round 3: SecAggUnmaskRequest
// → SecAggUnmaskShares. See docs/federated-learning.md.

/// <summary>
/// Round 0 (worker → coordinator): for each of <c>Clients</c> its round keys (ECDH P-256 SubjectPublicKeyInfo) and the
/// signature over (context, client id, both keys) made with the edge node's deployment credential; <c>Certificate</c> is that
/// node's certificate (DER), which must chain to the deployment's CA.
/// </summary>
public sealed record SecAggKeys(
    string ExperimentId, int Round, int Attempt, string[] Clients, byte[][] CipherKeys, byte[][] MaskKeys, byte[][] Signatures, byte[] Certificate)
    : IFederatedMessage;

/// <summary>
/// Round 1 (coordinator → worker): the round's clients whose keys verified (<c>Peers</c>, ordinal order: share x = position
/// + 1) with their keys, signatures and certificates, so each client checks them too; the worker's <c>Clients</c> share
/// their secrets among them, any <c>Threshold</c> shares recovering one.
/// </summary>
public sealed record SecAggShareRequest(
    string ExperimentId, int Round, int Attempt, string[] Clients, string[] Peers, byte[][] CipherKeys, byte[][] MaskKeys, byte[][] Signatures,
    byte[][] Certificates, int Threshold) : IFederatedMessage;

/// <summary>Round 1 (worker → coordinator): <c>Ciphertexts[i]</c> holds <c>From[i]</c>'s shares for <c>To[i]</c> (AES-GCM, only <c>To[i]</c> can read it).</summary>
public sealed record SecAggShares(string ExperimentId, int Round, int Attempt, string[] From, string[] To, byte[][] Ciphertexts) : IFederatedMessage;

/// <summary>
/// Round 3 (coordinator → worker): the survivor set is fixed (<c>Survivors</c>); the worker's <c>Clients</c> reveal their
/// shares, decrypting the ciphertexts addressed to them (<c>Ciphertexts[i]</c> from <c>From[i]</c> to <c>To[i]</c>).
/// </summary>
public sealed record SecAggUnmaskRequest(
    string ExperimentId, int Round, int Attempt, string[] Clients, string[] Survivors, string[] From, string[] To, byte[][] Ciphertexts)
    : IFederatedMessage;

/// <summary>
/// Round 3 (worker → coordinator): <c>Holders[i]</c>'s share (x = <c>Xs[i]</c>, <c>Shares[i]</c>) of <c>Owners[i]</c>'s
/// secret <c>Secrets[i]</c> (0: self-mask seed, 1: mask key); <c>Refused</c>: what was not revealed, and why.
/// </summary>
public sealed record SecAggUnmaskShares(
    string ExperimentId, int Round, int Attempt, string[] Holders, string[] Owners, byte[] Secrets, byte[] Xs, byte[][] Shares, string[] Refused)
    : IFederatedMessage;
