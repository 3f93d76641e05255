using Akka.Actor;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// One publish to the model registry, as a short-lived child (the per-request pattern instead of an Ask between actors):
/// it sends <see cref="PublishModel"/> to the registry with itself as the sender, waits up to <c>timeout</c> for
/// <see cref="ModelPublished"/> or <see cref="ModelCommandRejected"/>, reports <see cref="Answered"/> with its key and
/// the outcome to its parent and stops. No answer in time is reported as a <see cref="ModelCommandRejected"/>.
/// </summary>
internal sealed class PublishRequest : ReceiveActor
{
    /// <summary>The outcome of publish <c>Key</c>: a <see cref="ModelPublished"/> or a <see cref="ModelCommandRejected"/>.</summary>
    internal sealed record Answered(long Key, IModelRegistryMessage Outcome);

    private readonly IActorRef _registry;
    private readonly PublishModel _publish;
    private readonly long _key;
    private readonly TimeSpan _timeout;
    private bool _reported;

    public PublishRequest(IActorRef registry, PublishModel publish, long key, TimeSpan timeout)
    {
        _registry = registry;
        _publish = publish;
        _key = key;
        _timeout = timeout;
        Receive<ModelPublished>(Report);
        Receive<ModelCommandRejected>(Report);
        Receive<ReceiveTimeout>(_ => Report(new ModelCommandRejected(_publish.Name, $"no answer from the registry within {_timeout}")));
    }

    public static Props Props(IActorRef registry, PublishModel publish, long key, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new PublishRequest(registry, publish, key, timeout));

    protected override void PreStart()
    {
        _registry.Tell(_publish, Self);
        Context.SetReceiveTimeout(_timeout);
    }

    private void Report(IModelRegistryMessage outcome)
    {
        if (_reported) return;
        _reported = true;
        Context.SetReceiveTimeout(null);
        Context.Parent.Tell(new Answered(_key, outcome));
        Context.Stop(Self);
    }
}
