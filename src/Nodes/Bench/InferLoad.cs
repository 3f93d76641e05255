using System.Diagnostics;
using Akka.Actor;
using EdgeActors.Messages;

namespace EdgeActors.Nodes.Bench;

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
/// <c>total</c> have been answered.
/// </summary>
public sealed class ClosedLoopCaller : ReceiveActor
{
    private readonly IActorRef _target;
    private readonly string _model;
    private readonly float[][] _inputs;
    private readonly int _total;
    private readonly TaskCompletionSource<InferLoadResult> _done;
    private readonly long[] _sentAt;
    private readonly List<double> _latencies;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _sent;
    private int _answered;
    private int _rejected;

    public ClosedLoopCaller(IActorRef target, string model, float[][] inputs, int total, int window, TaskCompletionSource<InferLoadResult> done)
    {
        _target = target;
        _model = model;
        _inputs = inputs;
        _total = total;
        _done = done;
        _sentAt = new long[total];
        _latencies = new List<double>(total);
        Receive<InferResult>(r => Answered(r.RequestId, true));
        Receive<InferRejected>(r => Answered(r.RequestId, false));
        for (var i = 0; i < Math.Min(window, total); i++) SendNext();
    }

    public static Props Props(IActorRef target, string model, float[][] inputs, int total, int window, TaskCompletionSource<InferLoadResult> done) =>
        Akka.Actor.Props.Create(() => new ClosedLoopCaller(target, model, inputs, total, window, done));

    private void SendNext()
    {
        var id = _sent++;
        _sentAt[id] = Stopwatch.GetTimestamp();
        _target.Tell(new Infer(_model, id, 1, _inputs[id % _inputs.Length], InferencePriority.Normal));
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
/// Open-loop caller: sends single-sample requests at a fixed rate (a tick every millisecond sends what is due),
/// whatever the replies do, for <c>duration</c>; then waits for the outstanding replies.
/// </summary>
public sealed class OpenLoopCaller : ReceiveActor, IWithTimers
{
    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private readonly IActorRef _target;
    private readonly string _model;
    private readonly float[][] _inputs;
    private readonly double _rate;
    private readonly TimeSpan _duration;
    private readonly TaskCompletionSource<InferLoadResult> _done;
    private readonly Dictionary<long, long> _sentAt = new();
    private readonly List<double> _latencies = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _sent;
    private int _rejected;
    private bool _sending = true;

    public ITimerScheduler Timers { get; set; } = null!;

    public OpenLoopCaller(IActorRef target, string model, float[][] inputs, double ratePerSecond, TimeSpan duration, TaskCompletionSource<InferLoadResult> done)
    {
        _target = target;
        _model = model;
        _inputs = inputs;
        _rate = ratePerSecond;
        _duration = duration;
        _done = done;
        Receive<Tick>(_ => OnTick());
        Receive<InferResult>(r => Answered(r.RequestId, true));
        Receive<InferRejected>(r => Answered(r.RequestId, false));
        Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromMilliseconds(1));
    }

    public static Props Props(IActorRef target, string model, float[][] inputs, double ratePerSecond, TimeSpan duration, TaskCompletionSource<InferLoadResult> done) =>
        Akka.Actor.Props.Create(() => new OpenLoopCaller(target, model, inputs, ratePerSecond, duration, done));

    private void OnTick()
    {
        var elapsed = _clock.Elapsed;
        if (elapsed >= _duration)
        {
            _sending = false;
            Timers.Cancel("tick");
            Finish();
            return;
        }
        var due = (long)(elapsed.TotalSeconds * _rate);
        while (_sent < due)
        {
            var id = _sent++;
            _sentAt[id] = Stopwatch.GetTimestamp();
            _target.Tell(new Infer(_model, id, 1, _inputs[id % _inputs.Length], InferencePriority.Normal));
        }
    }

    private void Answered(long id, bool ok)
    {
        if (!_sentAt.Remove(id, out var at)) return;
        if (ok) _latencies.Add(Stopwatch.GetElapsedTime(at).TotalMilliseconds);
        else _rejected++;
        Finish();
    }

    private void Finish()
    {
        if (_sending || _sentAt.Count > 0) return;
        _done.TrySetResult(new InferLoadResult((int)_sent - _rejected, _rejected, _duration.TotalSeconds, _latencies.ToArray()));
        Context.Stop(Self);
    }
}
