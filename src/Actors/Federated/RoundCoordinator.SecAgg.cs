using Akka.Actor;
using Akka.Event;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// The coordinator's side of secure aggregation (SecAgg+, docs/federated-learning.md): round keys verified against the
/// deployment CA (round 0), encrypted shares routed between the clients (round 1), the masked inputs summed (round 2, in
/// the main file), and the unmasking once the survivor set is fixed (round 3). State of one attempt: <see cref="SecAggServer"/>.
/// </summary>
public sealed partial class RoundCoordinator
{
    private TimeSpan SecAggStepTimeout => TimeSpan.FromMilliseconds(Math.Max(1000, _run!.Spec.RoundTimeoutMs / 4));

    /// <summary>Round 0: a worker's signed round keys; a key that does not verify is refused and its client dropped, with the reason.</summary>
    private void OnSecAggKeys(SecAggKeys k)
    {
        if (!IsCurrent(k.ExperimentId, k.Round, k.Attempt) || _round is not { Phase: Phase.Keys, SecAgg: { } server } s) return;
        var n = Math.Min(k.Clients.Length, Math.Min(k.CipherKeys.Length, Math.Min(k.MaskKeys.Length, k.Signatures.Length)));
        for (var i = 0; i < n; i++)
        {
            var client = k.Clients[i];
            if (!s.Sampled.TryGetValue(client, out var worker) || !worker.Equals(Sender) || server.Keys.ContainsKey(client) || s.Dropped.ContainsKey(client)) continue;
            var keys = new SecAggAdvertisedKeys(client, k.CipherKeys[i], k.MaskKeys[i], k.Signatures[i], k.Certificate);
            var problem = SecAggPlus.Verify(keys, server.Context, _secAgg!.Authority);
            if (problem is not null)
            {
                _log.Warning("Federated round {0}: round key refused, client excluded: {1}", s.Round, problem);
                Drop(s, client, "round key refused: " + problem, "unauthenticated");
                continue;
            }
            server.Advertise(keys);
        }
        CheckComplete();
    }

    /// <summary>Round 1 starts: the verified clients, with their keys, signatures and certificates, go to every worker.</summary>
    private void SendShareRequests()
    {
        var s = _round!;
        var server = s.SecAgg!;
        Timers.Cancel("keys");
        foreach (var c in s.Sampled.Keys.Where(c => !server.Keys.ContainsKey(c))) Drop(s, c, "no round key before the key deadline", "timeout");
        server.Freeze();
        var needed = Math.Max(Needed(s.Sampled.Count), server.Threshold);
        if (server.Order.Count < needed)
        {
            Restart($"only {server.Order.Count} of {s.Sampled.Count} clients have authenticated round keys, {needed} needed");
            return;
        }
        s.Phase = Phase.Sharing;
        var peers = server.Order.ToArray();
        var keys = peers.Select(p => server.Keys[p]).ToArray();
        foreach (var group in s.Sampled.Where(kv => server.Keys.ContainsKey(kv.Key)).GroupBy(kv => kv.Value))
            group.Key.Tell(new SecAggShareRequest(_run!.Spec.Id, s.Round, s.Attempt, group.Select(kv => kv.Key).ToArray(), peers,
                keys.Select(k => k.CipherKey).ToArray(), keys.Select(k => k.MaskKey).ToArray(), keys.Select(k => k.Signature).ToArray(),
                keys.Select(k => k.Certificate).ToArray(), server.Threshold));
        _log.Info("Federated round {0}: {1} round keys verified against the deployment CA; clients share their secrets (threshold {2})",
            s.Round, peers.Length, server.Threshold);
        Timers.StartSingleTimer("keys", new KeysDeadline(_run!.Spec.Id, s.Round, s.Attempt), SecAggStepTimeout);
    }

    /// <summary>Round 1: encrypted shares from a worker's clients (the coordinator cannot read them; it routes them in round 3).</summary>
    private void OnSecAggShares(SecAggShares m)
    {
        if (!IsCurrent(m.ExperimentId, m.Round, m.Attempt) || _round is not { Phase: Phase.Sharing, SecAgg: { } server } s) return;
        for (var i = 0; i < Math.Min(m.From.Length, Math.Min(m.To.Length, m.Ciphertexts.Length)); i++)
            if (s.Sampled.TryGetValue(m.From[i], out var worker) && worker.Equals(Sender) && !s.Dropped.ContainsKey(m.From[i]) && m.Ciphertexts[i].Length <= 1024)
                server.AddCiphertext(m.From[i], m.To[i], m.Ciphertexts[i]);
        CheckComplete();
    }

    private bool SharingComplete(RoundState s) => s.SecAgg!.Order.All(c => s.SecAgg.SharedFully(c) || s.Dropped.ContainsKey(c));

    /// <summary>
    /// Round 2 starts: U1 = the clients whose shares reached every other client's mailbox here; they mask with each other.
    /// False (and the attempt restarted) when too few.
    /// </summary>
    private bool SecAggMaskingSet(RoundState s, out string[] peers, out byte[][] keys)
    {
        var server = s.SecAgg!;
        foreach (var c in server.Order.Where(c => !server.SharedFully(c))) Drop(s, c, "no secret shares before the deadline", "timeout");
        peers = server.Order.Where(c => !s.Dropped.ContainsKey(c)).ToArray();
        keys = peers.Select(p => server.Keys[p].MaskKey).ToArray();
        var needed = Math.Max(Needed(s.Sampled.Count), server.Threshold);
        if (peers.Length < needed)
        {
            Restart($"only {peers.Length} of {s.Sampled.Count} clients shared their secrets, {needed} needed");
            return false;
        }
        foreach (var (p, k) in peers.Zip(keys)) s.Keys[p] = k;
        s.Masked = server.Sum;
        return true;
    }

    /// <summary>
    /// Round 3: the survivor set is fixed (the clients whose masked input arrived); each survivor reveals its share of every
    /// survivor's self-mask seed and of every dropped client's mask key. A masked input arriving after this is ignored, and
    /// could not be unmasked anyway: its self-mask seed is never revealed.
    /// </summary>
    private void StartUnmasking(RoundState s)
    {
        var server = s.SecAgg!;
        var survivors = s.Received.Order(StringComparer.Ordinal).ToArray();
        var dropped = s.Keys.Keys.Where(c => !s.Received.Contains(c)).Order(StringComparer.Ordinal).ToArray();
        if (survivors.Length < server.Threshold)
        {
            Restart($"only {survivors.Length} masked inputs arrived, fewer than the {server.Threshold} needed to unmask");
            return;
        }
        s.Phase = Phase.Revealing;
        var groups = s.Sampled.Where(kv => s.Received.Contains(kv.Key)).GroupBy(kv => kv.Value).ToList();
        s.PendingReveals = groups.Count;
        var u1 = s.Keys.Keys.ToArray();
        foreach (var g in groups)
        {
            var clients = g.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToArray();
            var from = new List<string>();
            var to = new List<string>();
            var ciphertexts = new List<byte[]>();
            foreach (var c in clients)
            foreach (var (f, ct) in server.CiphertextsTo(c, u1))
            {
                from.Add(f);
                to.Add(c);
                ciphertexts.Add(ct);
            }
            g.Key.Tell(new SecAggUnmaskRequest(_run!.Spec.Id, s.Round, s.Attempt, clients, survivors, from.ToArray(), to.ToArray(), ciphertexts.ToArray()));
        }
        _log.Info("Federated round {0}: unmasking {1} survivors' self-masks{2}", s.Round, survivors.Length,
            dropped.Length > 0 ? $" and the pair masks of {dropped.Length} dropped clients ({string.Join(",", dropped)})" : "");
        Timers.StartSingleTimer("reveal", new RevealDeadline(_run!.Spec.Id, s.Round, s.Attempt), SecAggStepTimeout);
    }

    /// <summary>Round 3: a worker's shares; once every worker answered, the masks come off and the round aggregates.</summary>
    private void OnUnmaskShares(SecAggUnmaskShares r)
    {
        if (!IsCurrent(r.ExperimentId, r.Round, r.Attempt) || _round is not { Phase: Phase.Revealing, SecAgg: { } server } s) return;
        var n = Math.Min(r.Holders.Length, Math.Min(r.Owners.Length, Math.Min(r.Secrets.Length, Math.Min(r.Xs.Length, r.Shares.Length))));
        for (var i = 0; i < n; i++)
        {
            if (!s.Received.Contains(r.Holders[i]) || !s.Sampled.TryGetValue(r.Holders[i], out var worker) || !worker.Equals(Sender) || r.Secrets[i] > 1) continue;
            // only what this round needs: a survivor's self-mask share, a dropped client's mask-key share
            var secret = (SecAggSecret)r.Secrets[i];
            if ((secret == SecAggSecret.SelfMask) != s.Received.Contains(r.Owners[i]) || !s.Keys.ContainsKey(r.Owners[i])) continue;
            server.AddShare(r.Holders[i], new SecAggShare(r.Owners[i], secret, r.Xs[i], r.Shares[i]));
        }
        foreach (var why in r.Refused) _log.Warning("Federated round {0}: a share was not revealed: {1}", s.Round, why);
        if (--s.PendingReveals > 0) return;
        Timers.Cancel("reveal");
        var survivors = s.Received.ToArray();
        var dropped = s.Keys.Keys.Where(c => !s.Received.Contains(c)).ToArray();
        var problem = server.Unmask(survivors, dropped);
        if (problem is not null)
        {
            Restart("unmasking failed: " + problem);
            return;
        }
        _log.Info("Federated round {0}: unmasked the sum of {1} inputs (self-masks of {1} survivors removed, {2} dropped clients' pair masks removed)",
            s.Round, survivors.Length, dropped.Length);
        Aggregate(s.Keys.Count);
    }
}
