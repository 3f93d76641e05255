using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using EdgeActors.Learning.Federated.Gbdt;
using Microsoft.Win32.SafeHandles;

namespace EdgeActors.Learning.Reference;

/// <summary>A LightGBM error, with the library's own message (LGBM_GetLastError).</summary>
public sealed class LightGbmException(string message) : Exception(message);

/// <summary>
/// LightGBM (NuGet package LightGBM, native lib_lightgbm) trained with the same hyper-parameters as the federated
/// GBDT, as an accuracy reference. Single-threaded and deterministic.
/// </summary>
public static class LightGbmReference
{
    /// <summary>
    /// Trains LightGBM on row-major <paramref name="features"/>. <see cref="GbdtOptions"/> map to: objective
    /// binary/multiclass, num_class, num_iterations, learning_rate, max_depth, num_leaves = 2^MaxDepth, max_bin,
    /// lambda_l2, min_sum_hessian_in_leaf, min_gain_to_split; plus num_threads=1, deterministic=true, verbosity=-1,
    /// boost_from_average=false (our raw scores start at 0), min_data_in_leaf=1 and min_data_in_bin=1 (we have no
    /// row-count limits).
    /// </summary>
    /// <exception cref="LightGbmException">LightGBM refused the data or the parameters.</exception>
    public static LightGbmResult Train(float[] features, int rows, int featureCount, byte[] labels, int classes, GbdtOptions options) =>
        Train(features, rows, featureCount, labels, classes, options, extraParameters: null);

    /// <summary>The LightGBM parameter string used for <paramref name="options"/>.</summary>
    public static string Parameters(GbdtOptions options, int classes)
    {
        ArgumentNullException.ThrowIfNull(options);
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(classes == 2 ? "objective=binary" : $"objective=multiclass num_class={classes}");
        sb.Append(inv, $" num_iterations={options.Iterations}");
        sb.Append(inv, $" learning_rate={options.LearningRate:R}");
        sb.Append(inv, $" max_depth={options.MaxDepth}");
        sb.Append(inv, $" num_leaves={1 << options.MaxDepth}");
        sb.Append(inv, $" max_bin={options.MaxBins}");
        sb.Append(inv, $" lambda_l2={options.Lambda:R}");
        sb.Append(inv, $" min_sum_hessian_in_leaf={options.MinChildHessian:R}");
        sb.Append(inv, $" min_gain_to_split={options.MinGain:R}");
        sb.Append(" min_data_in_leaf=1 min_data_in_bin=1 boost_from_average=false");
        sb.Append(" num_threads=1 deterministic=true force_row_wise=true seed=0 verbosity=-1");
        return sb.ToString();
    }

    internal static LightGbmResult Train(float[] features, int rows, int featureCount, byte[] labels, int classes, GbdtOptions options, string? extraParameters)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        if (classes != options.Classes) throw new ArgumentException($"classes ({classes}) differs from options.Classes ({options.Classes}).", nameof(classes));
        if (features.Length != (long)rows * featureCount) throw new ArgumentException($"{rows} rows of {featureCount} features need {(long)rows * featureCount} values; got {features.Length}.", nameof(features));
        if (labels.Length != rows) throw new ArgumentException($"{rows} rows need {rows} labels; got {labels.Length}.", nameof(labels));
        var floatLabels = new float[rows];
        for (var r = 0; r < rows; r++)
        {
            if (labels[r] >= classes) throw new ArgumentException($"label {labels[r]} of row {r} is outside 0..{classes - 1}.", nameof(labels));
            floatLabels[r] = labels[r];
        }

        var parameters = Parameters(options, classes) + (string.IsNullOrWhiteSpace(extraParameters) ? "" : " " + extraParameters);
        var watch = Stopwatch.StartNew();
        Check(Native.LGBM_DatasetCreateFromMat(features, Native.DtypeFloat32, rows, featureCount, 1, Utf8(parameters), IntPtr.Zero, out var dataset));
        try
        {
            Check(Native.LGBM_DatasetSetField(dataset, Utf8("label"), floatLabels, rows, Native.DtypeFloat32));
            Check(Native.LGBM_BoosterCreate(dataset, Utf8(parameters), out var booster));
            booster.KeepAlive(dataset);
            try
            {
                for (var i = 0; i < options.Iterations; i++)
                {
                    Check(Native.LGBM_BoosterUpdateOneIter(booster, out var finished));
                    if (finished != 0) break;
                }
            }
            catch
            {
                booster.Dispose();
                throw;
            }
            watch.Stop();
            return new LightGbmResult(booster, classes, featureCount, watch.Elapsed, parameters);
        }
        finally
        {
            dataset.Dispose(); // the booster holds its own reference until it is freed
        }
    }

    internal static void Check(int rc)
    {
        if (rc == 0) return;
        var message = Marshal.PtrToStringUTF8(Native.LGBM_GetLastError()) ?? "unknown error";
        throw new LightGbmException($"LightGBM: {message}");
    }

    internal static byte[] Utf8(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    internal sealed class DatasetHandle() : SafeHandleZeroOrMinusOneIsInvalid(true)
    {
        protected override bool ReleaseHandle() => Native.LGBM_DatasetFree(handle) == 0;
    }

    internal sealed class BoosterHandle() : SafeHandleZeroOrMinusOneIsInvalid(true)
    {
        private DatasetHandle? _dataset;

        /// <summary>LightGBM's booster points into its training data: keep the dataset alive until the booster is freed.</summary>
        public void KeepAlive(DatasetHandle dataset)
        {
            var added = false;
            dataset.DangerousAddRef(ref added);
            if (added) _dataset = dataset;
        }

        protected override bool ReleaseHandle()
        {
            var ok = Native.LGBM_BoosterFree(handle) == 0;
            _dataset?.DangerousRelease();
            return ok;
        }
    }

    internal static class Native
    {
        private const string Library = "lib_lightgbm";
        public const int DtypeFloat32 = 0;
        public const int PredictNormal = 0;

        [DllImport(Library)]
        public static extern IntPtr LGBM_GetLastError();

        [DllImport(Library)]
        public static extern int LGBM_DatasetCreateFromMat(float[] data, int dataType, int nrow, int ncol, int isRowMajor, byte[] parameters, IntPtr reference, out DatasetHandle handle);

        [DllImport(Library)]
        public static extern int LGBM_DatasetSetField(DatasetHandle handle, byte[] fieldName, float[] fieldData, int numElement, int type);

        [DllImport(Library)]
        public static extern int LGBM_DatasetFree(IntPtr handle);

        [DllImport(Library)]
        public static extern int LGBM_BoosterCreate(DatasetHandle trainData, byte[] parameters, out BoosterHandle handle);

        [DllImport(Library)]
        public static extern int LGBM_BoosterUpdateOneIter(BoosterHandle handle, out int isFinished);

        [DllImport(Library)]
        public static extern int LGBM_BoosterPredictForMat(BoosterHandle handle, float[] data, int dataType, int nrow, int ncol, int isRowMajor,
            int predictType, int startIteration, int numIteration, byte[] parameter, out long outLength, double[] outResult);

        [DllImport(Library)]
        public static extern int LGBM_BoosterFree(IntPtr handle);
    }
}

/// <summary>A trained LightGBM booster (native memory: dispose it).</summary>
public sealed class LightGbmResult : IDisposable
{
    private readonly LightGbmReference.BoosterHandle _booster;

    internal LightGbmResult(LightGbmReference.BoosterHandle booster, int classes, int featureCount, TimeSpan trainTime, string parameters)
    {
        _booster = booster;
        Classes = classes;
        FeatureCount = featureCount;
        TrainTime = trainTime;
        Parameters = parameters;
    }

    public int Classes { get; }
    public int FeatureCount { get; }

    /// <summary>Wall time of dataset construction and all boosting iterations.</summary>
    public TimeSpan TrainTime { get; }

    /// <summary>The LightGBM parameter string it was trained with.</summary>
    public string Parameters { get; }

    /// <summary>Class probabilities, <paramref name="rows"/> × <see cref="Classes"/>, row-major.</summary>
    public double[] PredictProba(float[] features, int rows)
    {
        ObjectDisposedException.ThrowIf(_booster.IsClosed, this);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        if (features.Length < (long)rows * FeatureCount) throw new ArgumentException($"{rows} rows of {FeatureCount} features need {(long)rows * FeatureCount} values; got {features.Length}.", nameof(features));
        var perRow = Classes == 2 ? 1 : Classes;
        var raw = new double[(long)rows * perRow];
        LightGbmReference.Check(LightGbmReference.Native.LGBM_BoosterPredictForMat(_booster, features, LightGbmReference.Native.DtypeFloat32,
            rows, FeatureCount, 1, LightGbmReference.Native.PredictNormal, 0, -1, LightGbmReference.Utf8("num_threads=1"), out var length, raw));
        if (length != raw.Length) throw new LightGbmException($"LightGBM returned {length} predictions for {rows} rows of {perRow}.");
        if (perRow == Classes) return raw;
        var proba = new double[(long)rows * 2];
        for (var r = 0; r < rows; r++)
        {
            proba[2 * r] = 1 - raw[r];
            proba[2 * r + 1] = raw[r];
        }
        return proba;
    }

    /// <summary>The most probable class per row.</summary>
    public int[] Predict(float[] features, int rows)
    {
        var proba = PredictProba(features, rows);
        var result = new int[rows];
        for (var r = 0; r < rows; r++)
        {
            var best = 0;
            for (var c = 1; c < Classes; c++) if (proba[r * Classes + c] > proba[r * Classes + best]) best = c;
            result[r] = best;
        }
        return result;
    }

    /// <summary>Fraction of rows predicted correctly.</summary>
    public double Accuracy(float[] features, byte[] labels, int rows)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length < rows) throw new ArgumentException($"{rows} rows need {rows} labels; got {labels.Length}.", nameof(labels));
        var predicted = Predict(features, rows);
        var correct = 0;
        for (var r = 0; r < rows; r++) if (predicted[r] == labels[r]) correct++;
        return (double)correct / rows;
    }

    public void Dispose() => _booster.Dispose();
}
