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

/// <summary>The one shape of an <see cref="RejectReason.Overloaded"/> answer, whoever gives it (an edge's ingest endpoint or the client library).</summary>
public static class OverloadAnswer
{
    /// <summary>Every reading of <paramref name="command"/> rejected as Overloaded (the detail once per answer, not per reading).</summary>
    public static IngestAck For(IDeviceCommand command, string node, string detail)
    {
        long[] sequences = command switch
        {
            TelemetryBatch t => t.Sequences ?? [],
            CameraFrame f => [f.Sequence],
            _ => [],
        };
        var rejected = sequences.Length == 0
            ? [new Rejection(-1, RejectReason.Overloaded, detail)]
            : sequences.Select((s, i) => new Rejection(s, RejectReason.Overloaded, i == 0 ? detail : "")).ToArray();
        return new IngestAck(command.DeviceId, -1, 0, rejected, node);
    }

    /// <summary>True when nothing of the request was kept because of overload (it may be sent again after a pause).</summary>
    public static bool RefusedWhole(IngestAck ack) =>
        ack.Accepted == 0 && ack.Rejected.Length > 0 && Array.TrueForAll(ack.Rejected, r => r.Reason == RejectReason.Overloaded);
}
