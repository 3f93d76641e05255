using System.Numerics.Tensors;
using Akka.Actor;
using Akka.Event;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// One per edge node: the node's side of federated learning. It announces the clients it can train (devices holding
/// labelled frames in the node's <see cref="LocalTrainingSet"/>) to the round coordinator, trains them on request
/// (off the mailbox, at most <c>max-parallel-training</c> at a time, so ingestion and inference keep their threads), and
/// answers the steps of federated k-means and GBDT jobs from the node's data. A newer round cancels queued work of older
/// ones. The client of a round is a device (its data is the privacy unit and the unit of masking); the edge node is only
/// where it trains.
/// </summary>
public sealed class FederatedWorker : ReceiveActor, IWithTimers
{
    public const string Name = "federated-worker";

    private sealed record Heartbeat
    {
        public static readonly Heartbeat Instance = new();
    }

    private sealed record Job(TrainRound Round, string ClientId, IActorRef ReplyTo);

    private sealed record Trained(Job Job, IFederatedMessage Reply, float[]? Control = null);

    private sealed record StepDone(IActorRef ReplyTo, JobStepReply Reply);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LocalTrainingSet _data;
    private readonly IActorRef _coordinator;
    private readonly FederationSettings _settings;
    private readonly string _node;
    private readonly Queue<Job> _queue = new();
    /// <summary>Secure aggregation: each client's state of the current attempt, by "experiment/round/attempt|client".</summary>
    private readonly Dictionary<string, SecAggClient> _secagg = new(StringComparer.Ordinal);
    private readonly SecAggCredentials? _credentials;
    /// <summary>Secure aggregation: the mask keys this node verified (signature and certificate chain) for the current attempt.</summary>
    private (string Context, Dictionary<string, byte[]> MaskKeys) _verified = ("", new(StringComparer.Ordinal));
    private readonly Dictionary<string, JobParticipant> _jobs = new(StringComparer.Ordinal);
    /// <summary>SCAFFOLD: each client's control variate cᵢ, by "experiment|client" (memory only, this experiment's; a restarted node starts from 0).</summary>
    private readonly Dictionary<string, float[]> _controls = new(StringComparer.Ordinal);
    private (string Experiment, int Round, int Attempt) _current = ("", 0, 0);
    private Dictionary<string, byte[]> _peerKeys = new(StringComparer.Ordinal);
    private int _running;

    public ITimerScheduler Timers { get; set; } = null!;

    public FederatedWorker(LocalTrainingSet data, IActorRef coordinator, FederationSettings settings, SecAggCredentials? credentials = null)
    {
        _credentials = credentials;
        _data = data;
        _coordinator = coordinator;
        _settings = settings;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();

        Receive<Heartbeat>(_ => _coordinator.Tell(new ParticipantHeartbeat(_node, _data.Clients())));
        Receive<TrainRound>(OnTrainRound);
        Receive<Trained>(t =>
        {
            _running--;
            if (t.Control is not null && t.Reply is ClientUpdate)
            {
                // one experiment's control variates at a time: a new experiment's first update clears the old ones
                var prefix = t.Job.Round.ExperimentId + "|";
                foreach (var old in _controls.Keys.Where(k => !k.StartsWith(prefix, StringComparison.Ordinal)).ToList()) _controls.Remove(old);
                _controls[prefix + t.Job.ClientId] = t.Control;
            }
            t.Job.ReplyTo.Tell(t.Reply);
            Pump();
        });
        Receive<MaskKeyRequest>(OnKeyRequest);
        Receive<SecAggShareRequest>(OnShareRequest);
        Receive<SecAggUnmaskRequest>(OnUnmaskRequest);
        Receive<JobStep>(OnJobStep);
        Receive<StepDone>(d => d.ReplyTo.Tell(d.Reply));
    }

    public static Props Props(LocalTrainingSet data, IActorRef coordinator, FederationSettings settings, SecAggCredentials? credentials = null) =>
        Akka.Actor.Props.Create(() => new FederatedWorker(data, coordinator, settings, credentials));

    protected override void PreStart()
    {
        Self.Tell(Heartbeat.Instance);
        Timers.StartPeriodicTimer("heartbeat", Heartbeat.Instance, _settings.HeartbeatInterval);
    }

    protected override void PostStop()
    {
        foreach (var p in _secagg.Values) p.Dispose();
    }

    private static string RoundContext(string experiment, int round, int attempt) => $"{experiment}/{round}/{attempt}";

    private bool IsOlder(string experiment, int round, int attempt) =>
        experiment == _current.Experiment && (round < _current.Round || (round == _current.Round && attempt < _current.Attempt));

    private void Advance(string experiment, int round, int attempt)
    {
        if (IsOlder(experiment, round, attempt)) return;
        if ((experiment, round, attempt) == _current) return;
        _current = (experiment, round, attempt);
        // work for an older round is useless now: its updates would be refused (or folded as stale by the coordinator)
        var kept = _queue.Where(j => (j.Round.ExperimentId, j.Round.Round, j.Round.Attempt) == _current).ToList();
        var dropped = _queue.Count - kept.Count;
        _queue.Clear();
        foreach (var j in kept) _queue.Enqueue(j);
        if (dropped > 0) _log.Info("Federated worker: dropped {0} queued trainings of an older round", dropped);
        var prefix = RoundContext(experiment, round, attempt) + "|";
        foreach (var key in _secagg.Keys.Where(k => !k.StartsWith(prefix, StringComparison.Ordinal)).ToList())
        {
            _secagg[key].Dispose();
            _secagg.Remove(key);
        }
    }

    private void OnTrainRound(TrainRound t)
    {
        if (IsOlder(t.ExperimentId, t.Round, t.Attempt)) return;
        Advance(t.ExperimentId, t.Round, t.Attempt);
        _peerKeys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < Math.Min(t.MaskPeers.Length, t.MaskKeys.Length); i++) _peerKeys[t.MaskPeers[i]] = t.MaskKeys[i];
        var held = _data.Clients().Select(c => c.ClientId).ToHashSet(StringComparer.Ordinal);
        var swapped = SwappedMaskKey(t);
        foreach (var client in t.Clients)
        {
            if (swapped is not null)
            {
                Sender.Tell(new ClientFailed(t.ExperimentId, t.Round, t.Attempt, client, swapped));
                continue;
            }
            if (!held.Contains(client))
            {
                Sender.Tell(new ClientFailed(t.ExperimentId, t.Round, t.Attempt, client, $"node {_node} holds no training data for {client}"));
                continue;
            }
            _queue.Enqueue(new Job(t, client, Sender));
        }
        Pump();
    }

    private void Pump()
    {
        while (_running < _settings.MaxParallelTraining && _queue.Count > 0)
        {
            var job = _queue.Dequeue();
            _secagg.TryGetValue(RoundContext(job.Round.ExperimentId, job.Round.Round, job.Round.Attempt) + "|" + job.ClientId, out var party);
            var peers = _peerKeys;
            _controls.TryGetValue(job.Round.ExperimentId + "|" + job.ClientId, out var control);
            _running++;
            Task.Run(() =>
                {
                    var reply = Train(job.Round, job.ClientId, _data, party, peers, control, out var next);
                    return new Trained(job, reply, next);
                })
                .PipeTo(Self, failure: ex => new Trained(job, new ClientFailed(job.Round.ExperimentId, job.Round.Round, job.Round.Attempt, job.ClientId,
                    $"local training failed on {_node}: {ex.GetBaseException().Message}")));
        }
    }

    /// <summary>
    /// One client's local training: SGD from the global weights on the client's labelled frames; the reply carries the
    /// delta (local − global), or its masked fixed-point form when the round uses secure aggregation.
    /// </summary>
    public static IFederatedMessage Train(TrainRound t, string clientId, LocalTrainingSet data, SecAggClient? party, IReadOnlyDictionary<string, byte[]> peers) =>
        Train(t, clientId, data, party, peers, null, out _);

    /// <summary>
    /// <inheritdoc cref="Train(TrainRound, string, LocalTrainingSet, SecAggClient?, IReadOnlyDictionary{string, byte[]})"/>
    /// In a SCAFFOLD round (<see cref="TrainRound.ServerControl"/> set) the local gradients are corrected by c − cᵢ
    /// (<paramref name="clientControl"/> cᵢ, null = zeros; applied after each SGD step, outside the momentum) and
    /// <paramref name="nextControl"/> is the client's new cᵢ (option II with K local steps and the round's local learning
    /// rate, as NIID-Bench); the update carries Δcᵢ.
    /// Every update reports its local step count τᵢ (FedNova).
    /// </summary>
    public static IFederatedMessage Train(TrainRound t, string clientId, LocalTrainingSet data, SecAggClient? party, IReadOnlyDictionary<string, byte[]> peers,
        float[]? clientControl, out float[]? nextControl)
    {
        nextControl = null;
        if (!data.TryGetSamples(clientId, out var images, out var labels))
            return new ClientFailed(t.ExperimentId, t.Round, t.Attempt, clientId, "no training data");
        var model = FederatedModel.FromParameters(t.Model, t.Global);
        var o = t.Training;
        var scaffold = t.ServerControl.Length > 0;
        if (scaffold && t.ServerControl.Length != t.Global.Length)
            return new ClientFailed(t.ExperimentId, t.Round, t.Attempt, clientId, $"the server control variate has {t.ServerControl.Length} values for a model of {t.Global.Length}");
        if (clientControl is not null && clientControl.Length != t.Global.Length) clientControl = null;
        var losses = model.Train(images, labels, labels.Length, new SgdOptions(
            o.Epochs, o.BatchSize, o.LearningRate, o.Momentum, 0f, FederatedModel.ClientSeed(o.Seed, clientId, t.Round), o.ProximalMu)
        {
            GradientCorrection = scaffold ? Scaffold.Correction(t.ServerControl, clientControl ?? []) : null,
        });
        var delta = model.Parameters;
        TensorPrimitives.Subtract(delta, t.Global, delta);
        var steps = FedNova.LocalSteps(labels.Length, o.Epochs, Math.Min(o.BatchSize, Math.Max(labels.Length, 1)));
        float[] controlDelta = [];
        if (scaffold && steps > 0)
        {
            controlDelta = new float[delta.Length];
            nextControl = Scaffold.ClientControl(clientControl ?? [], t.ServerControl, delta, steps, o.LearningRate, controlDelta);
        }
        if (Array.IndexOf(o.PoisonedClients, clientId) >= 0) TensorPrimitives.Multiply(delta, o.PoisonScale, delta);
        var loss = losses.Length > 0 ? losses[^1] : 0f;
        if (t.MaskPeers.Length == 0)
            return new ClientUpdate(t.ExperimentId, t.Round, t.Attempt, clientId, labels.Length, loss, delta) { LocalSteps = steps, ControlDelta = controlDelta };

        if (party is null) return new ClientFailed(t.ExperimentId, t.Round, t.Attempt, clientId, "no mask key pair for this round (keys were made by an earlier incarnation of the node)");
        if (o.ClipNorm > 0) DifferentialPrivacy.ClipL2(delta, o.ClipNorm);
        TensorPrimitives.Multiply(delta, labels.Length, delta);
        // x + PRG(b_u) + the pairwise masks with every other client of U1 (peers holds this client too)
        var masked = party.Mask(delta, peers);
        return new MaskedClientUpdate(t.ExperimentId, t.Round, t.Attempt, clientId, labels.Length, loss, masked);
    }

    /// <summary>Secure aggregation round 0: fresh round keys for each listed client, signed with this node's deployment credential.</summary>
    private void OnKeyRequest(MaskKeyRequest k)
    {
        if (IsOlder(k.ExperimentId, k.Round, k.Attempt)) return;
        Advance(k.ExperimentId, k.Round, k.Attempt);
        if (_credentials is null)
        {
            foreach (var client in k.Clients)
                Sender.Tell(new ClientFailed(k.ExperimentId, k.Round, k.Attempt, client, $"node {_node} cannot sign round keys: " + SecAggCredentials.Missing));
            return;
        }
        var context = RoundContext(k.ExperimentId, k.Round, k.Attempt);
        var keys = new List<SecAggAdvertisedKeys>();
        foreach (var client in k.Clients)
        {
            if (!_secagg.TryGetValue(context + "|" + client, out var party)) _secagg[context + "|" + client] = party = new SecAggClient(client, context);
            keys.Add(party.Advertise(_credentials.SigningKey, _credentials.Certificate));
        }
        Sender.Tell(new SecAggKeys(k.ExperimentId, k.Round, k.Attempt, keys.Select(x => x.ClientId).ToArray(), keys.Select(x => x.CipherKey).ToArray(),
            keys.Select(x => x.MaskKey).ToArray(), keys.Select(x => x.Signature).ToArray(), _credentials.Certificate));
    }

    /// <summary>
    /// Secure aggregation round 1: this node checks every peer's round key itself (signature, certificate chain to the
    /// deployment CA) — a client shares nothing when one fails — then each of its clients sends Shamir shares of its
    /// self-mask seed and mask key, encrypted to each peer.
    /// </summary>
    private void OnShareRequest(SecAggShareRequest q)
    {
        if (IsOlder(q.ExperimentId, q.Round, q.Attempt)) return;
        var context = RoundContext(q.ExperimentId, q.Round, q.Attempt);
        var n = q.Peers.Length;
        string? problem = null;
        if (_credentials is null) problem = SecAggCredentials.Missing;
        else if (q.CipherKeys.Length != n || q.MaskKeys.Length != n || q.Signatures.Length != n || q.Certificates.Length != n)
            problem = $"malformed share request: {n} peers, {q.CipherKeys.Length}/{q.MaskKeys.Length}/{q.Signatures.Length}/{q.Certificates.Length} keys";
        else if (q.Threshold < SecAggPlus.Threshold(n)) problem = $"threshold {q.Threshold} is below the {SecAggPlus.Threshold(n)} required for {n} clients";
        var verified = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; problem is null && i < n; i++)
        {
            problem = SecAggPlus.Verify(new SecAggAdvertisedKeys(q.Peers[i], q.CipherKeys[i], q.MaskKeys[i], q.Signatures[i], q.Certificates[i]), context, _credentials!.Authority);
            verified[q.Peers[i]] = q.MaskKeys[i];
        }
        if (problem is null) _verified = (context, verified);
        var from = new List<string>();
        var to = new List<string>();
        var ciphertexts = new List<byte[]>();
        foreach (var client in q.Clients)
        {
            var why = problem;
            SecAggClient? party = null;
            if (why is null && !_secagg.TryGetValue(context + "|" + client, out party))
                why = "no round keys for this attempt on this node (made by an earlier incarnation of it?)";
            else if (why is null)
            {
                var me = Array.IndexOf(q.Peers, client);
                if (me < 0 || !q.CipherKeys[me].AsSpan().SequenceEqual(party!.CipherKey) || !q.MaskKeys[me].AsSpan().SequenceEqual(party.MaskKey))
                    why = "its own round keys are not among the peers' as it made them";
                else
                {
                    try
                    {
                        foreach (var (peer, ct) in party!.ShareSecrets(q.Peers.Zip(q.CipherKeys).ToList(), q.Threshold))
                        {
                            from.Add(client);
                            to.Add(peer);
                            ciphertexts.Add(ct);
                        }
                    }
                    catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.Security.Cryptography.CryptographicException)
                    {
                        why = e.Message;
                    }
                }
            }
            if (why is not null)
            {
                _log.Warning("Federated worker: client {0} refuses to share its secrets in {1}: {2}", client, context, why);
                Sender.Tell(new ClientFailed(q.ExperimentId, q.Round, q.Attempt, client, "secure aggregation: " + why));
            }
        }
        if (from.Count > 0) Sender.Tell(new SecAggShares(q.ExperimentId, q.Round, q.Attempt, from.ToArray(), to.ToArray(), ciphertexts.ToArray()));
    }

    /// <summary>Why this training request's mask keys are not the ones this node verified in round 1 (a key swapped after), or null.</summary>
    private string? SwappedMaskKey(TrainRound t)
    {
        if (t.MaskPeers.Length == 0) return null;
        var context = RoundContext(t.ExperimentId, t.Round, t.Attempt);
        if (_verified.Context != context) return "secure aggregation: no verified round keys for this attempt on this node";
        for (var i = 0; i < t.MaskPeers.Length; i++)
            if (i >= t.MaskKeys.Length || !_verified.MaskKeys.TryGetValue(t.MaskPeers[i], out var key) || !key.AsSpan().SequenceEqual(t.MaskKeys[i]))
                return $"secure aggregation: the mask key of '{t.MaskPeers[i]}' is not the one it signed";
        return null;
    }

    /// <summary>
    /// Secure aggregation round 3: each listed client reveals, for every client it masked with, the share of its self-mask
    /// seed (it survived) or of its mask key (it dropped) — never both for one client (<see cref="SecAggClient.Unmask"/>).
    /// </summary>
    private void OnUnmaskRequest(SecAggUnmaskRequest u)
    {
        var context = RoundContext(u.ExperimentId, u.Round, u.Attempt);
        var holders = new List<string>();
        var owners = new List<string>();
        var secrets = new List<byte>();
        var xs = new List<byte>();
        var shares = new List<byte[]>();
        var refused = new List<string>();
        foreach (var client in u.Clients)
        {
            if (!_secagg.TryGetValue(context + "|" + client, out var party))
            {
                refused.Add($"{client}: no secrets for {context} on {_node}");
                continue;
            }
            var ciphertexts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            for (var i = 0; i < Math.Min(u.From.Length, Math.Min(u.To.Length, u.Ciphertexts.Length)); i++)
                if (u.To[i] == client) ciphertexts[u.From[i]] = u.Ciphertexts[i];
            var why = new List<string>();
            try
            {
                foreach (var share in party.Unmask(u.Survivors, ciphertexts, why))
                {
                    holders.Add(client);
                    owners.Add(share.Owner);
                    secrets.Add((byte)share.Secret);
                    xs.Add(share.X);
                    shares.Add(share.Y);
                }
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                why.Add(e.Message);
            }
            refused.AddRange(why.Select(w => $"{client}: {w}"));
        }
        Sender.Tell(new SecAggUnmaskShares(u.ExperimentId, u.Round, u.Attempt, holders.ToArray(), owners.ToArray(), secrets.ToArray(), xs.ToArray(),
            shares.ToArray(), refused.ToArray()));
    }

    private void OnJobStep(JobStep step)
    {
        var replyTo = Sender;
        if (!_jobs.TryGetValue(step.JobId, out var party))
        {
            // any step may be the first this node sees of a job (it restarted, or the coordinator resumed the job after a
            // failover): k-means reloads the node's points, a GBDT level answers JobParticipant.RestartedError (restored then)
            foreach (var old in _jobs.Keys.Where(k => k != step.JobId).ToList()) _jobs.Remove(old); // one job at a time per node
            _jobs[step.JobId] = party = new JobParticipant(step.Kind, _data);
        }
        var node = _node;
        Task.Run(() => party.Handle(step))
            .PipeTo(Self,
                success: payload => new StepDone(replyTo, new JobStepReply(step.JobId, step.Step, node, payload, "")),
                failure: ex => new StepDone(replyTo, new JobStepReply(step.JobId, step.Step, node, [], ex.GetBaseException().Message)));
    }
}
