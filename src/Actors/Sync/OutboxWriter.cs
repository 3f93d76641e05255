using EdgeActors.Storage;
using Akka.Actor;
using Akka.Event;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Sync;

/// <summary>
/// Owns an <see cref="IOutbox"/> and group-commits writes to it. <see cref="OutboxWrite"/>s from any number of senders are
/// accumulated until <see cref="OutboxSettings.WriterMaxBatch"/> records are pending or
/// <see cref="OutboxSettings.WriterMaxDelay"/> has passed since the first pending one; then ONE
/// <see cref="IOutbox.Append"/> (one transaction) runs for all of them on the thread pool and every sender gets its
/// <see cref="OutboxWritten"/> (or <see cref="OutboxWriteFailed"/>). Exactly one outbox operation is in flight at a time (the outbox
/// is not thread-safe): writes that arrive meanwhile accumulate for the next transaction, and
/// <see cref="Peek"/>/<see cref="Remove"/>/<see cref="Expire"/>/<see cref="GetStats"/> queue in the same lane.
/// <para>
/// Refusals (outbox full): the outbox refuses a tail of whole records of the combined record list, so they are attributed
/// to the LAST writes of the group first; a write that straddles the boundary gets its first records appended and the
/// rest refused. Counts in <see cref="OutboxWritten"/> are readings (a batch record counts its readings), so a write's
/// refused readings are always exactly those of its last records.
/// A failed transaction (SQLite error) answers <see cref="OutboxWriteFailed"/> to every write of the group; the actor keeps running.
/// Whoever opens the outbox disposes it: one passed in as an instance belongs to the caller (it outlives restarts of
/// this actor); one the actor opens itself (<see cref="Props(Func{IOutbox}, OutboxSettings, Func{long})"/>, each
/// incarnation opens its own) is disposed when the actor stops or restarts, after the operation in flight (if any) has finished.
/// </para>
/// </summary>
public sealed class OutboxWriter : ReceiveActor
{
    /// <summary>Replies <see cref="Peeked"/>: up to <c>Max</c> waiting records in sync order, not overtaking <c>InFlight</c>.</summary>
    public sealed record Peek(int Max, IReadOnlySet<long> InFlight) : INoSerializationVerificationNeeded;

    public sealed record Peeked(IReadOnlyList<OutboxEntry> Entries) : INoSerializationVerificationNeeded;

    /// <summary>Deletes acknowledged records. Replies <see cref="Removed"/>.</summary>
    public sealed record Remove(IReadOnlyCollection<long> Ids) : INoSerializationVerificationNeeded;

    public sealed record Removed(int Count) : INoSerializationVerificationNeeded;

    /// <summary>Deletes records past their TTL. Replies <see cref="Expired"/>.</summary>
    public sealed record Expire : INoSerializationVerificationNeeded
    {
        public static readonly Expire Instance = new();
    }

    public sealed record Expired(int Count) : INoSerializationVerificationNeeded;

    /// <summary>Replies the outbox's <see cref="OutboxStats"/>.</summary>
    public sealed record GetStats : INoSerializationVerificationNeeded
    {
        public static readonly GetStats Instance = new();
    }

    /// <summary>Replies <see cref="WriterStats"/> at once (not queued).</summary>
    public sealed record GetWriterStats : INoSerializationVerificationNeeded
    {
        public static readonly GetWriterStats Instance = new();
    }

    /// <summary>Append transactions run, writes and records appended/refused/failed since start, and writes pending now.</summary>
    public sealed record WriterStats(long Transactions, long Writes, long Appended, long Refused, long Failed, int Pending)
        : INoSerializationVerificationNeeded;

    private sealed record PendingWrite(IActorRef ReplyTo, OutboxWrite Write);

    private sealed record FlushDue(long Generation) : INoSerializationVerificationNeeded;

    private sealed record AppendDone(List<PendingWrite> Group, AppendResult? Result, string? Error) : INoSerializationVerificationNeeded;

    private sealed record OpDone(IActorRef ReplyTo, object Reply) : INoSerializationVerificationNeeded;

    private sealed record QueuedOp(IActorRef ReplyTo, Func<object> Run, string What);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IOutbox _outbox;
    private readonly bool _ownsOutbox;
    private readonly OutboxSettings _settings;
    private readonly Func<long> _clock;
    private readonly List<PendingWrite> _pending = new();
    private readonly Queue<QueuedOp> _ops = new();
    private int _pendingRecords;
    private bool _flushDue;
    private bool _timerArmed;
    private long _generation;
    private Task _lane = Task.CompletedTask;
    private bool _busy;
    private long _transactions;
    private long _writes;
    private long _appended;
    private long _refused;
    private long _failed;

    /// <summary>Over an outbox the caller owns (and disposes).</summary>
    public OutboxWriter(IOutbox outbox, OutboxSettings settings, Func<long>? clock = null)
        : this(outbox, false, settings, clock)
    {
    }

    /// <summary>Over an outbox it opens with <paramref name="open"/> and disposes itself.</summary>
    public OutboxWriter(Func<IOutbox> open, OutboxSettings settings, Func<long>? clock = null)
        : this(open(), true, settings, clock)
    {
    }

    private OutboxWriter(IOutbox outbox, bool ownsOutbox, OutboxSettings settings, Func<long>? clock)
    {
        _outbox = outbox;
        _ownsOutbox = ownsOutbox;
        _settings = settings.Validate();
        _clock = clock ?? (() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        Receive<OutboxWrite>(OnWrite);
        Receive<FlushDue>(f =>
        {
            if (f.Generation != _generation) return;
            _timerArmed = false;
            _flushDue = true;
            TryRun();
        });
        Receive<AppendDone>(OnAppendDone);
        Receive<OpDone>(d =>
        {
            _busy = false;
            d.ReplyTo.Tell(d.Reply);
            TryRun();
        });
        Receive<Peek>(p => Enqueue("peek", () => new Peeked(_outbox.Peek(p.Max, p.InFlight))));
        Receive<Remove>(r => Enqueue("remove", () =>
        {
            var before = _outbox.Stats().Synced;
            _outbox.Remove(r.Ids);
            return new Removed((int)(_outbox.Stats().Synced - before));
        }));
        Receive<Expire>(_ => Enqueue("expire", () => new Expired(_outbox.ExpireTtl(_clock()))));
        Receive<GetStats>(_ => Enqueue("stats", () => _outbox.Stats()));
        Receive<ReadOutboxDevice>(q => Enqueue("read-device", () =>
            new OutboxDeviceWaiting(q.Device, _outbox.Waiting(q.Device, RecordKind.Telemetry, q.Max), _outbox.Waiting(q.Device, RecordKind.Frame, q.Max))));
        Receive<ReadOutboxDevices>(q => Enqueue("read-devices", () =>
        {
            try
            {
                var waiting = _outbox.WaitingOf(q.Devices, q.Max);
                return new OutboxDevicesWaiting(q.BatchId, q.Devices.Select(d => waiting.TryGetValue(d, out var w)
                    ? new OutboxDeviceWaiting(d, w.Telemetry, w.Frames)
                    : new OutboxDeviceWaiting(d, KindHistory.Empty, KindHistory.Empty)).ToArray());
            }
            catch (Exception ex)
            {
                // answered with the batch id (a Status.Failure would not say which batch failed)
                return new OutboxDevicesWaiting(q.BatchId, [], ex.GetBaseException().Message);
            }
        }));
        Receive<GetWriterStats>(_ => Sender.Tell(new WriterStats(_transactions, _writes, _appended, _refused, _failed, _pending.Count)));
    }

    public static Props Props(IOutbox outbox, OutboxSettings settings, Func<long>? clock = null)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        return Akka.Actor.Props.Create(() => new OutboxWriter(outbox, settings, clock));
    }

    /// <summary>A writer that opens its outbox with <paramref name="open"/> (every incarnation) and disposes it when it stops.</summary>
    public static Props Props(Func<IOutbox> open, OutboxSettings settings, Func<long>? clock = null)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        return Akka.Actor.Props.Create(() => new OutboxWriter(open, settings, clock));
    }

    private void OnWrite(OutboxWrite w)
    {
        _writes++;
        if (w.Records is null || w.Records.Count == 0)
        {
            Sender.Tell(new OutboxWritten(w.Token, 0, 0));
            return;
        }
        _pending.Add(new PendingWrite(Sender, w));
        _pendingRecords += w.Records.Count;
        if (_pendingRecords >= _settings.WriterMaxBatch || _settings.WriterMaxDelay <= TimeSpan.Zero) _flushDue = true;
        else if (!_timerArmed)
        {
            _timerArmed = true;
            var due = new FlushDue(_generation);
            Task.Delay(_settings.WriterMaxDelay).ContinueWith(_ => due, TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
        }
        TryRun();
    }

    private void Enqueue(string what, Func<object> run)
    {
        _ops.Enqueue(new QueuedOp(Sender, run, what));
        TryRun();
    }

    private void TryRun()
    {
        if (_busy) return;
        if (_pending.Count > 0 && (_flushDue || _pendingRecords >= _settings.WriterMaxBatch))
        {
            RunAppend();
            return;
        }
        if (_ops.Count > 0) RunOp(_ops.Dequeue());
    }

    private void RunAppend()
    {
        // Take whole writes up to (at least) one batch; the rest stays pending and is still due.
        var group = new List<PendingWrite>();
        var records = new List<SyncRecord>();
        var i = 0;
        while (i < _pending.Count && (records.Count == 0 || records.Count + _pending[i].Write.Records.Count <= _settings.WriterMaxBatch))
        {
            group.Add(_pending[i]);
            records.AddRange(_pending[i].Write.Records);
            i++;
        }
        _pending.RemoveRange(0, i);
        _pendingRecords -= records.Count;
        if (_pending.Count == 0)
        {
            _flushDue = false;
            _timerArmed = false;
            _generation++; // a timer still running belongs to writes already taken
        }

        _busy = true;
        _transactions++;
        var outbox = _outbox;
        var now = _clock();
        _lane = Task.Run(() => outbox.Append(records, now));
        _lane.ContinueWith(t => t.IsCompletedSuccessfully
                ? new AppendDone(group, ((Task<AppendResult>)t).Result, null)
                : new AppendDone(group, null, t.Exception?.GetBaseException().Message ?? "cancelled"),
            TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
    }

    private void OnAppendDone(AppendDone done)
    {
        _busy = false;
        if (done.Result is { } result)
        {
            // The outbox refused a tail of the combined list: attribute refusals to the last writes first.
            var refusedLeft = result.Refused;
            var replies = new OutboxWritten[done.Group.Count];
            for (var i = done.Group.Count - 1; i >= 0; i--)
            {
                var count = Readings(done.Group[i].Write.Records);
                var refused = Math.Min(refusedLeft, count);
                refusedLeft -= refused;
                replies[i] = new OutboxWritten(done.Group[i].Write.Token, count - refused, refused);
            }
            _appended += result.Appended;
            _refused += result.Refused;
            if (result.Overwritten > 0) _log.Debug("outbox full: {0} oldest records overwritten", result.Overwritten);
            for (var i = 0; i < replies.Length; i++) done.Group[i].ReplyTo.Tell(replies[i]);
        }
        else
        {
            _log.Warning("outbox append of {0} writes failed: {1}", done.Group.Count, done.Error);
            foreach (var w in done.Group)
            {
                _failed += Readings(w.Write.Records);
                w.ReplyTo.Tell(new OutboxWriteFailed(w.Write.Token, done.Error ?? "append failed"));
            }
        }
        TryRun();
    }

    private static int Readings(IReadOnlyList<SyncRecord> records)
    {
        var n = 0;
        for (var i = 0; i < records.Count; i++) n += records[i].Count;
        return n;
    }

    private void RunOp(QueuedOp op)
    {
        _busy = true;
        var what = op.What;
        var replyTo = op.ReplyTo;
        _lane = Task.Run(op.Run);
        _lane.ContinueWith(t => t.IsCompletedSuccessfully
                ? new OpDone(replyTo, ((Task<object>)t).Result)
                : new OpDone(replyTo, new Status.Failure(new InvalidOperationException(
                    $"outbox {what} failed: {t.Exception?.GetBaseException().Message}", t.Exception?.GetBaseException()))),
            TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
    }

    protected override void PostStop()
    {
        if (!_ownsOutbox)
        {
            base.PostStop(); // the caller's outbox: it outlives this incarnation
            return;
        }
        var outbox = _outbox;
        var log = _log;
        _lane.ContinueWith(_ =>
        {
            try
            {
                outbox.Dispose();
            }
            catch (Exception ex)
            {
                log.Warning("disposing the outbox failed: {0}", ex.Message);
            }
        }, TaskScheduler.Default);
        base.PostStop();
    }
}
