using Akka.Actor;
using Akka.Remote;

namespace EdgeActors.Client;

/// <summary>
/// Tells the client when its ActorSystem quarantined a node, or a node quarantined it. Akka.Remote quarantines a node
/// whose heartbeats the client's remote watcher missed for too long (also when only the client itself stalled, e.g.
/// under load); a quarantined pair can never talk again, so the client carries on in a new ActorSystem.
/// </summary>
internal sealed class QuarantineWatcher : ReceiveActor
{
    public QuarantineWatcher(Action<Address> onQuarantined)
    {
        Receive<QuarantinedEvent>(q => onQuarantined(q.Address));
        Receive<ThisActorSystemQuarantinedEvent>(q => onQuarantined(q.RemoteAddress));
    }

    public static Props Props(Action<Address> onQuarantined) => Akka.Actor.Props.Create(() => new QuarantineWatcher(onQuarantined));

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(QuarantinedEvent));
        Context.System.EventStream.Subscribe(Self, typeof(ThisActorSystemQuarantinedEvent));
    }
}
