using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Actors.Security;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Gateway;

/// <summary>
/// Entry point for client apps (through the ClusterClient receptionist) and other roles: validates what it
/// can, forwards device traffic to the device region keeping the original sender, answers cluster queries.
/// Anything it cannot route gets a <see cref="RequestRejected"/> naming the problem.
/// </summary>
public sealed class GatewayActor : ReceiveActor
{
    /// <summary>The answer to a request without a client token on a cluster that checks them.</summary>
    public const string TokenRequired =
        "unauthenticated: this cluster requires a client token with every request (client library: EdgeClientOptions.Credentials.Token; commands: --certs DIR --client NAME or --token-file F)";
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _devices;
    private readonly int _maxIdLength;
    private readonly IActorRef? _models;
    private readonly IActorRef? _inferenceStatus;
    private readonly IActorRef? _registry;
    private readonly IActorRef? _sync;
    private readonly IActorRef? _sink;
    private readonly IActorRef? _federation;
    private readonly ClientAuth? _auth;
    private readonly ClientTokenCache? _tokens;
    private readonly Address _self;
    private long _refused;

    public GatewayActor(IActorRef devices, int maxDeviceIdLength, IActorRef? models = null, IActorRef? inferenceStatus = null, IActorRef? registry = null, IActorRef? sync = null, IActorRef? sink = null, IActorRef? federation = null, ClientAuth? auth = null)
    {
        _self = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress;
        _devices = devices;
        _maxIdLength = maxDeviceIdLength;
        _models = models;
        _inferenceStatus = inferenceStatus;
        _registry = registry;
        _sync = sync;
        _sink = sink;
        _federation = federation;
        _auth = auth;
        _tokens = auth is null ? null : new ClientTokenCache(auth);

        Receive<Authenticated>(env =>
        {
            if (_auth is null)
            {
                Route(env.Request, null); // tokens are not checked on this cluster: the request goes through as it is
                return;
            }
            var problem = Check(env);
            if (problem is null) Route(env.Request, env);
            else Refuse(env.Request, problem);
        });
        ReceiveAny(msg =>
        {
            if (_auth is not null)
                Refuse(msg, TokenRequired);
            else
                Route(msg, null);
        });
    }

    public static Props Props(IActorRef devices, int maxDeviceIdLength, IActorRef? models = null, IActorRef? inferenceStatus = null, IActorRef? registry = null, IActorRef? sync = null, IActorRef? sink = null, IActorRef? federation = null, ClientAuth? auth = null) =>
        Akka.Actor.Props.Create(() => new GatewayActor(devices, maxDeviceIdLength, models, inferenceStatus, registry, sync, sink, federation, auth));

    /// <summary>Null when the envelope's token is valid now and allows its request; else the reason.</summary>
    private string? Check(Authenticated env) => _tokens!.Check(env.Token, env.Request);

    private void Refuse(object msg, string reason)
    {
        // logged at most once per 100 refusals, so a hostile client cannot flood the log
        if (_refused++ % 100 == 0) _log.Warning("Gateway: refused {0} from {1}: {2} ({3} refused so far)", msg.GetType().Name, Sender, reason, _refused);
        Sender.Tell(new RequestRejected(reason));
    }

    private void Route(object msg, Authenticated? envelope)
    {
        var self = _self.ToString();
        switch (msg)
        {
            // a status query about another node goes to that node's gateway (a client cannot choose which gateway it reaches),
            // but only when that node is a member of this cluster now: a client must not make this node dial any address
            case INodeQuery q when q.Node.Length > 0 && Other(q.Node) is { } notMember && !IsMember(notMember):
                Sender.Tell(new RequestRejected(
                    $"'{q.Node}' ({notMember.Host}:{notMember.Port}) is not a member of this cluster (Up or WeaklyUp); node queries go only to cluster members"));
                break;
            case INodeQuery q when q.Node.Length > 0 && Other(q.Node) is { } other:
                var local = q switch
                {
                    GetSyncStatus s => (IEdgeMessage)(s with { Node = "" }),
                    GetStoreStatus s => s with { Node = "" },
                    GetInferenceStatus s => s with { Node = "" },
                    _ => q,
                };
                // with client tokens on, the other gateway checks the same token again
                object forward = envelope is null ? local : envelope with { Request = local };
                Context.ActorSelection(other + WellKnown.GatewayPath).Tell(forward, Sender);
                break;
            case INodeQuery q when q.Node.Length > 0 && !IsSelf(q.Node):
                Sender.Tell(new RequestRejected($"'{q.Node}' is not a node address (akka.tcp://edgeactors@host:port)"));
                break;
            case GetStoreStatus m:
                if (_sink is null) Sender.Tell(new RequestRejected($"node {self} has no data store (ask a datacenter node)"));
                else _sink.Forward(m);
                break;
            case GetSyncStatus m:
                if (_sync is null) Sender.Tell(new RequestRejected($"node {self} has no outbox (only edge nodes sync)"));
                else _sync.Forward(m);
                break;
            case Infer m:
                if (_models is null) Sender.Tell(new RequestRejected($"node {self} serves no models"));
                else _models.Forward(m);
                break;
            case GetInferenceStatus m:
                var target = _inferenceStatus ?? _models;
                if (target is null) Sender.Tell(new RequestRejected($"node {self} runs no inference"));
                else target.Forward(m);
                break;
            case IModelRegistryMessage m:
                if (_registry is null) Sender.Tell(new RequestRejected("no model registry is reachable from this node"));
                else _registry.Forward(m);
                break;
            case IFederationRequest m:
                if (_federation is null) Sender.Tell(new RequestRejected("no federated-learning coordinator is reachable from this node"));
                else _federation.Forward(m);
                break;
            case AttachDevice or DetachDevice:
                // subscribers are actors of the node's own front doors (MQTT broker, HTTP host), never a client's
                Sender.Tell(new RequestRejected($"{msg.GetType().Name} is not accepted from clients: devices and followers attach through an edge's MQTT broker or HTTP host"));
                break;
            case IWithDeviceId m:
                var problem = Validate(m.DeviceId);
                if (problem is null) _devices.Forward(m);
                else Sender.Tell(new RequestRejected(problem));
                break;
            case GetClusterOverview:
                Context.ActorOf(OverviewCollector.Props(Sender, _devices, TimeSpan.FromSeconds(3)));
                break;
            case Authenticated:
                Sender.Tell(new RequestRejected("an Authenticated request cannot wrap another Authenticated"));
                break;
            default:
                _log.Warning("Gateway: unsupported message {0} from {1}", msg.GetType().Name, Sender);
                Sender.Tell(new RequestRejected($"unsupported message type '{msg.GetType().Name}'"));
                break;
        }
    }

    /// <summary>The address of another node named by a query (any scheme, or host:port), or null when it is this node.</summary>
    private Address? Other(string node)
    {
        var a = ParseNode(node);
        if (a is null || IsSelf(node)) return null;
        // the same scheme as this node (akka.tcp, or akka.ssl.tcp with TLS), whatever the client wrote
        return new Address(_self.Protocol, _self.System, a.Host, a.Port);
    }

    /// <summary>Whether a node at <paramref name="node"/>'s host and port is Up or WeaklyUp in this cluster (never without a cluster).</summary>
    private bool IsMember(Address node)
    {
        if (((ExtendedActorSystem)Context.System).Provider is not Akka.Cluster.IClusterActorRefProvider) return false;
        foreach (var m in Akka.Cluster.Cluster.Get(Context.System).State.Members)
            if (m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.WeaklyUp
                && m.Address.Host == node.Host && m.Address.Port == node.Port && m.Address.System == node.System)
                return true;
        return false;
    }

    private bool IsSelf(string node) => ParseNode(node) is { } a && a.Host == _self.Host && a.Port == _self.Port;

    private static Address? ParseNode(string node)
    {
        try
        {
            return Address.Parse(WellKnown.NodeAddress(node));
        }
        catch (Exception ex) when (ex is UriFormatException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    private string? Validate(DeviceId id) => ValidateDeviceId(id, _maxIdLength);

    /// <summary>Null when the id may name a device entity; else what is wrong with it.</summary>
    public static string? ValidateDeviceId(DeviceId id, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(id.Value)) return "device id is empty";
        if (id.Value.Length > maxLength) return $"device id is {id.Value.Length} characters long; the limit is {maxLength}";
        foreach (var c in id.Value)
            if (char.IsControl(c))
                return "device id contains a control character";
        return null;
    }
}

/// <summary>Client-token checking at the gateway: the deployment's signing key and how many verified tokens to cache.</summary>
public sealed record ClientAuth(byte[] Key, int CacheSize = 4096)
{
    /// <summary>The clock token expiry is checked against (tests move it; the system clock otherwise).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// What a gateway node serves besides device traffic, models and the model registry (which every gateway needs), from
/// its roles and settings: an edge classifies frames (frame classifier) and, with its durable outbox on, syncs to the
/// datacenter (sync sender); a datacenter stores the synced data (sync sink); with federated learning on, every node
/// reaches the round coordinator (its singleton or proxy). <see cref="GatewayRegistration.AddGateway"/> requires the
/// registrations these need, so a node composed without one fails at start naming it instead of running with the
/// feature silently off (its requests refused at run time).
/// </summary>
/// <param name="Edge">The node has the edge role: the frame classifier is required.</param>
/// <param name="Datacenter">The node has the datacenter role: the sync sink is required.</param>
/// <param name="Outbox">An edge's durable outbox is on (edgeactors.outbox.enabled): its sync sender is required.</param>
/// <param name="Federation">Federated learning is on (edgeactors.federated.enabled): the round coordinator is required.</param>
public sealed record GatewayRole(bool Edge, bool Datacenter, bool Outbox = true, bool Federation = false)
{
    /// <summary>The gateway's role on a node with these cluster roles and settings.</summary>
    public static GatewayRole Of(IReadOnlyCollection<string> roles, bool outbox, bool federation) =>
        new(roles.Contains(Roles.Edge), roles.Contains(Roles.Datacenter), outbox, federation);

    public override string ToString() =>
        Edge && Datacenter ? "edge+datacenter" : Edge ? "edge" : Datacenter ? "datacenter" : "neither edge nor datacenter";
}

public static class GatewayRegistration
{
    /// <summary>
    /// Starts the gateway and registers it with the ClusterClient receptionist (call after AddDeviceSharding,
    /// AddModelRegistry, AddModelHost and what <paramref name="role"/> requires: AddFrameClassifier and AddSyncSender
    /// on an edge, AddSyncSink on a datacenter, AddFederatedCoordinator with federated learning on). A missing
    /// registration fails the node's start with a message naming it.
    /// </summary>
    /// <param name="auth">Non-null: every client request must be an <see cref="Authenticated"/> with a valid token (edgeactors.security.client-tokens).</param>
    public static AkkaConfigurationBuilder AddGateway(this AkkaConfigurationBuilder builder, GatewayRole role, int maxDeviceIdLength = 128, ClientAuth? auth = null) =>
        builder.WithActors((system, registry) =>
        {
            // required on every gateway node: the device region, the model host and the model registry (proxy)
            var region = registry.Require<DeviceRegion>("AddGateway", "AddDeviceSharding");
            var models = registry.Require<ModelHostKey>("AddGateway", "AddModelHost");
            var modelRegistry = registry.Require<ModelRegistryKey>("AddGateway", "AddModelRegistry");
            // required by role: an edge classifies frames and syncs its outbox, a datacenter stores what is synced;
            // on a node without that role the registration is legitimately absent and those requests are refused
            var needer = $"AddGateway (gateway role: {role})";
            var status = role.Edge ? registry.Require<FrameClassifierKey>(needer, "AddFrameClassifier") : models;
            var sync = role.Edge && role.Outbox ? registry.Require<Sync.SyncSenderKey>(needer + " with the outbox on", "AddSyncSender") : null;
            var sink = role.Datacenter ? registry.Require<Sync.SyncSinkKey>(needer, "AddSyncSink") : null;
            // the round coordinator exists only with federated learning on (edgeactors.federated.enabled)
            var federation = role.Federation ? registry.Require<Federated.RoundCoordinator>(needer + " with federated learning on", "AddFederatedCoordinator") : null;
            var gateway = system.ActorOf(GatewayActor.Props(region, maxDeviceIdLength, models, status, modelRegistry, sync, sink, federation, auth), WellKnown.GatewayName);
            registry.Register<GatewayActor>(gateway);
            ClusterClientReceptionist.Get(system).RegisterService(gateway);
        });
}
