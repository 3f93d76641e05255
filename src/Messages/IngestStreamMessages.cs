namespace EdgeActors.Messages;

/// <summary>
/// A group of device commands (<see cref="TelemetryBatch"/> or <see cref="CameraFrame"/>) sent by one client connection
/// straight to a gateway node's ingest endpoint (<c>/user/ingest</c>), each with the client's own request id. One remote
/// message carries many devices' requests, so the per-request cost of the transport is paid once per group. The token
/// (empty when the cluster checks none) is checked once per group and each command against its scopes and device prefix.
/// Answered by one or more <see cref="IngestReplies"/> that together name every id exactly once, unless the endpoint's
/// node is lost first (the client then resends the unanswered ids elsewhere: ingestion is idempotent per sequence).
/// </summary>
public sealed record IngestRequests(string Token, long[] Ids, IDeviceCommand[] Commands) : IEdgeMessage;

/// <summary>
/// Answers to an <see cref="IngestRequests"/>: per id an <see cref="IngestAck"/> (accepted, rejected, or refused because
/// the node is over capacity: every sequence rejected with <see cref="RejectReason.Overloaded"/>) or a
/// <see cref="RequestRejected"/> (unauthorised, invalid device id). <c>Resend</c> names requests the endpoint gave up
/// waiting for (their device entity did not answer in time, e.g. while its shard moves after a node loss): the client
/// sends them again, which is safe because ingestion is idempotent per sequence.
/// </summary>
public sealed record IngestReplies(long[] Ids, IEdgeMessage[] Replies, long[] Resend) : IEdgeMessage
{
    public IngestReplies(long[] ids, IEdgeMessage[] replies) : this(ids, replies, []) { }
}
