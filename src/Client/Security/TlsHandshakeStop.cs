using Akka.Actor;

namespace EdgeActors.Client.Security;

/// <summary>
/// Akka.Remote stops an ActorSystem whose outbound TLS handshake failed (a peer's certificate not trusted, or the peer
/// closing the connection mid-handshake) with a shutdown reason of its own. That reason's type is internal to
/// Akka.Remote; its exit code (79) is its public, documented mark, so that is what is checked here, in one place.
/// </summary>
public static class TlsHandshakeStop
{
    /// <summary>The exit code of Akka.Remote's TLS handshake failure shutdown reason.</summary>
    public const int ExitCode = 79;

    /// <summary>Whether the system was stopped by Akka.Remote for a failed TLS handshake.</summary>
    public static bool StoppedFor(ActorSystem system) => Is(CoordinatedShutdown.Get(system).ShutdownReason);

    public static bool Is(CoordinatedShutdown.Reason? reason) => reason is not null && reason.ExitCode == ExitCode;
}
