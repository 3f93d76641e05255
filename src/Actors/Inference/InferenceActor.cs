using EdgeActors.Inference.Runtime;
using System.Buffers;
using Akka.Actor;
using Akka.Event;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Inference;

public static class InferenceActorNames
{
    /// <summary>The name of the inference actor serving <paramref name="model"/> on a node.</summary>
    public static string For(string model) => $"inference-{model}";
}

/// <summary>
/// Serves one model on this node with dynamic batching. Requests are validated at once (NoModel, BadInput,
/// Overloaded are never sent after a wait) and queued by priority (High first, FIFO within a level) in a
/// <see cref="BatchQueue{T}"/>, which also decides when a batch is due and which requests it takes. A batch packs
/// whole requests up to the batch size and runs off the mailbox on the actor's runner thread, one Run at a time (the
/// <see cref="OnnxModel"/> is not thread-safe); up to <see cref="BatchingSettings.MaxBatchesInFlight"/> batches are
/// handed over at once, so the next one is packed and waiting while one runs. Samples come as floats or as bytes
/// (<see cref="Infer.ByteInput"/>, camera pixels) and are packed into the model's own input format (a uint8 model
/// normalises them in its graph). A batch is dispatched when enough samples are queued, else when
/// the oldest queued request has waited <see cref="BatchingSettings.MaxQueueDelay"/>.
/// <para>
/// <see cref="Swap"/> replaces the model for the next batch; a batch in flight finishes on the old version, which is
/// disposed once that batch is done. The actor owns every model it is given and disposes the last one when it stops.
/// </para>
/// <para>
/// Session recovery: when a Run on the model's primary session (CUDA when it loaded, else CPU) fails, the same batch is
/// run again at once on the model's CPU fallback session, so its callers still get their answers, and the primary
/// session is disposed and built again off the mailbox (batches run on the CPU session meanwhile). After
/// <see cref="SessionRecoverySettings.FallbackAfter"/> consecutive primary failures the model is served from the CPU
/// session and the primary is rebuilt and tried again after a backoff (doubling up to the maximum); a successful
/// primary batch resets the count. A batch that fails on the CPU session too is answered Failed and not counted
/// against the primary (the model or the input is at fault, not the device).
/// </para>
/// </summary>
public sealed class InferenceActor : ReceiveActor, IWithTimers
{
    /// <summary>Local only: serve this version from the next batch on (the actor takes ownership). Replies <see cref="Swapped"/>.</summary>
    public sealed record Swap(OnnxModel Model) : INoSerializationVerificationNeeded;

    public sealed record Swapped(string Model, int Version) : INoSerializationVerificationNeeded;

    /// <summary>Replies <see cref="LoadedModel"/>.</summary>
    public sealed record GetStats : INoSerializationVerificationNeeded
    {
        public static readonly GetStats Instance = new();
    }

    private sealed record Pending(IActorRef ReplyTo, Infer Request)
    {
        /// <summary>When it was queued (<see cref="System.Diagnostics.Stopwatch"/> ticks): the queue duration's start.</summary>
        public long Queued { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    /// <summary>The oldest queued request (<c>Seq</c>) has waited the maximum queue delay.</summary>
    private sealed record Flush(long Seq) : INoSerializationVerificationNeeded;

    /// <summary><c>PrimaryError</c>: the primary session failed and the batch was re-run on the CPU session.</summary>
    private sealed record BatchDone(Batch Batch, string? PrimaryError) : INoSerializationVerificationNeeded;

    private sealed record BatchFailed(Batch Batch, string Reason, string? PrimaryError) : INoSerializationVerificationNeeded;

    /// <summary>The primary session of <c>Model</c> was rebuilt (<c>Error</c> null) or could not be.</summary>
    private sealed record PrimaryRebuilt(OnnxModel Model, long Attempt, string? Error) : INoSerializationVerificationNeeded;

    /// <summary>The backoff after repeated primary failures is over: rebuild the primary and try it again.</summary>
    private sealed record RetryPrimary : INoSerializationVerificationNeeded
    {
        public static readonly RetryPrimary Instance = new();
    }

    private const string RetryTimer = "primary-retry";


    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _modelName;
    private readonly BatchingSettings _settings;
    private readonly SessionRecoverySettings _recovery;
    private readonly string _node;
    private readonly BatchQueue<Pending> _queue;

    private OnnxModel? _model;
    /// <summary>Batches handed to the runner, oldest first; they complete in this order.</summary>
    private readonly Queue<Batch> _inFlight = new();
    /// <summary>Incremented whenever the primary is found failed: a batch dispatched before that does not count again.</summary>
    private long _primaryEpoch;
    private long _timerFor = -1;
    private long _served;
    private long _batches;
    private string _lastError = "";

    // session recovery (see the class summary)
    private bool _primaryUsable = true;
    private long _rebuildAttempt;
    private bool _rebuilding;
    private int _consecutiveFailures;
    private long _primaryFailures;
    private long _recreations;
    private long _fallbackBatches;
    private string _fallbackReason = "";
    private DateTimeOffset? _retryAt;

    public ITimerScheduler Timers { get; set; } = null!;

    public InferenceActor(string model, BatchingSettings settings, string node, SessionRecoverySettings recovery)
    {
        _modelName = model;
        _settings = settings;
        _recovery = recovery;
        _node = node;
        _queue = new BatchQueue<Pending>(settings.MaxQueueLength, settings.MaxQueueDelay, settings.PreferredBatchSizes, settings.Time);

        Receive<Infer>(OnInfer);
        Receive<Flush>(f => TryDispatch(flushFor: f.Seq));
        Receive<BatchDone>(OnBatchDone);
        Receive<BatchFailed>(OnBatchFailed);
        Receive<Swap>(OnSwap);
        Receive<PrimaryRebuilt>(OnPrimaryRebuilt);
        Receive<RetryPrimary>(_ => OnRetryPrimary());
        Receive<GetStats>(_ => Sender.Tell(Stats()));
    }

    public static Props Props(string model, BatchingSettings settings, string node, SessionRecoverySettings? recovery = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        var validated = settings.Validate();
        var validRecovery = (recovery ?? SessionRecoverySettings.Default).Validate();
        return Akka.Actor.Props.Create(() => new InferenceActor(model, validated, node, validRecovery));
    }

    private int MaxBatchFor(OnnxModel model) => Math.Min(_settings.MaxBatchSizeFor(model.Provider), model.MaxBatch);

    private bool InUse(OnnxModel model)
    {
        foreach (var b in _inFlight)
        {
            if (ReferenceEquals(b.Model, model)) return true;
        }
        return false;
    }

    // ------------------------------------------------------------------ requests

    private void OnInfer(Infer request)
    {
        var sender = Sender;
        if (!string.Equals(request.Model, _modelName, StringComparison.Ordinal))
        {
            sender.Tell(Reject(request, InferRejectReason.NoModel, $"model '{request.Model}' is not served by {InferenceActorNames.For(_modelName)} on {_node}"));
            return;
        }
        if (_model is not { } model)
        {
            sender.Tell(Reject(request, InferRejectReason.NoModel, $"no version of model '{_modelName}' is loaded on {_node}"));
            return;
        }
        if (Misfit(request, model) is { } problem)
        {
            sender.Tell(Reject(request, InferRejectReason.BadInput, problem));
            return;
        }
        if (!_queue.TryEnqueue(new Pending(sender, request), request.Count, high: request.Priority == InferencePriority.High))
        {
            sender.Tell(Reject(request, InferRejectReason.Overloaded, $"queue full ({_queue.Depth} waiting)"));
            return;
        }
        TryDispatch();
    }

    /// <summary>Why <paramref name="request"/> cannot run on <paramref name="model"/>, or null when it can.</summary>
    private string? Misfit(Infer request, OnnxModel model)
    {
        var max = MaxBatchFor(model);
        if (request.Count < 1 || request.Count > max)
            return $"count {request.Count} is outside 1..{max} (model {_modelName} v{model.Info.Version})";
        var expected = request.Count * model.InputSize;
        var bytes = request.ByteInput is not null;
        var got = bytes ? request.ByteInput!.Length : request.Input?.Length ?? 0;
        if (got != expected || (bytes && request.Input is { Length: > 0 }))
            return $"input holds {got} {(bytes ? "bytes" : "floats")}, expected {expected} ({request.Count} samples x {model.InputSize} for model {_modelName} v{model.Info.Version})";
        return null;
    }

    private InferRejected Reject(Infer request, InferRejectReason reason, string detail) =>
        new(request.RequestId, _modelName, reason, detail);

    // ------------------------------------------------------------------ batching

    /// <summary>
    /// Dispatches a batch when fewer than the maximum are in flight and the queue says one is due; otherwise makes sure
    /// the timer is armed for the oldest request. <paramref name="flushFor"/>: the timer fired for that request.
    /// </summary>
    private void TryDispatch(long flushFor = -1)
    {
        if (flushFor >= 0 && flushFor == _timerFor) _timerFor = -1;
        if (_inFlight.Count >= _settings.MaxBatchesInFlight || _model is not { } model) return; // re-evaluated when a batch completes / a model arrives
        var plan = _queue.Plan(MaxBatchFor(model), flushFor);
        switch (plan.Kind)
        {
            case BatchPlanKind.Idle:
                CancelTimer();
                return;
            case BatchPlanKind.Wait:
                ArmTimer(plan.OldestSeq, plan.Delay);
                return;
            default:
                Dispatch(model, plan.Target);
                return;
        }
    }

    /// <summary>
    /// Queue delays are microseconds to a few milliseconds, below the Akka scheduler's 10 ms tick, so the flush comes
    /// from a .NET timer (Task.Delay on <see cref="BatchingSettings.Time"/>, ~1 ms resolution) piped back to this actor.
    /// A flush for a request that is no longer the oldest is harmless: <see cref="TryDispatch"/> re-checks the queue.
    /// </summary>
    private void ArmTimer(long oldestSeq, TimeSpan delay)
    {
        if (_timerFor == oldestSeq) return;
        _timerFor = oldestSeq;
        var flush = new Flush(oldestSeq);
        Task.Delay(delay, _settings.Time).ContinueWith(_ => flush, TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
    }

    private void CancelTimer() => _timerFor = -1;

    /// <summary>Takes whole requests (High first, FIFO) while the total stays within <paramref name="target"/> samples, packs and runs them.</summary>
    private void Dispatch(OnnxModel model, int target)
    {
        // the first request always goes (its Count is within the model's maximum); never split one
        var taken = _queue.Take(target);
        var samples = taken.Sum(p => p.Request.Count);
        CancelTimer();

        var sampleBytes = model.InputSize * model.InputElementSize;
        var input = ArrayPool<byte>.Shared.Rent(samples * sampleBytes);
        var output = ArrayPool<float>.Shared.Rent(samples * model.OutputSize);
        var offset = 0;
        foreach (var p in taken)
        {
            var n = p.Request.Count * sampleBytes;
            if (p.Request.ByteInput is { } pixels) model.Pack(pixels, input.AsSpan(offset, n));
            else model.Pack(p.Request.Input, input.AsSpan(offset, n));
            offset += n;
        }
        var batch = new Batch(model, taken, samples, input, output, onCpu: !_primaryUsable, _primaryEpoch);
        if (Observability.InferenceMetrics.QueueSeconds.Enabled)
        {
            var version = new KeyValuePair<string, object?>("version", Observability.InferenceMetrics.VersionLabel(model.Info.Version));
            var name = new KeyValuePair<string, object?>("model", _modelName);
            foreach (var p in taken) Observability.InferenceMetrics.QueueSeconds.Record(Observability.EdgeMeters.Seconds(p.Queued, batch.Dispatched), name, version);
        }
        Observability.InferenceMetrics.BatchSamples.Record(samples, new KeyValuePair<string, object?>("model", _modelName));
        _inFlight.Enqueue(batch);
        _runner ??= new BatchRunner(Self, InferenceActorNames.For(_modelName));
        _runner.Submit(batch);
    }

    private BatchRunner? _runner;

    private void OnBatchDone(BatchDone done)
    {
        var batch = done.Batch;
        if (!_inFlight.TryPeek(out var oldest) || !ReferenceEquals(batch, oldest))
        {
            _log.Warning("Inference {0}: completion of a batch that is not in flight ignored", _modelName);
            return;
        }
        _inFlight.Dequeue();
        var model = batch.Model;
        var version = model.Info.Version;
        var fellBack = batch.OnCpu || done.PrimaryError is not null;
        var provider = fellBack ? ExecutionProvider.Cpu : model.Provider;
        var outputSize = model.OutputSize;
        if (fellBack) _fallbackBatches++;
        RecordBatch(batch, provider, success: true, fellBack);
        // before the next dispatch: a failed primary must not get the next batch
        if (done.PrimaryError is { } error) OnPrimaryFailed(batch, error);
        else if (!batch.OnCpu && batch.Epoch == _primaryEpoch) OnPrimarySucceeded(model);
        // the batch ran on a version that has been swapped out since: nothing uses it any more (outputs are in our buffer)
        if (!ReferenceEquals(model, _model) && !InUse(model)) model.Dispose();
        // start the next batch first, so ONNX Runtime works while this batch's callers are answered
        TryDispatch();
        var offset = 0;
        foreach (var p in batch.Requests)
        {
            var n = p.Request.Count * outputSize;
            var y = batch.Output.AsSpan(offset, n).ToArray();
            offset += n;
            p.ReplyTo.Tell(new InferResult(p.Request.RequestId, _modelName, version, provider, _node, p.Request.Count, outputSize, y));
        }
        _served += batch.Requests.Length;
        _batches++;
        batch.ReturnBuffers();
    }

    private void OnBatchFailed(BatchFailed failed)
    {
        var batch = failed.Batch;
        if (!_inFlight.TryPeek(out var oldest) || !ReferenceEquals(batch, oldest))
        {
            _log.Warning("Inference {0}: failure of a batch that is not in flight ignored", _modelName);
            return;
        }
        _inFlight.Dequeue();
        var version = batch.Model.Info.Version;
        _lastError = $"v{version}: batch of {batch.Samples} samples failed: {failed.Reason}" +
                     (failed.PrimaryError is null ? "" : $" (on the CPU fallback session, after the {batch.Model.Provider} primary failed: {failed.PrimaryError})");
        _log.Warning("Inference {0}: {1}", _modelName, _lastError);
        RecordBatch(batch, batch.OnCpu || failed.PrimaryError is not null ? ExecutionProvider.Cpu : batch.Model.Provider, success: false, fellBack: batch.OnCpu || failed.PrimaryError is not null);
        foreach (var p in batch.Requests)
        {
            p.ReplyTo.Tell(Reject(p.Request, InferRejectReason.Failed, $"model {_modelName} v{version}: {failed.Reason}"));
        }
        _batches++;
        Completed(batch);
    }

    /// <summary>The batch's requests, compute time and fallback in the metrics.</summary>
    private void RecordBatch(Batch batch, string provider, bool success, bool fellBack)
    {
        var tags = Observability.InferenceMetrics.Tags(_modelName, batch.Model.Info.Version, provider, success);
        Observability.InferenceMetrics.RequestsTotal.Add(batch.Requests.Length, tags);
        Observability.InferenceMetrics.ComputeSeconds.Record(Observability.EdgeMeters.Seconds(batch.Dispatched, System.Diagnostics.Stopwatch.GetTimestamp()),
            new KeyValuePair<string, object?>("model", _modelName), new KeyValuePair<string, object?>("provider", provider));
        if (fellBack) Observability.InferenceMetrics.FallbacksTotal.Add(1, new KeyValuePair<string, object?>("model", _modelName));
    }

    private void Completed(Batch batch)
    {
        batch.ReturnBuffers();
        // the batch ran on a version that has been swapped out since: nothing uses it any more
        if (!ReferenceEquals(batch.Model, _model) && !InUse(batch.Model)) batch.Model.Dispose();
        TryDispatch();
    }

    // ------------------------------------------------------------------ hot swap

    private void OnSwap(Swap swap)
    {
        var sender = Sender;
        var next = swap.Model;
        if (!string.Equals(next.Info.Name, _modelName, StringComparison.Ordinal))
        {
            // not taken over: the sender still owns it
            sender.Tell(new Status.Failure(new ArgumentException(
                $"{InferenceActorNames.For(_modelName)} cannot serve model '{next.Info.Name}' v{next.Info.Version}")));
            return;
        }
        var old = _model;
        if (!ReferenceEquals(old, next))
        {
            _model = next;
            OnNewPrimary();
            if (old is not null && !InUse(old)) old.Dispose(); // else disposed when its last batch completes
            RejectMisfits(next, old);
            _log.Info("Inference {0}: serving v{1} ({2}){3}", _modelName, next.Info.Version, next.Provider,
                old is null ? "" : $", replacing v{old.Info.Version}");
        }
        sender.Tell(new Swapped(_modelName, next.Info.Version));
        TryDispatch();
    }

    /// <summary>Queued requests that do not fit the new version (input size, batch limit) are answered BadInput.</summary>
    private void RejectMisfits(OnnxModel next, OnnxModel? old)
    {
        var from = old is null ? "" : $" (queued for v{old.Info.Version}, swapped before it ran)";
        foreach (var (p, problem) in _queue.RemoveWhere(p => Misfit(p.Request, next)))
            p.ReplyTo.Tell(Reject(p.Request, InferRejectReason.BadInput, problem + from));
    }

    // ------------------------------------------------------------------ stats and shutdown

    private LoadedModel Stats() =>
        new(_modelName, _model?.Info.Version ?? 0, _queue.Depth, _served, _batches, _queue.Refused, 0, 0, _lastError, Health());

    private SessionHealth? Health() => _model is not { } model
        ? null
        : new SessionHealth(model.Provider, _primaryUsable ? model.Provider : "CPU fallback", _primaryFailures, _consecutiveFailures, _recreations,
            _fallbackBatches, _fallbackReason, _retryAt?.ToUnixTimeMilliseconds() ?? 0);

    // ------------------------------------------------------------------ session recovery

    private string PrimaryName(OnnxModel model) =>
        model.Provider == ExecutionProvider.Cuda ? "CUDA primary session" : $"primary session (CPU: {Short(model.ProviderNote)})";

    private static string Short(string note) => note.Length <= 80 ? note : note[..80] + "…";

    private void OnPrimaryFailed(Batch batch, string error)
    {
        var model = batch.Model;
        _primaryFailures++;
        _fallbackReason = error;
        if (ReferenceEquals(model, _model) && batch.Epoch != _primaryEpoch)
        {
            // dispatched (pipelined) before an earlier batch's failure was handled: that failure is being dealt with
            _log.Warning("Inference {0}: {1} of v{2} failed again on a batch queued before the first failure was handled ({3}); the batch of {4} samples was re-run on CPU",
                _modelName, PrimaryName(model), model.Info.Version, error, batch.Samples);
            return;
        }
        if (!ReferenceEquals(model, _model))
        {
            // that version has been swapped out; the new one has a fresh primary session
            _log.Warning("Inference {0}: {1} of replaced v{2} failed ({3}); the batch of {4} samples was re-run on CPU",
                _modelName, PrimaryName(model), model.Info.Version, error, batch.Samples);
            return;
        }
        _consecutiveFailures++;
        _primaryUsable = false;
        _primaryEpoch++;
        if (_consecutiveFailures < _recovery.FallbackAfter)
        {
            _log.Warning("Inference {0}: {1} failed ({2}); the batch of {3} samples was re-run on the CPU fallback session; " +
                         "recreating the primary session (consecutive failure {4} before serving from CPU)",
                _modelName, $"{PrimaryName(model)} of v{model.Info.Version}", error, batch.Samples, $"{_consecutiveFailures} of {_recovery.FallbackAfter}");
            StartRebuild(model);
            return;
        }
        var delay = _recovery.Backoff(_consecutiveFailures);
        _log.Warning("Inference {0}: {1} failed {2} times in a row ({3}); the batch was re-run on CPU; " +
                     "serving from the CPU fallback session, retrying the primary in {4}",
            _modelName, $"{PrimaryName(model)} of v{model.Info.Version}", _consecutiveFailures, error, delay);
        BackOff(delay);
    }

    private void OnPrimarySucceeded(OnnxModel model)
    {
        if (_consecutiveFailures == 0 || !ReferenceEquals(model, _model)) return;
        if (_consecutiveFailures >= _recovery.FallbackAfter)
            _log.Info("Inference {0}: {1} of v{2} recovered after {3} consecutive failures; serving on it again",
                _modelName, PrimaryName(model), model.Info.Version, _consecutiveFailures);
        _consecutiveFailures = 0;
    }

    private void BackOff(TimeSpan delay)
    {
        _retryAt = DateTimeOffset.UtcNow + delay;
        Timers.StartSingleTimer(RetryTimer, RetryPrimary.Instance, delay);
    }

    /// <summary>Disposes and rebuilds the primary session on the thread pool (never while a primary batch runs: it is not usable now).</summary>
    private void StartRebuild(OnnxModel model)
    {
        var attempt = ++_rebuildAttempt;
        _rebuilding = true;
        Task.Run(() =>
        {
            try
            {
                model.RebuildPrimary();
                return new PrimaryRebuilt(model, attempt, null);
            }
            catch (Exception ex)
            {
                return new PrimaryRebuilt(model, attempt, $"{ex.GetType().Name}: {ex.Message.Split('\n')[0].Trim()}");
            }
        }).PipeTo(Self);
    }

    private void OnPrimaryRebuilt(PrimaryRebuilt rebuilt)
    {
        if (rebuilt.Attempt != _rebuildAttempt || !ReferenceEquals(rebuilt.Model, _model)) return; // superseded by a swap
        _rebuilding = false;
        var model = rebuilt.Model;
        if (rebuilt.Error is { } error)
        {
            _consecutiveFailures = Math.Max(_consecutiveFailures + 1, _recovery.FallbackAfter);
            _fallbackReason = $"recreating the primary session failed: {error}";
            var delay = _recovery.Backoff(_consecutiveFailures);
            _log.Warning("Inference {0}: recreating the {1} of v{2} failed ({3}); serving from the CPU fallback session, retrying in {4}",
                _modelName, PrimaryName(model), model.Info.Version, error, delay);
            BackOff(delay);
            return;
        }
        _recreations++;
        _primaryUsable = true;
        _retryAt = null;
        _log.Info("Inference {0}: recreated the {1} of v{2} (recreation {3}); the next batch runs on it",
            _modelName, PrimaryName(model), model.Info.Version, _recreations);
        TryDispatch();
    }

    private void OnRetryPrimary()
    {
        _retryAt = null;
        if (_model is not { } model || _primaryUsable || _rebuilding) return;
        _log.Info("Inference {0}: backoff over; recreating the {1} of v{2} to try it again", _modelName, PrimaryName(model), model.Info.Version);
        StartRebuild(model);
    }

    /// <summary>A swapped-in version brings a fresh primary session: use it unless the primary is backing off.</summary>
    private void OnNewPrimary()
    {
        if (_rebuilding)
        {
            _rebuilding = false;
            _rebuildAttempt++; // the rebuild of the replaced version is dropped when it reports
        }
        if (_retryAt is null) _primaryUsable = true;
    }

    protected override void PostStop()
    {
        var detail = $"model '{_modelName}' was unloaded from {_node} before the request was served";
        foreach (var p in _queue.Clear()) p.ReplyTo.Tell(Reject(p.Request, InferRejectReason.NoModel, detail));

        // batches handed to the runner: their callers are answered now; a batch not yet started is skipped, the one
        // running finishes; then the runner disposes every model they used (and the current one) and returns their buffers
        var batches = _inFlight.ToArray();
        _inFlight.Clear();
        foreach (var batch in batches)
        {
            foreach (var p in batch.Requests) p.ReplyTo.Tell(Reject(p.Request, InferRejectReason.NoModel, detail));
            batch.Abandon();
        }
        var models = batches.Select(b => b.Model).Append(_model).OfType<OnnxModel>().Distinct().ToArray();
        _model = null;
        void CleanUp()
        {
            foreach (var b in batches) b.ReturnBuffers();
            foreach (var m in models) m.Dispose();
        }
        if (_runner is { } runner) runner.Stop(CleanUp);
        else CleanUp();
        base.PostStop();
    }

    /// <summary>
    /// Runs this actor's batches, one at a time and in order, on a dedicated thread (not the thread pool the dispatcher
    /// uses, so ONNX Runtime and the actors do not queue behind each other), and tells each outcome to the actor.
    /// </summary>
    private sealed class BatchRunner
    {
        private readonly System.Collections.Concurrent.BlockingCollection<Action> _work = new();

        public BatchRunner(IActorRef owner, string name)
        {
            var thread = new Thread(() =>
            {
                foreach (var work in _work.GetConsumingEnumerable()) work();
                _work.Dispose();
            }) { IsBackground = true, Name = name };
            _owner = owner;
            thread.Start();
        }

        private readonly IActorRef _owner;

        public void Submit(Batch batch) => _work.Add(() =>
        {
            if (batch.Execute() is { } outcome) _owner.Tell(outcome);
        });

        /// <summary>No more batches: <paramref name="last"/> runs once those already submitted are done (or skipped), then the thread ends.</summary>
        public void Stop(Action last)
        {
            _work.Add(last);
            _work.CompleteAdding();
        }
    }

    /// <summary>
    /// One dispatched batch, shared between the actor and the runner. <paramref name="input"/> holds the samples in the
    /// model's input format (see <see cref="OnnxModel.Pack(ReadOnlySpan{float}, Span{byte})"/>). <paramref name="epoch"/>:
    /// the actor's primary epoch when it was dispatched.
    /// </summary>
    private sealed class Batch(OnnxModel model, Pending[] requests, int samples, byte[] input, float[] output, bool onCpu, long epoch)
    {
        private int _abandoned;

        public OnnxModel Model { get; } = model;
        public Pending[] Requests { get; } = requests;

        /// <summary>When it was formed (<see cref="System.Diagnostics.Stopwatch"/> ticks): queue end, compute start.</summary>
        public long Dispatched { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
        public int Samples { get; } = samples;
        public byte[] Input { get; } = input;
        public float[] Output { get; } = output;
        /// <summary>Runs on the CPU fallback session (the primary is being recreated or backs off).</summary>
        public bool OnCpu { get; } = onCpu;
        public long Epoch { get; } = epoch;

        /// <summary>
        /// Runs on the runner thread; never throws (a failure becomes <see cref="BatchFailed"/>). A primary failure is
        /// followed at once by a run on the CPU fallback session. Null: the actor stopped before the batch started.
        /// </summary>
        public object? Execute()
        {
            if (Volatile.Read(ref _abandoned) != 0) return null;
            string? primaryError = null;
            var input = Input.AsSpan(0, Samples * Model.InputSize * Model.InputElementSize);
            var output = Output.AsSpan(0, Samples * Model.OutputSize);
            if (!OnCpu)
            {
                try
                {
                    Model.Run(input, Samples, output);
                    return new BatchDone(this, null);
                }
                catch (Exception ex)
                {
                    primaryError = Describe(ex);
                }
            }
            try
            {
                Model.RunOnCpu(input, Samples, output);
                return new BatchDone(this, primaryError);
            }
            catch (Exception ex)
            {
                return new BatchFailed(this, Describe(ex), primaryError);
            }
        }

        private static string Describe(Exception ex) => $"{ex.GetType().Name}: {ex.Message.Split('\n')[0].Trim()}";

        /// <summary>The actor stopped: a batch that has not started yet is skipped.</summary>
        public void Abandon() => Volatile.Write(ref _abandoned, 1);

        public void ReturnBuffers()
        {
            ArrayPool<byte>.Shared.Return(Input);
            ArrayPool<float>.Shared.Return(Output);
        }
    }
}
