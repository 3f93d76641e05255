using System.Globalization;

namespace EdgeActors.Learning.Federated.Gbdt;

/// <summary>
/// Hyper-parameters of the histogram GBDT. Every property checks its value when it is set (also in a
/// <c>with</c> expression) and throws an <see cref="ArgumentException"/> whose message and
/// <see cref="ArgumentException.ParamName"/> name the bad field.
/// </summary>
public sealed record GbdtOptions
{
    /// <summary>The deepest tree this implementation grows (2^12 leaves per tree).</summary>
    public const int MaxSupportedDepth = 12;

    /// <summary>Number of classes: 2 = binary logistic (one tree per iteration), 3 or more = softmax (one tree per class per iteration).</summary>
    public int Classes
    {
        get;
        init => field = Check(value, value >= 2, nameof(Classes), "must be at least 2 (2 = binary logistic, 3 or more = multiclass softmax)");
    } = 2;

    /// <summary>Boosting iterations (rounds); each adds one tree (binary) or one tree per class.</summary>
    public int Iterations
    {
        get;
        init => field = Check(value, value >= 1, nameof(Iterations), "must be at least 1");
    } = 50;

    /// <summary>Depth of every tree: the root is depth 0, leaves are at most at depth <see cref="MaxDepth"/> (at most 2^MaxDepth leaves).</summary>
    public int MaxDepth
    {
        get;
        init => field = Check(value, value is >= 1 and <= MaxSupportedDepth, nameof(MaxDepth), $"must be between 1 and {MaxSupportedDepth}");
    } = 4;

    /// <summary>Shrinkage applied to every leaf value.</summary>
    public double LearningRate
    {
        get;
        init => field = Check(value, double.IsFinite(value) && value > 0, nameof(LearningRate), "must be a finite number greater than 0");
    } = 0.3;

    /// <summary>Most bins per feature (2..255, one byte per binned value).</summary>
    public int MaxBins
    {
        get;
        init => field = Check(value, value is >= 2 and <= 255, nameof(MaxBins), "must be between 2 and 255");
    } = 32;

    /// <summary>L2 regularisation of leaf values: a leaf is −G/(H+Lambda)·LearningRate.</summary>
    public double Lambda
    {
        get;
        init => field = Check(value, double.IsFinite(value) && value >= 0, nameof(Lambda), "must be a finite number of at least 0");
    } = 1.0;

    /// <summary>
    /// A split is taken only when both children have a hessian sum of at least this (and of at least 1e-9 of the
    /// parent's, below which a child is indistinguishable from an empty one in floating point).
    /// </summary>
    public double MinChildHessian
    {
        get;
        init => field = Check(value, double.IsFinite(value) && value >= 0, nameof(MinChildHessian), "must be a finite number of at least 0");
    } = 1e-3;

    /// <summary>
    /// A split is taken only when its gain GL²/(HL+λ) + GR²/(HR+λ) − G²/(H+λ) (LightGBM's convention, no ½) is
    /// positive and at least this.
    /// </summary>
    public double MinGain
    {
        get;
        init => field = Check(value, double.IsFinite(value) && value >= 0, nameof(MinGain), "must be a finite number of at least 0");
    } = 0.0;

    /// <summary>Trees grown per iteration: 1 for binary, <see cref="Classes"/> for multiclass.</summary>
    public int TreesPerIteration => Classes == 2 ? 1 : Classes;

    private static T Check<T>(T value, bool ok, string field, string rule) where T : IFormattable =>
        ok ? value : throw new ArgumentException($"GbdtOptions.{field} {rule}; got {value.ToString(null, CultureInfo.InvariantCulture)}.", field);
}
