using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Federated.Gbdt;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// The steps of a federated k-means job (<see cref="Messages.JobStep.Step"/>): <see cref="Start"/>, then iterations
/// 1, 2, ... (Lloyd steps), then <see cref="DistanceHistogram"/> and <see cref="Final"/>.
/// </summary>
public enum KMeansStep
{
    /// <summary>(seed, candidates) → dimension, device count, per-feature sums and sums of squares, candidate points.</summary>
    Start = 0,

    /// <summary>The first Lloyd iteration; iteration i is step i: (mean, std, k, centroids) → KMeansStats.</summary>
    FirstIteration = 1,

    /// <summary>(mean, std, k, centroids, thresholds) → devices, clusters, outlier flags, distances.</summary>
    Final = -1,

    /// <summary>(mean, std, k, centroids) → per-cluster histograms of the devices' distances to their centroid.</summary>
    DistanceHistogram = -2,
}

/// <summary>The steps of a federated GBDT job: <see cref="Start"/>, <see cref="Bins"/>, then one step per tree level from <see cref="FirstLevel"/>.</summary>
public enum GbdtStep
{
    /// <summary>(classes, binary threshold, sketch samples, seed) → rows + FeatureSketch.</summary>
    Start = 0,

    /// <summary>BinEdges → rows.</summary>
    Bins = 1,

    /// <summary>The first level; every later step is one more level: LevelRequest → LevelHistograms.</summary>
    FirstLevel = 2,

    /// <summary>
    /// Resume from a checkpoint (classes, binary threshold, BinEdges, finished trees) → rows: the party is rebuilt from the
    /// node's labelled frames with the job's bins and the raw scores of the finished trees (after a coordinator failover,
    /// or a worker that lost its state); the next step is the next iteration's first level.
    /// </summary>
    Restore = -1,
}

/// <summary>
/// Little-endian payload encoding of job steps (arrays of primitives; every read is bounds-checked).
/// Versioned like the wire messages (docs/wire-format.md): <c>[version byte][positional fields][extension fields]</c>;
/// a reader ignores the extension fields a later release appends (<see cref="PayloadReader.End"/> checks they are well formed).
/// </summary>
public sealed class PayloadWriter
{
    private readonly MemoryStream _stream = new();
    private readonly BinaryWriter _w;

    public PayloadWriter()
    {
        _w = new BinaryWriter(_stream);
        _w.Write(WireFormat.Version);
    }

    public PayloadWriter Int(int v) { _w.Write(v); return this; }
    public PayloadWriter Double(double v) { _w.Write(v); return this; }
    public PayloadWriter String(string v) { _w.Write(v); return this; }
    public PayloadWriter Ints(int[] v) { _w.Write(v.Length); foreach (var x in v) _w.Write(x); return this; }
    public PayloadWriter Floats(float[] v) { _w.Write(v.Length); foreach (var x in v) _w.Write(x); return this; }
    public PayloadWriter Doubles(double[] v) { _w.Write(v.Length); foreach (var x in v) _w.Write(x); return this; }
    public PayloadWriter Longs(long[] v) { _w.Write(v.Length); foreach (var x in v) _w.Write(x); return this; }
    public PayloadWriter Strings(string[] v) { _w.Write(v.Length); foreach (var x in v) _w.Write(x); return this; }
    public PayloadWriter Bytes(byte[] v) { _w.Write(v.Length); _w.Write(v); return this; }

    public byte[] ToArray()
    {
        _w.Flush();
        return _stream.ToArray();
    }
}

public sealed class PayloadReader
{
    private readonly BinaryReader _r;
    private readonly byte[] _payload;
    private readonly long _length;

    /// <summary>Reads the version byte (an empty payload counts as version 1 without fields) and refuses other versions.</summary>
    public PayloadReader(byte[] payload)
    {
        _payload = payload;
        _length = payload.Length;
        _r = new BinaryReader(new MemoryStream(payload, writable: false));
        if (payload.Length > 0 && _r.ReadByte() is var version && version != WireFormat.Version)
            throw new InvalidDataException($"payload: format version {version}; this release reads version {WireFormat.Version}");
    }

    /// <summary>After the fields this release knows: skips a later release's extension fields; fails on anything else.</summary>
    public void End()
    {
        try
        {
            WireFormat.SkipExtensions(_payload.AsSpan((int)_r.BaseStream.Position), "job step");
        }
        catch (System.Runtime.Serialization.SerializationException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    private int Count(int elementBytes)
    {
        var n = _r.ReadInt32();
        if (n < 0 || (long)n * elementBytes > _length - _r.BaseStream.Position) throw new InvalidDataException($"payload: bad array length {n}");
        return n;
    }

    public int Int() => _r.ReadInt32();
    public double Double() => _r.ReadDouble();
    public string String() => _r.ReadString();
    public int[] Ints() { var a = new int[Count(4)]; for (var i = 0; i < a.Length; i++) a[i] = _r.ReadInt32(); return a; }
    public float[] Floats() { var a = new float[Count(4)]; for (var i = 0; i < a.Length; i++) a[i] = _r.ReadSingle(); return a; }
    public double[] Doubles() { var a = new double[Count(8)]; for (var i = 0; i < a.Length; i++) a[i] = _r.ReadDouble(); return a; }
    public long[] Longs() { var a = new long[Count(8)]; for (var i = 0; i < a.Length; i++) a[i] = _r.ReadInt64(); return a; }
    public string[] Strings() { var a = new string[Count(1)]; for (var i = 0; i < a.Length; i++) a[i] = _r.ReadString(); return a; }
    public byte[] Bytes() => _r.ReadBytes(Count(1));
}

/// <summary>
/// An edge node's side of one federated k-means or GBDT job (state kept between the job's steps). Steps run off the
/// worker's mailbox, one at a time (the coordinator sends the next only when every party answered the previous one).
/// </summary>
public sealed class JobParticipant(string kind, LocalTrainingSet data)
{
    public const string KMeansKind = "kmeans";
    /// <summary>k-means step that returns per-cluster histograms of the devices' distances to their centroid.</summary>
    public const int DistanceHistogramStep = (int)KMeansStep.DistanceHistogram;
    public const string GbdtKind = "gbdt";

    private readonly object _gate = new();
    private bool _loaded;
    private float[] _points = [];
    private string[] _devices = [];
    private int _dimension;
    private GbdtParty? _gbdt;

    /// <summary>
    /// Computes one step's answer. One at a time (a step the coordinator re-sends after a timeout may arrive while the
    /// first copy still runs): the same step again gives the same answer, k-means steps are pure functions of the
    /// node's points, GBDT levels are answered again from the party's last response.
    /// </summary>
    public byte[] Handle(Messages.JobStep step)
    {
        lock (_gate) return HandleOne(step);
    }

    private byte[] HandleOne(Messages.JobStep step)
    {
        var r = new PayloadReader(step.Payload);
        var reply = kind switch
        {
            KMeansKind => KMeansStepOf(step.Step, r),
            GbdtKind => GbdtStepOf(step.Step, r),
            _ => throw new InvalidOperationException($"unknown job kind '{kind}'"),
        };
        r.End(); // skips what a newer coordinator appended as extension fields
        return reply;
    }

    // ---------------------------------------------------------------- k-means
    // step 0: (seed, candidates) → dimension, device count, per-feature sum and sum of squares, candidate points
    // step i: (mean, std, k, centroids) → KMeansStats of the standardised points
    // final (-1): (mean, std, k, centroids, thresholds) → devices, clusters, outlier flags

    private byte[] KMeansStepOf(int step, PayloadReader r)
    {
        if (step == (int)KMeansStep.Start)
        {
            var seed = r.Int();
            var candidates = r.Int();
            Load();
            var sum = new double[_dimension];
            var sq = new double[_dimension];
            for (var i = 0; i < _devices.Length; i++)
            for (var d = 0; d < _dimension; d++)
            {
                double v = _points[i * _dimension + d];
                sum[d] += v;
                sq[d] += v * v;
            }
            var order = Enumerable.Range(0, _devices.Length).ToArray();
            new Random(seed).Shuffle(order);
            var picked = order.Take(candidates).ToArray();
            var cand = new float[picked.Length * _dimension];
            for (var i = 0; i < picked.Length; i++) _points.AsSpan(picked[i] * _dimension, _dimension).CopyTo(cand.AsSpan(i * _dimension));
            return new PayloadWriter().Int(_dimension).Int(_devices.Length).Doubles(sum).Doubles(sq).Floats(cand).ToArray();
        }
        var mean = r.Doubles();
        var std = r.Doubles();
        var k = r.Int();
        var centroids = r.Floats();
        if (!_loaded) Load(); // this node restarted mid-job (or the coordinator resumed it): the points again from the node's telemetry
        if (mean.Length != _dimension && _devices.Length > 0) throw new InvalidDataException($"k-means: {mean.Length} features requested, this node's devices have {_dimension}");
        var z = Standardise(mean, std);
        if (step >= (int)KMeansStep.FirstIteration)
        {
            var stats = _devices.Length == 0 ? KMeansStats.Empty(k, mean.Length) : KMeans.LocalStats(z, mean.Length, centroids, k);
            return new PayloadWriter().Doubles(stats.Sums).Longs(stats.Counts).Doubles(stats.SquaredDistanceSums).Doubles(stats.DistanceSums).ToArray();
        }
        if (step == DistanceHistogramStep)
        {
            // per cluster, how many of this node's devices lie at each (log-binned) distance from their centroid
            var counts = new long[k * DistanceBins.Count];
            for (var i = 0; i < _devices.Length; i++)
            {
                var c = KMeans.Nearest(z.AsSpan(i * mean.Length, mean.Length), centroids, k, out var d2);
                counts[c * DistanceBins.Count + DistanceBins.Of(Math.Sqrt(d2))]++;
            }
            return new PayloadWriter().Longs(counts).ToArray();
        }
        var thresholds = r.Doubles();
        var clusters = new int[_devices.Length];
        var outliers = new int[_devices.Length];
        var distances = new double[_devices.Length];
        for (var i = 0; i < _devices.Length; i++)
        {
            clusters[i] = KMeans.Nearest(z.AsSpan(i * mean.Length, mean.Length), centroids, k, out var d2);
            distances[i] = Math.Sqrt(d2);
            outliers[i] = distances[i] > thresholds[clusters[i]] ? 1 : 0;
        }
        return new PayloadWriter().Strings(_devices).Ints(clusters).Ints(outliers).Doubles(distances).ToArray();
    }

    private void Load()
    {
        (_devices, _points) = data.Behaviours();
        _dimension = _devices.Length > 0 ? _points.Length / _devices.Length : 0;
        _loaded = true;
    }

    private float[] Standardise(double[] mean, double[] std)
    {
        var z = new float[_points.Length];
        var dim = mean.Length;
        for (var i = 0; i < _devices.Length; i++)
        for (var d = 0; d < dim; d++)
            z[i * dim + d] = (float)((_points[i * dim + d] - mean[d]) / (std[d] > 1e-12 ? std[d] : 1));
        return z;
    }

    /// <summary>The error of a GBDT level step on a node that holds no state for the job (it restarted): the coordinator restores it.</summary>
    public const string RestartedError = "no GBDT state for this job on this node (restarted?)";

    private GbdtParty NewParty(int classes, int threshold)
    {
        var (pixels, labels) = data.Union();
        if (labels.Length == 0) throw new InvalidOperationException("this node holds no labelled frames");
        var features = FashionFeatures.Pool7x7(pixels, labels.Length);
        if (classes == 2)
            for (var i = 0; i < labels.Length; i++) labels[i] = labels[i] >= threshold ? (byte)1 : (byte)0;
        return new GbdtParty(features, labels.Length, FashionFeatures.FeatureCount, labels, classes);
    }

    // ---------------------------------------------------------------- GBDT
    // step 0: (classes, binary threshold, sketch samples, seed) → rows + FeatureSketch
    // step 1: BinEdges → rows
    // step ≥ 2: LevelRequest → LevelHistograms

    private byte[] GbdtStepOf(int step, PayloadReader r)
    {
        if (step == (int)GbdtStep.Start)
        {
            var classes = r.Int();
            var threshold = r.Int();
            var samples = r.Int();
            var seed = r.Int();
            _gbdt = NewParty(classes, threshold);
            return GbdtWire.Write(new PayloadWriter().Int(_gbdt.Rows), _gbdt.Sketch(samples, seed)).ToArray();
        }
        if (step == (int)GbdtStep.Restore)
        {
            var classes = r.Int();
            var threshold = r.Int();
            var edges = GbdtWire.ReadEdges(r);
            var trees = GbdtWire.ReadTrees(r);
            var restored = NewParty(classes, threshold);
            restored.Restore(edges, trees);
            _gbdt = restored;
            return new PayloadWriter().Int(restored.Rows).ToArray();
        }
        var party = _gbdt ?? throw new InvalidOperationException(RestartedError);
        if (step == (int)GbdtStep.Bins)
        {
            party.SetBins(GbdtWire.ReadEdges(r));
            return new PayloadWriter().Int(party.Rows).ToArray();
        }
        return GbdtWire.Write(new PayloadWriter(), party.Histograms(GbdtWire.ReadRequest(r))).ToArray();
    }
}

/// <summary>
/// Log-spaced distance bins (bin 0: [0, 0.001); bin i: [0.001·1.05^(i−1), 0.001·1.05^i); the last is open), so edges
/// can report distance distributions that the coordinator turns into robust statistics (median, MAD).
/// </summary>
public static class DistanceBins
{
    public const int Count = 400;
    private const double First = 0.001;
    private static readonly double LogStep = Math.Log(1.05);

    public static int Of(double distance) =>
        distance < First || double.IsNaN(distance) ? 0 : Math.Min(Count - 1, 1 + (int)(Math.Log(distance / First) / LogStep));

    /// <summary>The middle of bin <paramref name="bin"/> (geometric for the log bins).</summary>
    public static double Centre(int bin) => bin == 0 ? First / 2 : First * Math.Pow(1.05, bin - 0.5);

    /// <summary>
    /// Median + z · 1.4826 · MAD of the distances in <paramref name="counts"/> (robust to the outliers it is meant to
    /// find: they cannot drag the threshold up as they drag a mean and standard deviation). +∞ for an empty histogram.
    /// </summary>
    public static double RobustThreshold(ReadOnlySpan<long> counts, double z)
    {
        long total = 0;
        foreach (var c in counts) total += c;
        if (total == 0) return double.PositiveInfinity;
        var median = Quantile(counts, total, Centre);
        // the deviations |d − median| of each bin's centre, with the bin's count, sorted to take their median
        var deviations = new List<(double Deviation, long Count)>();
        for (var b = 0; b < counts.Length; b++)
            if (counts[b] > 0) deviations.Add((Math.Abs(Centre(b) - median), counts[b]));
        deviations.Sort((a, b) => a.Deviation.CompareTo(b.Deviation));
        long seen = 0;
        var mad = 0.0;
        foreach (var (deviation, count) in deviations)
        {
            seen += count;
            if (2 * seen >= total)
            {
                mad = deviation;
                break;
            }
        }
        return median + z * 1.4826 * mad;
    }

    private static double Quantile(ReadOnlySpan<long> counts, long total, Func<int, double> centre)
    {
        long seen = 0;
        for (var b = 0; b < counts.Length; b++)
        {
            seen += counts[b];
            if (2 * seen >= total) return centre(b);
        }
        return centre(counts.Length - 1);
    }
}

/// <summary>Payload encoding of the GBDT protocol records.</summary>
public static class GbdtWire
{
    public static PayloadWriter Write(PayloadWriter w, FeatureSketch s) => w.Int(s.FeatureCount).Int(s.Rows).Ints(s.Offsets).Floats(s.Values).Doubles(s.Weights);

    public static FeatureSketch ReadSketch(PayloadReader r)
    {
        var s = new FeatureSketch(r.Int(), r.Int(), r.Ints(), r.Floats(), r.Doubles());
        s.Validate();
        return s;
    }

    public static PayloadWriter Write(PayloadWriter w, BinEdges e) => w.Int(e.FeatureCount).Ints(e.Offsets).Floats(e.Thresholds);

    public static BinEdges ReadEdges(PayloadReader r)
    {
        var e = new BinEdges(r.Int(), r.Ints(), r.Floats());
        e.Validate();
        return e;
    }

    public static PayloadWriter Write(PayloadWriter w, LevelRequest q) => w.Int(q.Iteration).Int(q.Depth)
        .Ints(q.SplitTrees).Ints(q.SplitNodes).Ints(q.SplitFeatures).Ints(q.SplitBins)
        .Ints(q.LeafTrees).Ints(q.LeafNodes).Doubles(q.LeafValues).Ints(q.Trees).Ints(q.Nodes);

    public static LevelRequest ReadRequest(PayloadReader r)
    {
        var q = new LevelRequest(r.Int(), r.Int(), r.Ints(), r.Ints(), r.Ints(), r.Ints(), r.Ints(), r.Ints(), r.Doubles(), r.Ints(), r.Ints());
        q.Validate();
        return q;
    }

    /// <summary>Trees (a checkpoint's finished iterations): count, then per tree its five node arrays.</summary>
    public static PayloadWriter Write(PayloadWriter w, IReadOnlyList<GbdtTree> trees)
    {
        w.Int(trees.Count);
        foreach (var t in trees) w.Ints(t.Feature).Floats(t.Threshold).Ints(t.Left).Ints(t.Right).Doubles(t.Value);
        return w;
    }

    public static GbdtTree[] ReadTrees(PayloadReader r)
    {
        var n = r.Int();
        if (n < 0 || n > 1_000_000) throw new InvalidDataException($"payload: bad tree count {n}");
        var trees = new GbdtTree[n];
        for (var i = 0; i < n; i++) trees[i] = new GbdtTree(r.Ints(), r.Floats(), r.Ints(), r.Ints(), r.Doubles());
        return trees;
    }

    public static PayloadWriter Write(PayloadWriter w, LevelHistograms h) => w.Int(h.Iteration).Int(h.Depth).Ints(h.Trees).Ints(h.Nodes).Int(h.TotalBins).Doubles(h.Values);

    public static LevelHistograms ReadHistograms(PayloadReader r)
    {
        var h = new LevelHistograms(r.Int(), r.Int(), r.Ints(), r.Ints(), r.Int(), r.Doubles());
        h.Validate();
        return h;
    }
}
