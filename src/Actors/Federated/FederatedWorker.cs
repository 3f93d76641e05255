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
    private readonly Dictionary<string, SecAggParty> _parties = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JobParticipant> _jobs = new(StringComparer.Ordinal);
    /// <summary>SCAFFOLD: each client's control variate cᵢ, by "experiment|client" (memory only, this experiment's; a restarted node starts from 0).</summary>
    private readonly Dictionary<string, float[]> _controls = new(StringComparer.Ordinal);
    private (string Experiment, int Round, int Attempt) _current = ("", 0, 0);
    private Dictionary<string, byte[]> _peerKeys = new(StringComparer.Ordinal);
    private int _running;

    public ITimerScheduler Timers { get; set; } = null!;

    public FederatedWorker(LocalTrainingSet data, IActorRef coordinator, FederationSettings settings)
    {
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
        Receive<RevealMasks>(OnReveal);
        Receive<JobStep>(OnJobStep);
        Receive<StepDone>(d => d.ReplyTo.Tell(d.Reply));
    }

    public static Props Props(LocalTrainingSet data, IActorRef coordinator, FederationSettings settings) =>
        Akka.Actor.Props.Create(() => new FederatedWorker(data, coordinator, settings));

    protected override void PreStart()
    {
        Self.Tell(Heartbeat.Instance);
        Timers.StartPeriodicTimer("heartbeat", Heartbeat.Instance, _settings.HeartbeatInterval);
    }

    protected override void PostStop()
    {
        foreach (var p in _parties.Values) p.Dispose();
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
        foreach (var key in _parties.Keys.Where(k => !k.StartsWith(prefix, StringComparison.Ordinal)).ToList())
        {
            _parties[key].Dispose();
            _parties.Remove(key);
        }
    }

    private void OnTrainRound(TrainRound t)
    {
        if (IsOlder(t.ExperimentId, t.Round, t.Attempt)) return;
        Advance(t.ExperimentId, t.Round, t.Attempt);
        _peerKeys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < Math.Min(t.MaskPeers.Length, t.MaskKeys.Length); i++) _peerKeys[t.MaskPeers[i]] = t.MaskKeys[i];
        var held = _data.Clients().Select(c => c.ClientId).ToHashSet(StringComparer.Ordinal);
        foreach (var client in t.Clients)
        {
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
            _parties.TryGetValue(RoundContext(job.Round.ExperimentId, job.Round.Round, job.Round.Attempt) + "|" + job.ClientId, out var party);
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
    public static IFederatedMessage Train(TrainRound t, string clientId, LocalTrainingSet data, SecAggParty? party, IReadOnlyDictionary<string, byte[]> peers) =>
        Train(t, clientId, data, party, peers, null, out _);

    /// <summary>
    /// <inheritdoc cref="Train(TrainRound, string, LocalTrainingSet, SecAggParty?, IReadOnlyDictionary{string, byte[]})"/>
    /// In a SCAFFOLD round (<see cref="TrainRound.ServerControl"/> set) the local gradients are corrected by c − cᵢ
    /// (<paramref name="clientControl"/> cᵢ, null = zeros; applied after each SGD step, outside the momentum) and
    /// <paramref name="nextControl"/> is the client's new cᵢ (option II with K local steps and the round's local learning
    /// rate, as NIID-Bench); the update carries Δcᵢ.
    /// Every update reports its local step count τᵢ (FedNova).
    /// </summary>
    public static IFederatedMessage Train(TrainRound t, string clientId, LocalTrainingSet data, SecAggParty? party, IReadOnlyDictionary<string, byte[]> peers,
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
        var others = peers.Where(kv => kv.Key != clientId).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var masked = party.Mask(delta, others, RoundContext(t.ExperimentId, t.Round, t.Attempt));
        return new MaskedClientUpdate(t.ExperimentId, t.Round, t.Attempt, clientId, labels.Length, loss, masked);
    }

    private void OnKeyRequest(MaskKeyRequest k)
    {
        if (IsOlder(k.ExperimentId, k.Round, k.Attempt)) return;
        Advance(k.ExperimentId, k.Round, k.Attempt);
        var prefix = RoundContext(k.ExperimentId, k.Round, k.Attempt) + "|";
        var clients = new List<string>();
        var keys = new List<byte[]>();
        foreach (var client in k.Clients)
        {
            if (!_parties.TryGetValue(prefix + client, out var party)) _parties[prefix + client] = party = new SecAggParty(client);
            clients.Add(client);
            keys.Add(party.PublicKey);
        }
        Sender.Tell(new MaskKeys(k.ExperimentId, k.Round, k.Attempt, clients.ToArray(), keys.ToArray()));
    }

    private void OnReveal(RevealMasks r)
    {
        var prefix = RoundContext(r.ExperimentId, r.Round, r.Attempt) + "|";
        var survivors = new List<string>();
        var dropped = new List<string>();
        var seeds = new List<byte[]>();
        foreach (var s in r.Survivors)
        {
            if (!_parties.TryGetValue(prefix + s, out var party)) continue;
            foreach (var d in r.Dropped)
            {
                if (!_peerKeys.TryGetValue(d, out var key)) continue;
                survivors.Add(s);
                dropped.Add(d);
                seeds.Add(party.PairSeed(d, key, RoundContext(r.ExperimentId, r.Round, r.Attempt)));
            }
        }
        Sender.Tell(new RevealedMasks(r.ExperimentId, r.Round, r.Attempt, survivors.ToArray(), dropped.ToArray(), seeds.ToArray()));
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
