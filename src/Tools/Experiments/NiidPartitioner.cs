using System.Globalization;
using System.Text;

namespace EdgeActors.Tools.Experiments;

/// <summary>
/// How a labelled data set is split over the parties of a federated-learning experiment, after NIID-Bench
/// (Li et al., "Federated Learning on Non-IID Data Silos: An Experimental Study"):
/// <c>homo</c> (IID, near-equal random parts), <c>dir</c> (label-distribution skew, per-class shares drawn from
/// Dir(<see cref="Beta"/>)), <c>label</c> (#C=k: each party holds <see cref="LabelsPerParty"/> distinct labels),
/// <c>quantity</c> (quantity skew: IID labels, party sizes in proportions drawn from Dir(<see cref="Beta"/>)) and
/// <c>noise</c> (feature skew: IID parts, party i's features get Gaussian noise of std <see cref="Sigma"/>·i/N,
/// <see cref="NiidPartitioner.NoiseLevel"/>).
/// </summary>
public sealed record PartitionSpec(string Kind, double Beta = 0.5, int LabelsPerParty = 2)
{
    public const string Homo = "homo";
    public const string Dir = "dir";
    public const string Label = "label";
    public const string Quantity = "quantity";
    public const string Noise = "noise";

    /// <summary>The kinds that <see cref="Parse"/> accepts, as shown in its errors.</summary>
    public const string Kinds = "homo|dir|label|quantity|noise";

    /// <summary>The noise level of <c>noise</c> (features in [0, 1]).</summary>
    public double Sigma { get; init; } = 0.1;

    /// <inheritdoc cref="Parse(string, double, int)"/>
    public static PartitionSpec Parse(string kind, double beta, int labelsPerParty, double sigma)
    {
        var k = (kind ?? "").Trim().ToLowerInvariant();
        var spec = new PartitionSpec(k, beta, labelsPerParty) { Sigma = sigma };
        spec.Validate(classes: null);
        return spec;
    }

    /// <summary>
    /// Checks and normalises a partition from the command line. <paramref name="beta"/> must be &gt; 0 for
    /// <c>dir</c>; <paramref name="labelsPerParty"/> must be at least 1 for <c>label</c> (its upper bound, the
    /// number of classes, is checked by <see cref="NiidPartitioner.Partition"/>).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown kind or a parameter out of range.</exception>
    public static PartitionSpec Parse(string kind, double beta, int labelsPerParty)
    {
        var k = (kind ?? "").Trim().ToLowerInvariant();
        var spec = new PartitionSpec(k, beta, labelsPerParty);
        spec.Validate(classes: null);
        return spec;
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless this spec can partition a set of <paramref name="classes"/> classes.</summary>
    internal void Validate(int? classes)
    {
        switch (Kind)
        {
            case Homo:
                return;
            case Noise:
                if (!(Sigma >= 0) || double.IsInfinity(Sigma))
                    throw new ArgumentException($"partition 'noise' needs a noise level sigma >= 0 (got {Sigma.ToString(CultureInfo.InvariantCulture)})", nameof(Sigma));
                return;
            case Dir or Quantity:
                if (!(Beta > 0) || double.IsInfinity(Beta))
                    throw new ArgumentException($"partition '{Kind}' needs a concentration beta > 0 (got {Beta.ToString(CultureInfo.InvariantCulture)})", nameof(Beta));
                return;
            case Label:
                if (LabelsPerParty < 1 || (classes is { } c && LabelsPerParty > c))
                    throw new ArgumentException(
                        $"partition 'label' needs 1 <= labels per party <= {(classes is { } n ? n.ToString(CultureInfo.InvariantCulture) : "classes")} (got {LabelsPerParty})",
                        nameof(LabelsPerParty));
                return;
            default:
                throw new ArgumentException($"unknown partition '{Kind}': expected one of {Kinds}", nameof(Kind));
        }
    }

    public override string ToString() => Kind switch
    {
        Dir => $"dir(beta={Beta.ToString(CultureInfo.InvariantCulture)})",
        Label => $"label(#C={LabelsPerParty})",
        Quantity => $"quantity(beta={Beta.ToString(CultureInfo.InvariantCulture)})",
        Noise => $"noise(sigma={Sigma.ToString(CultureInfo.InvariantCulture)})",
        _ => Kind,
    };
}

/// <summary>
/// Splits sample indices over parties the way NIID-Bench does (see <see cref="PartitionSpec"/>). Every draw comes
/// from one <see cref="Random"/> seeded with the given seed, so a seed always gives the same partition.
/// </summary>
public static class NiidPartitioner
{
    /// <summary>NIID-Bench's <c>min_require_size</c>: <c>dir</c> resamples until every party holds at least this many samples.</summary>
    public const int MinRequireSize = 10;

    /// <summary>How many whole resamplings <c>dir</c> tries before giving up (NIID-Bench loops forever).</summary>
    public const int MaxDirichletAttempts = 10_000;

    /// <summary>
    /// Each party's sample indices (ascending order is not promised). The parts are disjoint; for <c>homo</c> and
    /// <c>dir</c> they cover every sample; for <c>label</c> a class that no party was given stays unassigned.
    /// </summary>
    /// <exception cref="ArgumentException">Bad sizes, a label &gt;= <paramref name="classes"/>, or a bad spec.</exception>
    /// <exception cref="InvalidOperationException"><c>dir</c> found no split with every party at <see cref="MinRequireSize"/> or more.</exception>
    public static int[][] Partition(ReadOnlySpan<byte> labels, int classes, int parties, PartitionSpec spec, int seed)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (classes < 1 || classes > 256)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, "classes must be in 1..256");
        if (parties < 1)
            throw new ArgumentOutOfRangeException(nameof(parties), parties, "parties must be at least 1");
        spec.Validate(classes);
        for (var i = 0; i < labels.Length; i++)
            if (labels[i] >= classes)
                throw new ArgumentException($"label {labels[i]} at index {i} is not below classes={classes}", nameof(labels));

        var rng = new Random(seed);
        return spec.Kind switch
        {
            PartitionSpec.Homo or PartitionSpec.Noise => Homogeneous(labels.Length, parties, rng),
            PartitionSpec.Quantity => QuantitySkew(labels.Length, parties, spec.Beta, rng),
            PartitionSpec.Dir => LabelDirichlet(ByClass(labels, classes), labels.Length, parties, spec.Beta, rng),
            _ => LabelQuantity(ByClass(labels, classes), parties, spec.LabelsPerParty, rng),
        };
    }

    /// <summary>
    /// quantity (NIID-Bench "iid-diff-quantity"): a random permutation cut at the cumulative proportions of one
    /// Dir_n(beta) draw, redrawn until every party holds at least <see cref="MinRequireSize"/> samples.
    /// </summary>
    private static int[][] QuantitySkew(int n, int parties, double beta, Random rng)
    {
        if (n < MinRequireSize * parties)
            throw new ArgumentException($"quantity needs at least {MinRequireSize} samples per party: {n} samples cannot fill {parties} parties");
        var idx = new int[n];
        for (var i = 0; i < n; i++) idx[i] = i;
        rng.Shuffle(idx);
        var p = new double[parties];
        var cuts = new int[parties + 1];
        for (var attempt = 1; ; attempt++)
        {
            SampleDirichlet(rng, beta, p);
            var cumulative = 0.0;
            for (var j = 0; j < parties; j++)
            {
                cumulative += p[j];
                cuts[j + 1] = j == parties - 1 ? n : Math.Clamp((int)(cumulative * n), cuts[j], n);
            }
            var smallest = int.MaxValue;
            for (var j = 0; j < parties; j++) smallest = Math.Min(smallest, cuts[j + 1] - cuts[j]);
            if (smallest >= MinRequireSize) break;
            if (attempt >= MaxDirichletAttempts)
                throw new InvalidOperationException(
                    $"quantity(beta={beta.ToString(CultureInfo.InvariantCulture)}): no split in {MaxDirichletAttempts} tries gave every one of {parties} parties {MinRequireSize} samples");
        }
        var result = new int[parties][];
        for (var j = 0; j < parties; j++) result[j] = idx[cuts[j]..cuts[j + 1]];
        return result;
    }

    /// <summary>The feature-noise std of party <paramref name="party"/> (from 0) of <paramref name="parties"/> for <c>noise</c>: sigma·party/parties.</summary>
    public static double NoiseLevel(int party, int parties, double sigma)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(parties);
        if (party < 0 || party >= parties) throw new ArgumentOutOfRangeException(nameof(party), party, $"party must be in 0..{parties - 1}");
        return sigma * party / parties;
    }

    /// <summary>
    /// Adds N(0, <paramref name="std"/>²) to each 8-bit pixel taken as a value in [0, 1], clamps to [0, 1] and rounds back
    /// to 8 bits, in place (the noise is drawn once: the device keeps the noisy frames).
    /// </summary>
    public static void AddNoise(Span<byte> pixels, double std, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!(std >= 0) || double.IsInfinity(std)) throw new ArgumentOutOfRangeException(nameof(std), std, "the noise level must be finite and >= 0");
        if (std == 0) return;
        for (var i = 0; i < pixels.Length; i++)
        {
            var u1 = 1.0 - rng.NextDouble();
            var u2 = rng.NextDouble();
            var z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
            var v = Math.Clamp(pixels[i] / 255.0 + std * z, 0, 1);
            pixels[i] = (byte)Math.Round(v * 255);
        }
    }

    /// <summary>homo: a random permutation cut into <paramref name="parties"/> near-equal parts (the first N mod n get one more).</summary>
    private static int[][] Homogeneous(int n, int parties, Random rng)
    {
        var idx = new int[n];
        for (var i = 0; i < n; i++) idx[i] = i;
        rng.Shuffle(idx);
        return SplitEvenly(idx, parties);
    }

    /// <summary>
    /// dir: for each class k, shuffle its samples, draw p ~ Dir_n(beta), zero the share of every party that already
    /// holds N/n samples or more, renormalise, and cut the class at floor(cumsum(p) * |k|). Repeat the whole thing
    /// until the smallest party holds at least <see cref="MinRequireSize"/> samples; finally shuffle each party.
    /// </summary>
    private static int[][] LabelDirichlet(int[][] byClass, int n, int parties, double beta, Random rng)
    {
        if (n < MinRequireSize * parties)
            throw new ArgumentException(
                $"dir needs at least {MinRequireSize} samples per party: {n} samples cannot fill {parties} parties");
        var fair = (double)n / parties;
        var batches = new List<int>[parties];
        var p = new double[parties];
        for (var attempt = 1; ; attempt++)
        {
            for (var j = 0; j < parties; j++) batches[j] = [];
            foreach (var members in byClass)
            {
                var idxK = (int[])members.Clone();
                rng.Shuffle(idxK);
                SampleDirichlet(rng, beta, p);
                var sum = 0.0;
                for (var j = 0; j < parties; j++)
                {
                    if (!(batches[j].Count < fair)) p[j] = 0; // the "balance" trick
                    sum += p[j];
                }
                if (!(sum > 0))
                {
                    // Every open party's share underflowed (tiny beta): spread the class over the open parties.
                    for (var j = 0; j < parties; j++) p[j] = batches[j].Count < fair ? 1 : 0;
                    sum = p.Sum();
                }
                var start = 0;
                var cumulative = 0.0;
                for (var j = 0; j < parties; j++)
                {
                    cumulative += p[j] / sum;
                    var end = j == parties - 1 ? idxK.Length : Math.Clamp((int)(cumulative * idxK.Length), start, idxK.Length);
                    for (var i = start; i < end; i++) batches[j].Add(idxK[i]);
                    start = end;
                }
            }
            if (batches.Min(b => b.Count) >= MinRequireSize) break;
            if (attempt >= MaxDirichletAttempts)
                throw new InvalidOperationException(
                    $"dir(beta={beta.ToString(CultureInfo.InvariantCulture)}): no split in {MaxDirichletAttempts} tries gave every one of {parties} parties {MinRequireSize} samples");
        }
        var result = new int[parties][];
        for (var j = 0; j < parties; j++)
        {
            result[j] = [.. batches[j]];
            rng.Shuffle(result[j]);
        }
        return result;
    }

    /// <summary>
    /// label (#C=k): party i holds label i mod K and k-1 further distinct labels drawn at random; each label's
    /// samples, shuffled, are cut into near-equal parts for its holders in party order.
    /// </summary>
    private static int[][] LabelQuantity(int[][] byClass, int parties, int k, Random rng)
    {
        var classes = byClass.Length;
        var holds = new List<int>[parties];
        var times = new int[classes];
        for (var i = 0; i < parties; i++)
        {
            var current = new List<int>(k) { i % classes };
            times[i % classes]++;
            while (current.Count < k)
            {
                var ind = rng.Next(classes);
                if (current.Contains(ind)) continue;
                current.Add(ind);
                times[ind]++;
            }
            holds[i] = current;
        }
        var parts = new List<int>[parties];
        for (var j = 0; j < parties; j++) parts[j] = [];
        for (var c = 0; c < classes; c++)
        {
            if (times[c] == 0) continue; // nobody holds this label
            var idxK = (int[])byClass[c].Clone();
            rng.Shuffle(idxK);
            var split = SplitEvenly(idxK, times[c]);
            var next = 0;
            for (var j = 0; j < parties; j++)
                if (holds[j].Contains(c))
                    parts[j].AddRange(split[next++]);
        }
        return [.. parts.Select(list => list.ToArray())];
    }

    /// <summary>numpy's array_split: <paramref name="count"/> consecutive parts whose sizes differ by at most one, larger ones first.</summary>
    private static int[][] SplitEvenly(int[] items, int count)
    {
        var result = new int[count][];
        int size = items.Length / count, extra = items.Length % count, start = 0;
        for (var j = 0; j < count; j++)
        {
            var len = size + (j < extra ? 1 : 0);
            result[j] = items[start..(start + len)];
            start += len;
        }
        return result;
    }

    private static int[][] ByClass(ReadOnlySpan<byte> labels, int classes)
    {
        var lists = new List<int>[classes];
        for (var c = 0; c < classes; c++) lists[c] = [];
        for (var i = 0; i < labels.Length; i++) lists[labels[i]].Add(i);
        return [.. lists.Select(l => l.ToArray())];
    }

    /// <summary>Fills <paramref name="into"/> with one draw of the symmetric Dirichlet Dir_n(<paramref name="alpha"/>), n = its length, via normalised Gamma(alpha, 1) draws.</summary>
    public static void SampleDirichlet(Random rng, double alpha, Span<double> into)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var sum = 0.0;
        for (var j = 0; j < into.Length; j++)
        {
            into[j] = SampleGamma(rng, alpha);
            sum += into[j];
        }
        if (sum > 0)
            for (var j = 0; j < into.Length; j++) into[j] /= sum;
        else
            into.Fill(1.0 / into.Length); // every draw underflowed: no information, take the centre
    }

    /// <summary>
    /// One draw of Gamma(<paramref name="shape"/>, scale 1) by Marsaglia and Tsang's squeeze method; for shape &lt; 1,
    /// a Gamma(shape + 1) draw times U^(1/shape).
    /// </summary>
    public static double SampleGamma(Random rng, double shape)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!(shape > 0) || double.IsInfinity(shape))
            throw new ArgumentOutOfRangeException(nameof(shape), shape, "Gamma shape must be a finite number > 0");
        if (shape < 1)
        {
            var u = 1.0 - rng.NextDouble(); // (0, 1]
            return SampleGamma(rng, shape + 1) * Math.Pow(u, 1.0 / shape);
        }
        var d = shape - 1.0 / 3.0;
        var c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = StandardNormal(rng);
                v = 1.0 + c * x;
            } while (v <= 0);
            v = v * v * v;
            var u = 1.0 - rng.NextDouble(); // (0, 1], so Log(u) is finite
            var x2 = x * x;
            if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
            if (Math.Log(u) < 0.5 * x2 + d * (1.0 - v + Math.Log(v))) return d * v;
        }
    }

    /// <summary>A standard normal draw (Box–Muller; one of the pair is used).</summary>
    private static double StandardNormal(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble(); // (0, 1]
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>A per-party table of label counts, for logs: one row per party with its size and the count of each class.</summary>
    public static string Describe(int[][] parts, ReadOnlySpan<byte> labels, int classes)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var counts = new int[parts.Length, classes];
        for (var j = 0; j < parts.Length; j++)
            foreach (var i in parts[j])
                if (labels[i] < classes) counts[j, labels[i]]++;

        var width = Math.Max(5, labels.Length.ToString(CultureInfo.InvariantCulture).Length + 1);
        var sb = new StringBuilder();
        sb.Append("party".PadLeft(5)).Append("size".PadLeft(width + 1));
        for (var c = 0; c < classes; c++) sb.Append(("c" + c.ToString(CultureInfo.InvariantCulture)).PadLeft(width));
        sb.Append('\n');
        var totals = new int[classes];
        var total = 0;
        for (var j = 0; j < parts.Length; j++)
        {
            sb.Append(j.ToString(CultureInfo.InvariantCulture).PadLeft(5))
              .Append(parts[j].Length.ToString(CultureInfo.InvariantCulture).PadLeft(width + 1));
            for (var c = 0; c < classes; c++)
            {
                sb.Append(counts[j, c].ToString(CultureInfo.InvariantCulture).PadLeft(width));
                totals[c] += counts[j, c];
            }
            total += parts[j].Length;
            sb.Append('\n');
        }
        sb.Append("all".PadLeft(5)).Append(total.ToString(CultureInfo.InvariantCulture).PadLeft(width + 1));
        for (var c = 0; c < classes; c++) sb.Append(totals[c].ToString(CultureInfo.InvariantCulture).PadLeft(width));
        sb.Append('\n');
        return sb.ToString();
    }
}
