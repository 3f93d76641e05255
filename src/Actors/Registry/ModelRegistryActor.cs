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
/// The model registry: a cluster singleton on the datacenter role over a <see cref="ModelStore"/>. Published models are
/// validated with ONNX Runtime off the mailbox before they are stored; every change of a model's active version is
/// announced as <see cref="ModelActivated"/> on <see cref="ModelTopics.Models"/>. Nodes download bytes with
/// <see cref="FetchModelChunk"/>.
/// </summary>
public sealed class ModelRegistryActor : ReceiveActor
{
    public const string Name = "model-registry";
    /// <summary>Batch size used for the validation load (a warm-up run at this size proves a dynamic batch dimension).</summary>
    public const int ValidationMaxBatch = 4;

    private sealed record Stored(IActorRef ReplyTo, ModelInfo Info);

    private sealed record PublishFailed(IActorRef ReplyTo, string Name, string Reason);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RegistrySettings _settings;
    private readonly IActorRef _publishTo;
    private readonly ModelStore _store;

    /// <summary><paramref name="publishTo"/> receives the <see cref="Publish"/> messages (the DistributedPubSub mediator when null).</summary>
    public ModelRegistryActor(RegistrySettings settings, IActorRef? publishTo)
    {
        _settings = settings;
        _publishTo = publishTo ?? DistributedPubSub.Get(Context.System).Mediator;
        _store = new ModelStore(settings.DatabasePath);
        _log.Info("Model registry: database {0}", _store.DatabasePath);
        Observability.ResourceMetrics.Track("registry", _store.DatabasePath);

        Receive<PublishModel>(HandlePublish);
        Receive<Stored>(HandleStored);
        Receive<PublishFailed>(f =>
        {
            _log.Warning("Model registry: rejected model {0}: {1}", f.Name, f.Reason);
            f.ReplyTo.Tell(new ModelCommandRejected(f.Name, f.Reason));
        });
        Receive<ListModels>(_ => Guarded("", () =>
        {
            var models = _store.List().ToArray();
            var policies = models.Select(m => m.Name).Distinct().Select(_store.Policy).ToArray();
            return new ModelList(models, policies);
        }));
        Receive<SetModelPolicy>(m => Guarded(m.Name, () => SetPolicy(m)));
        Receive<RollbackModel>(m => Guarded(m.Name, () => Rollback(m)));
        Receive<GetActiveModels>(_ => Guarded("", () =>
            new ActiveModels(_store.Names().Select(_store.Active).OfType<ModelInfo>().ToArray())));
        Receive<FetchModelChunk>(m => Guarded(m.Name, () => Chunk(m)));
    }

    public static Props Props(RegistrySettings settings) =>
        Akka.Actor.Props.Create(() => new ModelRegistryActor(settings, null));

    /// <summary>For tests: a plain actor whose announcements go to <paramref name="publishTo"/>.</summary>
    internal static Props Props(RegistrySettings settings, IActorRef publishTo) =>
        Akka.Actor.Props.Create(() => new ModelRegistryActor(settings, publishTo));

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

    /// <summary>Replies with what <paramref name="handle"/> returns; a storage failure becomes a rejection, not a restart.</summary>
    private void Guarded(string name, Func<IModelRegistryMessage> handle)
    {
        IModelRegistryMessage reply;
        try
        {
            reply = handle();
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Model registry: storage failure for '{0}'", name);
            reply = new ModelCommandRejected(name, $"registry storage failure: {ex.Message}");
        }
        Sender.Tell(reply);
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
        Task.Run(() =>
        {
            // the same bytes as the latest version: a retried publish (its reply was lost), not a new version
            var sha = OnnxModel.Sha256(m.Onnx);
            var latest = store.List().Where(i => i.Name == m.Name).MaxBy(i => i.Version);
            if (latest is not null && latest.Sha256 == sha) return latest;
            // validate with the real runtime, then store; the store assigns the version number
            var probe = new ModelInfo(m.Name, 0, m.InputShape, m.Labels, "", m.Onnx.LongLength, 0, m.Description);
            using (var model = OnnxModel.Load(m.Onnx, probe, runtime, ValidationMaxBatch, ModelHost.RuntimeLog(log)))
            {
                if (model.OutputSize != m.Labels.Length)
                    throw new ModelLoadException($"model {m.Name}: output has {model.OutputSize} values per sample but {m.Labels.Length} labels were given");
            }
            // a retry that arrived while the first publish was validating: the store keeps one version (checked in its transaction)
            return store.Add(m.Name, m.Onnx, m.InputShape, m.Labels, m.Description ?? "", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                reuseLatestIdentical: true);
        }).PipeTo(Self,
            success: info => new Stored(replyTo, info),
            failure: ex =>
            {
                var inner = ex is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerException! : ex;
                return new PublishFailed(replyTo, m.Name, inner is ModelLoadException ? inner.Message : $"{inner.GetType().Name}: {inner.Message}");
            });
    }

    private void HandleStored(Stored s)
    {
        bool active;
        try
        {
            active = _store.Active(s.Info.Name)?.Version == s.Info.Version;
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Model registry: cannot read the policy of {0}", s.Info.Name);
            active = false;
        }
        _log.Info("Model registry: stored {0} v{1} ({2} bytes, sha256 {3}){4}", s.Info.Name, s.Info.Version, s.Info.SizeBytes, s.Info.Sha256,
            active ? ", now active" : "");
        s.ReplyTo.Tell(new ModelPublished(s.Info, active));
        if (active) Announce(s.Info);
    }

    private void Announce(ModelInfo info) =>
        _publishTo.Tell(new Publish(ModelTopics.Models, new ModelActivated(info)));

    private IModelRegistryMessage SetPolicy(SetModelPolicy m)
    {
        var problem = ModelStore.ValidateName(m.Name);
        if (problem is not null) return new ModelCommandRejected(m.Name, problem);
        if (m.Version < 0) return new ModelCommandRejected(m.Name, $"version must be > 0 (pin) or 0 (latest), got {m.Version}");
        if (_store.Active(m.Name) is null) return new ModelCommandRejected(m.Name, $"unknown model '{m.Name}'");
        if (m.Version > 0 && _store.Get(m.Name, m.Version) is null)
            return new ModelCommandRejected(m.Name, $"model {m.Name} has no version {m.Version}");
        return ApplyPin(m.Name, m.Version);
    }

    private IModelRegistryMessage Rollback(RollbackModel m)
    {
        var problem = ModelStore.ValidateName(m.Name);
        if (problem is not null) return new ModelCommandRejected(m.Name, problem);
        var current = _store.Active(m.Name);
        if (current is null) return new ModelCommandRejected(m.Name, $"unknown model '{m.Name}'");
        var previous = _store.List().Where(i => i.Name == m.Name && i.Version < current.Version).MaxBy(i => i.Version);
        if (previous is null)
            return new ModelCommandRejected(m.Name, $"model {m.Name} has no version before the active v{current.Version}");
        return ApplyPin(m.Name, previous.Version);
    }

    private IModelRegistryMessage ApplyPin(string name, int version)
    {
        _store.SetPinned(name, version);
        var active = _store.Active(name)!;
        var policy = _store.Policy(name);
        _log.Info("Model registry: {0} {1}; active version v{2}", name, version == 0 ? "follows the latest" : $"pinned to v{version}", active.Version);
        Announce(active);
        return new ModelPolicyChanged(policy, active);
    }

    private IModelRegistryMessage Chunk(FetchModelChunk m)
    {
        var info = _store.Get(m.Name, m.Version);
        if (info is null) return new ModelCommandRejected(m.Name, $"model {m.Name} has no version {m.Version}");
        if (m.Offset < 0 || m.Offset > info.SizeBytes)
            return new ModelCommandRejected(m.Name, $"offset {m.Offset} outside 0..{info.SizeBytes} of {m.Name} v{m.Version}");
        var max = m.MaxBytes <= 0 ? _settings.ChunkBytes : Math.Min(m.MaxBytes, _settings.ChunkBytes);
        var data = _store.ReadBytes(m.Name, m.Version, m.Offset, max);
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
