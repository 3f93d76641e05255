using EdgeActors.Storage;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Akka.Actor;
using Akka.Event;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Resilience;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// The federated round coordinator: a cluster singleton on the datacenter role. Per round it samples clients from the
/// edge workers' heartbeats, sends them the global weights, streams their updates into the chosen aggregator until all
/// sampled clients answered, dropped out (their node left) or the deadline passed, and aggregates once a quorum replied
/// (otherwise the round restarts as a new attempt). The new global model is scored on held-out data, committed to the
/// <see cref="IFederationStore"/> (a SQLite file, or the datacenter tier's PostgreSQL database) together with the round's summary in one transaction, and published to the model
/// registry, which rolls it out to the edges. After a failover the new coordinator resumes from the last committed round
/// with a new attempt number; updates addressed to an older attempt are ignored, and the store refuses a second commit
/// of a round, so no update is applied twice. Every store call runs off the mailbox; a failed one (the database briefly
/// unreachable) is logged and retried with backoff: the initial load, an attempt's record, a round's commit (the same
/// result again: the store's primary key makes a commit that did land refuse the retry, which then reloads).
/// Federated k-means and GBDT jobs run under the <see cref="JobHost"/> child (<see cref="JobRunner"/>; durable, resumed after a failover).
/// The server optimiser state (FedAvgM/FedAdam/FedYogi moments, SCAFFOLD's control variate) is committed with each round
/// (<see cref="ServerState"/>) and loaded again on resume.
/// </summary>
public sealed partial class RoundCoordinator : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    public const string Name = "federated-coordinator";
    public const int MaxAttemptsPerRound = 10;
    /// <summary>How long a publish waits for the registry (it validates the model with ONNX Runtime first).</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(2);

    // ---------------------------------------------------------------- internal messages
    private sealed record Loaded(StoredExperiment? Running, string? Error);
    private sealed record Created(IActorRef ReplyTo, ExperimentSpec Spec, float[] Initial, string? Error, double? ActiveValidation = null);
    private sealed record AttemptStarted(string Id, int Round, int Attempt, string[] Clients);
    private sealed record RoundDeadline(string Id, int Round, int Attempt);
    private sealed record KeysDeadline(string Id, int Round, int Attempt);
    private sealed record RevealDeadline(string Id, int Round, int Attempt);
    private sealed record Committed(string Id, RoundSummary Summary, float[] Global, bool Ok, byte[]? Onnx, string? Error)
    {
        public bool Finished { get; init; }
        public int Try { get; init; } = 1;
    }
    private sealed record StatusLoaded(IActorRef ReplyTo, string Id, StoredExperiment? Experiment);
    private sealed record VersionSaved;
    /// <summary>Read the running experiment again at start (the <c>Attempt</c>-th try) after the store failed.</summary>
    private sealed record LoadRunning(int Attempt);
    private sealed record AttemptFailed(string Id, int Attempt, string Error);
    /// <summary>Record experiment <c>Id</c> as failed again (the <c>Try</c>-th time) after the store failed: else a failover would resume it.</summary>
    private sealed record StoreFail(string Id, string Reason, int Try)
    {
        public string Error { get; init; } = "";
    }
    /// <summary>Commit the same round result again (the <c>Try</c>-th time) after the store failed.</summary>
    private sealed record RetryCommit(string Id, RoundSummary Summary, float[] Global, byte[]? Onnx, bool Finished, int Try);
    /// <summary>Read experiment <c>Id</c> again from the store (the <c>Attempt</c>-th try) after a commit another coordinator won.</summary>
    private sealed record Reload(string Id, int Attempt);
    private sealed record ReloadFailed(string Id, int Attempt, string Error);
    private sealed record Sweep
    {
        public static readonly Sweep Instance = new();
    }
    /// <summary>For tests: replies how many publishes to the registry wait for their answer (an int).</summary>
    internal sealed record GetPendingPublishes : INoSerializationVerificationNeeded
    {
        public static readonly GetPendingPublishes Instance = new();
    }

    private sealed record TryStartRound(string Id)
    {
        public static TryStartRound For(string id) => new(id);
    }

    private sealed class Participant(IActorRef worker, string node, ClientInfo[] clients)
    {
        public IActorRef Worker { get; } = worker;
        public string Node { get; set; } = node;
        public ClientInfo[] Clients { get; set; } = clients;
        public DateTime LastSeen { get; set; } = DateTime.UtcNow;
    }

    private sealed class Run(ExperimentSpec spec, AggregationStrategy strategy, int round, int attempt, float[] global, List<RoundSummary> history)
    {
        public ExperimentSpec Spec { get; } = spec;
        public AggregationStrategy Strategy { get; } = strategy;
        public int Round { get; set; } = round;       // last committed round
        public int Attempt { get; set; } = attempt;   // last attempt started (grows across failovers)
        public float[] Global { get; set; } = global;
        public List<RoundSummary> History { get; } = history;
        public RunState State { get; set; } = RunState.Running;
        public string Detail { get; set; } = "";
        public int AttemptsThisRound { get; set; }
        public long RoundStartedAt { get; set; } // Stopwatch timestamp of this round's first attempt (0: none yet)
        /// <summary>Applies each round's aggregate (FedAvg: x + η·Δ; FedAvgM, FedAdam, FedYogi keep moments here).</summary>
        public ServerOptimizer Optimizer { get; } = new(Aggregators.ServerOptimizerOf(strategy), global.Length,
            new ServerOptimizerOptions(spec.ServerLearningRate, spec.ServerBeta1, spec.ServerBeta2, spec.ServerTau));
        /// <summary>SCAFFOLD's server control variate c (null for other strategies).</summary>
        public float[]? Control { get; } = strategy == AggregationStrategy.Scaffold ? new float[global.Length] : null;
        /// <summary>Central DP: the privacy spent so far (rebuilt from the history after a failover).</summary>
        public RdpAccountant Accountant { get; } = Restore(spec, history);
        /// <summary>The publish gate's reference: the validation accuracy of the last published round (null: none yet).</summary>
        public double? ActiveValidation { get; set; } = history.LastOrDefault(h => h.Published && !double.IsNaN(h.ValidationAccuracy))?.ValidationAccuracy;

        private static RdpAccountant Restore(ExperimentSpec spec, List<RoundSummary> history)
        {
            var accountant = new RdpAccountant();
            if (spec.NoiseMultiplier > 0)
                foreach (var h in history.Where(h => h.SamplingRate > 0)) accountant.Compose(h.SamplingRate, spec.NoiseMultiplier);
            return accountant;
        }
    }

    private enum Phase { Keys, Sharing, Training, Revealing, Committing }

    private sealed class RoundState(int round, int attempt, Dictionary<string, IActorRef> sampled, int dimension)
    {
        public int Round { get; } = round;
        public int Attempt { get; } = attempt;
        public Dictionary<string, IActorRef> Sampled { get; } = sampled;
        public HashSet<string> Received { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, string> Dropped { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, byte[]> Keys { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Revealed { get; } = new(StringComparer.Ordinal);
        public IUpdateAggregator? Aggregator { get; set; }
        public FedNovaAggregator? Nova { get; set; }
        /// <summary>SCAFFOLD: Σ Δcᵢ of the accepted updates and how many.</summary>
        public float[]? ControlSum { get; set; }
        public int ControlCount { get; set; }
        /// <summary>Clients available when the round sampled (SCAFFOLD's N, DP's sampling rate denominator).</summary>
        public int Available { get; set; }
        public SecAggAccumulator? Masked { get; set; }
        /// <summary>Secure aggregation: this attempt's keys, routed shares and unmasking (RoundCoordinator.SecAgg.cs).</summary>
        public SecAggServer? SecAgg { get; set; }
        public double WeightSum { get; set; }
        public double LossSum { get; set; }
        public int Late { get; set; }
        public List<double> Norms { get; } = [];
        public Stopwatch Watch { get; } = Stopwatch.StartNew();
        public Phase Phase { get; set; } = Phase.Training;
        public int Dimension { get; } = dimension;
        public int PendingReveals { get; set; }

        public IEnumerable<string> Participants => Phase is Phase.Keys or Phase.Sharing ? Sampled.Keys : Keys.Count > 0 ? Keys.Keys : Sampled.Keys;
        public bool AllAnswered => Participants.All(c => Received.Contains(c) || Dropped.ContainsKey(c));
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly FederationSettings _settings;
    private readonly IFederationStore _store;
    private int _storeFailures;
    private readonly Lazy<EvaluationSet?> _eval;
    private readonly IActorRef? _registry;
    private readonly SecAggCredentials? _secAgg;
    private readonly Dictionary<IActorRef, Participant> _participants = new();
    /// <summary>Publishes waiting for the registry's answer, by a key of their own (answered, refused or timed out: removed).</summary>
    private readonly Dictionary<long, (string Id, int Round)> _publishing = new();
    private long _publishKey;
    private IActorRef _jobHost = ActorRefs.Nobody;
    private Run? _run;
    private RoundState? _round;

    public ITimerScheduler Timers { get; set; } = null!;
    public IStash Stash { get; set; } = null!;

    public RoundCoordinator(FederationSettings settings, IFederationStore store, Func<EvaluationSet?> evaluation, IActorRef? registry,
        SecAggCredentials? secAgg = null)
    {
        _secAgg = secAgg;
        _settings = settings;
        _store = store;
        _eval = new Lazy<EvaluationSet?>(evaluation, LazyThreadSafetyMode.ExecutionAndPublication);
        _registry = registry;
        Become(Loading);
    }

    /// <summary><paramref name="secAgg"/>: the deployment CA round keys are checked against (none: secure aggregation is refused).</summary>
    public static Props Props(FederationSettings settings, IFederationStore store, Func<EvaluationSet?> evaluation, IActorRef? registry,
        SecAggCredentials? secAgg = null) =>
        Akka.Actor.Props.Create(() => new RoundCoordinator(settings, store, evaluation, registry, secAgg));

    protected override void PostStop()
    {
        Observability.ClusterMetrics.Singleton(Name, ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString(), up: false);
        base.PostStop();
    }

    protected override void PreStart()
    {
        Observability.ClusterMetrics.Singleton(Name, ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString(), up: true);
        if (_store is FederationStore sqlite) Observability.ResourceMetrics.Track("federation", sqlite.DatabasePath); // PostgreSQL: no local file
        LoadRunningExperiment();
        _jobHost = Context.ActorOf(JobHost.Props(_store, _settings, _registry, () => _eval.Value), "jobs"); // resumes the stored running jobs
        Timers.StartPeriodicTimer("sweep", Sweep.Instance, _settings.HeartbeatInterval);
    }

    private void LoadRunningExperiment()
    {
        var store = _store;
        Task.Run(async () =>
            {
                var running = await store.RunningAsync();
                return new Loaded(running.Length > 0 ? await store.LoadAsync(running[0]) : null, null);
            })
            .PipeTo(Self, failure: ex => new Loaded(null, ex.GetBaseException().Message));
    }

    private void Loading()
    {
        Receive<Loaded>(l =>
        {
            if (l.Error is not null)
            {
                // a running experiment must not be forgotten because the database was briefly unreachable: try again
                var delay = ReloadBackoff(++_storeFailures);
                _log.Error("Federated coordinator: cannot read {0}: {1}; retrying in {2}", _store.Location, l.Error, delay);
                Timers.StartSingleTimer("load", new LoadRunning(_storeFailures), delay);
                return;
            }
            _storeFailures = 0;
            if (l.Running is { } e && e.State == RunState.Running.Wire())
            {
                try
                {
                    _run = new Run(e.Spec, Aggregators.Parse(e.Spec.Strategy), e.Round, e.Attempt, e.Global, e.History.ToList());
                    ServerState.Restore(e.ServerState, _run.Optimizer, _run.Control); // momentum/moments/control variate of the last committed round
                    _log.Info("Federated coordinator: resuming experiment {0} after round {1} (attempt {2} was the last started); waiting {3} for edges",
                        e.Spec.Id, e.Round, e.Attempt, _settings.ResumeGrace);
                    _run.Detail = $"resumed after round {e.Round}";
                    Timers.StartSingleTimer("resume", TryStartRound.For(e.Spec.Id), _settings.ResumeGrace);
                }
                catch (Exception ex)
                {
                    _log.Error("Federated coordinator: cannot resume experiment {0}: {1}", e.Spec.Id, ex.Message);
                }
            }
            _log.Info("Federated coordinator started (state in {0})", _store.Location);
            Become(Active);
            Stash.UnstashAll();
        });
        Receive<ReloadFailed>(f =>
        {
            var delay = ReloadBackoff(f.Attempt);
            _log.Warning("Federated coordinator: cannot reload experiment {0} from {1} after a lost commit (try {2}): {3}; retrying in {4}",
                f.Id, _store.Location, f.Attempt, f.Error, delay);
            Timers.StartSingleTimer("reload", new Reload(f.Id, f.Attempt + 1), delay);
        });
        Receive<Reload>(r => StartReload(r.Id, r.Attempt));
        Receive<LoadRunning>(_ => LoadRunningExperiment());
        Receive<ParticipantHeartbeat>(OnHeartbeat);
        Receive<Sweep>(_ => { });
        ReceiveAny(_ => Stash.Stash());
    }

    private void Active()
    {
        Receive<ParticipantHeartbeat>(OnHeartbeat);
        Receive<Sweep>(_ => OnSweep());
        Receive<Terminated>(t => RemoveParticipant(t.ActorRef, "its node left the cluster"));
        Receive<GetFederationStatus>(_ => Sender.Tell(new FederationStatus(
            _participants.Values.OrderBy(p => p.Node, StringComparer.Ordinal)
                .Select(p => new ParticipantInfo(p.Node, p.Clients, (long)(DateTime.UtcNow - p.LastSeen).TotalMilliseconds)).ToArray(),
            _run is { State: RunState.Running } r ? r.Spec.Id : "")));
        Receive<StartExperiment>(OnStart);
        Receive<Created>(OnCreated);
        Receive<GetExperimentStatus>(OnStatus);
        Receive<StatusLoaded>(l => l.ReplyTo.Tell(l.Experiment is { } e
            ? new ExperimentStatus(e.Spec.Id, e.State, e.Round, e.Spec.Rounds, e.Attempt, e.Detail, e.History)
            : new ExperimentStatus(l.Id, "unknown", 0, 0, 0, $"no experiment '{l.Id}'", [])));
        Receive<TryStartRound>(t =>
        {
            if (_run is { State: RunState.Running } r && r.Spec.Id == t.Id && _round is null) StartRound();
        });
        Receive<AttemptStarted>(OnAttemptStarted);
        Receive<SecAggKeys>(OnSecAggKeys);
        Receive<SecAggShares>(OnSecAggShares);
        Receive<KeysDeadline>(d =>
        {
            if (!IsCurrent(d.Id, d.Round, d.Attempt)) return;
            if (_round!.Phase == Phase.Keys) SendShareRequests();
            else if (_round.Phase == Phase.Sharing) SendTraining();
        });
        Receive<ClientUpdate>(OnUpdate);
        Receive<MaskedClientUpdate>(OnMasked);
        Receive<ClientFailed>(f =>
        {
            if (!IsCurrent(f.ExperimentId, f.Round, f.Attempt) || _round!.Received.Contains(f.ClientId)) return;
            _log.Warning("Federated round {0}: client {1} failed: {2}", f.Round, f.ClientId, f.Reason);
            Drop(_round, f.ClientId, f.Reason, "failed");
            CheckComplete();
        });
        Receive<RoundDeadline>(d =>
        {
            if (!IsCurrent(d.Id, d.Round, d.Attempt) || _round!.Phase is Phase.Committing or Phase.Revealing) return;
            foreach (var c in _round.Participants.Where(c => !_round.Received.Contains(c)).ToList())
                Drop(_round, c, "no update before the round deadline", "timeout");
            Finish();
        });
        Receive<SecAggUnmaskShares>(OnUnmaskShares);
        Receive<RevealDeadline>(d =>
        {
            if (IsCurrent(d.Id, d.Round, d.Attempt) && _round!.Phase == Phase.Revealing)
                Restart("survivors did not reveal their masks with the dropped clients in time");
        });
        Receive<Committed>(OnCommitted);
        Receive<RetryCommit>(r =>
        {
            if (_run is { State: RunState.Running } run && run.Spec.Id == r.Id && _round is { Phase: Phase.Committing } s && s.Round == r.Summary.Round)
                Commit(r.Id, r.Summary, r.Global, r.Onnx, r.Finished, r.Try);
        });
        Receive<StoreFail>(f =>
        {
            if (f.Try > 0)
            {
                StoreFailure(f); // the retry timer fired
                return;
            }
            var delay = ReloadBackoff(-f.Try);
            _log.Error("Federated coordinator: cannot record experiment {0} as failed: {1}; retrying in {2}", f.Id, f.Error, delay);
            Timers.StartSingleTimer("fail-" + f.Id, f with { Try = -f.Try }, delay);
        });
        Receive<AttemptFailed>(f =>
        {
            if (_run is not { State: RunState.Running } run || run.Spec.Id != f.Id || run.Attempt != f.Attempt) return;
            var delay = ReloadBackoff(++_storeFailures);
            _log.Error("Federated coordinator: cannot record attempt {0} of {1}: {2}; retrying in {3}", f.Attempt, f.Id, f.Error, delay);
            Timers.StartSingleTimer("start-round", TryStartRound.For(f.Id), delay);
        });
        Receive<PublishRequest.Answered>(OnPublishAnswered);
        Receive<VersionSaved>(_ => { });
        Receive<GetPendingPublishes>(_ => Sender.Tell(_publishing.Count));
        // k-means and GBDT jobs: the JobHost child (durable, resumed after a failover)
        Receive<StartKMeans>(k => _jobHost.Forward(StartJob(k)));
        Receive<StartGbdt>(g => _jobHost.Forward(StartJob(g)));
        Receive<GetJobStatus>(q => _jobHost.Forward(q));
        Receive<JobStepReply>(r => _jobHost.Forward(r));
        Receive<JobRunner.WorkersQuery>(_ =>
        {
            var workers = _participants.Values.OrderBy(p => p.LastSeen).ToArray(); // the newest worker of a node last
            Sender.Tell(new JobRunner.Workers(workers.Select(p => p.Worker).ToArray(), workers.Select(p => p.Node).ToArray()));
        });
    }

    // ---------------------------------------------------------------- participants

    private void OnHeartbeat(ParticipantHeartbeat h)
    {
        if (!_participants.TryGetValue(Sender, out var p))
        {
            _participants[Sender] = p = new Participant(Sender, h.Node, h.Clients);
            Context.Watch(Sender);
            _log.Info("Federated coordinator: worker on {0} joined with {1} clients ({2} samples)", h.Node, h.Clients.Length, h.Clients.Sum(c => (long)c.Samples));
        }
        p.Node = h.Node;
        p.Clients = h.Clients;
        p.LastSeen = DateTime.UtcNow;
    }

    private void OnSweep()
    {
        var now = DateTime.UtcNow;
        foreach (var p in _participants.Values.Where(p => now - p.LastSeen > _settings.ParticipantTimeout).ToList())
            RemoveParticipant(p.Worker, $"no heartbeat for {(now - p.LastSeen).TotalSeconds:F0} s");
    }

    private void RemoveParticipant(IActorRef worker, string reason)
    {
        if (!_participants.Remove(worker, out var p)) return;
        Context.Unwatch(worker);
        _log.Warning("Federated coordinator: worker on {0} removed: {1}", p.Node, reason);
        if (_round is null) return;
        foreach (var (client, w) in _round.Sampled)
            if (w.Equals(worker) && !_round.Received.Contains(client))
                Drop(_round, client, $"dropped: worker on {p.Node} {reason}", "left");
        if (_round.Phase == Phase.Revealing)
        {
            Restart($"a survivor's worker ({p.Node}) left during mask recovery");
            return;
        }
        CheckComplete();
    }

    private Dictionary<string, (IActorRef Worker, int Samples)> AvailableClients()
    {
        var result = new Dictionary<string, (IActorRef, int)>(StringComparer.Ordinal);
        foreach (var p in _participants.Values.OrderBy(p => p.Node, StringComparer.Ordinal))
        foreach (var c in p.Clients)
            result.TryAdd(c.ClientId, (p.Worker, c.Samples));
        return result;
    }

    // ---------------------------------------------------------------- experiments

    /// <summary>Why <paramref name="spec"/> cannot run, or null (<see cref="ExperimentSpecValidator.Problem"/>).</summary>
    public static string? Validate(ExperimentSpec spec) => ExperimentSpecValidator.Problem(spec);

    private void OnStart(StartExperiment start)
    {
        var spec = start.Spec;
        var problem = Validate(spec);
        if (problem is null && spec.SecureAggregation && _secAgg is null) problem = SecAggCredentials.Missing;
        if (problem is null && _run is { State: RunState.Running } r)
            problem = r.Spec.Id == spec.Id ? $"experiment {spec.Id} is already running (round {r.Round + 1})" : $"experiment {r.Spec.Id} is running; one at a time";
        if (problem is not null)
        {
            _log.Warning("Federated coordinator: experiment {0} refused: {1}", spec.Id, problem);
            Sender.Tell(new ExperimentRejected(spec.Id, problem));
            return;
        }
        var replyTo = Sender;
        var store = _store;
        Task.Run(async () =>
            {
                var initial = FederatedModel.Create(spec.Model, spec.Seed).Parameters;
                // the publish gate compares with what the edges serve now: the newest round published under this name
                var active = await store.LastPublishedValidationAsync(spec.PublishAs);
                return await store.CreateAsync(spec, initial)
                    ? new Created(replyTo, spec, initial, null, active)
                    : new Created(replyTo, spec, initial, $"experiment id '{spec.Id}' was used before; pick a new id");
            })
            .PipeTo(Self, failure: ex => new Created(replyTo, spec, [], "cannot store the experiment: " + ex.GetBaseException().Message));
    }

    private void OnCreated(Created c)
    {
        if (c.Error is not null || _run is { State: RunState.Running })
        {
            c.ReplyTo.Tell(new ExperimentRejected(c.Spec.Id, c.Error ?? "another experiment started meanwhile"));
            return;
        }
        _run = new Run(c.Spec, Aggregators.Parse(c.Spec.Strategy), 0, 0, c.Initial, []) { ActiveValidation = c.ActiveValidation };
        _round = null;
        var available = AvailableClients().Count;
        _log.Info("Federated coordinator: experiment {0} started: {1}, {2}, {3} rounds, {4} clients available", c.Spec.Id, c.Spec.Model, c.Spec.Strategy, c.Spec.Rounds, available);
        c.ReplyTo.Tell(new ExperimentAccepted(c.Spec.Id, available));
        StartRound();
    }

    private void OnStatus(GetExperimentStatus q)
    {
        if (_run is { } r && r.Spec.Id == q.Id)
        {
            Sender.Tell(new ExperimentStatus(r.Spec.Id, r.State.Wire(), r.Round, r.Spec.Rounds, r.Attempt, r.Detail, r.History.ToArray()));
            return;
        }
        var replyTo = Sender;
        var store = _store;
        Task.Run(async () => new StatusLoaded(replyTo, q.Id, await store.LoadAsync(q.Id))).PipeTo(Self, failure: _ => new StatusLoaded(replyTo, q.Id, null));
    }

    // ---------------------------------------------------------------- rounds

    /// <summary>Marks <paramref name="client"/> dropped from round <paramref name="s"/> (once) and counts it under <paramref name="label"/>.</summary>
    private static void Drop(RoundState s, string client, string reason, string label)
    {
        if (s.Dropped.TryAdd(client, reason)) Observability.FederatedMetrics.Dropped(label);
    }

    private bool IsCurrent(string id, int round, int attempt) =>
        _run is { State: RunState.Running } r && r.Spec.Id == id && _round is { } s && s.Round == round && s.Attempt == attempt;

    private void StartRound()
    {
        var run = _run!;
        _round = null;
        var available = AvailableClients();
        if (available.Count < run.Spec.MinClients)
        {
            run.Detail = $"waiting for clients: {available.Count} available, at least {run.Spec.MinClients} needed";
            Timers.StartSingleTimer("start-round", TryStartRound.For(run.Spec.Id), TimeSpan.FromSeconds(1));
            return;
        }
        var round = run.Round + 1;
        var attempt = run.Attempt + 1;
        var want = Math.Min(available.Count, Math.Max(run.Spec.MinClients, (int)Math.Ceiling(run.Spec.Fraction * available.Count)));
        var ids = available.Keys.Order(StringComparer.Ordinal).ToArray();
        new Random(unchecked(run.Spec.Seed * 1_000_003 + round * 7_919 + attempt)).Shuffle(ids);
        var sampled = ids.Take(want).Order(StringComparer.Ordinal).ToArray();
        run.Attempt = attempt;
        var store = _store;
        var id = run.Spec.Id;
        Task.Run(async () =>
            {
                await store.StartAttemptAsync(id, attempt);
                return new AttemptStarted(id, round, attempt, sampled);
            })
            .PipeTo(Self, failure: ex => new AttemptFailed(id, attempt, ex.GetBaseException().Message));
    }

    private void OnAttemptStarted(AttemptStarted a)
    {
        if (_run is not { State: RunState.Running } run || run.Spec.Id != a.Id || run.Attempt != a.Attempt) return;
        _storeFailures = 0;
        var available = AvailableClients();
        var sampled = a.Clients.Where(available.ContainsKey).ToDictionary(c => c, c => available[c].Worker, StringComparer.Ordinal);
        if (sampled.Count == 0)
        {
            StartRound();
            return;
        }
        var spec = run.Spec;
        var rate = (double)sampled.Count / Math.Max(available.Count, sampled.Count);
        if (spec.NoiseMultiplier > 0 && spec.EpsilonBudget > 0)
        {
            var next = run.Accountant.EpsilonAfter(rate, spec.NoiseMultiplier, 1, spec.Delta);
            if (next > spec.EpsilonBudget)
            {
                StopForBudget(run, a.Round, next);
                return;
            }
        }
        var state = new RoundState(a.Round, a.Attempt, sampled, run.Global.Length) { Available = Math.Max(available.Count, sampled.Count) };
        _round = state;
        if (run.AttemptsThisRound == 0 || run.RoundStartedAt == 0) run.RoundStartedAt = Stopwatch.GetTimestamp();
        run.AttemptsThisRound++;
        Observability.FederatedMetrics.AttemptStarted(a.Attempt);
        run.Detail = $"round {a.Round} attempt {a.Attempt}: {sampled.Count} clients";
        if (run.Spec.SecureAggregation)
        {
            state.Phase = Phase.Keys;
            state.SecAgg = new SecAggServer(SecAggPlus.Context(run.Spec.Id, a.Round, a.Attempt), state.Dimension);
            foreach (var group in sampled.GroupBy(kv => kv.Value))
                group.Key.Tell(new MaskKeyRequest(run.Spec.Id, a.Round, a.Attempt, group.Select(kv => kv.Key).ToArray()));
            Timers.StartSingleTimer("keys", new KeysDeadline(run.Spec.Id, a.Round, a.Attempt), TimeSpan.FromMilliseconds(Math.Max(1000, run.Spec.RoundTimeoutMs / 4)));
        }
        else
        {
            SendTraining();
        }
        Timers.StartSingleTimer("deadline", new RoundDeadline(run.Spec.Id, a.Round, a.Attempt), TimeSpan.FromMilliseconds(run.Spec.RoundTimeoutMs));
    }

    private void SendTraining()
    {
        var run = _run!;
        var s = _round!;
        var spec = run.Spec;
        string[] peers = [];
        byte[][] keys = [];
        if (spec.SecureAggregation)
        {
            Timers.Cancel("keys");
            if (!SecAggMaskingSet(s, out peers, out keys)) return;
        }
        else
        {
            try
            {
                // multi-Krum averages the n − f best-scored updates of those that arrive
                s.Aggregator = Aggregators.Create(run.Strategy, s.Dimension, expectedCount: 0, new AggregatorOptions(spec.TrimFraction, spec.KrumByzantine, 0));
                if (run.Strategy == AggregationStrategy.FedNova) s.Nova = new FedNovaAggregator(s.Dimension);
                if (run.Control is not null) s.ControlSum = new float[s.Dimension];
            }
            catch (ArgumentException ex)
            {
                Fail($"cannot aggregate with {spec.Strategy}: {ex.Message}");
                return;
            }
        }
        s.Phase = Phase.Training;
        var training = new LocalTraining(spec.LocalEpochs, spec.BatchSize, LearningRateOf(spec, s.Round), spec.Momentum, spec.ProximalMu, spec.Seed,
            spec.ClipNorm, spec.PoisonedClients, spec.PoisonScale);
        var participants = spec.SecureAggregation ? peers.ToHashSet(StringComparer.Ordinal) : s.Sampled.Keys.ToHashSet(StringComparer.Ordinal);
        foreach (var group in s.Sampled.Where(kv => participants.Contains(kv.Key)).GroupBy(kv => kv.Value))
            group.Key.Tell(new TrainRound(spec.Id, s.Round, s.Attempt, spec.Model, run.Global, training, group.Select(kv => kv.Key).ToArray(), peers, keys)
            {
                ServerControl = run.Control ?? [],
            });
        _log.Info("Federated round {0} (attempt {1}): training {2} clients on {3} nodes", s.Round, s.Attempt, participants.Count,
            s.Sampled.Where(kv => participants.Contains(kv.Key)).Select(kv => kv.Value).Distinct().Count());
    }

    /// <summary>The local learning rate of round <paramref name="round"/> (from 1): lr·decay^(round−1).</summary>
    internal static float LearningRateOf(ExperimentSpec spec, int round) =>
        (float)(spec.LearningRate * Math.Pow(spec.LearningRateDecay, Math.Max(0, round - 1)));

    private void StopForBudget(Run run, int round, double epsilon)
    {
        run.State = RunState.Done;
        run.Detail = string.Create(CultureInfo.InvariantCulture,
            $"stopped before round {round}: it would spend ε = {epsilon:F3} (δ = {run.Spec.Delta:G3}) > budget {run.Spec.EpsilonBudget:F3}; ε spent after {run.Round} rounds: {run.Accountant.Epsilon(run.Spec.Delta):F3}");
        _log.Info("Federated experiment {0}: {1}", run.Spec.Id, run.Detail);
        var store = _store;
        var id = run.Spec.Id;
        var detail = run.Detail;
        Task.Run(() => store.FinishAsync(id, detail)).PipeTo(Self, success: () => new VersionSaved(), failure: _ => new VersionSaved());
    }

    private int Needed(int sampled) => Math.Max(1, (int)Math.Ceiling(_run!.Spec.Quorum * sampled - 1e-9));

    private double Weight(int samples) => _run!.Spec.ClipNorm > 0 ? 1.0 : samples;

    private void OnUpdate(ClientUpdate u)
    {
        var run = _run;
        if (run is not { State: RunState.Running } || run.Spec.Id != u.ExperimentId) return;
        if (_round is not { Phase: Phase.Training, Aggregator: { } agg } s)
        {
            Observability.FederatedMetrics.Dropped("late"); // no round is taking updates (between rounds, or this one finished)
            return;
        }
        if (u.Round == s.Round && u.Attempt == s.Attempt)
        {
            if (!s.Sampled.ContainsKey(u.ClientId) || s.Received.Contains(u.ClientId) || s.Dropped.ContainsKey(u.ClientId)) return;
            if (!Accept(u, s, agg, 1.0)) Drop(s, u.ClientId, "malformed update", "malformed");
            else s.Received.Add(u.ClientId);
            CheckComplete();
            return;
        }
        // late: an update trained from an older global model (earlier round, or an earlier attempt of this round)
        var staleness = s.Round - u.Round;
        if (run.Spec.LateUpdates != "fold" || staleness < 0 || staleness > run.Spec.MaxStaleness || s.Received.Contains(u.ClientId))
        {
            if (staleness >= 0) Observability.FederatedMetrics.Dropped("late");
            return;
        }
        if (!Accept(u, s, agg, 1.0 / Math.Sqrt(1 + staleness))) Observability.FederatedMetrics.Dropped("malformed");
        else
        {
            s.Late++;
            _log.Info("Federated round {0}: folded a late update of {1} from round {2} (staleness {3})", s.Round, u.ClientId, u.Round, staleness);
        }
    }

    private bool Accept(ClientUpdate u, RoundState s, IUpdateAggregator agg, double staleWeight)
    {
        if (u.Delta.Length != s.Dimension || u.Samples < 1)
        {
            _log.Warning("Federated round {0}: update of {1} refused: {2} values for a model of {3}, {4} samples", s.Round, u.ClientId, u.Delta.Length, s.Dimension, u.Samples);
            return false;
        }
        var norm = DifferentialPrivacy.L2Norm(u.Delta);
        if (!double.IsFinite(norm))
        {
            _log.Warning("Federated round {0}: update of {1} refused: it holds NaN or infinite values", s.Round, u.ClientId);
            return false;
        }
        s.Norms.Add(norm);
        if (_run!.Spec.ClipNorm > 0) DifferentialPrivacy.ClipL2(u.Delta, _run.Spec.ClipNorm);
        var w = Weight(u.Samples) * staleWeight;
        if (s.ControlSum is { } controls)
        {
            if (u.ControlDelta.Length != s.Dimension || !TensorPrimitives.IsFiniteAll(u.ControlDelta))
            {
                _log.Warning("Federated round {0}: SCAFFOLD update of {1} refused: its control delta has {2} values for a model of {3} (or non-finite ones)", s.Round, u.ClientId, u.ControlDelta.Length, s.Dimension);
                return false;
            }
        }
        if (s.Nova is { } nova)
        {
            var steps = u.LocalSteps > 0 ? u.LocalSteps : FedNova.LocalSteps(u.Samples, _run.Spec.LocalEpochs, _run.Spec.BatchSize);
            nova.Add(u.Delta, _run.Spec.ClipNorm > 0 ? 1 : u.Samples, FedNova.StepNorm(Math.Max(1, steps), _run.Spec.Momentum));
        }
        agg.Add(u.Delta, w);
        if (s.ControlSum is { } sum)
        {
            TensorPrimitives.Add(sum, u.ControlDelta, sum);
            s.ControlCount++;
        }
        s.WeightSum += w;
        s.LossSum += u.Loss * w;
        return true;
    }

    private void OnMasked(MaskedClientUpdate u)
    {
        if (!IsCurrent(u.ExperimentId, u.Round, u.Attempt) || _round is not { Phase: Phase.Training, Masked: { } acc } s) return;
        if (!s.Keys.ContainsKey(u.ClientId) || s.Received.Contains(u.ClientId) || s.Dropped.ContainsKey(u.ClientId)) return;
        if (u.Masked.Length != s.Dimension || u.Samples < 1)
        {
            Drop(s, u.ClientId, "malformed masked update", "malformed");
        }
        else
        {
            acc.Add(u.Masked);
            var w = Weight(u.Samples);
            s.WeightSum += w;
            s.LossSum += u.Loss * w;
            s.Received.Add(u.ClientId);
        }
        CheckComplete();
    }

    private void CheckComplete()
    {
        if (_round is { Phase: Phase.Training } s && s.AllAnswered) Finish();
        else if (_round is { Phase: Phase.Keys } k && k.Sampled.Keys.All(c => k.SecAgg!.Keys.ContainsKey(c) || k.Dropped.ContainsKey(c))) SendShareRequests();
        else if (_round is { Phase: Phase.Sharing } h && SharingComplete(h)) SendTraining();
    }

    private void Finish()
    {
        var s = _round!;
        Timers.Cancel("deadline");
        var participants = s.Participants.Count();
        var needed = Needed(s.Sampled.Count);
        if (s.Received.Count < needed)
        {
            Restart($"quorum not reached: {s.Received.Count} of {s.Sampled.Count} sampled clients replied, {needed} needed ({string.Join("; ", s.Dropped.Select(kv => kv.Key + ": " + kv.Value).Take(5))})");
            return;
        }
        if (s.Masked is not null)
        {
            StartUnmasking(s); // self-masks come off even when no client dropped
            return;
        }
        Aggregate(participants);
    }

    private void Restart(string reason)
    {
        var run = _run!;
        var s = _round!;
        Timers.Cancel("deadline");
        Timers.Cancel("keys");
        Timers.Cancel("reveal");
        s.Aggregator?.Dispose();
        _round = null;
        if (run.AttemptsThisRound >= MaxAttemptsPerRound)
        {
            Fail($"round {s.Round} failed {run.AttemptsThisRound} times; last: {reason}");
            return;
        }
        _log.Warning("Federated round {0} attempt {1} restarts: {2}", s.Round, s.Attempt, reason);
        run.Detail = $"round {s.Round} restarted: {reason}";
        StartRound();
    }

    private void Fail(string reason)
    {
        var run = _run!;
        run.State = RunState.Failed;
        run.Detail = reason;
        _log.Error("Federated experiment {0} failed: {1}", run.Spec.Id, reason);
        StoreFailure(new StoreFail(run.Spec.Id, reason, 1));
    }

    private void StoreFailure(StoreFail f)
    {
        var store = _store;
        Task.Run(() => store.FailAsync(f.Id, f.Reason)).PipeTo(Self, success: () => new VersionSaved(), failure: ex =>
            new StoreFail(f.Id, f.Reason, -(f.Try + 1)) { Error = ex.GetBaseException().Message });
    }

    private void Aggregate(int participants)
    {
        var run = _run!;
        var s = _round!;
        s.Phase = Phase.Committing;
        var spec = run.Spec;
        var mean = new float[s.Dimension];
        if (s.Masked is { } acc)
        {
            acc.Decode(mean);
            TensorPrimitives.Divide(mean, (float)s.WeightSum, mean);
        }
        else
        {
            try
            {
                if (s.Nova is { } nova) nova.Complete(mean);
                else s.Aggregator!.Complete(mean);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // e.g. Krum with fewer than 2f + 3 updates after drop-outs: this attempt cannot be aggregated
                Restart($"{spec.Strategy} cannot aggregate {s.Received.Count + s.Late} updates: {ex.Message}");
                return;
            }
            finally
            {
                s.Aggregator?.Dispose();
                s.Aggregator = null;
            }
        }
        var count = s.Received.Count + s.Late;
        double epsilon = 0, roundEpsilon = 0, rate = 0;
        if (spec.NoiseMultiplier > 0)
        {
            // central DP: noise of std z·C on the sum of clipped updates, i.e. z·C/m on their (uniform) mean
            var rng = new Random(unchecked(spec.Seed * 31 + s.Round * 17 + s.Attempt));
            DifferentialPrivacy.AddGaussianNoise(mean, spec.NoiseMultiplier * spec.ClipNorm / Math.Max(1, count), rng);
            // one release of the sampled Gaussian mechanism per round; the unit of privacy is a client
            rate = (double)s.Sampled.Count / Math.Max(s.Available, s.Sampled.Count);
            run.Accountant.Compose(rate, spec.NoiseMultiplier);
            epsilon = run.Accountant.Epsilon(spec.Delta);
            var single = new RdpAccountant();
            single.Compose(rate, spec.NoiseMultiplier);
            roundEpsilon = single.Epsilon(spec.Delta);
        }
        var global = (float[])run.Global.Clone();
        run.Optimizer.Step(global, mean);
        if (run.Control is { } control && s.ControlSum is { } controls && s.ControlCount > 0)
        {
            TensorPrimitives.Divide(controls, s.ControlCount, controls);
            Scaffold.ServerControl(control, controls, Math.Min(s.ControlCount, s.Available), Math.Max(1, s.Available));
        }
        var norms = s.Norms.Order().ToList();
        var summary = new RoundSummary(s.Round, s.Attempt, 0, 0, s.Sampled.Count, s.Received.Count, s.Sampled.Count - s.Received.Count, s.Late,
            s.Watch.Elapsed.TotalSeconds, norms.Count > 0 ? norms[norms.Count / 2] : 0, 0, s.Received.Order(StringComparer.Ordinal).ToArray())
        {
            Epsilon = epsilon,
            RoundEpsilon = roundEpsilon,
            SamplingRate = rate,
        };
        var active = run.ActiveValidation;
        var trainLoss = s.WeightSum > 0 ? s.LossSum / s.WeightSum : 0;
        var store = _store;
        var eval = _eval;
        var limit = _settings.EvalLimit;
        var finished = s.Round >= spec.Rounds;
        Task.Run(() =>
            {
                var model = FederatedModel.FromParameters(spec.Model, global);
                var (accuracy, loss) = eval.Value is { } data ? FederatedModel.Evaluate(model, data, limit) : (double.NaN, trainLoss);
                var validation = eval.Value?.Validation is { } v ? FederatedModel.Evaluate(model, v).Accuracy : double.NaN;
                var gate = Gate(spec, validation, active, eval.Value?.Validation is not null);
                var done = summary with { Accuracy = accuracy, Loss = loss, ValidationAccuracy = validation, Published = gate.Publish, PublishReason = gate.Reason };
                var onnx = gate.Publish ? model.ExportOnnx("federated_" + spec.Id.Replace('-', '_')) : null;
                return new RetryCommit(spec.Id, done, global, onnx, finished, 1);
            })
            .PipeTo(Self, failure: ex => new Committed(spec.Id, summary, global, false, null, ex.GetBaseException().Message));
    }

    /// <summary>Commits a scored round result (the <paramref name="attempt"/>-th try); the outcome comes back as <see cref="Committed"/>.</summary>
    private void Commit(string id, RoundSummary summary, float[] global, byte[]? onnx, bool finished, int attempt)
    {
        var store = _store;
        var serverState = _run is { } run && run.Spec.Id == id ? ServerState.Encode(run.Optimizer, run.Control) : null; // after this round's step
        Task.Run(async () => new Committed(id, summary, global, await store.CommitRoundAsync(id, summary, global, finished, serverState), onnx, null)
                { Finished = finished, Try = attempt })
            .PipeTo(Self, failure: ex => new Committed(id, summary, global, false, onnx, "store: " + ex.GetBaseException().Message)
                { Finished = finished, Try = attempt });
    }

    private void OnCommitted(Committed c)
    {
        if (_run is not { State: RunState.Running } run || run.Spec.Id != c.Id || _round is not { Phase: Phase.Committing } s || s.Round != c.Summary.Round) return;
        if (c.Error is { } storeError && storeError.StartsWith("store: ", StringComparison.Ordinal))
        {
            // the store failed (e.g. the database is briefly unreachable): the same result again after a pause, the
            // round stays in its commit phase; a commit that landed although its answer was lost is refused, then reloaded
            var delay = ReloadBackoff(c.Try);
            _log.Error("Federated round {0}: commit failed (try {1}): {2}; retrying in {3}", c.Summary.Round, c.Try, storeError, delay);
            Timers.StartSingleTimer("commit", new RetryCommit(c.Id, c.Summary, c.Global, c.Onnx, c.Finished, c.Try + 1), delay);
            return;
        }
        _storeFailures = 0;
        _round = null;
        if (!c.Ok)
        {
            var why = c.Error ?? "the store already holds this round (another coordinator committed it)";
            _log.Error("Federated round {0}: not committed: {1}", c.Summary.Round, why);
            if (c.Error is not null)
            {
                RetryRoundOrFail(run, why);
                return;
            }
            // someone else committed this round: reload the committed state instead of applying ours
            StartReload(run.Spec.Id, 1);
            Become(Loading);
            _run = null;
            return;
        }
        run.Round = c.Summary.Round;
        run.Global = c.Global;
        run.History.Add(c.Summary);
        run.AttemptsThisRound = 0;
        if (c.Summary.Published && !double.IsNaN(c.Summary.ValidationAccuracy)) run.ActiveValidation = c.Summary.ValidationAccuracy;
        if (!c.Summary.Published) _log.Info("Federated round {0}: {1}", c.Summary.Round, c.Summary.PublishReason);
        Observability.FederatedMetrics.RoundCompleted(c.Summary.Round, c.Summary.Received, c.Summary.Accuracy);
        if (run.RoundStartedAt != 0) Observability.FederatedMetrics.RoundSeconds.Record(Stopwatch.GetElapsedTime(run.RoundStartedAt).TotalSeconds);
        run.RoundStartedAt = 0;
        _log.Info("{0}", string.Create(CultureInfo.InvariantCulture,
            $"Federated round {c.Summary.Round}/{run.Spec.Rounds}: accuracy {c.Summary.Accuracy:F4}, loss {c.Summary.Loss:F4}, {c.Summary.Received}/{c.Summary.Sampled} clients, {c.Summary.Late} late, {c.Summary.Seconds:F1} s"));
        if (c.Onnx is not null && _registry is not null)
        {
            var description = string.Create(CultureInfo.InvariantCulture,
                $"federated {run.Spec.Id} round {c.Summary.Round}: {run.Spec.Strategy}, test accuracy {c.Summary.Accuracy:F4}, clients {string.Join(",", c.Summary.Clients)}");
            var key = ++_publishKey;
            var name = run.Spec.PublishAs;
            _publishing[key] = (run.Spec.Id, c.Summary.Round);
            var publish = new PublishModel(name, c.Onnx, [TrainingFrames.FrameBytes], FashionLabels.Names, description);
            Context.ActorOf(PublishRequest.Props(_registry, publish, key, PublishTimeout), $"publish-{key}");
        }
        if (!TensorPrimitives.IsFiniteAll(c.Global))
        {
            // e.g. FedAvg under a poisoning attack: no client can train from this model, so the experiment ends here
            Fail($"the global model diverged at round {c.Summary.Round} (non-finite weights; test accuracy {c.Summary.Accuracy:P1})");
            return;
        }
        if (run.Round >= run.Spec.Rounds)
        {
            run.State = RunState.Done;
            run.Detail = $"finished {run.Round} rounds";
            _log.Info("Federated experiment {0} done: accuracy {1:F4}", run.Spec.Id, c.Summary.Accuracy);
            return;
        }
        StartRound();
    }

    /// <summary>The publish gate for one round (<see cref="PublishGate"/>), or why it does not apply.</summary>
    internal static PublishDecision Gate(ExperimentSpec spec, double validation, double? active, bool hasValidationSet)
    {
        if (spec.PublishAs.Length == 0) return new PublishDecision(false, "not published: the experiment has no registry name (publish-as)");
        if (!hasValidationSet) return new PublishDecision(true, "published: the coordinator holds no validation set (gate off)");
        return PublishGate.Decide(validation, active, spec.PublishTolerance);
    }

    /// <summary>Reads the experiment again off the mailbox; a failure comes back as <see cref="ReloadFailed"/> (retried with backoff in Loading).</summary>
    private void StartReload(string id, int attempt)
    {
        var store = _store;
        Task.Run(async () => new Loaded(await store.LoadAsync(id), null))
            .PipeTo(Self, failure: ex => new ReloadFailed(id, attempt, ex.GetBaseException().Message));
    }

    /// <summary>0.5 s, 1 s, 2 s, … up to 30 s between reload tries.</summary>
    internal static TimeSpan ReloadBackoff(int attempt) => ReloadDelays.Delay(attempt);

    private static readonly Backoff ReloadDelays = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    private void RetryRoundOrFail(Run run, string why)
    {
        if (++run.AttemptsThisRound >= MaxAttemptsPerRound) Fail(why);
        else StartRound();
    }

    private void OnPublishAnswered(PublishRequest.Answered a)
    {
        if (!_publishing.Remove(a.Key, out var target)) return;
        if (a.Outcome is not ModelPublished p)
        {
            var why = a.Outcome is ModelCommandRejected r ? r.Reason : $"unexpected answer {a.Outcome.GetType().Name}";
            _log.Warning("Federated coordinator: round {0} of {1} was not published: {2}", target.Round, target.Id, why);
            return;
        }
        if (_run is { } run && run.Spec.Id == target.Id)
        {
            var i = run.History.FindIndex(h => h.Round == target.Round);
            if (i >= 0) run.History[i] = run.History[i] with { ModelVersion = p.Model.Version };
        }
        var store = _store;
        Task.Run(() => store.SetModelVersionAsync(target.Id, target.Round, p.Model.Version))
            .PipeTo(Self, success: () => new VersionSaved(), failure: _ => new VersionSaved());
    }

    // ---------------------------------------------------------------- k-means and GBDT jobs

    /// <summary>
    /// The child name of job <paramref name="id"/>, one name per id: letters, digits, '-' and '.' stay, every other UTF-16
    /// unit (the escape character '_' included) becomes '_' and 4 hex digits, so no two ids share a name.
    /// </summary>
    internal static string JobActorName(string id)
    {
        var sb = new System.Text.StringBuilder("job-", 4 + id.Length);
        foreach (var c in id)
        {
            if (c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '.') sb.Append(c);
            else sb.Append('_').Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private JobHost.Start StartJob(IFederationRequest request)
    {
        var workers = _participants.Values.OrderBy(p => p.Node, StringComparer.Ordinal).ToArray();
        return new JobHost.Start(request, workers.Select(p => p.Worker).ToArray(), workers.Select(p => p.Node).ToArray());
    }
}
