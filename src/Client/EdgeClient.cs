using EdgeActors.Client.Serialization;
using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Configuration;
using EdgeActors.Client.Security;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Resilience;

namespace EdgeActors.Client;

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

    /// <summary>Certificate (TLS clusters) and token (clusters with client tokens on); null: neither.</summary>
    public ClientCredentials? Credentials { get; init; }

    /// <summary>
    /// How telemetry batches and frames travel: <see cref="IngestTransport.Stream"/> (default) groups many devices' requests
    /// into one remote message straight to the gateways' ingest endpoints; <see cref="IngestTransport.ClusterClient"/> sends
    /// each request on its own through the ClusterClient receptionist (the way every other request goes; a benchmark baseline).
    /// </summary>
    public IngestTransport Transport { get; init; } = IngestTransport.Stream;

    /// <summary>
    /// Ingest stream: a telemetry batch or frame not answered within this long (its gateway still up) is resent: a backstop
    /// for a message lost on the wire. Gateways name what they gave up waiting for (when a cluster member is removed, or
    /// after <c>edgeactors.gateway.ingest.exchange-timeout</c>, 12 s; resent at once), and a lost gateway is noticed by the
    /// connection (resent at once), so a slow but working cluster is never sent the same work twice.
    /// </summary>
    public TimeSpan StreamResendAfter { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Telemetry batches and frames in flight at once (sent and not answered); beyond it <see cref="WhenFull"/> applies.</summary>
    public int MaxInFlight { get; init; } = 20_000;

    /// <summary>
    /// A telemetry batch or frame the cluster refused whole as <see cref="RejectReason.Overloaded"/> is sent again this many
    /// times, each after a jittered, doubling pause (200 ms, 400 ms, … ±50 %) during which it keeps its in-flight slot, so
    /// resends never add load beyond <see cref="MaxInFlight"/>; then the Overloaded answer is returned. 0: returned at once.
    /// </summary>
    public int OverloadRetries { get; init; } = 3;

    /// <summary>With <see cref="MaxInFlight"/> requests in flight: wait for one to be answered (backpressure), or answer Overloaded at once.</summary>
    public WhenFull WhenFull { get; init; } = WhenFull.Wait;
}

public enum IngestTransport
{
    Stream,
    ClusterClient,
}

public enum WhenFull
{
    /// <summary>The send waits until a request in flight is answered (the caller is slowed down: backpressure).</summary>
    Wait,
    /// <summary>The send is answered at once with every sequence rejected as <see cref="RejectReason.Overloaded"/> (nothing sent).</summary>
    Refuse,
}

/// <summary>
/// What a client app presents: a certificate issued by the deployment's CA (TLS on Akka.Remote, needed because
/// ClusterClient talks Akka.Remote to the gateways) and a signed token sent with every request.
/// </summary>
public sealed record ClientCredentials
{
    /// <summary>The deployment's CA (PEM); with <see cref="Certificate"/>, the client connects over mutual TLS.</summary>
    public string? CaCertificate { get; init; }
    /// <summary>The client's PKCS#12 certificate with its private key.</summary>
    public string? Certificate { get; init; }
    public string? CertificatePassword { get; init; }
    /// <summary>The signed client token (from <c>clients/NAME.token</c>); null: requests go without one.</summary>
    public string? Token { get; init; }

    public bool Tls => Certificate is not null;

    /// <summary>A client's files in a directory made by <c>edgeactors certs</c>.</summary>
    public static ClientCredentials FromCertsDirectory(string dir, string client)
    {
        var tokenPath = Certificates.ClientTokenPath(dir, client);
        return new ClientCredentials
        {
            CaCertificate = Path.Combine(dir, Certificates.CaCertificateFile),
            Certificate = Certificates.ClientCertificatePath(dir, client),
            Token = File.Exists(tokenPath) ? ReadToken(tokenPath) : throw new ArgumentException($"client token file not found: {tokenPath}"),
        };
    }

    public static string ReadToken(string path) =>
        File.Exists(path) ? File.ReadAllText(path).Trim() : throw new ArgumentException($"client token file not found: {path}");
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
    /// <summary>Restarts in a row (no request answered between them) before the client gives up.</summary>
    public const int MaxRestartsInARow = 10;

    private readonly EdgeClientOptions _options;

    /// <summary>Pauses before resending a request the cluster refused whole as overloaded: 200 ms, 400 ms, … ±50 %, no cap
    /// (<see cref="EdgeClientOptions.OverloadRetries"/> bounds it).</summary>
    private static readonly Backoff OverloadBackoff = new(TimeSpan.FromMilliseconds(200), TimeSpan.MaxValue, jitter: 0.5);

    /// <summary>
    /// The retry delays of requests and ingest resends: doubling from 100 ms (or <paramref name="maxBackoff"/> if that is
    /// smaller) up to <paramref name="maxBackoff"/> (<see cref="EdgeClientOptions.MaxBackoff"/>, positive).
    /// </summary>
    internal static Backoff RetryBackoff(TimeSpan maxBackoff, double jitter = 0, Func<double>? random = null)
    {
        var first = TimeSpan.FromMilliseconds(100);
        return new Backoff(maxBackoff < first ? maxBackoff : first, maxBackoff, jitter, random);
    }
    private readonly TlsCredentials? _tls;
    private readonly SemaphoreSlim _slots;
    private long _nextId;
    private volatile Link _link;
    private bool _everServed;
    private int _restartsInARow;
    private int _restarts;
    private volatile bool _disposing;

    /// <summary>
    /// One incarnation of the client's ActorSystem with its ClusterClient and ingest connection. Akka.Remote stops an
    /// ActorSystem whenever one of its outbound TLS handshakes fails (also when the peer merely closes the connection
    /// mid-handshake, as a node does while it restarts or is cut off); the client then carries on in a new incarnation,
    /// and requests in flight move to it (see <see cref="OnTerminated"/>). So it does when it quarantined a node
    /// (see <see cref="QuarantineWatcher"/>).
    /// </summary>
    private sealed class Link(ActorSystem system, IActorRef client, IActorRef? ingest)
    {
        public ActorSystem System { get; } = system;
        public IActorRef Client { get; } = client;
        public IActorRef? Ingest { get; } = ingest;
        public volatile bool Served;
        /// <summary>Stopped by the client itself to carry on in a new incarnation (it quarantined a node).</summary>
        public volatile bool Replace;
        /// <summary>The incarnation that replaced this one once it stopped; null when the client stopped for good.</summary>
        public TaskCompletionSource<Link?> Successor { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The client's current ActorSystem (a new one after a restart caused by a failed TLS handshake).</summary>
    public ActorSystem System => _link.System;

    /// <summary>How often the client carried on in a new ActorSystem (after a failed TLS handshake stopped one, or it quarantined a node).</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    /// <summary>Telemetry batches and frames sent and not yet answered.</summary>
    public int InFlight => _options.MaxInFlight - _slots.CurrentCount;

    private EdgeClient(EdgeClientOptions options, TlsCredentials? tls)
    {
        _options = options;
        _tls = tls;
        _slots = new SemaphoreSlim(options.MaxInFlight, options.MaxInFlight);
        _link = Open();
    }

    public static EdgeClient Connect(EdgeClientOptions options)
    {
        if (options.Contacts.Count == 0) throw new ArgumentException("at least one contact (host:port of an edge or datacenter node) is needed");
        if (options.MaxInFlight < 1) throw new ArgumentException($"EdgeClientOptions.MaxInFlight must be >= 1, got {options.MaxInFlight}");
        var credentials = options.Credentials;
        var tls = credentials is { Tls: true }
            ? TlsCredentials.Load(credentials.CaCertificate ?? throw new ArgumentException("client: a certificate needs the deployment's CA certificate (ClientCredentials.CaCertificate)"),
                credentials.Certificate!, credentials.CertificatePassword, "client")
            : null;
        var edgeClient = new EdgeClient(options, tls);
        if (options.Transport == IngestTransport.Stream) edgeClient._discovery = Task.Run(() => edgeClient.DiscoverGatewaysAsync(edgeClient._stop.Token));
        return edgeClient;
    }

    private Link Open()
    {
        var options = _options;
        var tls = _tls;
        // the configured contacts and the gateways learned from the cluster so far (a new incarnation must not depend on
        // contacts that have gone away since the client started)
        var learned = _learned;
        var contacts = options.Contacts.Concat(learned.Gateways).Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(c => $"\"{WellKnown.NodeAddress(c, tls is not null)}/system/receptionist\"")
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
                # a lost gateway is noticed within seconds (its ingest requests then go to another one); not faster, since
                # a node the watcher gives up on is quarantined, and a client process stalled under load would lose them all
                watch-failure-detector { heartbeat-interval = 1s, acceptable-heartbeat-pause = 8s }
                dot-netty.tcp { hostname = "{{options.Host}}", port = 0, maximum-frame-size = 4MiB, enable-ssl = {{(tls is null ? "false" : "true")}} }
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
        var setup = BootstrapSetup.Create().WithConfig(config);
        var system = tls is null ? ActorSystem.Create("edgeactors-client", setup) : ActorSystem.Create("edgeactors-client", setup.And(tls.Setup()));
        var client = system.ActorOf(ClusterClient.Props(ClusterClientSettings.Create(system)), "edge-client");
        IActorRef? ingest = null;
        if (options.Transport == IngestTransport.Stream)
        {
            var secure = tls is not null;
            ingest = system.ActorOf(IngestConnection.Props(options.Contacts.Concat(learned.Edges).Distinct(StringComparer.OrdinalIgnoreCase).ToList(), c => WellKnown.NodeAddress(c, secure) + WellKnown.IngestPath,
                options.Credentials?.Token ?? "", options.StreamResendAfter, options.RetryDeadline, options.MaxBackoff), "ingest");
        }
        var link = new Link(system, client, ingest);
        system.ActorOf(QuarantineWatcher.Props(_ => Restart(link)), "quarantine-watcher");
        system.WhenTerminated.ContinueWith(_ => OnTerminated(link), TaskScheduler.Default);
        return link;
    }

    /// <summary>
    /// The current incarnation stopped. When Akka.Remote stopped it for a failed TLS handshake and this client's
    /// credentials were proven good (a request of it was answered before), a new incarnation takes over; a client
    /// whose first handshakes fail (certificate not issued by the cluster's CA, or the cluster's not by the client's)
    /// stops for good and says why.
    /// </summary>
    private void OnTerminated(Link link)
    {
        Link? next = null;
        if (!_disposing && (link.Replace || IsTlsStop(link.System)))
        {
            lock (_slots)
            {
                if (link.Served) _restartsInARow = 0;
                if ((link.Replace || _everServed) && _restartsInARow < MaxRestartsInARow && !_disposing)
                {
                    _restartsInARow++;
                    Interlocked.Increment(ref _restarts);
                    try
                    {
                        next = Open();
                        _link = next;
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        next = null;
                    }
                }
            }
        }
        link.Successor.TrySetResult(next);
    }

    /// <summary>
    /// The incarnation quarantined a node: it can never talk to that node again (until the node restarts), so the client
    /// stops it and carries on in a new one; the requests in flight are resent through it.
    /// </summary>
    private void Restart(Link link)
    {
        if (_disposing || link.Replace) return;
        link.Replace = true;
        link.System.Terminate();
    }

    private static bool IsTlsStop(ActorSystem system) => TlsHandshakeStop.StoppedFor(system);

    private void MarkServed(Link link)
    {
        if (link.Served) return;
        link.Served = true;
        lock (_slots)
        {
            _everServed = true;
            _restartsInARow = 0;
        }
    }

    /// <summary>
    /// What a request that timed out before any node ever answered this client adds to its error: the likely causes,
    /// since a client without a certificate cannot even complete Akka's handshake with a TLS cluster (the node closes the
    /// connection and nothing more comes back).
    /// </summary>
    private string NeverServedHint()
    {
        bool served;
        lock (_slots) served = _everServed;
        if (served) return "";
        var contacts = string.Join(", ", _options.Contacts);
        return _tls is null
            ? $"; no node has answered this client yet: check that the contacts ({contacts}) are nodes of the cluster and reachable; " +
              "a cluster that uses TLS (addresses akka.ssl.tcp://) answers only clients with the deployment's CA and a client " +
              "certificate (ClientCredentials.FromCertsDirectory, or --certs DIR --client NAME)"
            : $"; no node has answered this client yet: check that the contacts ({contacts}) are nodes of this deployment and reachable";
    }

    /// <summary>The incarnation after <paramref name="link"/> stopped; an <see cref="EdgeClientException"/> saying why when there is none.</summary>
    private async Task<Link> NextAsync(Link link, IEdgeMessage request)
    {
        if (await link.Successor.Task is { } next) return next;
        if (_disposing) throw new EdgeClientException($"{request.GetType().Name}: the client was disposed");
        if (!IsTlsStop(link.System)) throw new EdgeClientException($"{request.GetType().Name}: the client's actor system stopped");
        throw new EdgeClientException(_everServed
            ? $"{request.GetType().Name}: TLS handshakes with the cluster failed or nodes were quarantined {MaxRestartsInARow} times in a row (the client restarted after each) without an answer in between"
            : $"{request.GetType().Name}: the TLS handshake with the cluster failed, so the client stopped: " +
              "its certificate is not issued by the cluster's CA, or the cluster's certificate is not issued by the client's CA");
    }

    /// <summary>Gateway nodes (ClusterClient receptionists) and edges (ingest endpoints) the cluster named last, as host:port.</summary>
    private sealed record Learned(IReadOnlyList<string> Gateways, IReadOnlyList<string> Edges);

    private volatile Learned _learned = new([], []);

    private readonly CancellationTokenSource _stop = new();
    private Task _discovery = Task.CompletedTask;

    /// <summary>
    /// The ingest stream's endpoints beyond the configured contacts: every few seconds the members with the edge role
    /// (asked through ClusterClient, which itself keeps finding receptionists), so the stream carries on when every
    /// configured contact is gone, as ClusterClient does.
    /// </summary>
    private async Task DiscoverGatewaysAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var overview = await TryOnceAsync<ClusterOverview>(GetClusterOverview.Instance, TimeSpan.FromSeconds(3));
                List<string> HostPorts(string role) => overview.Members
                    .Where(m => m.Status == "Up" && m.Roles.Contains(role))
                    .Select(m => Address.Parse(m.Address))
                    .Select(a => $"{a.Host}:{a.Port}")
                    .ToList();
                var edges = HostPorts(Roles.Edge);
                _learned = new Learned(HostPorts(Roles.Gateway), edges);
                _link.Ingest?.Tell(new IngestConnection.AddContacts(edges));
            }
            catch (Exception ex) when (ex is EdgeClientException or UriFormatException or FormatException or ArgumentException)
            {
                // not reachable now: ask again next round
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(3), ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Sends one device's telemetry batch; the answer says what was accepted (durable on its edge), rejected and why, or
    /// refused because the cluster is over capacity (<see cref="RejectReason.Overloaded"/>: resend after a pause).
    /// At most <see cref="EdgeClientOptions.MaxInFlight"/> batches and frames are in flight; a request is resent (same
    /// sequences, idempotent) when its gateway is lost or it is not answered in time, until the retry deadline.
    /// </summary>
    public Task<Reply<IngestAck>> SendTelemetryAsync(TelemetryBatch batch, CancellationToken ct = default) => SendAsync(batch, ct);

    public Task<Reply<IngestAck>> SendFrameAsync(CameraFrame frame, CancellationToken ct = default) => SendAsync(frame, ct);

    private async Task<Reply<IngestAck>> SendAsync(IDeviceCommand command, CancellationToken ct)
    {
        if (_options.WhenFull == WhenFull.Refuse)
        {
            if (!_slots.Wait(0)) return new Reply<IngestAck>(RefusedHere(command), 0);
        }
        else await _slots.WaitAsync(ct);
        try
        {
            var reply = await SendOnceAsync(command, ct);
            for (var retry = 0; retry < _options.OverloadRetries && OverloadAnswer.RefusedWhole(reply.Value); retry++)
            {
                await Task.Delay(OverloadBackoff.Delay(retry + 1), ct);
                var again = await SendOnceAsync(command, ct);
                reply = again with { Attempts = reply.Attempts + again.Attempts };
            }
            return reply;
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task<Reply<IngestAck>> SendOnceAsync(IDeviceCommand command, CancellationToken ct)
    {
        if (_options.Transport != IngestTransport.Stream) return await RequestAsync<IngestAck>(command, ct);
        var link = _link;
        var earlier = 0; // attempts made through incarnations that stopped before the answer came
        while (true)
        {
            var ingest = link.Ingest!;
            var id = Interlocked.Increment(ref _nextId);
            var completion = new TaskCompletionSource<Reply<IEdgeMessage>>(TaskCreationOptions.RunContinuationsAsynchronously);
            ingest.Tell(new IngestConnection.Submit(new IngestConnection.Outstanding(id, command, completion)));
            await using (ct.Register(() =>
                         {
                             if (completion.TrySetCanceled(ct)) ingest.Tell(new IngestConnection.Forget(id));
                         }))
            {
                if (await Task.WhenAny(completion.Task, link.System.WhenTerminated) != completion.Task)
                {
                    // the incarnation stopped with the request in flight: resend it through the next one (idempotent)
                    link = await NextAsync(link, command);
                    earlier++;
                    continue;
                }
            }
            Reply<IEdgeMessage> reply;
            try
            {
                reply = await completion.Task;
            }
            catch (EdgeClientException ex) when (!_everServed)
            {
                throw new EdgeClientException(ex.Message + NeverServedHint(), ex);
            }
            MarkServed(link);
            return reply.Value switch
            {
                IngestAck ack => new Reply<IngestAck>(ack, reply.Attempts + earlier),
                RequestRejected r => throw new EdgeClientException($"request {command.GetType().Name} rejected by the cluster: {r.Reason}"),
                var other => throw new EdgeClientException($"unexpected reply {other.GetType().Name} to {command.GetType().Name}"),
            };
        }
    }

    /// <summary>The answer when the client already has <see cref="EdgeClientOptions.MaxInFlight"/> requests in flight and refuses more.</summary>
    private static IngestAck RefusedHere(IDeviceCommand command) =>
        OverloadAnswer.For(command, "client", "the client has its maximum of requests in flight; resend after a pause");

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

    /// <summary>host:port → the node's full address (empty for null), plain akka.tcp scheme (gateways accept either scheme).</summary>
    public static string NodeAddress(string? hostPort) => hostPort is null ? "" : WellKnown.NodeAddress(hostPort);

    /// <summary>host:port → the node's full address as the cluster writes it (akka.ssl.tcp with TLS).</summary>
    public string AddressOf(string hostPort) => WellKnown.NodeAddress(hostPort, _options.Credentials is { Tls: true });

    /// <summary>The request as sent: inside <see cref="Authenticated"/> when the client has a token.</summary>
    private IEdgeMessage Wrap(IEdgeMessage request) =>
        _options.Credentials?.Token is { } token && request is not Authenticated ? new Authenticated(token, request) : request;

    /// <summary>The data store of the datacenter node the client is connected to: counts, duplicates absorbed, lag per edge.</summary>
    public async Task<StoreStatus> GetStoreStatusAsync(string? node = null, CancellationToken ct = default) =>
        (await RequestAsync<StoreStatus>(new GetStoreStatus(NodeAddress(node)), ct)).Value;

    /// <param name="node">host:port of the node to ask; null = whichever gateway the client reaches.</param>
    public async Task<InferenceStatus> GetInferenceStatusAsync(string? node = null, CancellationToken ct = default) =>
        (await RequestAsync<InferenceStatus>(new GetInferenceStatus(NodeAddress(node)), ct)).Value;

    /// <summary>Runs samples through a model on whichever gateway node the client is connected to.</summary>
    public async Task<IInferenceEvent> InferAsync(Infer request, CancellationToken ct = default) =>
        (await RequestAsync<IInferenceEvent>(request, ct)).Value;

    // ---------------------------------------------------------------- device twins and commands (docs/twins.md)

    /// <summary>Sets (or, with <see cref="TwinValue.Remove"/>, removes) desired properties of a device (token scope admin).</summary>
    /// <returns>The twin after the update, kept durably.</returns>
    /// <exception cref="EdgeClientException">The entity refused the update (the reason names what is wrong) or the cluster did.</exception>
    public async Task<DeviceTwin> SetDesiredAsync(DeviceId device, IReadOnlyList<TwinValue> properties, CancellationToken ct = default) =>
        Twin(await RequestAsync<TwinResult>(new SetDesired(device, properties.ToArray()), ct), "set desired properties of");

    /// <summary>A .NET device reports its actual values (token scope ingest, for its own device prefix).</summary>
    public async Task<DeviceTwin> ReportTwinAsync(DeviceId device, IReadOnlyList<TwinValue> properties, CancellationToken ct = default) =>
        Twin(await RequestAsync<TwinResult>(new ReportTwin(device, properties.ToArray()), ct), "report the twin of");

    /// <summary>The device's twin: desired and reported properties with their versions (token scope query).</summary>
    public async Task<DeviceTwin> GetTwinAsync(DeviceId device, CancellationToken ct = default) =>
        Twin(await RequestAsync<TwinResult>(new GetTwin(device), ct), "read the twin of");

    /// <summary>
    /// Sends a command to a device (token scope admin); kept durably until the device acknowledges it or its time to live
    /// passes. Without <paramref name="commandId"/> the client assigns one, so a retry after a lost reply is the same command.
    /// </summary>
    /// <param name="ttl">How long it may wait for the device; null: the cluster's default (edgeactors.twins.default-command-ttl).</param>
    public async Task<CommandStatus> SendCommandAsync(DeviceId device, string name, string payload = "", TimeSpan? ttl = null, string? commandId = null,
        CancellationToken ct = default)
    {
        var id = string.IsNullOrEmpty(commandId) ? Guid.NewGuid().ToString("N") : commandId;
        var send = new SendCommand(device, id, name, payload, ttl is { } t ? Math.Max(1, (long)t.TotalMilliseconds) : 0);
        return Command(await RequestAsync<CommandStatus>(send, ct), "send a command to");
    }

    /// <summary>A .NET device acknowledges a command it carried out (<paramref name="success"/>) or could not (token scope ingest).</summary>
    public async Task<CommandStatus> AcknowledgeCommandAsync(DeviceId device, string commandId, bool success, string result = "", CancellationToken ct = default) =>
        Command(await RequestAsync<CommandStatus>(new AcknowledgeCommand(device, commandId, success, result), ct), "acknowledge a command of");

    /// <summary>The device's recent commands, oldest first, with their states (token scope query).</summary>
    public async Task<CommandStatus[]> GetCommandsAsync(DeviceId device, CancellationToken ct = default)
    {
        var reply = (await RequestAsync<DeviceCommands>(new GetCommands(device), ct)).Value;
        if (reply.Error.Length > 0) throw new EdgeClientException($"could not read the commands of device '{device}': {reply.Error}");
        return reply.Commands;
    }

    private static DeviceTwin Twin(Reply<TwinResult> reply, string what)
    {
        var r = reply.Value;
        if (r.Error.Length > 0 || r.Twin is null)
            throw new EdgeClientException($"could not {what} device '{r.DeviceId}': {(r.Error.Length > 0 ? r.Error : "no twin in the answer")}");
        return r.Twin;
    }

    private static CommandStatus Command(Reply<CommandStatus> reply, string what)
    {
        var c = reply.Value;
        if (c.Error.Length > 0) throw new EdgeClientException($"could not {what} device '{c.DeviceId}': {c.Error}");
        return c;
    }

    /// <summary>
    /// One attempt only, with the given timeout (for polling while a cluster starts or fails over). No reply in time, a
    /// rejection or an unexpected reply: <see cref="EdgeClientException"/>.
    /// </summary>
    public async Task<T> TryOnceAsync<T>(IEdgeMessage request, TimeSpan timeout)
    {
        var link = _link;
        var ask = link.Client.Ask<object>(new ClusterClient.Send(WellKnown.GatewayPath, Wrap(request), localAffinity: true), timeout);
        if (await Task.WhenAny(ask, link.System.WhenTerminated) != ask)
        {
            await NextAsync(link, request); // throws when the client stopped for good
            throw new EdgeClientException($"no reply to {request.GetType().Name}: the client restarted (a TLS handshake failed)");
        }
        object reply;
        try
        {
            reply = await ask;
        }
        catch (AskTimeoutException ex)
        {
            throw new EdgeClientException($"no reply to {request.GetType().Name} within {timeout.TotalSeconds:0.#} s{NeverServedHint()}", ex);
        }
        MarkServed(link);
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
        var backoff = RetryBackoff(_options.MaxBackoff);
        var link = _link;
        for (var attempt = 1; ; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            var ask = link.Client.Ask<object>(new ClusterClient.Send(WellKnown.GatewayPath, Wrap(request), localAffinity: true), _options.RequestTimeout, ct);
            if (await Task.WhenAny(ask, link.System.WhenTerminated) != ask)
            {
                link = await NextAsync(link, request); // resent through the next incarnation (requests are idempotent)
                continue;
            }
            object reply;
            try
            {
                reply = await ask;
            }
            catch (AskTimeoutException ex)
            {
                var wait = backoff.Next();
                if (DateTime.UtcNow + wait >= deadline)
                    throw new EdgeClientException($"no reply to {request.GetType().Name} after {attempt} attempt(s) within {_options.RetryDeadline.TotalSeconds:0}s{NeverServedHint()}", ex);
                await Task.Delay(wait, ct);
                continue;
            }
            MarkServed(link);
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
        _disposing = true;
        await _stop.CancelAsync();
        await _discovery.ContinueWith(_ => { });
        Link link;
        lock (_slots) link = _link;
        await link.System.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
    }
}
