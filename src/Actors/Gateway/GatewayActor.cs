using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Event;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Inference;
using EdgeActors.Actors.Registry;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Gateway;

/// <summary>
/// Entry point for client apps (through the ClusterClient receptionist) and other roles: validates what it
/// can, forwards device traffic to the device region keeping the original sender, answers cluster queries.
/// Anything it cannot route gets a <see cref="RequestRejected"/> naming the problem.
/// </summary>
public sealed class GatewayActor : ReceiveActor
{
    public const string Name = "gateway";
    public const string Path = "/user/" + Name;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _devices;
    private readonly int _maxIdLength;

    public GatewayActor(IActorRef devices, int maxDeviceIdLength, IActorRef? models = null, IActorRef? inferenceStatus = null, IActorRef? registry = null, IActorRef? sync = null, IActorRef? sink = null, IActorRef? federation = null)
    {
        var self = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();

        // a status query about another node goes to that node's gateway (a client cannot choose which gateway it reaches)
        Receive<INodeQuery>(q => q.Node.Length > 0 && q.Node != self, q =>
        {
            var local = q switch
            {
                GetSyncStatus s => (IEdgeMessage)(s with { Node = "" }),
                GetStoreStatus s => s with { Node = "" },
                GetInferenceStatus s => s with { Node = "" },
                _ => q,
            };
            Context.ActorSelection(q.Node + Path).Tell(local, Sender);
        });

        Receive<GetStoreStatus>(msg =>
        {
            if (sink is null) Sender.Tell(new RequestRejected($"node {self} has no data store (ask a datacenter node)"));
            else sink.Forward(msg);
        });
        Receive<GetSyncStatus>(msg =>
        {
            if (sync is null) Sender.Tell(new RequestRejected($"node {self} has no outbox (only edge nodes sync)"));
            else sync.Forward(msg);
        });
        _devices = devices;
        _maxIdLength = maxDeviceIdLength;

        Receive<Infer>(msg =>
        {
            if (models is null) Sender.Tell(new RequestRejected($"node {self} serves no models"));
            else models.Forward(msg);
        });
        Receive<GetInferenceStatus>(msg =>
        {
            var target = inferenceStatus ?? models;
            if (target is null) Sender.Tell(new RequestRejected($"node {self} runs no inference"));
            else target.Forward(msg);
        });
        Receive<IModelRegistryMessage>(msg =>
        {
            if (registry is null) Sender.Tell(new RequestRejected("no model registry is reachable from this node"));
            else registry.Forward(msg);
        });

        Receive<IFederationRequest>(msg =>
        {
            if (federation is null) Sender.Tell(new RequestRejected("no federated-learning coordinator is reachable from this node"));
            else federation.Forward(msg);
        });

        Receive<IWithDeviceId>(msg =>
        {
            var problem = Validate(msg.DeviceId);
            if (problem is null) _devices.Forward(msg);
            else Sender.Tell(new RequestRejected(problem));
        });
        Receive<GetClusterOverview>(_ => Context.ActorOf(OverviewCollector.Props(Sender, _devices, TimeSpan.FromSeconds(3))));
        ReceiveAny(msg =>
        {
            _log.Warning("Gateway: unsupported message {0} from {1}", msg.GetType().Name, Sender);
            Sender.Tell(new RequestRejected($"unsupported message type '{msg.GetType().Name}'"));
        });
    }

    public static Props Props(IActorRef devices, int maxDeviceIdLength, IActorRef? models = null, IActorRef? inferenceStatus = null, IActorRef? registry = null, IActorRef? sync = null, IActorRef? sink = null, IActorRef? federation = null) =>
        Akka.Actor.Props.Create(() => new GatewayActor(devices, maxDeviceIdLength, models, inferenceStatus, registry, sync, sink, federation));

    private string? Validate(DeviceId id)
    {
        if (string.IsNullOrWhiteSpace(id.Value)) return "device id is empty";
        if (id.Value.Length > _maxIdLength) return $"device id is {id.Value.Length} characters long; the limit is {_maxIdLength}";
        foreach (var c in id.Value)
            if (char.IsControl(c))
                return "device id contains a control character";
        return null;
    }
}

public static class GatewayRegistration
{
    /// <summary>
    /// Starts the gateway and registers it with the ClusterClient receptionist (call after AddDeviceSharding and, where
    /// present, AddModelRegistry / AddModelHost / AddFrameClassifier, whose actors it routes to).
    /// </summary>
    public static AkkaConfigurationBuilder AddGateway(this AkkaConfigurationBuilder builder, int maxDeviceIdLength = 128) =>
        builder.WithActors((system, registry) =>
        {
            var models = registry.TryGet<ModelHost>(out var m) ? m : null;
            var status = registry.TryGet<FrameClassifier>(out var c) ? c : models;
            var modelRegistry = registry.TryGet<ModelRegistryActor>(out var r) ? r : null;
            var sync = registry.TryGet<Sync.SyncSender>(out var ss) ? ss : null;
            var sink = registry.TryGet<Sync.SyncSink>(out var sk) ? sk : null;
            var federation = registry.TryGet<Federated.RoundCoordinator>(out var fc) ? fc : null;
            var gateway = system.ActorOf(GatewayActor.Props(registry.Get<DeviceRegion>(), maxDeviceIdLength, models, status, modelRegistry, sync, sink, federation), GatewayActor.Name);
            registry.Register<GatewayActor>(gateway);
            ClusterClientReceptionist.Get(system).RegisterService(gateway);
        });
}
