using EdgeActors.Storage;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors.Inference;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Registry;

/// <summary>
/// The model registry: a cluster singleton on the datacenter role over an <see cref="IModelStore"/> (a SQLite file, or
/// the datacenter tier's PostgreSQL database). Published models are validated with ONNX Runtime off the mailbox before
/// they are stored; every change of a model's active version is announced as <see cref="ModelActivated"/> on
/// <see cref="ModelTopics.Models"/>. Nodes download bytes with <see cref="FetchModelChunk"/>. Every store call runs off
/// the mailbox and comes back as a message; a failed one (e.g. the database briefly unreachable) is logged and answered
/// with <see cref="ModelCommandRejected"/> naming the reason, never with a restart: the asker retries (model hosts re-send
/// <see cref="GetActiveModels"/> until answered). Pin and rollback commands run one at a time, in arrival order.
/// </summary>
public sealed class ModelRegistryActor : ReceiveActor
{
    public const string Name = "model-registry";
    /// <summary>Batch size used for the validation load (a warm-up run at this size proves a dynamic batch dimension).</summary>
    public const int ValidationMaxBatch = 4;

    private sealed record Stored(IActorRef ReplyTo, ModelInfo Info, bool Active);

    private sealed record PublishFailed(IActorRef ReplyTo, string Name, string Reason);

    /// <summary>A store call finished: <c>Reply</c> goes to <c>ReplyTo</c>; <c>Announce</c> (a new active version) is published.</summary>
    private sealed record Answered(IActorRef ReplyTo, IModelRegistryMessage Reply, ModelInfo? Announce, bool Mutation);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RegistrySettings _settings;
    private readonly IActorRef _publishTo;
    private readonly IModelStore _store;
    /// <summary>Pin and rollback commands waiting for the one running (they read, then write: one at a time).</summary>
    private readonly Queue<(object Command, IActorRef ReplyTo)> _mutations = new();
    private bool _mutating;

    /// <summary><paramref name="publishTo"/> receives the <see cref="Publish"/> messages (the DistributedPubSub mediator when null).</summary>
    public ModelRegistryActor(RegistrySettings settings, IActorRef? publishTo, Func<RegistrySettings, IModelStore> open)
    {
        _settings = settings;
        _publishTo = publishTo ?? DistributedPubSub.Get(Context.System).Mediator;
        _store = open(settings);
        _log.Info("Model registry: database {0}", _store.Location);
        if (_store is ModelStore sqlite) Observability.ResourceMetrics.Track("registry", sqlite.DatabasePath); // PostgreSQL: no local file

        Receive<PublishModel>(HandlePublish);
        Receive<Stored>(HandleStored);
        Receive<PublishFailed>(f =>
        {
            _log.Warning("Model registry: rejected model {0}: {1}", f.Name, f.Reason);
            f.ReplyTo.Tell(new ModelCommandRejected(f.Name, f.Reason));
        });
        Receive<Answered>(HandleAnswered);
        Receive<ListModels>(_ => Run(Sender, "", false, async store =>
        {
            var models = await store.ListAsync();
            var policies = new List<ModelPolicy>();
            foreach (var name in models.Select(m => m.Name).Distinct()) policies.Add(await store.PolicyAsync(name));
            return (new ModelList(models.ToArray(), policies.ToArray()), null);
        }));
        Receive<SetModelPolicy>(m => Mutate(m));
        Receive<RollbackModel>(m => Mutate(m));
        Receive<GetActiveModels>(_ => Run(Sender, "", false, async store =>
        {
            var active = new List<ModelInfo>();
            foreach (var name in await store.NamesAsync())
                if (await store.ActiveAsync(name) is { } info) active.Add(info);
            return (new ActiveModels(active.ToArray()), null);
        }));
        Receive<FetchModelChunk>(m => Run(Sender, m.Name, false, async store => (await Chunk(store, m, _settings.ChunkBytes), null)));
    }

    /// <summary>The store the settings name: the PostgreSQL database when set, else the SQLite file.</summary>
    public static IModelStore OpenStore(RegistrySettings settings) =>
        settings.PostgresConnection.Length > 0 ? new PostgresModelStore(settings.PostgresConnection) : new ModelStore(settings.DatabasePath);

    public static Props Props(RegistrySettings settings) =>
        Akka.Actor.Props.Create(() => new ModelRegistryActor(settings, null, OpenStore));

    /// <summary>For tests: a plain actor whose announcements go to <paramref name="publishTo"/>, over the store <paramref name="open"/> makes.</summary>
    internal static Props Props(RegistrySettings settings, IActorRef publishTo, Func<RegistrySettings, IModelStore>? open = null) =>
        Akka.Actor.Props.Create(() => new ModelRegistryActor(settings, publishTo, open ?? OpenStore));

    protected override void PreStart()
    {
        Observability.ClusterMetrics.Singleton(Name, ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString(), up: true);
        base.PreStart();
    }

    protected override void PostStop()
    {
        Observability.ClusterMetrics.Singleton(Name, ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString(), up: false);
        _store.Dispose();
        base.PostStop();
    }

    /// <summary>
    /// Runs <paramref name="handle"/> against the store off the mailbox; its reply (and announcement) comes back as
    /// <see cref="Answered"/>, a failure as a rejection naming the reason, never a restart.
    /// </summary>
    private void Run(IActorRef replyTo, string name, bool mutation, Func<IModelStore, Task<(IModelRegistryMessage Reply, ModelInfo? Announce)>> handle)
    {
        var store = _store;
        Task.Run(() => handle(store)).PipeTo(Self,
            success: r => new Answered(replyTo, r.Reply, r.Announce, mutation),
            failure: ex =>
            {
                var inner = ex is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerException! : ex;
                return new Answered(replyTo, new ModelCommandRejected(name, $"registry storage failure: {inner.GetType().Name}: {inner.Message}"), null, mutation);
            });
    }

    private void HandleAnswered(Answered a)
    {
        if (a.Reply is ModelCommandRejected r && r.Reason.StartsWith("registry storage failure", StringComparison.Ordinal))
            _log.Error("Model registry: '{0}': {1}", r.Name, r.Reason);
        if (a.Announce is { } info)
        {
            _log.Info("Model registry: {0} active version v{1}", info.Name, info.Version);
            Announce(info);
        }
        a.ReplyTo.Tell(a.Reply);
        if (!a.Mutation) return;
        _mutating = false;
        if (_mutations.TryDequeue(out var next)) Mutate(next.Command, next.ReplyTo);
    }

    private void Mutate(object command) => Mutate(command, Sender);

    private void Mutate(object command, IActorRef replyTo)
    {
        if (_mutating)
        {
            _mutations.Enqueue((command, replyTo));
            return;
        }
        _mutating = true;
        switch (command)
        {
            case SetModelPolicy m:
                Run(replyTo, m.Name, true, store => SetPolicy(store, m));
                break;
            case RollbackModel m:
                Run(replyTo, m.Name, true, store => Rollback(store, m));
                break;
        }
    }

    private static string? CheckPublish(PublishModel m)
    {
        var problem = ModelStore.ValidateName(m.Name);
        if (problem is not null) return problem;
        if (m.Onnx is null || m.Onnx.Length == 0) return "ONNX bytes are empty";
        if (m.Labels is null || m.Labels.Length == 0) return "a model needs at least one label";
        if (m.InputShape is null || m.InputShape.Length == 0) return "input shape is empty";
        if (m.InputShape.Any(d => d <= 0)) return $"input shape [{string.Join(",", m.InputShape)}] must have positive dimensions";
        return null;
    }

    private void HandlePublish(PublishModel m)
    {
        var replyTo = Sender;
        var problem = CheckPublish(m);
        if (problem is not null)
        {
            Self.Tell(new PublishFailed(replyTo, m.Name ?? "", problem));
            return;
        }
        var store = _store;
        var runtime = _settings.ValidationRuntime;
        var log = _log;
        Task.Run(async () =>
        {
            // the same bytes as the latest version: a retried publish (its reply was lost), not a new version
            var sha = OnnxModel.Sha256(m.Onnx);
            var latest = (await store.ListAsync()).Where(i => i.Name == m.Name).MaxBy(i => i.Version);
            ModelInfo info;
            if (latest is not null && latest.Sha256 == sha) info = latest;
            else
            {
                // validate with the real runtime, then store; the store assigns the version number
                var probe = new ModelInfo(m.Name, 0, m.InputShape, m.Labels, "", m.Onnx.LongLength, 0, m.Description);
                using (var model = OnnxModel.Load(m.Onnx, probe, runtime, ValidationMaxBatch, ModelHost.RuntimeLog(log)))
                {
                    if (model.OutputSize != m.Labels.Length)
                        throw new ModelLoadException($"model {m.Name}: output has {model.OutputSize} values per sample but {m.Labels.Length} labels were given");
                }
                // a retry that arrived while the first publish was validating: the store keeps one version (checked in its transaction)
                info = await store.AddAsync(m.Name, m.Onnx, m.InputShape, m.Labels, m.Description ?? "", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                    reuseLatestIdentical: true);
            }
            bool active;
            try
            {
                active = (await store.ActiveAsync(info.Name))?.Version == info.Version;
            }
            catch (Exception)
            {
                active = false; // stored; the policy could not be read: model hosts pick it up at their next resync
            }
            return new Stored(replyTo, info, active);
        }).PipeTo(Self,
            failure: ex =>
            {
                var inner = ex is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerException! : ex;
                return new PublishFailed(replyTo, m.Name, inner is ModelLoadException ? inner.Message : $"{inner.GetType().Name}: {inner.Message}");
            });
    }

    private void HandleStored(Stored s)
    {
        _log.Info("Model registry: stored {0} v{1} ({2} bytes, sha256 {3}){4}", s.Info.Name, s.Info.Version, s.Info.SizeBytes, s.Info.Sha256,
            s.Active ? ", now active" : "");
        s.ReplyTo.Tell(new ModelPublished(s.Info, s.Active));
        if (s.Active) Announce(s.Info);
    }

    private void Announce(ModelInfo info) =>
        _publishTo.Tell(new Publish(ModelTopics.Models, new ModelActivated(info)));

    private static async Task<(IModelRegistryMessage, ModelInfo?)> SetPolicy(IModelStore store, SetModelPolicy m)
    {
        var problem = ModelStore.ValidateName(m.Name);
        if (problem is not null) return (new ModelCommandRejected(m.Name, problem), null);
        if (m.Version < 0) return (new ModelCommandRejected(m.Name, $"version must be > 0 (pin) or 0 (latest), got {m.Version}"), null);
        if (await store.ActiveAsync(m.Name) is null) return (new ModelCommandRejected(m.Name, $"unknown model '{m.Name}'"), null);
        if (m.Version > 0 && await store.GetAsync(m.Name, m.Version) is null)
            return (new ModelCommandRejected(m.Name, $"model {m.Name} has no version {m.Version}"), null);
        return await ApplyPin(store, m.Name, m.Version);
    }

    private static async Task<(IModelRegistryMessage, ModelInfo?)> Rollback(IModelStore store, RollbackModel m)
    {
        var problem = ModelStore.ValidateName(m.Name);
        if (problem is not null) return (new ModelCommandRejected(m.Name, problem), null);
        var current = await store.ActiveAsync(m.Name);
        if (current is null) return (new ModelCommandRejected(m.Name, $"unknown model '{m.Name}'"), null);
        var previous = (await store.ListAsync()).Where(i => i.Name == m.Name && i.Version < current.Version).MaxBy(i => i.Version);
        if (previous is null)
            return (new ModelCommandRejected(m.Name, $"model {m.Name} has no version before the active v{current.Version}"), null);
        return await ApplyPin(store, m.Name, previous.Version);
    }

    private static async Task<(IModelRegistryMessage, ModelInfo?)> ApplyPin(IModelStore store, string name, int version)
    {
        await store.SetPinnedAsync(name, version);
        var active = (await store.ActiveAsync(name))!;
        var policy = await store.PolicyAsync(name);
        return (new ModelPolicyChanged(policy, active), active);
    }

    private static async Task<IModelRegistryMessage> Chunk(IModelStore store, FetchModelChunk m, int chunkBytes)
    {
        var info = await store.GetAsync(m.Name, m.Version);
        if (info is null) return new ModelCommandRejected(m.Name, $"model {m.Name} has no version {m.Version}");
        if (m.Offset < 0 || m.Offset > info.SizeBytes)
            return new ModelCommandRejected(m.Name, $"offset {m.Offset} outside 0..{info.SizeBytes} of {m.Name} v{m.Version}");
        var max = m.MaxBytes <= 0 ? chunkBytes : Math.Min(m.MaxBytes, chunkBytes);
        var data = await store.ReadBytesAsync(m.Name, m.Version, m.Offset, max);
        if (data is null) return new ModelCommandRejected(m.Name, $"model {m.Name} has no version {m.Version}");
        return new ModelChunk(m.Name, m.Version, m.Offset, info.SizeBytes, data);
    }
}

public static class ModelRegistryRegistration
{
    /// <summary>
    /// Enables DistributedPubSub (all roles) and the model registry: the singleton itself (with a proxy) when
    /// <paramref name="hostSingleton"/> (datacenter nodes), a proxy otherwise. The proxy is registered in the
    /// ActorRegistry under <see cref="ModelRegistryKey"/>. Call it on every node (before AddModelHost).
    /// </summary>
    public static AkkaConfigurationBuilder AddModelRegistry(this AkkaConfigurationBuilder builder, RegistrySettings settings, bool hostSingleton)
    {
        builder.WithDistributedPubSub(role: "");
        var options = new ClusterSingletonOptions { Role = Roles.Datacenter };
        return hostSingleton
            ? builder.WithSingleton<ModelRegistryKey>(ModelRegistryActor.Name, (_, _, _) => ModelRegistryActor.Props(settings), options, createProxyToo: true)
            : builder.WithSingletonProxy<ModelRegistryKey>(ModelRegistryActor.Name, options);
    }
}
