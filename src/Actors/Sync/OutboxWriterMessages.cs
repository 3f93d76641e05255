using Akka.Actor;

namespace EdgeActors.Actors.Sync;

/// <summary>
/// The OutboxWriter actor's sync protocol as SyncSender uses it (same shapes as <c>OutboxWriter.Peek</c> … on
/// helper-outbox; replaced by those when that branch is merged). The sender touches the outbox only through these.
/// </summary>
internal static class OutboxWriterMessages
{
    public sealed record Peek(int Max, IReadOnlySet<long> InFlight) : INoSerializationVerificationNeeded;

    public sealed record Peeked(IReadOnlyList<OutboxEntry> Entries) : INoSerializationVerificationNeeded;

    public sealed record Remove(IReadOnlyCollection<long> Ids) : INoSerializationVerificationNeeded;

    public sealed record Removed(int Count) : INoSerializationVerificationNeeded;

    public sealed record Expire : INoSerializationVerificationNeeded
    {
        public static readonly Expire Instance = new();
    }

    public sealed record Expired(int Count) : INoSerializationVerificationNeeded;

    /// <summary>Replies <see cref="OutboxStats"/>.</summary>
    public sealed record GetStats : INoSerializationVerificationNeeded
    {
        public static readonly GetStats Instance = new();
    }
}
