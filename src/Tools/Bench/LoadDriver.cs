using Akka.Actor;
using EdgeActors.Messages;

namespace EdgeActors.Tools.Bench;

/// <summary>
/// Benchmark load generator: keeps <c>window</c> requests in flight against <c>target</c>, counts replies, completes
/// its promise when every batch has been answered. Batches go out in list order, so per-device order holds.
/// </summary>
public sealed class LoadDriver : ReceiveActor
{
    private readonly IActorRef _target;
    private readonly IReadOnlyList<TelemetryBatch> _batches;
    private readonly TaskCompletionSource<LoadResult> _done;
    private int _next;
    private int _answered;
    private long _accepted;
    private long _rejected;
    private readonly long[] _latencyTicks;
    private readonly long[] _sentAt;

    public LoadDriver(IActorRef target, IReadOnlyList<TelemetryBatch> batches, int window, TaskCompletionSource<LoadResult> done)
    {
        _target = target;
        _batches = batches;
        _done = done;
        _latencyTicks = new long[batches.Count];
        _sentAt = new long[batches.Count];
        Receive<IngestAck>(ack =>
        {
            _accepted += ack.Accepted;
            _rejected += ack.Rejected.Length;
            _latencyTicks[_answered] = System.Diagnostics.Stopwatch.GetTimestamp() - _sentAt[_answered];
            _answered++;
            if (_answered == _batches.Count)
            {
                _done.TrySetResult(new LoadResult(_accepted, _rejected, _latencyTicks));
                Context.Stop(Self);
            }
            else if (_next < _batches.Count)
            {
                SendNext();
            }
        });
        Receive<Akka.Actor.Status.Failure>(f => _done.TrySetException(f.Cause));
        for (var i = 0; i < Math.Min(window, batches.Count); i++) SendNext();
    }

    private void SendNext()
    {
        _sentAt[_next] = System.Diagnostics.Stopwatch.GetTimestamp();
        _target.Tell(_batches[_next++]);
    }

    public static Props Props(IActorRef target, IReadOnlyList<TelemetryBatch> batches, int window, TaskCompletionSource<LoadResult> done) =>
        Akka.Actor.Props.Create(() => new LoadDriver(target, batches, window, done));
}

/// <summary>Replies are answered in order per driver (one target path), so latency index i matches request i.</summary>
public sealed record LoadResult(long Accepted, long Rejected, long[] LatencyTicks);
