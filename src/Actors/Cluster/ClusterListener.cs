using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Hosting;

namespace EdgeActors.Actors.Cluster;

/// <summary>Logs every membership and reachability change this node sees, and keeps the membership metrics current.</summary>
public sealed class ClusterListener : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);

    public ClusterListener()
    {
        Receive<ClusterEvent.CurrentClusterState>(s =>
        {
            _log.Info("Cluster state: {0} member(s): {1}", s.Members.Count, string.Join(", ", s.Members.Select(Describe)));
        });
        Receive<ClusterEvent.MemberUp>(e => _log.Info("Member up: {0}", Describe(e.Member)));
        Receive<ClusterEvent.MemberJoined>(e => _log.Info("Member joined: {0}", Describe(e.Member)));
        Receive<ClusterEvent.MemberLeft>(e => _log.Info("Member leaving: {0}", Describe(e.Member)));
        Receive<ClusterEvent.MemberExited>(e => _log.Info("Member exited: {0}", Describe(e.Member)));
        Receive<ClusterEvent.MemberRemoved>(e => _log.Info("Member removed: {0} (was {1})", Describe(e.Member), e.PreviousStatus));
        Receive<ClusterEvent.UnreachableMember>(e => _log.Warning("Member unreachable: {0}", Describe(e.Member)));
        Receive<ClusterEvent.ReachableMember>(e => _log.Info("Member reachable again: {0}", Describe(e.Member)));
        Receive<ClusterEvent.LeaderChanged>(e => _log.Info("Leader is now {0}", e.Leader?.ToString() ?? "none"));
        Receive<ClusterEvent.IMemberEvent>(e => _log.Info("Member event: {0}", e));
    }

    // the membership as the events tell it (the metrics' cache; Cluster.State may lag behind the events)
    private readonly Dictionary<UniqueAddress, Member> _members = new();
    private readonly HashSet<UniqueAddress> _unreachable = new();

    protected override bool AroundReceive(Receive receive, object message)
    {
        var handled = base.AroundReceive(receive, message);
        switch (message)
        {
            case ClusterEvent.CurrentClusterState s:
                _members.Clear();
                foreach (var m in s.Members) _members[m.UniqueAddress] = m;
                _unreachable.Clear();
                foreach (var m in s.Unreachable) _unreachable.Add(m.UniqueAddress);
                break;
            case ClusterEvent.MemberRemoved r:
                _members.Remove(r.Member.UniqueAddress);
                _unreachable.Remove(r.Member.UniqueAddress);
                break;
            case ClusterEvent.IMemberEvent e:
                _members[e.Member.UniqueAddress] = e.Member;
                break;
            case ClusterEvent.UnreachableMember u:
                _unreachable.Add(u.Member.UniqueAddress);
                break;
            case ClusterEvent.ReachableMember r:
                _unreachable.Remove(r.Member.UniqueAddress);
                break;
            default:
                return handled;
        }
        Observability.ClusterMetrics.Update(_members.Values.Select(m => (Observability.IngestMetrics.Prometheus(m.Status.ToString()), (IEnumerable<string>)m.Roles)),
            _unreachable.Count);
        return handled;
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new ClusterListener());

    private static string Describe(Member m) => $"{m.Address} [{string.Join(",", m.Roles.OrderBy(r => r))}] {m.Status}";

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.LeaderChanged));

    protected override void PostStop() => _cluster.Unsubscribe(Self);
}

public static class ClusterListenerRegistration
{
    public static AkkaConfigurationBuilder AddClusterListener(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry) =>
            registry.Register<ClusterListener>(system.ActorOf(ClusterListener.Props(), "cluster-listener")));
}
