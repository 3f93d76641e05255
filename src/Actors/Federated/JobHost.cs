using Akka.Actor;
using Akka.Event;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using EdgeActors.Resilience;
using EdgeActors.Storage;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// The k-means and GBDT jobs of the <see cref="RoundCoordinator"/> (its child; one <see cref="JobRunner"/> child per
/// job). At start it loads the jobs the store holds as running and resumes each from its checkpoint (a failover moved
/// the coordinator here); until then requests wait. Status of a job it does not run comes from the store (a job that
/// ended under an earlier coordinator). Store failures at start are retried with backoff.
/// </summary>
public sealed class JobHost : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    /// <summary>A new job from a client, with the coordinator's edge workers now (parallel arrays).</summary>
    public sealed record Start(IFederationRequest Request, IActorRef[] Refs, string[] Nodes);

    private sealed record Loaded(StoredJob[] Jobs, string? Error);
    private sealed record LoadAgain;
    private sealed record StatusLoaded(IActorRef ReplyTo, string Id, StoredJob? Job, string? Error);

    private static readonly Backoff LoadDelays = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IFederationStore _store;
    private readonly FederationSettings _settings;
    private readonly IActorRef? _registry;
    private readonly Func<EvaluationSet?> _evaluation;
    private readonly Dictionary<string, IActorRef> _jobs = new(StringComparer.Ordinal);
    private int _failures;

    public ITimerScheduler Timers { get; set; } = null!;
    public IStash Stash { get; set; } = null!;

    public JobHost(IFederationStore store, FederationSettings settings, IActorRef? registry, Func<EvaluationSet?> evaluation)
    {
        _store = store;
        _settings = settings;
        _registry = registry;
        _evaluation = evaluation;
        Receive<Loaded>(OnLoaded);
        Receive<LoadAgain>(_ => Load());
        ReceiveAny(_ => Stash.Stash());
    }

    public static Props Props(IFederationStore store, FederationSettings settings, IActorRef? registry, Func<EvaluationSet?> evaluation) =>
        Akka.Actor.Props.Create(() => new JobHost(store, settings, registry, evaluation));

    protected override void PreStart() => Load();

    private void Load()
    {
        var store = _store;
        Task.Run(async () =>
            {
                var ids = await store.RunningJobsAsync();
                var jobs = new List<StoredJob>();
                foreach (var id in ids)
                    if (await store.LoadJobAsync(id) is { } job) jobs.Add(job);
                return new Loaded(jobs.ToArray(), null);
            })
            .PipeTo(Self, failure: ex => new Loaded([], ex.GetBaseException().Message));
    }

    private void OnLoaded(Loaded l)
    {
        if (l.Error is not null)
        {
            // a running job must not be forgotten because the database was briefly unreachable: try again
            var delay = LoadDelays.Delay(++_failures);
            _log.Error("Federated jobs: cannot read the running jobs from {0}: {1}; retrying in {2}", _store.Location, l.Error, delay);
            Timers.StartSingleTimer("load", new LoadAgain(), delay);
            return;
        }
        foreach (var job in l.Jobs)
        {
            IFederationRequest request;
            try
            {
                request = JobRunner.DecodeRequest(job);
            }
            catch (InvalidDataException e)
            {
                _log.Error("Federated jobs: cannot resume job {0}: {1}", job.Id, e.Message);
                continue;
            }
            _log.Info("Federated jobs: resuming {0} job {1} from checkpoint {2} (step {3}) on {4}", job.Kind, job.Id, job.Sequence, job.Step, string.Join(", ", job.Workers));
            _jobs[job.Id] = Context.ActorOf(JobRunner.Props(request, job.Workers, [], job, _store, _settings, _registry, _evaluation), RoundCoordinator.JobActorName(job.Id));
        }
        Become(Active);
        Stash.UnstashAll();
    }

    private void Active()
    {
        Receive<Start>(OnStart);
        Receive<GetJobStatus>(q =>
        {
            if (_jobs.TryGetValue(q.Id, out var job))
            {
                job.Forward(q);
                return;
            }
            var (replyTo, store) = (Sender, _store);
            Task.Run(async () => new StatusLoaded(replyTo, q.Id, await store.LoadJobAsync(q.Id), null))
                .PipeTo(Self, failure: ex => new StatusLoaded(replyTo, q.Id, null, ex.GetBaseException().Message));
        });
        Receive<StatusLoaded>(l => l.ReplyTo.Tell(l.Job is { } j
            ? new JobStatus(j.Id, j.Kind, j.State, j.Detail, j.ResultKeys, j.ResultValues, j.Lines)
            : new JobStatus(l.Id, "", "unknown", l.Error is null ? $"no job '{l.Id}'" : $"cannot read job '{l.Id}': {l.Error}", [], [], [])));
        Receive<JobStepReply>(r =>
        {
            if (_jobs.TryGetValue(r.JobId, out var job)) job.Forward(r);
        });
        Receive<JobRunner.WorkersQuery>(q => Context.Parent.Forward(q));
    }

    private void OnStart(Start s)
    {
        var (id, problem) = s.Request switch
        {
            StartKMeans k => (k.Id, JobRunner.Validate(k)),
            StartGbdt g => (g.Id, JobRunner.Validate(g)),
            _ => ("", "unknown job"),
        };
        if (problem is null && _jobs.ContainsKey(id)) problem = $"job id '{id}' was used before";
        if (problem is null && s.Nodes.Length == 0) problem = "no edge worker has announced itself yet";
        if (problem is not null)
        {
            Sender.Tell(new JobStatus(id, "", RunState.Failed.Wire(), problem, [], [], []));
            return;
        }
        var job = Context.ActorOf(JobRunner.Props(s.Request, s.Nodes, s.Refs, null, _store, _settings, _registry, _evaluation), RoundCoordinator.JobActorName(id));
        _jobs[id] = job;
        job.Forward(new GetJobStatus(id));
    }
}
