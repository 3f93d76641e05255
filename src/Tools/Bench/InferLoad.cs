using System.Diagnostics;
using Akka.Actor;
using EdgeActors.Messages;

namespace EdgeActors.Tools.Bench;

/// <summary>Latencies (ms) and counts of one inference load run.</summary>
public sealed record InferLoadResult(int Served, int Rejected, double Seconds, double[] LatenciesMs)
{
    public double PerSecond => Served / Seconds;

    public double Percentile(double q)
    {
        if (LatenciesMs.Length == 0) return 0;
        var sorted = LatenciesMs.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    }
}

/// <summary>
/// Closed-loop caller: keeps <c>window</c> single-sample requests in flight against an inference actor until
/// <c>total</c> have been answered. <c>request</c> makes the request with a given id (floats or bytes).
/// </summary>
public sealed class ClosedLoopCaller : ReceiveActor
{
    private readonly IActorRef _target;
    private readonly Func<long, Infer> _request;
    private readonly int _total;
    private readonly TaskCompletionSource<InferLoadResult> _done;
    private readonly long[] _sentAt;
    private readonly List<double> _latencies;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _sent;
    private int _answered;
    private int _rejected;

    public ClosedLoopCaller(IActorRef target, Func<long, Infer> request, int total, int window, TaskCompletionSource<InferLoadResult> done)
    {
        _target = target;
        _request = request;
        _total = total;
        _done = done;
        _sentAt = new long[total];
        _latencies = new List<double>(total);
        Receive<InferResult>(r => Answered(r.RequestId, true));
        Receive<InferRejected>(r => Answered(r.RequestId, false));
        for (var i = 0; i < Math.Min(window, total); i++) SendNext();
    }

    public static Props Props(IActorRef target, Func<long, Infer> request, int total, int window, TaskCompletionSource<InferLoadResult> done) =>
        Akka.Actor.Props.Create(() => new ClosedLoopCaller(target, request, total, window, done));

    private void SendNext()
    {
        var id = _sent++;
        _sentAt[id] = Stopwatch.GetTimestamp();
        _target.Tell(_request(id));
    }

    private void Answered(long id, bool ok)
    {
        if (ok) _latencies.Add(Stopwatch.GetElapsedTime(_sentAt[id]).TotalMilliseconds);
        else _rejected++;
        _answered++;
        if (_sent < _total) SendNext();
        if (_answered == _total)
        {
            _done.TrySetResult(new InferLoadResult(_total - _rejected, _rejected, _clock.Elapsed.TotalSeconds, _latencies.ToArray()));
            Context.Stop(Self);
        }
    }
}

/// <summary>
/// Open-loop load: a dedicated thread sends single-sample requests at a fixed rate (paced every ~1 ms, whatever the
/// replies do) with this actor as the sender; the actor records each reply's latency and completes when every
/// request sent during <c>duration</c> has been answered. A thread rather than a timer, because the scheduler's tick
/// would turn the load into bursts.
/// </summary>
public sealed class OpenLoopCaller : ReceiveActor
{
    private sealed record SendingDone(long Sent);

    private readonly TaskCompletionSource<InferLoadResult> _done;
    private readonly long[] _sentAt;
    private readonly List<double> _latencies = new();
    private readonly TimeSpan _duration;
    private long _expected = -1;
    private long _answered;
    private int _rejected;

    public OpenLoopCaller(IActorRef target, Func<long, Infer> request, double ratePerSecond, TimeSpan duration, TaskCompletionSource<InferLoadResult> done)
    {
        _done = done;
        _duration = duration;
        _sentAt = new long[(long)(ratePerSecond * duration.TotalSeconds) + 16];
        Receive<InferResult>(r => Answered(r.RequestId, true));
        Receive<InferRejected>(r => Answered(r.RequestId, false));
        Receive<SendingDone>(d =>
        {
            _expected = d.Sent;
            Finish();
        });
        var self = Self;
        var sentAt = _sentAt;
        var thread = new Thread(() =>
        {
            // this thread is the load generator's own (never a dispatcher thread): it paces itself on a wait handle
            using var pace = new ManualResetEventSlim(false);
            var clock = Stopwatch.StartNew();
            long sent = 0;
            while (clock.Elapsed < duration)
            {
                var due = Math.Min(sentAt.Length, (long)(clock.Elapsed.TotalSeconds * ratePerSecond));
                while (sent < due)
                {
                    sentAt[sent] = Stopwatch.GetTimestamp();
                    target.Tell(request(sent), self);
                    sent++;
                }
                pace.Wait(1); // ~1 ms pacing; spinning would take a core from the system under test
            }
            self.Tell(new SendingDone(sent));
        }) { IsBackground = true, Name = "open-loop-load" };
        thread.Start();
    }

    public static Props Props(IActorRef target, Func<long, Infer> request, double ratePerSecond, TimeSpan duration, TaskCompletionSource<InferLoadResult> done) =>
        Akka.Actor.Props.Create(() => new OpenLoopCaller(target, request, ratePerSecond, duration, done));

    private void Answered(long id, bool ok)
    {
        if (ok) _latencies.Add(Stopwatch.GetElapsedTime(Volatile.Read(ref _sentAt[id])).TotalMilliseconds);
        else _rejected++;
        _answered++;
        Finish();
    }

    private void Finish()
    {
        if (_expected < 0 || _answered < _expected) return;
        _done.TrySetResult(new InferLoadResult((int)_answered - _rejected, _rejected, _duration.TotalSeconds, _latencies.ToArray()));
        Context.Stop(Self);
    }
}
