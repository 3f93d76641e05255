using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors.Registry;
using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;
using EdgeActors.Resilience;

namespace EdgeActors.Actors.Inference;

/// <summary>
/// One per edge/datacenter node (<c>/user/models</c>): keeps the configured models at the registry's active version.
/// Listens for <see cref="ModelActivated"/> on <see cref="ModelTopics.Models"/> (and asks the registry with
/// <see cref="GetActiveModels"/> on start), downloads a new version chunk by chunk (one outstanding chunk, timer-based
/// timeout, restart with backoff), verifies size and sha256, loads it off the mailbox and swaps it into the model's
/// <see cref="InferenceActor"/>. A version that fails keeps the old one serving and is reported as LastError.
/// Forwards <see cref="Infer"/> to the right inference actor and answers <see cref="GetInferenceStatus"/>.
/// </summary>
public sealed class ModelHost : ReceiveActor, IWithTimers
{
    public const string Name = "models";
    public const string Path = "/user/" + Name;

    private sealed record RequestActiveModels
    {
        public static readonly RequestActiveModels Instance = new();
    }

    private sealed record ChunkTimedOut(string Name, long FetchId);

    private sealed record RestartFetch(string Name, long FetchId);

    private sealed record LoadSucceeded(string Name, long FetchId, OnnxModel Model);

    private sealed record LoadFailed(string Name, long FetchId, string Reason, bool Retry);

    /// <summary>Everything the host knows about one served model.</summary>
    private sealed class Slot(string name)
    {
        public string Name { get; } = name;
        /// <summary>The version the inference actor serves.</summary>
        public ModelInfo? Loaded { get; set; }
        /// <summary>The version being downloaded or loaded (or waiting for a restart).</summary>
        public ModelInfo? Target { get; set; }
        /// <summary>Identifies the current attempt; results of older attempts are dropped.</summary>
        public long FetchId { get; set; }
        /// <summary>Download buffer; null while no chunk is expected (loading, or waiting for a restart).</summary>
        public byte[]? Buffer { get; set; }
        public long Offset { get; set; }
        public int Failures { get; set; }
        public string LastError { get; set; } = "";
        /// <summary>A version that cannot be loaded (bad model): not retried until another one is announced.</summary>
        public ModelInfo? Rejected { get; set; }
        public IActorRef? Child { get; set; }
    }

    private const string ActiveTimer = "active-models";

    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <summary>
    /// Where ONNX Runtime's messages (which may hold native error text) go: <paramref name="log"/> at info level, as an
    /// argument, never as the format (braces in the text are not a template).
    /// </summary>
    internal static Action<string> RuntimeLog(ILoggingAdapter log) => s => log.Info("{0}", s);
    private readonly ModelHostSettings _settings;
    /// <summary>Delay before a failed download restarts, by the slot's failure count (BackoffMin doubling up to BackoffMax).</summary>
    private readonly Backoff _fetchBackoff;
    private readonly InferenceRuntimeSettings _runtime;
    private readonly BatchingSettings _batching;
    private readonly IActorRef _registry;
    private readonly IActorRef _mediator;
    private readonly string _node;
    private readonly Dictionary<string, Slot> _slots;
    private long _nextFetchId;
    private bool _synced;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary><paramref name="mediator"/> receives the topic subscription (the DistributedPubSub mediator when null).</summary>
    public ModelHost(ModelHostSettings settings, InferenceRuntimeSettings runtime, BatchingSettings batching, IActorRef registry, IActorRef? mediator)
    {
        _settings = settings;
        _fetchBackoff = new Backoff(settings.BackoffMin, settings.BackoffMax);
        _runtime = runtime;
        _batching = batching;
        _registry = registry;
        _mediator = mediator ?? DistributedPubSub.Get(Context.System).Mediator;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();
        _slots = settings.Serve.Distinct().ToDictionary(n => n, n => new Slot(n));

        Receive<SubscribeAck>(ack => _log.Debug("Model host: subscribed to {0}", ack.Subscribe.Topic));
        Receive<RequestActiveModels>(_ => _registry.Tell(GetActiveModels.Instance));
        Receive<ActiveModels>(OnActiveModels);
        Receive<ModelActivated>(m => OnActivated(m.Model));
        Receive<ModelChunk>(OnChunk);
        Receive<ModelCommandRejected>(OnRegistryRejected);
        Receive<ChunkTimedOut>(OnChunkTimedOut);
        Receive<RestartFetch>(OnRestartFetch);
        Receive<LoadSucceeded>(OnLoaded);
        Receive<LoadFailed>(OnLoadFailed);
        Receive<InferenceActor.Swapped>(s => _log.Info("Model host: {0} v{1} is serving", s.Model, s.Version));
        Receive<Terminated>(OnChildTerminated);
        Receive<Infer>(OnInfer);
        Receive<GetInferenceStatus>(_ => Context.ActorOf(InferenceStatusCollector.Props(
            Sender, _node,
            _slots.Values.OrderBy(s => s.Name, StringComparer.Ordinal)
                .Select(s => new InferenceStatusCollector.Entry(s.Name, s.Child, s.Loaded?.Version ?? 0, s.LastError))
                .ToArray(),
            _settings.StatusTimeout)));
    }

    public static Props Props(ModelHostSettings settings, InferenceRuntimeSettings runtime, BatchingSettings batching, IActorRef registry) =>
        Akka.Actor.Props.Create(() => new ModelHost(settings, runtime, batching, registry, null));

    /// <summary>For tests: subscriptions go to <paramref name="mediator"/> instead of the DistributedPubSub mediator.</summary>
    internal static Props Props(ModelHostSettings settings, InferenceRuntimeSettings runtime, BatchingSettings batching, IActorRef registry, IActorRef mediator) =>
        Akka.Actor.Props.Create(() => new ModelHost(settings, runtime, batching, registry, mediator));

    /// <summary>An inference actor that throws is stopped and its model reloaded (a restarted one would serve nothing).</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    protected override void PreStart()
    {
        _log.Info("Model host on {0}: serving [{1}]", _node, string.Join(", ", _slots.Keys));
        _mediator.Tell(new Subscribe(ModelTopics.Models, Self));
        _registry.Tell(GetActiveModels.Instance);
        Timers.StartPeriodicTimer(ActiveTimer, RequestActiveModels.Instance, _settings.RegistryRetry);
    }

    private void OnActiveModels(ActiveModels m)
    {
        if (!_synced)
        {
            _synced = true;
            if (_settings.ResyncInterval > TimeSpan.Zero) Timers.StartPeriodicTimer(ActiveTimer, RequestActiveModels.Instance, _settings.ResyncInterval);
            else Timers.Cancel(ActiveTimer);
        }
        foreach (var info in m.Models) OnActivated(info);
    }

    private static bool Same(ModelInfo? a, ModelInfo b) =>
        a is not null && a.Version == b.Version && string.Equals(a.Sha256, b.Sha256, StringComparison.OrdinalIgnoreCase);

    private void OnActivated(ModelInfo info)
    {
        if (!_slots.TryGetValue(info.Name, out var slot)) return; // not served here
        if (Same(slot.Target, info)) return; // already on its way
        if (Same(slot.Loaded, info))
        {
            // e.g. a rollback while a newer version was downloading or had failed: what is served is what is wanted
            if (slot.Target is not null) Cancel(slot, $"v{info.Version} is active again");
            slot.Rejected = null;
            slot.LastError = "";
            return;
        }
        if (Same(slot.Rejected, info)) return; // known bad; wait for another version
        if (slot.Target is not null) Cancel(slot, $"superseded by v{info.Version}");
        slot.Failures = 0;
        StartFetch(slot, info);
    }

    private void Cancel(Slot slot, string why)
    {
        _log.Info("Model host: dropping the download of {0} v{1}: {2}", slot.Name, slot.Target?.Version, why);
        slot.Target = null;
        slot.Buffer = null;
        slot.FetchId = ++_nextFetchId; // a load still running is disposed when it reports back
        Timers.Cancel(ChunkKey(slot.Name));
        Timers.Cancel(RestartKey(slot.Name));
    }

    private static string ChunkKey(string name) => "chunk/" + name;

    private static string RestartKey(string name) => "restart/" + name;

    private void StartFetch(Slot slot, ModelInfo info)
    {
        Timers.Cancel(RestartKey(slot.Name));
        slot.FetchId = ++_nextFetchId;
        if (info.SizeBytes <= 0 || info.SizeBytes > _settings.MaxModelBytes)
        {
            slot.Target = null;
            slot.Buffer = null;
            slot.Rejected = info;
            slot.LastError = $"{info.Name} v{info.Version} is {info.SizeBytes} bytes; this node accepts 1..{_settings.MaxModelBytes}";
            _log.Warning("Model host: {0}", slot.LastError);
            return;
        }
        _log.Info("Model host: downloading {0} v{1} ({2} bytes)", info.Name, info.Version, info.SizeBytes);
        slot.Target = info;
        slot.Buffer = new byte[info.SizeBytes];
        slot.Offset = 0;
        RequestChunk(slot);
    }

    private void RequestChunk(Slot slot)
    {
        var info = slot.Target!;
        _registry.Tell(new FetchModelChunk(info.Name, info.Version, slot.Offset, _settings.ChunkBytes));
        Timers.StartSingleTimer(ChunkKey(slot.Name), new ChunkTimedOut(slot.Name, slot.FetchId), _settings.ChunkTimeout);
    }

    private void OnChunk(ModelChunk c)
    {
        if (!_slots.TryGetValue(c.Name, out var slot) || slot.Target is null || slot.Buffer is null) return;
        if (c.Version != slot.Target.Version || c.Offset != slot.Offset) return; // stale or duplicate
        var buffer = slot.Buffer;
        if (c.Total != buffer.LongLength)
        {
            Fail(slot, $"registry reports {c.Total} bytes for {c.Name} v{c.Version}, the announcement said {buffer.LongLength}", retry: true);
            return;
        }
        if (c.Data.Length == 0 || c.Offset + c.Data.Length > buffer.LongLength)
        {
            Fail(slot, $"chunk of {c.Data.Length} bytes at offset {c.Offset} does not fit {c.Name} v{c.Version} ({buffer.LongLength} bytes)", retry: true);
            return;
        }
        c.Data.CopyTo(buffer, c.Offset);
        slot.Offset += c.Data.Length;
        if (slot.Offset < buffer.LongLength)
        {
            RequestChunk(slot);
            return;
        }
        Timers.Cancel(ChunkKey(slot.Name));
        slot.Buffer = null;
        Load(slot.Name, slot.FetchId, slot.Target, buffer);
    }

    /// <summary>Verifies and loads the bytes on the thread pool; the outcome comes back as LoadSucceeded/LoadFailed.</summary>
    private void Load(string name, long fetchId, ModelInfo info, byte[] bytes)
    {
        var runtime = _runtime;
        var batching = _batching;
        var log = _log;
        Task.Run<object>(() =>
        {
            var sha = OnnxModel.Sha256(bytes);
            if (!string.Equals(sha, info.Sha256, StringComparison.OrdinalIgnoreCase))
                return new LoadFailed(name, fetchId, $"sha256 mismatch for {name} v{info.Version}: expected {info.Sha256}, got {sha}", Retry: true);
            OnnxModel model;
            try
            {
                var served = bytes;
                if (runtime.ByteInputModels.Contains(name, StringComparer.Ordinal))
                {
                    try
                    {
                        served = Learning.Models.ByteInput.Prepend(bytes);
                    }
                    catch (Exception ex) when (ex is ArgumentException or Google.Protobuf.InvalidProtocolBufferException)
                    {
                        throw new ModelLoadException($"model {name} v{info.Version}: cannot give it a uint8 input: {ex.Message}", ex);
                    }
                }
                model = OnnxModel.Load(served, info, runtime, batching, RuntimeLog(log));
            }
            catch (ModelLoadException ex)
            {
                return new LoadFailed(name, fetchId, ex.Message, Retry: false);
            }
            if (model.OutputSize != info.Labels.Length)
            {
                model.Dispose();
                return new LoadFailed(name, fetchId,
                    $"model {name} v{info.Version}: output has {model.OutputSize} values per sample but the registry lists {info.Labels.Length} labels", Retry: false);
            }
            return new LoadSucceeded(name, fetchId, model);
        }).PipeTo(Self, failure: ex => new LoadFailed(name, fetchId, $"loading {name} v{info.Version} failed: {ex.GetBaseException().Message}", Retry: true));
    }

    private void OnLoaded(LoadSucceeded m)
    {
        if (!_slots.TryGetValue(m.Name, out var slot) || slot.FetchId != m.FetchId || slot.Target is null)
        {
            m.Model.Dispose(); // superseded while it loaded
            return;
        }
        var previous = slot.Loaded;
        slot.Child ??= Context.Watch(Context.ActorOf(InferenceActor.Props(slot.Name, _batching, _node, _runtime.Recovery), InferenceActorNames.For(slot.Name)));
        slot.Child.Tell(new InferenceActor.Swap(m.Model));
        slot.Loaded = slot.Target;
        slot.Target = null;
        slot.Failures = 0;
        slot.LastError = "";
        slot.Rejected = null;
        _log.Info("Model host: loaded {0} v{1} on {2}{3}", m.Name, m.Model.Info.Version, m.Model.Provider,
            previous is null ? "" : $" (replacing v{previous.Version})");
    }

    private void OnLoadFailed(LoadFailed m)
    {
        if (!_slots.TryGetValue(m.Name, out var slot) || slot.FetchId != m.FetchId || slot.Target is null) return;
        Fail(slot, m.Reason, m.Retry);
    }

    private void Fail(Slot slot, string reason, bool retry)
    {
        Timers.Cancel(ChunkKey(slot.Name));
        slot.Buffer = null;
        slot.LastError = reason;
        var serving = slot.Loaded is null ? "nothing loaded" : $"keeping v{slot.Loaded.Version}";
        if (!retry)
        {
            _log.Warning("Model host: cannot serve {0} v{1} ({2}): {3}", slot.Name, slot.Target?.Version, serving, reason);
            slot.Rejected = slot.Target;
            slot.Target = null;
            return;
        }
        slot.Failures++;
        var delay = _fetchBackoff.Delay(slot.Failures);
        _log.Warning("Model host: download of {0} v{1} failed ({2}), retrying in {3}: {4}", slot.Name, slot.Target?.Version, serving, delay, reason);
        Timers.StartSingleTimer(RestartKey(slot.Name), new RestartFetch(slot.Name, slot.FetchId), delay);
    }

    private void OnRestartFetch(RestartFetch m)
    {
        if (!_slots.TryGetValue(m.Name, out var slot) || slot.FetchId != m.FetchId || slot.Target is null) return;
        StartFetch(slot, slot.Target);
    }

    private void OnChunkTimedOut(ChunkTimedOut m)
    {
        if (!_slots.TryGetValue(m.Name, out var slot) || slot.FetchId != m.FetchId || slot.Buffer is null) return;
        Fail(slot, $"no chunk of {m.Name} v{slot.Target?.Version} at offset {slot.Offset} within {_settings.ChunkTimeout}", retry: true);
    }

    private void OnRegistryRejected(ModelCommandRejected m)
    {
        if (!_slots.TryGetValue(m.Name, out var slot) || slot.Buffer is null) return;
        Fail(slot, $"registry refused the download: {m.Reason}", retry: true);
    }

    private void OnChildTerminated(Terminated t)
    {
        var slot = _slots.Values.FirstOrDefault(s => t.ActorRef.Equals(s.Child));
        if (slot is null) return;
        var lost = slot.Loaded;
        slot.Child = null;
        slot.Loaded = null;
        _log.Warning("Model host: the inference actor of {0} stopped{1}", slot.Name, lost is null ? "" : $"; reloading v{lost.Version}");
        if (lost is null) return;
        slot.LastError = $"inference actor stopped; reloading v{lost.Version}";
        if (slot.Target is null) StartFetch(slot, lost);
    }

    private void OnInfer(Infer m)
    {
        if (_slots.TryGetValue(m.Model, out var slot) && slot is { Child: not null, Loaded: not null })
        {
            slot.Child.Forward(m);
            return;
        }
        var detail = slot is null
            ? $"model '{m.Model}' is not served on {_node}"
            : $"model '{m.Model}' is not loaded on {_node} yet" + (slot.LastError.Length > 0 ? $" (last error: {slot.LastError})" : "");
        Sender.Tell(new InferRejected(m.RequestId, m.Model, InferRejectReason.NoModel, detail));
    }
}

/// <summary>
/// Answers one <see cref="GetInferenceStatus"/>: asks every inference actor for its statistics, overlays the host's
/// LastError, replies on the last answer or on its timer, then stops.
/// </summary>
public sealed class InferenceStatusCollector : ReceiveActor, IWithTimers
{
    /// <summary>One served model as the host sees it.</summary>
    public sealed record Entry(string Name, IActorRef? Child, int LoadedVersion, string LastError);

    private sealed record Timeout
    {
        public static readonly Timeout Instance = new();
    }

    private readonly IActorRef _replyTo;
    private readonly string _node;
    private readonly Entry[] _entries;
    private readonly Dictionary<IActorRef, string> _pending = new();
    private readonly Dictionary<string, LoadedModel> _stats = new();

    public ITimerScheduler Timers { get; set; } = null!;

    public InferenceStatusCollector(IActorRef replyTo, string node, Entry[] entries, TimeSpan timeout)
    {
        _replyTo = replyTo;
        _node = node;
        _entries = entries;
        foreach (var e in entries)
        {
            if (e.Child is null) continue;
            _pending[e.Child] = e.Name;
            e.Child.Tell(InferenceActor.GetStats.Instance);
        }

        Receive<LoadedModel>(m =>
        {
            if (!_pending.Remove(Sender, out var name)) return;
            _stats[name] = m;
            if (_pending.Count == 0) Finish();
        });
        Receive<Timeout>(_ => Finish());
        if (_pending.Count == 0) Finish();
        else Timers.StartSingleTimer(Timeout.Instance, Timeout.Instance, timeout);
    }

    public static Props Props(IActorRef replyTo, string node, Entry[] entries, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new InferenceStatusCollector(replyTo, node, entries, timeout));

    private void Finish()
    {
        var models = _entries.Select(e =>
        {
            if (_stats.TryGetValue(e.Name, out var s)) return e.LastError.Length > 0 ? s with { LastError = e.LastError } : s;
            var error = e.LastError.Length > 0 ? e.LastError : e.Child is null ? "" : "the inference actor did not answer";
            return new LoadedModel(e.Name, e.LoadedVersion, 0, 0, 0, 0, 0, 0, error);
        }).ToArray();
        _replyTo.Tell(new InferenceStatus(_node, ExecutionProvider.Current, ExecutionProvider.Note, models));
        Context.Stop(Self);
    }
}

public static class ModelHostRegistration
{
    /// <summary>
    /// Starts the model host as <c>/user/models</c> and registers it under <see cref="ModelHost"/>. Needs the registry
    /// proxy and DistributedPubSub: call after AddModelRegistry.
    /// </summary>
    public static AkkaConfigurationBuilder AddModelHost(
        this AkkaConfigurationBuilder builder, ModelHostSettings settings, InferenceRuntimeSettings runtime, BatchingSettings batching) =>
        builder.WithActors((system, registry) =>
        {
            var host = system.ActorOf(ModelHost.Props(settings, runtime, batching, registry.Require<ModelRegistryKey>("AddModelHost", "AddModelRegistry")), ModelHost.Name);
            registry.Register<ModelHostKey>(host);
        });
}
