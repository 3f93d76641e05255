using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Messages;
using EdgeActors.Storage;

namespace EdgeActors.Actors.Twins;

/// <summary>Registry key of the twin store (the singleton proxy on every node; the singleton itself on the datacenter role).</summary>
public sealed class TwinStoreKey;

/// <summary>
/// The datacenter's twin store: a cluster singleton (datacenter role) over an <see cref="ITwinStore"/>, answering
/// <see cref="LoadTwin"/> and <see cref="SaveTwin"/> with <see cref="TwinStored"/>. Store work runs off the mailbox
/// (at most <see cref="TwinSettings.MaxInFlight"/> at once, the rest queued in arrival order); a failure is answered
/// as <see cref="TwinStored.Error"/>, never with a restart. A store that cannot be opened is retried on the next request.
/// </summary>
public sealed class TwinStoreActor : ReceiveActor
{
    public const string Name = "twin-store";

    private sealed record Finished(IActorRef ReplyTo, TwinStored Reply);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TwinSettings _settings;
    private readonly Func<ITwinStore> _open;
    private readonly Queue<(object Request, IActorRef ReplyTo)> _waiting = new();
    private ITwinStore? _store;
    private int _inFlight;

    public TwinStoreActor(TwinSettings settings, Func<ITwinStore> open)
    {
        _settings = settings;
        _open = open;
        Receive<LoadTwin>(m => Enqueue(m));
        Receive<SaveTwin>(m => Enqueue(m));
        Receive<Finished>(f =>
        {
            _inFlight--;
            if (f.Reply.Error.Length > 0) _log.Warning("Twin store: {0}", f.Reply.Error);
            f.ReplyTo.Tell(f.Reply);
            Next();
        });
    }

    public static Props Props(TwinSettings settings, Func<ITwinStore> open) =>
        Akka.Actor.Props.Create(() => new TwinStoreActor(settings, open));

    /// <summary>The store the settings name: a SQLite file or a PostgreSQL database.</summary>
    public static ITwinStore Open(TwinSettings settings) => settings.Kind == TwinStoreKind.Postgres
        ? new PostgresTwinStore(settings.PostgresConnection)
        : new SqliteTwinStore(Tracked("twins", settings.DatabasePath));

    private static string Tracked(string kind, string path)
    {
        Observability.ResourceMetrics.Track(kind, path);
        return path;
    }

    protected override void PreStart()
    {
        Observability.ClusterMetrics.Singleton(Name, ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString(), up: true);
        base.PreStart();
    }

    protected override void PostStop()
    {
        Observability.ClusterMetrics.Singleton(Name, ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString(), up: false);
        _store?.Dispose();
        base.PostStop();
    }

    private void Enqueue(object request)
    {
        _waiting.Enqueue((request, Sender));
        Next();
    }

    private void Next()
    {
        while (_inFlight < _settings.MaxInFlight && _waiting.TryDequeue(out var w))
        {
            var (request, replyTo) = w;
            var (device, token) = request switch
            {
                SaveTwin s => (s.DeviceId, s.Token),
                LoadTwin l => (l.DeviceId, 0L),
                _ => throw new InvalidOperationException(request.GetType().Name),
            };
            if (!TryOpen(out var store, out var why))
            {
                replyTo.Tell(new TwinStored(device, token, null, [], why));
                continue;
            }
            _inFlight++;
            var maxCommands = _settings.MaxCommands;
            (request switch
                {
                    SaveTwin s => SaveAsync(store, s, maxCommands),
                    _ => LoadAsync(store, device),
                })
                .PipeTo(Self, success: reply => new Finished(replyTo, reply),
                    failure: ex => new Finished(replyTo, new TwinStored(device, token, null, [],
                        $"twin store {store.Location} could not {(request is SaveTwin ? "save" : "load")} device '{device}': {ex.GetBaseException().Message}")));
        }
    }

    /// <summary>Runs on a pool thread (the store's first await may still be synchronous work: SQLite), never on the mailbox.</summary>
    private static Task<TwinStored> LoadAsync(ITwinStore store, DeviceId device) => Task.Run(async () =>
    {
        var loaded = await store.LoadAsync(device).ConfigureAwait(false);
        return new TwinStored(device, 0, loaded.Twin, loaded.Commands, "");
    });

    private static Task<TwinStored> SaveAsync(ITwinStore store, SaveTwin s, int maxCommands) => Task.Run(async () =>
    {
        if (s.Twin.DeviceId != s.DeviceId)
            return new TwinStored(s.DeviceId, s.Token, null, [], $"SaveTwin for device '{s.DeviceId}' carries the twin of '{s.Twin.DeviceId}'");
        await store.SaveAsync(s.Twin, s.Commands, maxCommands).ConfigureAwait(false);
        return new TwinStored(s.DeviceId, s.Token, s.Twin, [], "");
    });

    private bool TryOpen(out ITwinStore store, out string why)
    {
        why = "";
        if (_store is null)
        {
            try
            {
                _store = _open();
                _log.Info("Twin store: {0}", _store.Location);
            }
            catch (Exception ex)
            {
                why = $"the twin store could not be opened: {ex.GetBaseException().Message}";
                _log.Error(ex, "Twin store: could not be opened; retried on the next request");
            }
        }
        store = _store!;
        return _store is not null;
    }
}

public static class TwinStoreRegistration
{
    /// <summary>
    /// The twin store singleton on the datacenter role (<paramref name="hostSingleton"/>: this node may host it) with a
    /// proxy on every node (registered as <see cref="TwinStoreKey"/>; device entities load and save through it). Call
    /// before AddDeviceSharding.
    /// </summary>
    public static AkkaConfigurationBuilder AddTwinStore(this AkkaConfigurationBuilder builder, TwinSettings settings, bool hostSingleton)
    {
        var options = new ClusterSingletonOptions { Role = Roles.Datacenter };
        return hostSingleton
            ? builder.WithSingleton<TwinStoreKey>(TwinStoreActor.Name, (_, _, _) => TwinStoreActor.Props(settings, () => TwinStoreActor.Open(settings)), options, createProxyToo: true)
            : builder.WithSingletonProxy<TwinStoreKey>(TwinStoreActor.Name, options);
    }
}
