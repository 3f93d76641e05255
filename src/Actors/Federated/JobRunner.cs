using EdgeActors.Storage;
using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Event;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Federated.Gbdt;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// Runs one federated k-means or GBDT job for the <see cref="RoundCoordinator"/> (its child): every step goes to all
/// participating edge workers, the next one leaves when all of them answered; a worker that fails or does not answer
/// within the step timeout fails the job with a message naming it (a job restarts from scratch; it holds no durable
/// state). Computation on the coordinator side (merging, split finding, export, scoring) runs off the mailbox.
/// </summary>
public sealed class JobRunner : ReceiveActor, IWithTimers
{
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(120);

    public sealed record WorkersQuery;
    public sealed record Workers(IActorRef[] Refs);

    private sealed record StepTimedOut(int Step);
    private sealed record Computed(int Step, string Kind, byte[] Payload, string[] Lines, bool Finished, string[] Keys, double[] Values);
    private sealed record ComputeFailed(string Error);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IFederationRequest _request;
    private readonly IActorRef[] _workers;
    private readonly IActorRef? _registry;
    private readonly Func<EvaluationSet?> _evaluation;
    private readonly Dictionary<IActorRef, JobStepReply> _replies = new();
    private readonly List<string> _lines = [];
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private readonly string _id;
    private readonly string _kind;
    private int _step;
    private RunState _state = RunState.Running;
    private string _detail = "";
    private string[] _keys = [];
    private double[] _values = [];

    // k-means state
    private double[] _mean = [];
    private double[] _std = [];
    private float[] _centroids = [];
    private int _iteration;
    private double[] _thresholds = [];

    // GBDT state
    private GbdtTreeGrower? _gbdt;
    private long _maxHistogramBytes;

    public ITimerScheduler Timers { get; set; } = null!;

    public JobRunner(IFederationRequest request, IActorRef[] workers, IActorRef? registry, Func<EvaluationSet?> evaluation)
    {
        _request = request;
        _workers = workers;
        _registry = registry;
        _evaluation = evaluation;
        (_id, _kind) = request switch
        {
            StartKMeans k => (k.Id, JobParticipant.KMeansKind),
            StartGbdt g => (g.Id, JobParticipant.GbdtKind),
            _ => throw new ArgumentException("unknown job"),
        };

        Receive<GetJobStatus>(_ => Sender.Tell(Status()));
        Receive<JobStepReply>(OnReply);
        Receive<StepTimedOut>(t =>
        {
            if (t.Step != _step || _state != RunState.Running) return;
            var missing = _workers.Where(w => !_replies.ContainsKey(w)).Select(w => w.Path.Address.ToString());
            Fail($"step {t.Step}: no answer within {StepTimeout.TotalSeconds:F0} s from {string.Join(", ", missing)}");
        });
        Receive<Computed>(OnComputed);
        Receive<ComputeFailed>(f => Fail(f.Error));
        Receive<ModelPublished>(p => Line($"published {p.Model.Name} v{p.Model.Version} to the registry"));
        Receive<ModelCommandRejected>(r => Line($"registry refused {r.Name}: {r.Reason}"));
    }

    public static Props Props(IFederationRequest request, IActorRef[] workers, IActorRef? registry, Func<EvaluationSet?> evaluation) =>
        Akka.Actor.Props.Create(() => new JobRunner(request, workers, registry, evaluation));

    public static string? Validate(StartKMeans k)
    {
        if (string.IsNullOrWhiteSpace(k.Id) || k.Id.Length > 64) return "job id must be 1..64 characters";
        if (k.K is < 1 or > 1000) return $"k = {k.K}: must be 1..1000";
        if (k.Iterations is < 1 or > 10_000) return $"iterations = {k.Iterations}: must be 1..10000";
        if (!(k.OutlierZ > 0)) return $"outlier z = {k.OutlierZ}: must be > 0";
        return null;
    }

    public static string? Validate(StartGbdt g)
    {
        if (string.IsNullOrWhiteSpace(g.Id) || g.Id.Length > 64) return "job id must be 1..64 characters";
        if (g.Classes != 2 && g.Classes != TrainingFrames.Classes) return $"classes = {g.Classes}: must be 2 (binary) or {TrainingFrames.Classes}";
        if (g.BinaryThreshold is < 1 or > 9) return $"binary threshold = {g.BinaryThreshold}: must be 1..9";
        if (g.PublishAs.Length > 0 && ModelStore.ValidateName(g.PublishAs) is { } bad) return "publish-as: " + bad;
        try
        {
            _ = Options(g);
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
        return null;
    }

    private static GbdtOptions Options(StartGbdt g) => new()
    {
        Classes = g.Classes, Iterations = g.Iterations, MaxDepth = g.MaxDepth, LearningRate = g.LearningRate, MaxBins = g.MaxBins, Lambda = g.Lambda,
    };

    protected override void PreStart()
    {
        Line($"{_kind} job {_id} on {_workers.Length} edge nodes");
        var first = _request switch
        {
            StartKMeans k => new PayloadWriter().Int(k.Seed).Int(Math.Max(4 * k.K, 16)).ToArray(),
            // exact sketches: the pooled features take at most 4,081 distinct values each, so a sketch stays under ~2.5 MB
            StartGbdt g => new PayloadWriter().Int(g.Classes).Int(g.BinaryThreshold).Int(int.MaxValue).Int(17).ToArray(),
            _ => [],
        };
        Send(_kind == JobParticipant.KMeansKind ? (int)KMeansStep.Start : (int)GbdtStep.Start, first);
    }

    private JobStatus Status() => new(_id, _kind, _state.Wire(), _detail, _keys, _values, _lines.ToArray());

    private void Line(string line)
    {
        _lines.Add(string.Create(CultureInfo.InvariantCulture, $"[{_watch.Elapsed.TotalSeconds,6:F1}s] {line}"));
        _log.Info("Job {0}: {1}", _id, line);
    }

    private void Fail(string error)
    {
        _state = RunState.Failed;
        _detail = error;
        Line("failed: " + error);
        Timers.CancelAll();
    }

    private void Send(int step, byte[] payload)
    {
        _step = step;
        _replies.Clear();
        foreach (var w in _workers) w.Tell(new JobStep(_id, _kind, step, payload));
        Timers.StartSingleTimer("step", new StepTimedOut(step), StepTimeout);
    }

    private void OnReply(JobStepReply r)
    {
        if (r.Step != _step || _state != RunState.Running || !_workers.Contains(Sender)) return;
        if (r.Error.Length > 0)
        {
            Fail($"step {r.Step} on {r.Node}: {r.Error}");
            return;
        }
        _replies[Sender] = r;
        if (_replies.Count < _workers.Length) return;
        Timers.Cancel("step");
        var replies = _workers.Select(w => _replies[w]).ToArray();
        var step = _step;
        Func<Computed> work = _kind == JobParticipant.KMeansKind ? () => KMeansNext(step, replies) : () => GbdtNext(step, replies);
        Task.Run(work).PipeTo(Self, failure: ex => new ComputeFailed($"step {step}: {ex.GetBaseException().Message}"));
    }

    private void OnComputed(Computed c)
    {
        if (_state != RunState.Running) return;
        foreach (var l in c.Lines) Line(l);
        if (c.Finished)
        {
            _state = RunState.Done;
            _keys = c.Keys;
            _values = c.Values;
            _detail = $"done in {_watch.Elapsed.TotalSeconds:F1} s";
            if (_kind == JobParticipant.GbdtKind && c.Payload.Length > 0 && _registry is not null && _request is StartGbdt { PublishAs.Length: > 0 } g)
            {
                _registry.Tell(new PublishModel(g.PublishAs, c.Payload, [FashionFeatures.FeatureCount],
                    g.Classes == 2 ? ["below", "at-or-above"] : Learning.Models.FashionLabels.Names,
                    string.Create(CultureInfo.InvariantCulture, $"federated GBDT {_id}: {g.Iterations} iterations, depth {g.MaxDepth}, accuracy {c.Values.ElementAtOrDefault(Array.IndexOf(c.Keys, "accuracy")):F4}")));
            }
            return;
        }
        Send(c.Step, c.Payload);
    }

    // ---------------------------------------------------------------- k-means (runs off the mailbox)

    private Computed KMeansNext(int step, JobStepReply[] replies)
    {
        var k = (StartKMeans)_request;
        if (step == (int)KMeansStep.Start)
        {
            var dims = new List<int>();
            var devices = 0;
            double[]? sum = null, sq = null;
            var candidates = new List<float>();
            foreach (var r in replies)
            {
                var p = new PayloadReader(r.Payload);
                var dim = p.Int();
                var n = p.Int();
                var s = p.Doubles();
                var q = p.Doubles();
                var c = p.Floats();
                if (n == 0) continue;
                dims.Add(dim);
                devices += n;
                sum ??= new double[dim];
                sq ??= new double[dim];
                if (s.Length != sum.Length) throw new InvalidDataException($"edges disagree on the behaviour dimension ({s.Length} vs {sum.Length})");
                for (var d = 0; d < dim; d++)
                {
                    sum[d] += s[d];
                    sq[d] += q[d];
                }
                candidates.AddRange(c);
            }
            if (devices < k.K) throw new InvalidOperationException($"only {devices} devices with telemetry on the edges; k = {k.K}");
            var dimension = sum!.Length;
            _mean = sum.Select(v => v / devices).ToArray();
            _std = sq!.Select((v, d) => Math.Sqrt(Math.Max(0, v / devices - _mean[d] * _mean[d]))).ToArray();
            var z = candidates.ToArray();
            for (var i = 0; i < z.Length; i++) z[i] = (float)((z[i] - _mean[i % dimension]) / (_std[i % dimension] > 1e-12 ? _std[i % dimension] : 1));
            _centroids = KMeans.InitPlusPlus(z, dimension, k.K, k.Seed);
            _iteration = 1;
            return new Computed((int)KMeansStep.FirstIteration, _kind, CentroidPayload(), [$"{devices} devices, {dimension} behaviour features; k-means++ from {z.Length / dimension} candidates"], false, [], []);
        }
        var dim2 = _mean.Length;
        if (step >= (int)KMeansStep.FirstIteration)
        {
            var parts = replies.Select(r =>
            {
                var p = new PayloadReader(r.Payload);
                return new KMeansStats(k.K, dim2, p.Doubles(), p.Longs(), p.Doubles(), p.Doubles());
            }).ToList();
            var merged = KMeansStats.Merge(parts);
            var updated = KMeans.UpdateCentroids(_centroids, merged);
            double shift = 0;
            for (var i = 0; i < updated.Length; i++) shift = Math.Max(shift, Math.Abs(updated[i] - _centroids[i]));
            _centroids = updated;
            var inertia = merged.SquaredDistanceSums.Sum();
            var line = string.Create(CultureInfo.InvariantCulture, $"iteration {_iteration}: inertia {inertia:F3}, sizes [{string.Join(",", merged.Counts)}], max centroid shift {shift:G3}");
            if (shift > 1e-5 && _iteration < k.Iterations)
            {
                _iteration++;
                return new Computed(step + 1, _kind, CentroidPayload(), [line], false, [], []);
            }
            _inertia = inertia;
            return new Computed(JobParticipant.DistanceHistogramStep, _kind, CentroidPayload(), [line], false, [], []);
        }
        if (step == JobParticipant.DistanceHistogramStep)
        {
            // robust thresholds from the merged distance histograms: median + z·1.4826·MAD per cluster
            var merged = new long[k.K * DistanceBins.Count];
            foreach (var r in replies)
            {
                var counts = new PayloadReader(r.Payload).Longs();
                if (counts.Length != merged.Length) throw new InvalidDataException($"{r.Node}: {counts.Length} histogram bins, {merged.Length} expected");
                for (var i = 0; i < merged.Length; i++) merged[i] += counts[i];
            }
            _thresholds = Enumerable.Range(0, k.K)
                .Select(c => DistanceBins.RobustThreshold(merged.AsSpan(c * DistanceBins.Count, DistanceBins.Count), k.OutlierZ)).ToArray();
            var w = new PayloadWriter().Doubles(_mean).Doubles(_std).Int(k.K).Floats(_centroids).Doubles(_thresholds);
            return new Computed((int)KMeansStep.Final, _kind, w.ToArray(), [], false, [], []);
        }
        // final step: assignments and outliers from every edge
        var clusters = new int[k.K];
        var outliers = new List<string>();
        var total = 0;
        foreach (var r in replies)
        {
            var p = new PayloadReader(r.Payload);
            var devices = p.Strings();
            var assigned = p.Ints();
            var flags = p.Ints();
            var distances = p.Doubles();
            for (var i = 0; i < devices.Length; i++)
            {
                clusters[assigned[i]]++;
                total++;
                if (flags[i] == 1) outliers.Add(devices[i]);
                Assignments[devices[i]] = (assigned[i], distances[i]);
            }
        }
        var lines = new List<string>
        {
            $"clusters: [{string.Join(",", clusters)}]; outliers ({outliers.Count}): {string.Join(",", outliers.Order(StringComparer.Ordinal))}",
            string.Create(CultureInfo.InvariantCulture, $"outlier thresholds (distance to the centroid, standardised features, median + {k.OutlierZ}·1.4826·MAD): [{string.Join(", ", _thresholds.Select(t => t.ToString("F3", CultureInfo.InvariantCulture)))}]"),
        };
        lines.AddRange(Assignments.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => string.Create(CultureInfo.InvariantCulture,
            $"device {kv.Key} cluster {kv.Value.Cluster} distance {kv.Value.Distance:F3}{(outliers.Contains(kv.Key) ? " outlier" : "")}")));
        return new Computed(step, _kind, [], lines.ToArray(), true,
            ["devices", "k", "iterations", "outliers", "inertia"], [total, k.K, _iteration, outliers.Count, _inertia]);
    }

    private double _inertia;
    private Dictionary<string, (int Cluster, double Distance)> Assignments { get; } = new(StringComparer.Ordinal);

    private byte[] CentroidPayload() => new PayloadWriter().Doubles(_mean).Doubles(_std).Int(((StartKMeans)_request).K).Floats(_centroids).ToArray();

    // ---------------------------------------------------------------- GBDT (runs off the mailbox)

    private Computed GbdtNext(int step, JobStepReply[] replies)
    {
        var g = (StartGbdt)_request;
        if (step == (int)GbdtStep.Start)
        {
            var rows = 0;
            var sketches = replies.Select(r =>
            {
                var p = new PayloadReader(r.Payload);
                rows += p.Int();
                return GbdtWire.ReadSketch(p);
            }).ToList();
            _gbdt = new GbdtTreeGrower(Options(g), FashionFeatures.FeatureCount);
            var edges = _gbdt.MergeSketches(sketches);
            return new Computed((int)GbdtStep.Bins, _kind, GbdtWire.Write(new PayloadWriter(), edges).ToArray(),
                [$"{rows} labelled frames on {replies.Length} edges; {edges.TotalBins} bins over {edges.FeatureCount} features"], false, [], []);
        }
        var coordinator = _gbdt!;
        if (step >= (int)GbdtStep.FirstLevel)
        {
            var parts = replies.Select(r => GbdtWire.ReadHistograms(new PayloadReader(r.Payload))).ToList();
            _maxHistogramBytes = Math.Max(_maxHistogramBytes, replies.Max(r => (long)r.Payload.Length));
            coordinator.Accept(LevelHistograms.Sum(parts));
        }
        var next = coordinator.Next();
        if (next is not null)
        {
            var lines = next.Depth == 0 && next.Iteration % 10 == 0 ? new[] { $"iteration {next.Iteration}" } : [];
            return new Computed(step + 1, _kind, GbdtWire.Write(new PayloadWriter(), next).ToArray(), lines, false, [], []);
        }
        var model = coordinator.Model;
        var onnx = GbdtOnnx.Export(model, "federated_gbdt");
        double accuracy = double.NaN, onnxAccuracy = double.NaN;
        if (_evaluation() is { } eval)
        {
            var (features, labels) = EvalFeatures(eval, g);
            accuracy = model.Accuracy(features, labels, labels.Length);
            onnxAccuracy = OnnxRuntimeAccuracy(onnx, features, labels);
        }
        return new Computed(step, _kind, onnx,
            [string.Create(CultureInfo.InvariantCulture, $"trained {model.Trees.Count} trees; test accuracy {accuracy:F4} (C#), {onnxAccuracy:F4} (ONNX Runtime, TreeEnsembleClassifier); largest histogram message {_maxHistogramBytes} bytes")],
            true, ["accuracy", "onnx_accuracy", "trees", "rounds", "max_histogram_bytes"], [accuracy, onnxAccuracy, model.Trees.Count, step - 1, _maxHistogramBytes]);
    }

    /// <summary>Accuracy of the exported model as ONNX Runtime serves it (the TreeEnsembleClassifier's label output).</summary>
    public static double OnnxRuntimeAccuracy(byte[] onnx, float[] features, byte[] labels)
    {
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(onnx);
        var rows = labels.Length;
        var input = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(features, [rows, FashionFeatures.FeatureCount]);
        using var results = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(GbdtOnnx.InputName, input)]);
        var predicted = results.Single(r => r.Name == GbdtOnnx.LabelName).AsEnumerable<long>().ToArray();
        var correct = 0;
        for (var i = 0; i < rows; i++)
            if (predicted[i] == labels[i]) correct++;
        return rows == 0 ? 0 : (double)correct / rows;
    }

    private static (float[] Features, byte[] Labels) EvalFeatures(EvaluationSet eval, StartGbdt g)
    {
        var pixels = new byte[eval.Images.Length];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)Math.Clamp(MathF.Round(eval.Images[i] * 255f), 0, 255);
        var features = FashionFeatures.Pool7x7(pixels, eval.Count);
        var labels = (byte[])eval.Labels.Clone();
        if (g.Classes == 2)
            for (var i = 0; i < labels.Length; i++) labels[i] = labels[i] >= g.BinaryThreshold ? (byte)1 : (byte)0;
        return (features, labels);
    }
}
