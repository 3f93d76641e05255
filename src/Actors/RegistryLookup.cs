using Akka.Actor;
using Akka.Hosting;

namespace EdgeActors.Actors;

/// <summary>Required ActorRegistry lookups at composition time: a missing registration fails the node's start with what is missing.</summary>
public static class RegistryLookup
{
    /// <summary>
    /// The actor registered under <typeparamref name="TKey"/>; none: an <see cref="InvalidOperationException"/> naming
    /// the key, the registration that needs it (<paramref name="needer"/>) and the one that provides it
    /// (<paramref name="registeredBy"/>), thrown from the registration's start-up callback so the host does not start.
    /// </summary>
    public static IActorRef Require<TKey>(this IActorRegistry registry, string needer, string registeredBy) =>
        registry.TryGet<TKey>(out var actor)
            ? actor
            : throw new InvalidOperationException(
                $"{needer} requires {typeof(TKey).Name} in the ActorRegistry, which is not registered: call {registeredBy} before {needer} when composing the node");
}
