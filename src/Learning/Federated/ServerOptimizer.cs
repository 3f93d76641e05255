namespace EdgeActors.Learning.Federated;

/// <summary>How the coordinator applies a round's aggregated update (the pseudo-gradient) to the global model.</summary>
public enum ServerOptimizerKind
{
    /// <summary>x ← x + η·Δ (FedAvg, FedProx, FedNova, SCAFFOLD, the robust aggregators).</summary>
    Sgd,

    /// <summary>FedAvgM (Hsu et al. 2019): m ← β₁·m + Δ; x ← x + η·m.</summary>
    Momentum,

    /// <summary>FedAdam (Reddi et al. 2021, Alg. 2): m ← β₁m + (1−β₁)Δ; v ← β₂v + (1−β₂)Δ²; x ← x + η·m/(√v + τ).</summary>
    Adam,

    /// <summary>FedYogi (Reddi et al. 2021, Alg. 2): as FedAdam with v ← v − (1−β₂)·Δ²·sign(v − Δ²).</summary>
    Yogi,
}

/// <summary>Server optimiser settings: η (server learning rate), β₁, β₂ and the adaptivity τ.</summary>
public sealed record ServerOptimizerOptions(double LearningRate = 1, double Beta1 = 0.9, double Beta2 = 0.99, double Tau = 1e-3)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "the server learning rate η must be finite and > 0");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "the server momentum β₁ must lie in [0, 1)");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "β₂ must lie in [0, 1)");
        if (!(Tau > 0) || !double.IsFinite(Tau)) throw new ArgumentOutOfRangeException(nameof(Tau), Tau, "the adaptivity τ must be finite and > 0");
    }
}

/// <summary>
/// The server side of adaptive federated optimisation (Reddi et al., "Adaptive Federated Optimization", ICLR 2021):
/// <see cref="Step"/> takes the round's pseudo-gradient Δ (the aggregated client delta, local − global) and moves the
/// global model. Keeps the moments m and v between rounds (v starts at τ², as the paper's v₋₁ ≥ τ²; m at 0). No bias
/// correction (as the paper). The coordinator stores the moments with each committed round (<see cref="ServerState"/>) and
/// loads them into a new optimiser after a failover (<see cref="SetMoments"/>).
/// Plain, not thread-safe: one coordinator owns one.
/// </summary>
public sealed class ServerOptimizer
{
    private readonly double[]? _m;
    private readonly double[]? _v;

    public ServerOptimizer(ServerOptimizerKind kind, int dimension, ServerOptimizerOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Kind = kind;
        Dimension = dimension;
        Options = options;
        if (kind != ServerOptimizerKind.Sgd) _m = new double[dimension];
        if (kind is ServerOptimizerKind.Adam or ServerOptimizerKind.Yogi)
        {
            _v = new double[dimension];
            Array.Fill(_v, options.Tau * options.Tau);
        }
    }

    public ServerOptimizerKind Kind { get; }
    public int Dimension { get; }
    public ServerOptimizerOptions Options { get; }

    /// <summary>The first moment m (zeros for <see cref="ServerOptimizerKind.Sgd"/>; a copy).</summary>
    public double[] FirstMoment => _m is null ? new double[Dimension] : (double[])_m.Clone();

    /// <summary>The second moment v (empty unless Adam/Yogi; a copy).</summary>
    public double[] SecondMoment => _v is null ? [] : (double[])_v.Clone();

    /// <summary>
    /// Replaces the moments with stored ones (an empty array keeps that moment as it is). Throws when one has another
    /// length than the model or the optimiser keeps no such moment.
    /// </summary>
    public void SetMoments(double[] m, double[] v)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(v);
        if (m.Length > 0)
        {
            if (_m is null || m.Length != Dimension) throw new ArgumentException($"first moment of {m.Length} values for a {Kind} optimiser of dimension {Dimension}", nameof(m));
            m.CopyTo(_m, 0);
        }
        if (v.Length > 0)
        {
            if (_v is null || v.Length != Dimension) throw new ArgumentException($"second moment of {v.Length} values for a {Kind} optimiser of dimension {Dimension}", nameof(v));
            v.CopyTo(_v, 0);
        }
    }

    /// <summary>Applies one round: <paramref name="global"/> is updated in place from the pseudo-gradient <paramref name="delta"/>.</summary>
    public void Step(Span<float> global, ReadOnlySpan<float> delta)
    {
        if (global.Length != Dimension || delta.Length != Dimension)
            throw new ArgumentException($"the model has {global.Length} values and the update {delta.Length}; the optimiser's dimension is {Dimension}");
        var o = Options;
        var eta = o.LearningRate;
        switch (Kind)
        {
            case ServerOptimizerKind.Sgd:
                for (var i = 0; i < Dimension; i++) global[i] = (float)(global[i] + eta * delta[i]);
                break;
            case ServerOptimizerKind.Momentum:
                for (var i = 0; i < Dimension; i++)
                {
                    _m![i] = o.Beta1 * _m[i] + delta[i];
                    global[i] = (float)(global[i] + eta * _m[i]);
                }
                break;
            default:
                var yogi = Kind == ServerOptimizerKind.Yogi;
                for (var i = 0; i < Dimension; i++)
                {
                    double d = delta[i];
                    var d2 = d * d;
                    _m![i] = o.Beta1 * _m[i] + (1 - o.Beta1) * d;
                    _v![i] = yogi ? _v[i] - (1 - o.Beta2) * d2 * Math.Sign(_v[i] - d2) : o.Beta2 * _v[i] + (1 - o.Beta2) * d2;
                    global[i] = (float)(global[i] + eta * _m[i] / (Math.Sqrt(_v[i]) + o.Tau));
                }
                break;
        }
    }
}

/// <summary>
/// FedNova (Wang et al., "Tackling the Objective Inconsistency Problem in Heterogeneous Federated Optimization",
/// NeurIPS 2020): client i ran τᵢ local SGD steps (momentum ρ); its normalised update is dᵢ = Δᵢ / aᵢ with
/// aᵢ = ‖a‖₁ of its step weights (τᵢ for plain SGD; [τᵢ − ρ(1 − ρ^τᵢ)/(1 − ρ)]/(1 − ρ) with momentum), and the server
/// applies τ_eff·Σ pᵢdᵢ, τ_eff = Σ pᵢaᵢ, pᵢ = nᵢ/n.
/// </summary>
public static class FedNova
{
    /// <summary>aᵢ for <paramref name="steps"/> local steps with heavy-ball momentum <paramref name="momentum"/> ρ.</summary>
    public static double StepNorm(int steps, double momentum)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must lie in [0, 1)");
        if (momentum == 0) return steps;
        var rho = momentum;
        return (steps - rho * (1 - Math.Pow(rho, steps)) / (1 - rho)) / (1 - rho);
    }

    /// <summary>Local steps of an epoch-based client: epochs × ⌈samples / batch⌉ (the last batch of an epoch may be smaller).</summary>
    public static int LocalSteps(int samples, int epochs, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(samples);
        ArgumentOutOfRangeException.ThrowIfNegative(epochs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        return epochs * ((samples + batchSize - 1) / batchSize);
    }
}

/// <summary>
/// Streams FedNova: <see cref="Add"/> each client's delta Δᵢ with its sample count nᵢ and step norm aᵢ
/// (<see cref="FedNova.StepNorm"/>); <see cref="Complete"/> writes τ_eff·Σ pᵢ·Δᵢ/aᵢ. One float accumulator.
/// </summary>
public sealed class FedNovaAggregator(int dimension)
{
    private readonly double[] _sum = new double[dimension];
    private double _samples;
    private double _tauEff;

    public int Dimension { get; } = dimension;
    public int Count { get; private set; }

    public void Add(ReadOnlySpan<float> delta, int samples, double stepNorm)
    {
        if (delta.Length != Dimension) throw new ArgumentException($"update has {delta.Length} values, expected {Dimension}", nameof(delta));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        if (!(stepNorm > 0) || !double.IsFinite(stepNorm)) throw new ArgumentOutOfRangeException(nameof(stepNorm), stepNorm, "the step norm aᵢ must be finite and > 0");
        foreach (var x in delta)
            if (!float.IsFinite(x)) throw Aggregators.NonFinite(nameof(delta));
        var w = samples / stepNorm;
        for (var i = 0; i < Dimension; i++) _sum[i] += w * delta[i];
        _samples += samples;
        _tauEff += samples * stepNorm;
        Count++;
    }

    /// <summary>τ_eff = Σ pᵢaᵢ of the updates added so far.</summary>
    public double EffectiveSteps => _samples > 0 ? _tauEff / _samples : 0;

    public void Complete(Span<float> result)
    {
        if (result.Length != Dimension) throw new ArgumentException($"result has {result.Length} values, expected {Dimension}", nameof(result));
        if (Count == 0) throw new InvalidOperationException("cannot aggregate: no updates were added");
        var scale = EffectiveSteps / _samples;
        for (var i = 0; i < Dimension; i++) result[i] = (float)(scale * _sum[i]);
    }
}

/// <summary>
/// SCAFFOLD (Karimireddy et al., ICML 2020): server control variate c, client control variates cᵢ. A client's local SGD
/// is corrected by c − cᵢ (<see cref="Correction"/>; applied as w −= η_l·(c − cᵢ) after each step, outside the momentum,
/// as NIID-Bench does); after K local steps of learning rate η_l it updates
/// cᵢ with option II, cᵢ⁺ = cᵢ − c + (x − yᵢ)/(K·η_l) (<see cref="ClientControl"/>), and sends Δyᵢ = yᵢ − x and
/// Δcᵢ = cᵢ⁺ − cᵢ. The server moves x by η_g·mean(Δy) and c by (|S|/N)·mean(Δc) (<see cref="ServerControl"/>).
/// The edge's FederatedWorker keeps each client's cᵢ in memory (per experiment and device).
/// </summary>
public static class Scaffold
{
    /// <summary>c − cᵢ, the term added to every local gradient (<paramref name="clientControl"/> empty = zeros).</summary>
    public static float[] Correction(ReadOnlySpan<float> serverControl, ReadOnlySpan<float> clientControl)
    {
        var r = serverControl.ToArray();
        if (clientControl.Length == 0) return r;
        if (clientControl.Length != r.Length) throw new ArgumentException($"client control has {clientControl.Length} values, server control {r.Length}", nameof(clientControl));
        for (var i = 0; i < r.Length; i++) r[i] -= clientControl[i];
        return r;
    }

    /// <summary>
    /// Option II: cᵢ⁺ = cᵢ − c + (x − yᵢ)/(K·η_l) = cᵢ − c − Δyᵢ/(K·η_l). Returns cᵢ⁺ and writes Δcᵢ = cᵢ⁺ − cᵢ into
    /// <paramref name="controlDelta"/>. <paramref name="clientControl"/> empty = zeros (a client's first round).
    /// </summary>
    public static float[] ClientControl(ReadOnlySpan<float> clientControl, ReadOnlySpan<float> serverControl, ReadOnlySpan<float> modelDelta,
        int steps, double learningRate, Span<float> controlDelta)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "the local learning rate must be > 0");
        var n = serverControl.Length;
        if (modelDelta.Length != n || controlDelta.Length != n || (clientControl.Length != 0 && clientControl.Length != n))
            throw new ArgumentException("the control variates, the model delta and the output must have one length");
        var next = new float[n];
        var k = 1.0 / (steps * learningRate);
        for (var i = 0; i < n; i++)
        {
            double ci = clientControl.Length == 0 ? 0 : clientControl[i];
            var v = ci - serverControl[i] - modelDelta[i] * k;
            next[i] = (float)v;
            controlDelta[i] = (float)(v - ci);
        }
        return next;
    }

    /// <summary>c ← c + (|S|/N)·mean(Δcᵢ), in place; <paramref name="meanControlDelta"/> is the mean over the round's |S| clients.</summary>
    public static void ServerControl(Span<float> control, ReadOnlySpan<float> meanControlDelta, int participants, int totalClients)
    {
        if (control.Length != meanControlDelta.Length) throw new ArgumentException("control and its delta differ in length");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalClients);
        if (participants < 0 || participants > totalClients) throw new ArgumentOutOfRangeException(nameof(participants), participants, "participants must be in 0..total clients");
        var f = (float)((double)participants / totalClients);
        for (var i = 0; i < control.Length; i++) control[i] += f * meanControlDelta[i];
    }
}
