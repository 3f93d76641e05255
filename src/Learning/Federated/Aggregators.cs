namespace EdgeActors.Learning.Federated;

/// <summary>How the coordinator combines the clients' model updates.</summary>
public enum AggregationStrategy
{
    /// <summary>Weighted mean Σ w·u / Σ w (McMahan et al.).</summary>
    FedAvg,

    /// <summary>Aggregates exactly like <see cref="FedAvg"/>; the proximal term μ acts on the client's local objective.</summary>
    FedProx,

    /// <summary>Coordinate-wise median; weights are ignored.</summary>
    Median,

    /// <summary>Coordinate-wise trimmed mean (drop ⌊β·n⌋ smallest and largest per coordinate); weights are ignored.</summary>
    TrimmedMean,

    /// <summary>Krum / multi-Krum (Blanchard et al.); weights are ignored.</summary>
    Krum,

    /// <summary>FedAvg on the clients, server momentum on the coordinator (<see cref="ServerOptimizerKind.Momentum"/>).</summary>
    FedAvgM,

    /// <summary>FedAvg on the clients, Adam on the coordinator (<see cref="ServerOptimizerKind.Adam"/>).</summary>
    FedAdam,

    /// <summary>FedAvg on the clients, Yogi on the coordinator (<see cref="ServerOptimizerKind.Yogi"/>).</summary>
    FedYogi,

    /// <summary>Normalised averaging by each client's local steps (<see cref="FedNovaAggregator"/>).</summary>
    FedNova,

    /// <summary>Control variates correct the clients' drift (<see cref="Scaffold"/>); FedAvg of the deltas.</summary>
    Scaffold,
}

/// <summary>Parameters of the robust aggregators.</summary>
/// <param name="TrimFraction">β for <see cref="AggregationStrategy.TrimmedMean"/>, in [0, 0.5).</param>
/// <param name="KrumByzantine">f, the number of Byzantine clients Krum tolerates (≥ 0); Krum needs n ≥ 2f + 3 updates.</param>
/// <param name="KrumSelect">m, how many of the best-scored updates multi-Krum averages (1 = plain Krum); 1 ≤ m ≤ n − f;
/// 0 = n − f, decided when the aggregate is computed (all but f, whatever n turned out to be).</param>
public sealed record AggregatorOptions(double TrimFraction = 0.2, int KrumByzantine = 2, int KrumSelect = 1)
{
    internal void Validate()
    {
        if (!(TrimFraction >= 0 && TrimFraction < 0.5))
            throw new ArgumentOutOfRangeException(nameof(TrimFraction), TrimFraction, "the trim fraction β must lie in [0, 0.5)");
        if (KrumByzantine < 0)
            throw new ArgumentOutOfRangeException(nameof(KrumByzantine), KrumByzantine, "the number of Byzantine clients f must be ≥ 0");
        if (KrumSelect < 0)
            throw new ArgumentOutOfRangeException(nameof(KrumSelect), KrumSelect, "multi-Krum must select at least one update (m ≥ 1), or 0 for n − f");
    }

    /// <summary>The number of updates dropped at each end of every coordinate for <paramref name="count"/> updates: ⌊β·n⌋.</summary>
    internal int TrimCount(int count)
    {
        // the tiny slack keeps e.g. β = 0.29, n = 100 at 29 although 0.29 * 100 = 28.999999999999996 in binary
        var k = (int)Math.Floor(TrimFraction * count + 1e-9);
        return Math.Min(k, (count - 1) / 2);
    }
}

/// <summary>
/// Accumulates one round's model updates (flat float vectors of <see cref="Dimension"/>) and produces the aggregate.
/// Not thread-safe: one actor owns an aggregator. Updates must be finite; an update with NaN or ±∞ is rejected with an
/// <see cref="ArgumentException"/> and leaves the aggregator unchanged.
/// </summary>
public interface IUpdateAggregator : IDisposable
{
    int Dimension { get; }

    /// <summary>Updates added so far.</summary>
    int Count { get; }

    /// <summary>
    /// Adds one update. <paramref name="weight"/> (finite, ≥ 0; typically the client's sample count) weighs the update in
    /// FedAvg/FedProx and is ignored by the robust strategies. The caller may reuse its buffer after the call.
    /// </summary>
    void Add(ReadOnlySpan<float> update, double weight);

    /// <summary>
    /// Writes the aggregate of the updates added so far into <paramref name="result"/> (length <see cref="Dimension"/>).
    /// Does not change the aggregator: more updates may follow and Complete may be called again.
    /// </summary>
    void Complete(Span<float> result);
}

/// <summary>Creates aggregators and parses strategy names.</summary>
public static class Aggregators
{
    private static readonly (string Name, AggregationStrategy Strategy)[] Names =
    [
        ("fedavg", AggregationStrategy.FedAvg),
        ("fedprox", AggregationStrategy.FedProx),
        ("median", AggregationStrategy.Median),
        ("trimmed-mean", AggregationStrategy.TrimmedMean),
        ("krum", AggregationStrategy.Krum),
        ("fedavgm", AggregationStrategy.FedAvgM),
        ("fedadam", AggregationStrategy.FedAdam),
        ("fedyogi", AggregationStrategy.FedYogi),
        ("fednova", AggregationStrategy.FedNova),
        ("scaffold", AggregationStrategy.Scaffold),
    ];

    /// <summary>The server optimiser a strategy applies its aggregate with.</summary>
    public static ServerOptimizerKind ServerOptimizerOf(AggregationStrategy strategy) => strategy switch
    {
        AggregationStrategy.FedAvgM => ServerOptimizerKind.Momentum,
        AggregationStrategy.FedAdam => ServerOptimizerKind.Adam,
        AggregationStrategy.FedYogi => ServerOptimizerKind.Yogi,
        _ => ServerOptimizerKind.Sgd,
    };

    /// <summary>Strategies that need each client's own update (no secure aggregation, no folded late updates).</summary>
    public static bool NeedsIndividualUpdates(AggregationStrategy strategy) =>
        strategy is AggregationStrategy.Median or AggregationStrategy.TrimmedMean or AggregationStrategy.Krum or AggregationStrategy.FedNova
            or AggregationStrategy.Scaffold;

    /// <summary>The valid names for <see cref="Parse"/>, comma separated.</summary>
    public static string ValidNames => string.Join(", ", Names.Select(n => n.Name));

    /// <summary>
    /// An aggregator for <paramref name="dimension"/>-long updates. <paramref name="expectedCount"/> is the number of
    /// updates the round expects (0 when unknown): it sizes the pooled buffers of the robust strategies, which grow when
    /// more arrive. For Krum a known <paramref name="expectedCount"/> below 2f + 3 is rejected here already.
    /// </summary>
    public static IUpdateAggregator Create(AggregationStrategy strategy, int dimension, int expectedCount, AggregatorOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedCount);
        options ??= new AggregatorOptions();
        options.Validate();
        return strategy switch
        {
            AggregationStrategy.FedAvg or AggregationStrategy.FedProx or AggregationStrategy.FedAvgM or AggregationStrategy.FedAdam
                or AggregationStrategy.FedYogi or AggregationStrategy.FedNova or AggregationStrategy.Scaffold => new FedAvgAggregator(dimension),
            AggregationStrategy.Median => new CoordinateWiseAggregator(dimension, expectedCount, trimFraction: null, options),
            AggregationStrategy.TrimmedMean => new CoordinateWiseAggregator(dimension, expectedCount, options.TrimFraction, options),
            AggregationStrategy.Krum => CreateKrum(dimension, expectedCount, options),
            _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, $"unknown aggregation strategy; valid: {ValidNames}"),
        };
    }

    private static KrumAggregator CreateKrum(int dimension, int expectedCount, AggregatorOptions options)
    {
        if (expectedCount > 0 && expectedCount < KrumAggregator.MinimumCount(options.KrumByzantine))
            throw new ArgumentException(KrumAggregator.TooFewMessage(expectedCount, options.KrumByzantine), nameof(expectedCount));
        return new KrumAggregator(dimension, expectedCount, options);
    }

    /// <summary>Parses one of <see cref="ValidNames"/> (case-insensitive, surrounding blanks ignored).</summary>
    public static AggregationStrategy Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = name.Trim();
        foreach (var (n, s) in Names)
        {
            if (string.Equals(n, trimmed, StringComparison.OrdinalIgnoreCase)) return s;
        }
        throw new ArgumentException($"unknown aggregation strategy '{name}'; valid names: {ValidNames}", nameof(name));
    }

    /// <summary>The name <see cref="Parse"/> accepts for <paramref name="strategy"/>.</summary>
    public static string NameOf(AggregationStrategy strategy)
    {
        foreach (var (n, s) in Names)
        {
            if (s == strategy) return n;
        }
        throw new ArgumentOutOfRangeException(nameof(strategy), strategy, $"unknown aggregation strategy; valid: {ValidNames}");
    }

    internal static void CheckUpdate(ReadOnlySpan<float> update, double weight, int dimension)
    {
        if (update.Length != dimension)
            throw new ArgumentException($"update has {update.Length} values but the aggregator's dimension is {dimension}", nameof(update));
        if (!double.IsFinite(weight) || weight < 0)
            throw new ArgumentOutOfRangeException(nameof(weight), weight, "an update's weight must be finite and ≥ 0");
    }

    internal static void CheckResult(Span<float> result, int dimension, int count)
    {
        if (result.Length != dimension)
            throw new ArgumentException($"result has {result.Length} values but the aggregator's dimension is {dimension}", nameof(result));
        if (count == 0)
            throw new InvalidOperationException("cannot aggregate: no updates were added");
    }

    internal static ArgumentException NonFinite(string nameOfUpdate) =>
        new("update contains NaN or infinite values; it was rejected", nameOfUpdate);
}
