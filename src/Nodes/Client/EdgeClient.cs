using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Configuration;
using EdgeActors.Actors.Gateway;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Nodes.Hosting;

namespace EdgeActors.Nodes.Client;

public sealed record EdgeClientOptions
{
    /// <summary>Gateway nodes (edge or datacenter) as <c>host:port</c>; the client uses whichever answers.</summary>
    public required IReadOnlyList<string> Contacts { get; init; }

    /// <summary>How long one attempt waits for a reply before it is retried.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a request keeps being retried (through whichever contact is reachable) before it fails.</summary>
    public TimeSpan RetryDeadline { get; init; } = TimeSpan.FromSeconds(90);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Use Akka's default serializer instead of ours (benchmark baseline only).</summary>
    public bool DefaultSerializer { get; init; }

    public string Host { get; init; } = "127.0.0.1";
}

/// <summary>The reply to a request and how many attempts it took (attempts &gt; 1 means it was retried).</summary>
public readonly record struct Reply<T>(T Value, int Attempts);

/// <summary>The cluster refused a request (<see cref="RequestRejected"/>), or never answered in time.</summary>
public sealed class EdgeClientException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Client library for apps: a small ActorSystem of its own with a ClusterClient to the gateways' receptionist.
/// Requests are retried with backoff until <see cref="EdgeClientOptions.RetryDeadline"/>; ClusterClient moves to
/// another contact point when the one it uses goes down. Device ingestion is idempotent on sequence numbers,
/// so a retry never doubles data (a resent, already-accepted reading comes back as <see cref="RejectReason.Duplicate"/>).
/// </summary>
public sealed class EdgeClient : IAsyncDisposable
{
    private readonly EdgeClientOptions _options;
    private readonly IActorRef _client;

    public ActorSystem System { get; }

    private EdgeClient(EdgeClientOptions options, ActorSystem system, IActorRef client)
    {
        _options = options;
        System = system;
        _client = client;
    }

    public static EdgeClient Connect(EdgeClientOptions options)
    {
        if (options.Contacts.Count == 0) throw new ArgumentException("at least one contact (host:port of an edge or datacenter node) is needed");
        var contacts = options.Contacts
            .Select(c => $"\"{NodeConfig.SeedAddress(c)}/system/receptionist\"")
            .ToList();
        var logLevel = Environment.GetEnvironmentVariable("EDGEACTORS_CLIENT_LOGLEVEL") ?? "ERROR";
        var config = ConfigurationFactory.ParseString($$"""
            akka {
              loglevel = {{logLevel}}
              stdout-loglevel = {{logLevel}}
              log-dead-letters = off
              log-dead-letters-during-shutdown = off
              actor.provider = remote
              remote {
                log-remote-lifecycle-events = off
                dot-netty.tcp { hostname = "{{options.Host}}", port = 0, maximum-frame-size = 4MiB }
              }
              cluster.client {
                initial-contacts = [{{string.Join(", ", contacts)}}]
                establishing-get-contacts-interval = 1s
                refresh-contacts-interval = 5s
                heartbeat-interval = 500ms
                acceptable-heartbeat-pause = 2s
                buffer-size = 10000
                reconnect-timeout = off
              }
              coordinated-shutdown.run-by-clr-shutdown-hook = off
            }
            """);
        if (!options.DefaultSerializer) config = config.WithFallback(EdgeSerialization.Config);
        var system = ActorSystem.Create("edgeactors-client", config);
        var client = system.ActorOf(ClusterClient.Props(ClusterClientSettings.Create(system)), "edge-client");
        return new EdgeClient(options, system, client);
    }

    public Task<Reply<IngestAck>> SendTelemetryAsync(TelemetryBatch batch, CancellationToken ct = default) => RequestAsync<IngestAck>(batch, ct);

    public Task<Reply<IngestAck>> SendFrameAsync(CameraFrame frame, CancellationToken ct = default) => RequestAsync<IngestAck>(frame, ct);

    public async Task<DeviceState> GetDeviceStateAsync(DeviceId id, CancellationToken ct = default) =>
        (await RequestAsync<DeviceState>(new GetDeviceState(id), ct)).Value;

    public async Task<ClusterOverview> GetOverviewAsync(CancellationToken ct = default) =>
        (await RequestAsync<ClusterOverview>(GetClusterOverview.Instance, ct)).Value;

    /// <summary>Publishes a model version to the registry (validated there with ONNX Runtime).</summary>
    public async Task<ModelPublished> PublishModelAsync(PublishModel publish, CancellationToken ct = default) =>
        (await RequestAsync<ModelPublished>(publish, ct)).Value;

    public async Task<ModelList> ListModelsAsync(CancellationToken ct = default) =>
        (await RequestAsync<ModelList>(ListModels.Instance, ct)).Value;

    /// <summary>Pins a version (&gt; 0) or follows the latest (0).</summary>
    public async Task<ModelPolicyChanged> SetModelPolicyAsync(string name, int version, CancellationToken ct = default) =>
        (await RequestAsync<ModelPolicyChanged>(new SetModelPolicy(name, version), ct)).Value;

    public async Task<ModelPolicyChanged> RollbackModelAsync(string name, CancellationToken ct = default) =>
        (await RequestAsync<ModelPolicyChanged>(new RollbackModel(name), ct)).Value;

    /// <summary>The outbox and sync state of the edge node the client is connected to.</summary>
    /// <param name="node">host:port of the edge to ask; null = whichever gateway the client reaches.</param>
    public async Task<SyncStatus> GetSyncStatusAsync(string? node = null, CancellationToken ct = default) =>
        (await RequestAsync<SyncStatus>(new GetSyncStatus(NodeAddress(node)), ct)).Value;

    /// <summary>host:port → the node's full address (empty for null).</summary>
    public static string NodeAddress(string? hostPort) => hostPort is null ? "" : NodeConfig.SeedAddress(hostPort);

    /// <summary>The data store of the datacenter node the client is connected to: counts, duplicates absorbed, lag per edge.</summary>
    public async Task<StoreStatus> GetStoreStatusAsync(string? node = null, CancellationToken ct = default) =>
        (await RequestAsync<StoreStatus>(new GetStoreStatus(NodeAddress(node)), ct)).Value;

    /// <param name="node">host:port of the node to ask; null = whichever gateway the client reaches.</param>
    public async Task<InferenceStatus> GetInferenceStatusAsync(string? node = null, CancellationToken ct = default) =>
        (await RequestAsync<InferenceStatus>(new GetInferenceStatus(NodeAddress(node)), ct)).Value;

    /// <summary>Runs samples through a model on whichever gateway node the client is connected to.</summary>
    public async Task<IInferenceEvent> InferAsync(Infer request, CancellationToken ct = default) =>
        (await RequestAsync<IInferenceEvent>(request, ct)).Value;

    /// <summary>
    /// One attempt only, with the given timeout (for polling while a cluster starts or fails over). No reply in time, a
    /// rejection or an unexpected reply: <see cref="EdgeClientException"/>.
    /// </summary>
    public async Task<T> TryOnceAsync<T>(IEdgeMessage request, TimeSpan timeout)
    {
        object reply;
        try
        {
            reply = await _client.Ask<object>(new ClusterClient.Send(GatewayActor.Path, request, localAffinity: true), timeout);
        }
        catch (AskTimeoutException ex)
        {
            throw new EdgeClientException($"no reply to {request.GetType().Name} within {timeout.TotalSeconds:0.#} s", ex);
        }
        return reply switch
        {
            T t => t,
            RequestRejected r => throw new EdgeClientException($"request {request.GetType().Name} rejected by the cluster: {r.Reason}"),
            _ => throw new EdgeClientException($"unexpected reply {reply.GetType().Name} to {request.GetType().Name}"),
        };
    }

    public async Task<Reply<T>> RequestAsync<T>(IEdgeMessage request, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + _options.RetryDeadline;
        var backoff = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            object reply;
            try
            {
                reply = await _client.Ask<object>(new ClusterClient.Send(GatewayActor.Path, request, localAffinity: true), _options.RequestTimeout, ct);
            }
            catch (AskTimeoutException ex)
            {
                if (DateTime.UtcNow + backoff >= deadline)
                    throw new EdgeClientException($"no reply to {request.GetType().Name} after {attempt} attempt(s) within {_options.RetryDeadline.TotalSeconds:0}s", ex);
                await Task.Delay(backoff, ct);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
                continue;
            }
            return reply switch
            {
                T t => new Reply<T>(t, attempt),
                RequestRejected r => throw new EdgeClientException($"request {request.GetType().Name} rejected by the cluster: {r.Reason}"),
                ModelCommandRejected m => throw new EdgeClientException($"model registry refused {request.GetType().Name} for '{m.Name}': {m.Reason}"),
                _ => throw new EdgeClientException($"unexpected reply {reply.GetType().Name} to {request.GetType().Name}"),
            };
        }
    }

    public async ValueTask DisposeAsync()
    {
        await System.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
    }
}
