using System.Globalization;

namespace EdgeActors.Learning.Federated;

/// <summary>
/// Rényi-DP accountant for the sampled Gaussian mechanism (Mironov, Talwar, Zhang, "Rényi Differential Privacy of the
/// Sampled Gaussian Mechanism", 2019): each <see cref="Compose"/> adds <c>steps</c> applications with sampling rate q and
/// noise multiplier σ (noise std σ·C on a sum of updates clipped to C). RDP is kept at the integer orders 2..256 with the
/// exact integer-order formula TF-Privacy and Opacus use,
/// A_α = Σₖ C(α,k)(1−q)^(α−k) qᵏ exp((k²−k)/(2σ²)), RDP(α) = log A_α/(α−1),
/// and converted to (ε, δ) with the bound of Balle et al. 2020 that Opacus uses,
/// ε = min_α RDP(α) + log((α−1)/α) − (log δ + log α)/(α−1).
/// In federated learning one step is one round: q = sampled/available clients, the unit of privacy is a client.
/// </summary>
public sealed class RdpAccountant
{
    /// <summary>The orders RDP is tracked at: 2..256.</summary>
    public static readonly int[] Orders = Enumerable.Range(2, 255).ToArray();

    private readonly double[] _rdp = new double[Orders.Length];

    /// <summary>Steps composed so far.</summary>
    public long Steps { get; private set; }

    /// <summary>Adds <paramref name="steps"/> applications of the sampled Gaussian mechanism.</summary>
    public void Compose(double samplingRate, double noiseMultiplier, long steps = 1)
    {
        var per = Rdp(samplingRate, noiseMultiplier);
        for (var i = 0; i < _rdp.Length; i++) _rdp[i] += per[i] * steps;
        Steps += steps;
    }

    /// <summary>ε for <paramref name="delta"/> of everything composed so far (0 when nothing was composed).</summary>
    public double Epsilon(double delta) => Steps == 0 ? 0 : Epsilon(_rdp, delta, out _);

    /// <summary>ε if <paramref name="steps"/> more applications with these settings were composed (the accountant is not changed).</summary>
    public double EpsilonAfter(double samplingRate, double noiseMultiplier, long steps, double delta)
    {
        var per = Rdp(samplingRate, noiseMultiplier);
        var total = new double[_rdp.Length];
        for (var i = 0; i < total.Length; i++) total[i] = _rdp[i] + per[i] * steps;
        return Epsilon(total, delta, out _);
    }

    /// <summary>RDP of one application at each of <see cref="Orders"/>.</summary>
    public static double[] Rdp(double samplingRate, double noiseMultiplier)
    {
        if (!(samplingRate >= 0 && samplingRate <= 1)) throw new ArgumentOutOfRangeException(nameof(samplingRate), samplingRate, "the sampling rate q must lie in [0, 1]");
        if (!(noiseMultiplier >= 0) || double.IsNaN(noiseMultiplier)) throw new ArgumentOutOfRangeException(nameof(noiseMultiplier), noiseMultiplier, "the noise multiplier σ must be ≥ 0");
        var r = new double[Orders.Length];
        for (var i = 0; i < Orders.Length; i++) r[i] = Rdp(samplingRate, noiseMultiplier, Orders[i]);
        return r;
    }

    /// <summary>RDP of one application of the sampled Gaussian mechanism at integer order <paramref name="alpha"/> ≥ 2.</summary>
    public static double Rdp(double q, double sigma, int alpha)
    {
        if (alpha < 2) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "integer orders start at 2");
        if (q == 0) return 0;
        if (sigma == 0) return double.PositiveInfinity;
        if (q == 1) return alpha / (2 * sigma * sigma);
        // log A_α by log-sum-exp over k = 0..α
        var logQ = Math.Log(q);
        var log1mQ = Math.Log(1 - q);
        var terms = new double[alpha + 1];
        var max = double.NegativeInfinity;
        for (var k = 0; k <= alpha; k++)
        {
            terms[k] = LogBinomial(alpha, k) + k * logQ + (alpha - k) * log1mQ + (k * (double)k - k) / (2 * sigma * sigma);
            max = Math.Max(max, terms[k]);
        }
        double sum = 0;
        foreach (var t in terms) sum += Math.Exp(t - max);
        var logA = max + Math.Log(sum);
        return logA / (alpha - 1);
    }

    /// <summary>ε for δ from RDP values at <see cref="Orders"/>; <paramref name="order"/> is the minimising order.</summary>
    public static double Epsilon(double[] rdp, double delta, out int order)
    {
        if (rdp.Length != Orders.Length) throw new ArgumentException($"expected RDP at {Orders.Length} orders, got {rdp.Length}", nameof(rdp));
        if (!(delta > 0 && delta < 1)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "δ must lie in (0, 1)");
        var best = double.PositiveInfinity;
        order = Orders[0];
        for (var i = 0; i < rdp.Length; i++)
        {
            double a = Orders[i];
            var eps = rdp[i] + Math.Log((a - 1) / a) - (Math.Log(delta) + Math.Log(a)) / (a - 1);
            if (eps < best)
            {
                best = eps;
                order = Orders[i];
            }
        }
        return Math.Max(0, best);
    }

    /// <summary>
    /// ε for δ with the original conversion of Mironov 2017 (Prop. 3) that TF-Privacy's <c>get_privacy_spent</c> used
    /// until 2020: ε = min_α RDP(α) − log δ/(α−1). Looser than <see cref="Epsilon(double[], double, out int)"/>; kept to
    /// compare with figures published with it.
    /// </summary>
    public static double EpsilonClassic(double[] rdp, double delta, out int order)
    {
        if (rdp.Length != Orders.Length) throw new ArgumentException($"expected RDP at {Orders.Length} orders, got {rdp.Length}", nameof(rdp));
        if (!(delta > 0 && delta < 1)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "δ must lie in (0, 1)");
        var best = double.PositiveInfinity;
        order = Orders[0];
        for (var i = 0; i < rdp.Length; i++)
        {
            var eps = rdp[i] - Math.Log(delta) / (Orders[i] - 1);
            if (eps < best)
            {
                best = eps;
                order = Orders[i];
            }
        }
        return best;
    }

    private static double LogBinomial(int n, int k) => LogFactorial(n) - LogFactorial(k) - LogFactorial(n - k);

    private static double LogFactorial(int n)
    {
        double s = 0;
        for (var i = 2; i <= n; i++) s += Math.Log(i);
        return s;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"RDP accountant, {Steps} steps");
}

/// <summary>Why a round's global model was or was not published.</summary>
public sealed record PublishDecision(bool Publish, string Reason);

/// <summary>
/// The publish gate: a round's global model goes to the edges only when its accuracy on the coordinator's validation
/// set is not worse than the active (last published) version's by more than the tolerance.
/// </summary>
public static class PublishGate
{
    /// <param name="candidate">The round's validation accuracy (NaN: could not be scored).</param>
    /// <param name="active">The active version's validation accuracy; null when nothing was published yet.</param>
    /// <param name="tolerance">How much worse than the active version a round may be and still be published (≥ 0).</param>
    public static PublishDecision Decide(double candidate, double? active, double tolerance)
    {
        if (!(tolerance >= 0) || double.IsInfinity(tolerance)) throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "the publish tolerance must be finite and ≥ 0");
        string F(double x) => x.ToString("F4", CultureInfo.InvariantCulture);
        if (double.IsNaN(candidate)) return new(false, "not published: the model could not be scored on the validation set");
        if (active is not { } a) return new(true, $"published: first version (validation {F(candidate)})");
        if (candidate >= a - tolerance)
            return new(true, $"published: validation {F(candidate)} ≥ active {F(a)} − tolerance {F(tolerance)}");
        return new(false, $"not published: validation {F(candidate)} < active {F(a)} − tolerance {F(tolerance)}");
    }
}
