using Microsoft.ML.OnnxRuntime;

namespace EdgeActors.Inference.Runtime;

/// <summary>
/// Which execution provider this process uses, decided once: CUDA when it loads, else CPU with the reason; and the
/// session options, pinned memory and notes that follow from a model's provider (<see cref="OnnxModel"/> asks here
/// rather than choosing itself).
/// </summary>
public static class ExecutionProvider
{
    private static readonly object Gate = new();
    private static (string Provider, string Note)? _decided;

    public const string Cuda = "CUDA";
    public const string Cpu = "CPU";

    /// <summary>Creates session options for the decided provider; the first call decides (and logs via the callback).</summary>
    public static SessionOptions CreateOptions(InferenceRuntimeSettings settings, Action<string>? log = null)
    {
        lock (Gate)
        {
            var options = BaseOptions(settings);
            if (_decided is { Provider: Cpu }) return options;
            if (!settings.UseCuda)
            {
                _decided ??= (Cpu, "CUDA disabled by configuration (edgeactors.inference.runtime.use-cuda = off)");
                return options;
            }
            try
            {
                AppendCudaQuietly(options, settings);
                if (_decided is null)
                {
                    _decided = (Cuda, $"CUDA device {settings.CudaDeviceId}");
                    log?.Invoke($"ONNX Runtime: using the CUDA execution provider on device {settings.CudaDeviceId}");
                }
                return options;
            }
            catch (Exception ex)
            {
                // the shared library or its CUDA/cuDNN dependencies are missing: say why once, serve on CPU
                var reason = ex.Message.Split('\n')[0].Trim();
                var missing = _decided is null ? WhyCudaProviderCannotLoad() : null;
                if (missing is not null) reason += $" ({missing})";
                if (_decided is null) log?.Invoke($"ONNX Runtime: CUDA execution provider unavailable ({ex.GetType().Name}: {reason}); running on CPU");
                _decided = (Cpu, $"CUDA unavailable: {reason}");
                options.Dispose();
                return BaseOptions(settings);
            }
        }
    }

    /// <summary>
    /// The CUDA provider options: the device, cuDNN's convolution algorithm search, the maximum cuDNN workspace,
    /// CUDA graphs when configured; then <see cref="InferenceRuntimeSettings.CudaProviderOptions"/> as given.
    /// </summary>
    public static Dictionary<string, string> CudaProviderOptions(InferenceRuntimeSettings settings)
    {
        var o = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["device_id"] = settings.CudaDeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["cudnn_conv_algo_search"] = settings.CudnnConvAlgoSearch,
            ["cudnn_conv_use_max_workspace"] = "1",
        };
        if (settings.CudaGraphs) o["enable_cuda_graph"] = "1";
        foreach (var (k, v) in settings.CudaProviderOptions) o[k] = v;
        return o;
    }

    /// <summary>ONNX Runtime logs the failed CUDA load itself as an error; we report it once, in our own words.</summary>
    private static void AppendCudaQuietly(SessionOptions options, InferenceRuntimeSettings settings)
    {
        var env = OrtEnv.Instance();
        var level = env.EnvLogLevel;
        env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        try
        {
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(CudaProviderOptions(settings));
            options.AppendExecutionProvider_CUDA(cuda);
        }
        finally
        {
            env.EnvLogLevel = level;
        }
    }

    /// <summary>The dynamic loader's own reason (e.g. which CUDA/cuDNN library is missing), or null when it loads.</summary>
    private static string? WhyCudaProviderCannotLoad()
    {
        const string name = "libonnxruntime_providers_cuda.so";
        var local = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", name);
        try
        {
            var handle = System.Runtime.InteropServices.NativeLibrary.Load(File.Exists(local) ? local : name);
            System.Runtime.InteropServices.NativeLibrary.Free(handle);
            return null;
        }
        catch (Exception ex)
        {
            // .NET's message lists the dlerror text of every path it tried; keep the one that names the missing piece
            var lines = ex.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var line = lines.FirstOrDefault(l => l.Contains("cannot open shared object", StringComparison.Ordinal)) ?? lines.LastOrDefault() ?? ex.Message;
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            return colon > 0 && line.StartsWith('/') ? line[(colon + 2)..] : line;
        }
    }

    /// <summary>
    /// Options for rebuilding a CUDA primary session: throws when the CUDA provider cannot be appended now (unlike
    /// <see cref="CreateOptions"/>, never falls back to CPU, so a rebuilt "CUDA" session is never silently a CPU one
    /// and the process-wide decision stays as it is).
    /// </summary>
    public static SessionOptions CreateCudaOptions(InferenceRuntimeSettings settings)
    {
        var options = BaseOptions(settings);
        try
        {
            lock (Gate) AppendCudaQuietly(options, settings);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>Options for a CPU session whatever the decided provider (the fallback session of a model).</summary>
    public static SessionOptions CreateCpuOptions(InferenceRuntimeSettings settings) => BaseOptions(settings);

    /// <summary>
    /// Options for rebuilding a model's primary session on the provider it was loaded with: CUDA (never falling back,
    /// see <see cref="CreateCudaOptions"/>) or CPU.
    /// </summary>
    public static SessionOptions CreatePrimaryOptions(string provider, InferenceRuntimeSettings settings) =>
        provider == Cuda ? CreateCudaOptions(settings) : CreateCpuOptions(settings);

    /// <summary>
    /// CUDA-pinned host memory for the I/O buffers of a session on <paramref name="provider"/>: only on CUDA with
    /// <see cref="InferenceRuntimeSettings.PinnedIo"/> (null: GC-pinned arrays, as on CPU).
    /// </summary>
    public static OrtMemoryInfo? PinnedMemory(string provider, InferenceRuntimeSettings settings) =>
        provider == Cuda && settings.PinnedIo
            ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, settings.CudaDeviceId, OrtMemType.CpuOutput)
            : null;

    /// <summary>Why a model on <paramref name="provider"/> does not run on CUDA ("" when it does), e.g. "CUDA unavailable: ...".</summary>
    public static string NoteFor(string provider) => provider == Cuda ? "" : Note;

    /// <summary>The options every session gets, whatever its provider: full graph optimisation, the configured intra-op threads.</summary>
    private static SessionOptions BaseOptions(InferenceRuntimeSettings settings)
    {
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (settings.IntraOpThreads > 0) options.IntraOpNumThreads = settings.IntraOpThreads;
        return options;
    }

    public static string Current => _decided?.Provider ?? "undecided";
    public static string Note => _decided?.Note ?? "";
}
