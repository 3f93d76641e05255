using EdgeActors.Storage;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EdgeActors.Resilience;
using Akka.Actor;
using Akka.Event;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Federated.Gbdt;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// Runs one federated k-means or GBDT job for the <see cref="JobHost"/> (a child of the <see cref="RoundCoordinator"/>):
/// every step goes to all participating edge workers, the next one leaves when all of them answered.
/// <para>Durable: the job (its request and worker nodes) is recorded in the <see cref="IFederationStore"/> before its first
/// step, and a checkpoint is written at each step boundary before the next step leaves: k-means after every step (the
/// step to send with its payload, mean, std, centroids, iteration, thresholds); GBDT at every iteration (tree) boundary
/// (bin edges and the finished trees; a level inside a tree is redone from the boundary). A coordinator that takes over
/// after a failover resumes every running job from its checkpoint (<see cref="Resume"/>): k-means re-sends the step,
/// GBDT restores every worker's party from the checkpoint (<see cref="GbdtStep.Restore"/>) and grows the next tree.</para>
/// <para>Workers: a worker that fails a step, does not answer within <see cref="FederationSettings.JobStepTimeout"/> or
/// whose node leaves is retried with backoff (1 s … 15 s) while its edge comes back (its labelled frames survive in
/// training.db; workers are known by node address, so a restarted edge's new worker takes its place): k-means re-sends
/// the step to the workers still missing (a step is a pure function of the node's data), GBDT restores all workers from
/// the last iteration boundary. The job never continues without a worker (every worker's rows are in the model). A job
/// that completes no step within <see cref="FederationSettings.JobStallTimeout"/>, or a step a worker answers with an
/// error <see cref="MaxErrorTries"/> times, fails with a message naming the worker.</para>
/// Computation on the coordinator side (merging, split finding, export, scoring) and every store call run off the mailbox.
/// </summary>
public sealed class JobRunner : ReceiveActor, IWithTimers
{
    /// <summary>Error answers of one worker to one step before the job fails (a restarted edge answers one error, then is restored).</summary>
    public const int MaxErrorTries = 4;

    public sealed record WorkersQuery;

    /// <summary>The coordinator's current edge workers and their node addresses (parallel arrays; a later entry for the same node is newer).</summary>
    public sealed record Workers(IActorRef[] Refs, string[] Nodes);

    private sealed record StepTimedOut(long Dispatch);
    private sealed record Computed(long Dispatch, int Step, byte[] Payload, string[] Lines, bool Finished, string[] Keys, double[] Values)
    {
        /// <summary>The checkpoint to write before the next step leaves (null: none at this boundary).</summary>
        public byte[]? Checkpoint { get; init; }
        public int CheckpointStep { get; init; }
    }
    private sealed record ComputeFailed(long Dispatch, string Error);
    private sealed record Created(bool Ok, string? Error);
    private sealed record Checkpointed(long Sequence, bool Ok, string? Error);
    private sealed record Ended(string? Error);
    private sealed record Retry;
    private sealed record RetryStore;

    private static readonly Backoff RetryDelays = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15));

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IFederationRequest _request;
    private readonly string[] _nodes;
    private readonly IFederationStore _store;
    private readonly FederationSettings _settings;
    private readonly IActorRef? _registry;
    private readonly Func<EvaluationSet?> _evaluation;
    private readonly StoredJob? _resumed;
    private readonly Dictionary<string, IActorRef> _refs = new(StringComparer.Ordinal);
    private readonly HashSet<IActorRef> _dead = [];
    private readonly Dictionary<string, JobStepReply> _replies = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _errors = new(StringComparer.Ordinal);
    private readonly List<string> _lines = [];
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private readonly string _id;
    private readonly string _kind;
    private int _step;
    private byte[] _payload = [];
    private long _dispatch;
    private bool _computing;
    private bool _waitingRetry;
    private int _retries;
    private long _sequence;
    private DateTimeOffset _lastProgress; // scheduler time of the last completed step (or of the start/resume)
    private Computed? _pendingSend; // waits for its checkpoint to be written
    private int _storeTries;
    private RunState _state = RunState.Running;
    private string _detail = "";
    private string[] _keys = [];
    private double[] _values = [];

    // k-means state
    private double[] _mean = [];
    private double[] _std = [];
    private float[] _centroids = [];
    private int _iteration;
    private double[] _thresholds = [];

    // GBDT state
    private GbdtTreeGrower? _gbdt;
    private long _maxHistogramBytes;
    private BinEdges? _checkpointEdges;          // the last iteration boundary: bins, finished trees and the level step after it
    private GbdtTree[] _checkpointTrees = [];
    private int _checkpointStep;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="request">The job (<see cref="StartKMeans"/> or <see cref="StartGbdt"/>).</param>
    /// <param name="nodes">The edge nodes (addresses) it runs on, fixed for the job's life.</param>
    /// <param name="refs">Their workers now (empty when resuming: asked from the coordinator).</param>
    /// <param name="resumed">The stored job to resume from its checkpoint; null for a new job.</param>
    public JobRunner(IFederationRequest request, string[] nodes, IActorRef[] refs, StoredJob? resumed, IFederationStore store, FederationSettings settings,
        IActorRef? registry, Func<EvaluationSet?> evaluation)
    {
        _request = request;
        _nodes = nodes;
        _store = store;
        _settings = settings;
        _registry = registry;
        _evaluation = evaluation;
        _resumed = resumed;
        for (var i = 0; i < refs.Length && i < nodes.Length; i++) _refs[nodes[i]] = refs[i];
        (_id, _kind) = request switch
        {
            StartKMeans k => (k.Id, JobParticipant.KMeansKind),
            StartGbdt g => (g.Id, JobParticipant.GbdtKind),
            _ => throw new ArgumentException("unknown job"),
        };

        Receive<GetJobStatus>(_ => Sender.Tell(Status()));
        Receive<Created>(OnCreated);
        Receive<JobStepReply>(OnReply);
        Receive<StepTimedOut>(t =>
        {
            if (t.Dispatch != _dispatch || _state != RunState.Running || _computing || _waitingRetry) return;
            var missing = _nodes.Where(n => !_replies.ContainsKey(n)).ToArray();
            Trouble(missing, $"no answer within {_settings.JobStepTimeout.TotalSeconds:F0} s");
        });
        Receive<Terminated>(t =>
        {
            _dead.Add(t.ActorRef);
            var node = _refs.FirstOrDefault(kv => kv.Value.Equals(t.ActorRef)).Key;
            if (node is null || _state != RunState.Running || _computing || _waitingRetry || _replies.ContainsKey(node)) return;
            Trouble([node], "its worker stopped (the node left the cluster)");
        });
        Receive<Retry>(_ =>
        {
            if (_state != RunState.Running) return;
            Context.Parent.Tell(new WorkersQuery());
        });
        Receive<Workers>(OnWorkers);
        Receive<Computed>(OnComputed);
        Receive<ComputeFailed>(f =>
        {
            if (f.Dispatch == _dispatch) Fail(f.Error);
        });
        Receive<Checkpointed>(OnCheckpointed);
        Receive<RetryStore>(_ => WriteCheckpoint());
        Receive<Ended>(e =>
        {
            if (e.Error is null) return;
            var delay = RetryDelays.Delay(++_storeTries);
            _log.Warning("Job {0}: cannot record its end in {1}: {2}; retrying in {3}", _id, _store.Location, e.Error, delay);
            Timers.StartSingleTimer("end", new RetryEnd(), delay);
        });
        Receive<RetryEnd>(_ => RecordEnd());
        Receive<ModelPublished>(p => Line($"published {p.Model.Name} v{p.Model.Version} to the registry"));
        Receive<ModelCommandRejected>(r => Line($"registry refused {r.Name}: {r.Reason}"));
    }

    private sealed record RetryEnd;

    public static Props Props(IFederationRequest request, string[] nodes, IActorRef[] refs, StoredJob? resumed, IFederationStore store,
        FederationSettings settings, IActorRef? registry, Func<EvaluationSet?> evaluation) =>
        Akka.Actor.Props.Create(() => new JobRunner(request, nodes, refs, resumed, store, settings, registry, evaluation));

    public static string? Validate(StartKMeans k)
    {
        if (string.IsNullOrWhiteSpace(k.Id) || k.Id.Length > 64) return "job id must be 1..64 characters";
        if (k.K is < 1 or > 1000) return $"k = {k.K}: must be 1..1000";
        if (k.Iterations is < 1 or > 10_000) return $"iterations = {k.Iterations}: must be 1..10000";
        if (!(k.OutlierZ > 0)) return $"outlier z = {k.OutlierZ}: must be > 0";
        return null;
    }

    public static string? Validate(StartGbdt g)
    {
        if (string.IsNullOrWhiteSpace(g.Id) || g.Id.Length > 64) return "job id must be 1..64 characters";
        if (g.Classes != 2 && g.Classes != TrainingFrames.Classes) return $"classes = {g.Classes}: must be 2 (binary) or {TrainingFrames.Classes}";
        if (g.BinaryThreshold is < 1 or > 9) return $"binary threshold = {g.BinaryThreshold}: must be 1..9";
        if (g.PublishAs.Length > 0 && ModelStore.ValidateName(g.PublishAs) is { } bad) return "publish-as: " + bad;
        try
        {
            _ = Options(g);
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
        return null;
    }

    private static GbdtOptions Options(StartGbdt g) => new()
    {
        Classes = g.Classes, Iterations = g.Iterations, MaxDepth = g.MaxDepth, LearningRate = g.LearningRate, MaxBins = g.MaxBins, Lambda = g.Lambda,
    };

    // ---------------------------------------------------------------- the stored form

    /// <summary>The request as the store keeps it (JSON).</summary>
    public static string EncodeRequest(IFederationRequest request) => request switch
    {
        StartKMeans k => JsonSerializer.Serialize(k),
        StartGbdt g => JsonSerializer.Serialize(g),
        _ => throw new ArgumentException("unknown job", nameof(request)),
    };

    /// <summary>The request of a stored job; throws <see cref="InvalidDataException"/> naming the job when it cannot be read.</summary>
    public static IFederationRequest DecodeRequest(StoredJob job)
    {
        try
        {
            IFederationRequest? request = job.Kind switch
            {
                JobParticipant.KMeansKind => JsonSerializer.Deserialize<StartKMeans>(job.Request),
                JobParticipant.GbdtKind => JsonSerializer.Deserialize<StartGbdt>(job.Request),
                _ => throw new InvalidDataException($"job {job.Id}: unknown kind '{job.Kind}'"),
            };
            return request ?? throw new InvalidDataException($"job {job.Id}: empty request");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"job {job.Id}: unreadable request: {e.Message}", e);
        }
    }

    /// <summary>The first step's payload of a new job.</summary>
    private byte[] FirstPayload() => _request switch
    {
        StartKMeans k => new PayloadWriter().Int(k.Seed).Int(Math.Max(4 * k.K, 16)).ToArray(),
        // exact sketches: the pooled features take at most 4,081 distinct values each, so a sketch stays under ~2.5 MB
        StartGbdt g => new PayloadWriter().Int(g.Classes).Int(g.BinaryThreshold).Int(int.MaxValue).Int(17).ToArray(),
        _ => [],
    };

    // k-means checkpoint: the step's payload, mean, std, centroids, iteration, thresholds, inertia
    private byte[] KMeansCheckpoint(byte[] payload) => new PayloadWriter().Bytes(payload).Doubles(_mean).Doubles(_std).Floats(_centroids)
        .Int(_iteration).Doubles(_thresholds).Double(_inertia).ToArray();

    // GBDT checkpoint: 0 + the start payload (before the bins), or 1 + bin edges, finished trees, the level step after them, largest histogram
    private byte[] GbdtCheckpoint() => GbdtWire.Write(GbdtWire.Write(new PayloadWriter().Int(1), _checkpointEdges!), _checkpointTrees)
        .Int(_checkpointStep).Double(_maxHistogramBytes).ToArray();

    private static byte[] GbdtStartCheckpoint(byte[] payload) => new PayloadWriter().Int(0).Bytes(payload).ToArray();

    protected override void PreStart()
    {
        _lastProgress = Context.System.Scheduler.Now;
        if (_resumed is { } stored)
        {
            _lines.AddRange(stored.Lines);
            _sequence = stored.Sequence;
            try
            {
                RestoreCheckpoint(stored);
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or EndOfStreamException)
            {
                Fail($"cannot resume from its checkpoint: {e.Message}");
                return;
            }
            Line($"resumed by the coordinator on {((ExtendedActorSystem)Context.System).Provider.DefaultAddress} from its checkpoint at step {stored.Step} (checkpoint {stored.Sequence}); waiting for {_nodes.Length} edge workers");
            Observability.FederatedMetrics.JobResumed(_kind);
            _waitingRetry = true;
            Self.Tell(new Retry());
            return;
        }
        Line($"{_kind} job {_id} on {_nodes.Length} edge nodes");
        var first = FirstPayload();
        var startStep = _kind == JobParticipant.KMeansKind ? (int)KMeansStep.Start : (int)GbdtStep.Start;
        _step = startStep;
        _payload = first;
        var checkpoint = _kind == JobParticipant.KMeansKind ? KMeansCheckpoint(first) : GbdtStartCheckpoint(first);
        var job = new StoredJob(_id, _kind, EncodeRequest(_request), _nodes, RunState.Running.Wire(), "", 0, startStep, checkpoint, _lines.ToArray(), [], []);
        var store = _store;
        Task.Run(async () => new Created(await store.CreateJobAsync(job), null))
            .PipeTo(Self, failure: ex => new Created(false, ex.GetBaseException().Message));
    }

    private void OnCreated(Created c)
    {
        if (_state != RunState.Running) return;
        if (!c.Ok)
        {
            // nothing recorded (the id belongs to an earlier job, or the store failed): fail in memory only
            _state = RunState.Failed;
            _detail = c.Error is null ? $"job id '{_id}' was used before" : $"cannot record the job in {_store.Location}: {c.Error}";
            Line("failed: " + _detail);
            return;
        }
        foreach (var r in _refs.Values) Context.Watch(r);
        Send(_step, _payload);
    }

    private void RestoreCheckpoint(StoredJob stored)
    {
        var r = new PayloadReader(stored.Checkpoint);
        _step = stored.Step;
        if (_kind == JobParticipant.KMeansKind)
        {
            _payload = r.Bytes();
            _mean = r.Doubles();
            _std = r.Doubles();
            _centroids = r.Floats();
            _iteration = r.Int();
            _thresholds = r.Doubles();
            _inertia = r.Double();
            r.End();
            return;
        }
        var g = (StartGbdt)_request;
        if (r.Int() == 0)
        {
            _payload = r.Bytes();
            r.End();
            return;
        }
        _checkpointEdges = GbdtWire.ReadEdges(r);
        _checkpointTrees = GbdtWire.ReadTrees(r);
        _checkpointStep = r.Int();
        _maxHistogramBytes = (long)r.Double();
        r.End();
        _gbdt = GbdtTreeGrower.Resume(Options(g), FashionFeatures.FeatureCount, _checkpointEdges, _checkpointTrees);
        _step = (int)GbdtStep.Restore;
        _payload = RestorePayload();
    }

    private byte[] RestorePayload()
    {
        var g = (StartGbdt)_request;
        return GbdtWire.Write(GbdtWire.Write(new PayloadWriter().Int(g.Classes).Int(g.BinaryThreshold), _checkpointEdges!), _checkpointTrees).ToArray();
    }

    private JobStatus Status() => new(_id, _kind, _state.Wire(), _detail, _keys, _values, _lines.ToArray());

    private void Line(string line)
    {
        _lines.Add(string.Create(CultureInfo.InvariantCulture, $"[{_watch.Elapsed.TotalSeconds,6:F1}s] {line}"));
        _log.Info("Job {0}: {1}", _id, line);
    }

    private void Fail(string error)
    {
        if (_state != RunState.Running) return;
        _state = RunState.Failed;
        _detail = error;
        Line("failed: " + error);
        Timers.CancelAll();
        _storeTries = 0;
        RecordEnd();
    }

    private void RecordEnd()
    {
        var (store, id, state, detail, keys, values, lines) = (_store, _id, _state, _detail, _keys, _values, _lines.ToArray());
        Task.Run(async () =>
            {
                await store.EndJobAsync(id, state, detail, keys, values, lines);
                return new Ended(null);
            })
            .PipeTo(Self, failure: ex => new Ended(ex.GetBaseException().Message));
    }

    /// <summary>Sends step <paramref name="step"/> to every worker (a new dispatch: earlier answers are forgotten).</summary>
    private void Send(int step, byte[] payload)
    {
        _step = step;
        _payload = payload;
        _replies.Clear();
        _errors.Clear();
        Dispatch(_nodes);
    }

    /// <summary>Sends the current step to <paramref name="nodes"/> and starts its timeout.</summary>
    private void Dispatch(IEnumerable<string> nodes)
    {
        _dispatch++;
        _waitingRetry = false;
        _computing = false;
        var gone = new List<string>();
        foreach (var n in nodes)
        {
            if (_refs.TryGetValue(n, out var w) && !_dead.Contains(w)) w.Tell(new JobStep(_id, _kind, _step, _payload));
            else gone.Add(n);
        }
        if (gone.Count > 0)
        {
            Trouble(gone.ToArray(), "its worker is not connected");
            return;
        }
        Timers.StartSingleTimer("step", new StepTimedOut(_dispatch), _settings.JobStepTimeout);
    }

    /// <summary>
    /// Workers that failed, timed out or left: retried after a backoff, unless the job has made no progress for the
    /// stall timeout (then it fails naming them).
    /// </summary>
    private void Trouble(string[] nodes, string reason)
    {
        if (_state != RunState.Running || _waitingRetry) return;
        Timers.Cancel("step");
        var who = string.Join(", ", nodes);
        var stalled = Context.System.Scheduler.Now - _lastProgress;
        if (stalled >= _settings.JobStallTimeout)
        {
            Fail($"step {_step}: worker on {who}: {reason}; no step completed for {stalled.TotalSeconds:F0} s (job-stall-timeout {_settings.JobStallTimeout.TotalSeconds:F0} s)");
            return;
        }
        _waitingRetry = true;
        var delay = RetryDelays.Delay(++_retries);
        _detail = $"step {_step}: worker on {who}: {reason}; retrying in {delay.TotalSeconds:F0} s";
        Line(_detail);
        Observability.FederatedMetrics.JobRetried(_kind);
        Timers.StartSingleTimer("retry", new Retry(), delay);
    }

    private void OnWorkers(Workers w)
    {
        if (_state != RunState.Running || !_waitingRetry) return;
        for (var i = 0; i < w.Refs.Length && i < w.Nodes.Length; i++)
        {
            if (_dead.Contains(w.Refs[i]) || Array.IndexOf(_nodes, w.Nodes[i]) < 0) continue;
            if (_refs.TryGetValue(w.Nodes[i], out var old) && old.Equals(w.Refs[i])) continue;
            _refs[w.Nodes[i]] = w.Refs[i];
            Context.Watch(w.Refs[i]);
        }
        var missing = _nodes.Where(n => !_refs.TryGetValue(n, out var r) || _dead.Contains(r)).ToArray();
        if (missing.Length > 0)
        {
            _waitingRetry = false;
            Trouble(missing, "its worker is not connected");
            return;
        }
        // k-means steps and the GBDT start are pure functions of the node's data: ask only the workers still missing.
        // GBDT levels and bins change the parties' state: every party is restored from the last iteration boundary.
        if (_kind == JobParticipant.GbdtKind && _step != (int)GbdtStep.Start && _checkpointEdges is not null)
        {
            var g = (StartGbdt)_request;
            _gbdt = GbdtTreeGrower.Resume(Options(g), FashionFeatures.FeatureCount, _checkpointEdges, _checkpointTrees);
            Send((int)GbdtStep.Restore, RestorePayload());
            return;
        }
        Dispatch(_nodes.Where(n => !_replies.ContainsKey(n)).ToArray());
    }

    private void OnReply(JobStepReply r)
    {
        if (r.Step != _step || _state != RunState.Running || _computing || _waitingRetry) return;
        var node = Array.IndexOf(_nodes, r.Node) >= 0 ? r.Node : _refs.FirstOrDefault(kv => kv.Value.Equals(Sender)).Key;
        if (node is null || _replies.ContainsKey(node)) return;
        if (r.Error.Length > 0)
        {
            var tries = _errors[node] = _errors.GetValueOrDefault(node) + 1;
            if (tries >= MaxErrorTries)
            {
                Fail($"step {r.Step} on {r.Node}: {r.Error} ({tries} tries)");
                return;
            }
            Trouble([node], r.Error);
            return;
        }
        _replies[node] = r;
        if (_replies.Count < _nodes.Length) return;
        Timers.Cancel("step");
        _computing = true;
        _retries = 0;
        _lastProgress = Context.System.Scheduler.Now;
        var replies = _nodes.Select(n => _replies[n]).ToArray();
        var step = _step;
        var dispatch = _dispatch;
        Func<Computed> work = _kind == JobParticipant.KMeansKind ? () => KMeansNext(dispatch, step, replies) : () => GbdtNext(dispatch, step, replies);
        Task.Run(work).PipeTo(Self, failure: ex => new ComputeFailed(dispatch, $"step {step}: {ex.GetBaseException().Message}"));
    }

    private void OnComputed(Computed c)
    {
        if (_state != RunState.Running || c.Dispatch != _dispatch) return;
        foreach (var l in c.Lines) Line(l);
        _detail = "";
        if (c.Finished)
        {
            _computing = false;
            _state = RunState.Done;
            _keys = c.Keys;
            _values = c.Values;
            _detail = $"done in {_watch.Elapsed.TotalSeconds:F1} s";
            Timers.CancelAll();
            _storeTries = 0;
            RecordEnd();
            if (_kind == JobParticipant.GbdtKind && c.Payload.Length > 0 && _registry is not null && _request is StartGbdt { PublishAs.Length: > 0 } g)
            {
                _registry.Tell(new PublishModel(g.PublishAs, c.Payload, [FashionFeatures.FeatureCount],
                    g.Classes == 2 ? ["below", "at-or-above"] : Learning.Models.FashionLabels.Names,
                    string.Create(CultureInfo.InvariantCulture, $"federated GBDT {_id}: {g.Iterations} iterations, depth {g.MaxDepth}, accuracy {c.Values.ElementAtOrDefault(Array.IndexOf(c.Keys, "accuracy")):F4}")));
            }
            return;
        }
        if (c.Checkpoint is null)
        {
            Send(c.Step, c.Payload);
            return;
        }
        // the checkpoint lands before the next step leaves
        _pendingSend = c;
        _storeTries = 0;
        WriteCheckpoint();
    }

    private void WriteCheckpoint()
    {
        if (_pendingSend is not { } c || _state != RunState.Running) return;
        var sequence = _sequence + 1;
        var (store, id, lines) = (_store, _id, _lines.ToArray());
        Task.Run(async () => new Checkpointed(sequence, await store.CheckpointJobAsync(id, sequence, c.CheckpointStep, c.Checkpoint!, lines), null))
            .PipeTo(Self, failure: ex => new Checkpointed(sequence, false, ex.GetBaseException().Message));
    }

    private void OnCheckpointed(Checkpointed k)
    {
        if (_state != RunState.Running || _pendingSend is not { } c || k.Sequence != _sequence + 1) return;
        if (k.Error is not null)
        {
            // the store is briefly unreachable: the same checkpoint again after a pause; the next step waits for it
            var delay = RetryDelays.Delay(++_storeTries);
            _log.Warning("Job {0}: cannot write checkpoint {1} to {2}: {3}; retrying in {4}", _id, k.Sequence, _store.Location, k.Error, delay);
            _detail = $"cannot write its checkpoint: {k.Error}; retrying";
            if (Context.System.Scheduler.Now - _lastProgress >= _settings.JobStallTimeout)
            {
                _state = RunState.Failed;
                _detail = $"cannot write its checkpoint to {_store.Location} for {_settings.JobStallTimeout.TotalSeconds:F0} s: {k.Error}";
                Line("failed: " + _detail);
                return;
            }
            Timers.StartSingleTimer("checkpoint", new RetryStore(), delay);
            return;
        }
        _pendingSend = null;
        if (!k.Ok)
        {
            // a newer coordinator holds this job (it resumed it from a later checkpoint, or ended it): stop here
            _state = RunState.Failed;
            _detail = "another coordinator took this job over (its stored checkpoint is newer)";
            Line(_detail);
            Timers.CancelAll();
            return;
        }
        _sequence = k.Sequence;
        Send(c.Step, c.Payload);
    }

    // ---------------------------------------------------------------- k-means (runs off the mailbox)

    private Computed KMeansNext(long dispatch, int step, JobStepReply[] replies)
    {
        var c = KMeansCompute(dispatch, step, replies);
        return c.Finished ? c : c with { Checkpoint = KMeansCheckpoint(c.Payload), CheckpointStep = c.Step };
    }

    private Computed KMeansCompute(long dispatch, int step, JobStepReply[] replies)
    {
        var k = (StartKMeans)_request;
        if (step == (int)KMeansStep.Start)
        {
            var dims = new List<int>();
            var devices = 0;
            double[]? sum = null, sq = null;
            var candidates = new List<float>();
            foreach (var r in replies)
            {
                var p = new PayloadReader(r.Payload);
                var dim = p.Int();
                var n = p.Int();
                var s = p.Doubles();
                var q = p.Doubles();
                var c = p.Floats();
                if (n == 0) continue;
                dims.Add(dim);
                devices += n;
                sum ??= new double[dim];
                sq ??= new double[dim];
                if (s.Length != sum.Length) throw new InvalidDataException($"edges disagree on the behaviour dimension ({s.Length} vs {sum.Length})");
                for (var d = 0; d < dim; d++)
                {
                    sum[d] += s[d];
                    sq[d] += q[d];
                }
                candidates.AddRange(c);
            }
            if (devices < k.K) throw new InvalidOperationException($"only {devices} devices with telemetry on the edges; k = {k.K}");
            var dimension = sum!.Length;
            _mean = sum.Select(v => v / devices).ToArray();
            _std = sq!.Select((v, d) => Math.Sqrt(Math.Max(0, v / devices - _mean[d] * _mean[d]))).ToArray();
            var z = candidates.ToArray();
            for (var i = 0; i < z.Length; i++) z[i] = (float)((z[i] - _mean[i % dimension]) / (_std[i % dimension] > 1e-12 ? _std[i % dimension] : 1));
            _centroids = KMeans.InitPlusPlus(z, dimension, k.K, k.Seed);
            _iteration = 1;
            return new Computed(dispatch, (int)KMeansStep.FirstIteration, CentroidPayload(), [$"{devices} devices, {dimension} behaviour features; k-means++ from {z.Length / dimension} candidates"], false, [], []);
        }
        var dim2 = _mean.Length;
        if (step >= (int)KMeansStep.FirstIteration)
        {
            var parts = replies.Select(r =>
            {
                var p = new PayloadReader(r.Payload);
                return new KMeansStats(k.K, dim2, p.Doubles(), p.Longs(), p.Doubles(), p.Doubles());
            }).ToList();
            var merged = KMeansStats.Merge(parts);
            var updated = KMeans.UpdateCentroids(_centroids, merged);
            double shift = 0;
            for (var i = 0; i < updated.Length; i++) shift = Math.Max(shift, Math.Abs(updated[i] - _centroids[i]));
            _centroids = updated;
            var inertia = merged.SquaredDistanceSums.Sum();
            var line = string.Create(CultureInfo.InvariantCulture, $"iteration {_iteration}: inertia {inertia:F3}, sizes [{string.Join(",", merged.Counts)}], max centroid shift {shift:G3}");
            if (shift > 1e-5 && _iteration < k.Iterations)
            {
                _iteration++;
                return new Computed(dispatch, step + 1, CentroidPayload(), [line], false, [], []);
            }
            _inertia = inertia;
            return new Computed(dispatch, JobParticipant.DistanceHistogramStep, CentroidPayload(), [line], false, [], []);
        }
        if (step == JobParticipant.DistanceHistogramStep)
        {
            // robust thresholds from the merged distance histograms: median + z·1.4826·MAD per cluster
            var merged = new long[k.K * DistanceBins.Count];
            foreach (var r in replies)
            {
                var counts = new PayloadReader(r.Payload).Longs();
                if (counts.Length != merged.Length) throw new InvalidDataException($"{r.Node}: {counts.Length} histogram bins, {merged.Length} expected");
                for (var i = 0; i < merged.Length; i++) merged[i] += counts[i];
            }
            _thresholds = Enumerable.Range(0, k.K)
                .Select(c => DistanceBins.RobustThreshold(merged.AsSpan(c * DistanceBins.Count, DistanceBins.Count), k.OutlierZ)).ToArray();
            var w = new PayloadWriter().Doubles(_mean).Doubles(_std).Int(k.K).Floats(_centroids).Doubles(_thresholds);
            return new Computed(dispatch, (int)KMeansStep.Final, w.ToArray(), [], false, [], []);
        }
        // final step: assignments and outliers from every edge
        var clusters = new int[k.K];
        var outliers = new List<string>();
        var total = 0;
        foreach (var r in replies)
        {
            var p = new PayloadReader(r.Payload);
            var devices = p.Strings();
            var assigned = p.Ints();
            var flags = p.Ints();
            var distances = p.Doubles();
            for (var i = 0; i < devices.Length; i++)
            {
                clusters[assigned[i]]++;
                total++;
                if (flags[i] == 1) outliers.Add(devices[i]);
                Assignments[devices[i]] = (assigned[i], distances[i]);
            }
        }
        var lines = new List<string>
        {
            $"clusters: [{string.Join(",", clusters)}]; outliers ({outliers.Count}): {string.Join(",", outliers.Order(StringComparer.Ordinal))}",
            string.Create(CultureInfo.InvariantCulture, $"outlier thresholds (distance to the centroid, standardised features, median + {k.OutlierZ}·1.4826·MAD): [{string.Join(", ", _thresholds.Select(t => t.ToString("F3", CultureInfo.InvariantCulture)))}]"),
        };
        lines.AddRange(Assignments.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => string.Create(CultureInfo.InvariantCulture,
            $"device {kv.Key} cluster {kv.Value.Cluster} distance {kv.Value.Distance:F3}{(outliers.Contains(kv.Key) ? " outlier" : "")}")));
        return new Computed(dispatch, step, [], lines.ToArray(), true,
            ["devices", "k", "iterations", "outliers", "inertia"], [total, k.K, _iteration, outliers.Count, _inertia]);
    }

    private double _inertia;
    private Dictionary<string, (int Cluster, double Distance)> Assignments { get; } = new(StringComparer.Ordinal);

    private byte[] CentroidPayload() => new PayloadWriter().Doubles(_mean).Doubles(_std).Int(((StartKMeans)_request).K).Floats(_centroids).ToArray();

    // ---------------------------------------------------------------- GBDT (runs off the mailbox)

    private Computed GbdtNext(long dispatch, int step, JobStepReply[] replies)
    {
        var g = (StartGbdt)_request;
        if (step == (int)GbdtStep.Start)
        {
            var rows = 0;
            var sketches = replies.Select(r =>
            {
                var p = new PayloadReader(r.Payload);
                rows += p.Int();
                return GbdtWire.ReadSketch(p);
            }).ToList();
            _gbdt = new GbdtTreeGrower(Options(g), FashionFeatures.FeatureCount);
            var edges = _gbdt.MergeSketches(sketches);
            _checkpointEdges = edges;
            _checkpointTrees = [];
            _checkpointStep = (int)GbdtStep.FirstLevel;
            return new Computed(dispatch, (int)GbdtStep.Bins, GbdtWire.Write(new PayloadWriter(), edges).ToArray(),
                [$"{rows} labelled frames on {replies.Length} edges; {edges.TotalBins} bins over {edges.FeatureCount} features"], false, [], [])
            {
                Checkpoint = GbdtCheckpoint(), CheckpointStep = (int)GbdtStep.Restore,
            };
        }
        var coordinator = _gbdt!;
        string[] restored = [];
        if (step == (int)GbdtStep.Restore)
        {
            var rows = replies.Sum(r => new PayloadReader(r.Payload).Int());
            restored = [$"{replies.Length} edges restored from the checkpoint ({_checkpointTrees.Length} trees, {rows} labelled frames); growing iteration {coordinator.Iteration}"];
        }
        else if (step >= (int)GbdtStep.FirstLevel)
        {
            var parts = replies.Select(r => GbdtWire.ReadHistograms(new PayloadReader(r.Payload))).ToList();
            _maxHistogramBytes = Math.Max(_maxHistogramBytes, replies.Max(r => (long)r.Payload.Length));
            coordinator.Accept(LevelHistograms.Sum(parts));
        }
        var next = coordinator.Next();
        if (next is not null)
        {
            var nextStep = step == (int)GbdtStep.Restore ? _checkpointStep : step + 1;
            var lines = next.Depth == 0 && next.Iteration % 10 == 0 && step != (int)GbdtStep.Restore ? new[] { $"iteration {next.Iteration}" } : restored;
            var computed = new Computed(dispatch, nextStep, GbdtWire.Write(new PayloadWriter(), next).ToArray(), lines, false, [], []);
            if (step >= (int)GbdtStep.FirstLevel && next.Depth == 0)
            {
                // an iteration (tree) boundary: the checkpoint a resume restarts from
                _checkpointTrees = coordinator.FinishedTrees.ToArray();
                _checkpointStep = nextStep;
                computed = computed with { Checkpoint = GbdtCheckpoint(), CheckpointStep = (int)GbdtStep.Restore };
            }
            return computed;
        }
        var model = coordinator.Model;
        var onnx = GbdtOnnx.Export(model, "federated_gbdt");
        double accuracy = double.NaN, onnxAccuracy = double.NaN;
        if (_evaluation() is { } eval)
        {
            var (features, labels) = EvalFeatures(eval, g);
            accuracy = model.Accuracy(features, labels, labels.Length);
            onnxAccuracy = OnnxRuntimeAccuracy(onnx, features, labels);
        }
        return new Computed(dispatch, step, onnx,
            [string.Create(CultureInfo.InvariantCulture, $"trained {model.Trees.Count} trees; test accuracy {accuracy:F4} (C#), {onnxAccuracy:F4} (ONNX Runtime, TreeEnsembleClassifier); largest histogram message {_maxHistogramBytes} bytes")],
            true, ["accuracy", "onnx_accuracy", "trees", "rounds", "max_histogram_bytes"], [accuracy, onnxAccuracy, model.Trees.Count, step - 1, _maxHistogramBytes]);
    }

    /// <summary>Accuracy of the exported model as ONNX Runtime serves it (the TreeEnsembleClassifier's label output).</summary>
    public static double OnnxRuntimeAccuracy(byte[] onnx, float[] features, byte[] labels)
    {
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(onnx);
        var rows = labels.Length;
        var input = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(features, [rows, FashionFeatures.FeatureCount]);
        using var results = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(GbdtOnnx.InputName, input)]);
        var predicted = results.Single(r => r.Name == GbdtOnnx.LabelName).AsEnumerable<long>().ToArray();
        var correct = 0;
        for (var i = 0; i < rows; i++)
            if (predicted[i] == labels[i]) correct++;
        return rows == 0 ? 0 : (double)correct / rows;
    }

    private static (float[] Features, byte[] Labels) EvalFeatures(EvaluationSet eval, StartGbdt g)
    {
        var pixels = new byte[eval.Images.Length];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)Math.Clamp(MathF.Round(eval.Images[i] * 255f), 0, 255);
        var features = FashionFeatures.Pool7x7(pixels, eval.Count);
        var labels = (byte[])eval.Labels.Clone();
        if (g.Classes == 2)
            for (var i = 0; i < labels.Length; i++) labels[i] = labels[i] >= g.BinaryThreshold ? (byte)1 : (byte)0;
        return (features, labels);
    }
}
