using System.Security.Cryptography;
using EdgeActors.Messages;
using Microsoft.ML.OnnxRuntime;

namespace EdgeActors.Actors.Inference;

/// <summary>A model that cannot be served, with the reason (bad bytes, shape mismatch, runtime failure).</summary>
public sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Which execution provider this process uses, decided once: CUDA when it loads, else CPU with the reason.</summary>
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
            var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            if (settings.IntraOpThreads > 0) options.IntraOpNumThreads = settings.IntraOpThreads;
            if (_decided is { Provider: Cpu }) return options;
            if (!settings.UseCuda)
            {
                _decided ??= (Cpu, "CUDA disabled by configuration (edgeactors.inference.runtime.use-cuda = off)");
                return options;
            }
            try
            {
                AppendCudaQuietly(options, settings.CudaDeviceId);
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
                var cpu = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
                if (settings.IntraOpThreads > 0) cpu.IntraOpNumThreads = settings.IntraOpThreads;
                return cpu;
            }
        }
    }

    /// <summary>ONNX Runtime logs the failed CUDA load itself as an error; we report it once, in our own words.</summary>
    private static void AppendCudaQuietly(SessionOptions options, int deviceId)
    {
        var env = OrtEnv.Instance();
        var level = env.EnvLogLevel;
        env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        try
        {
            options.AppendExecutionProvider_CUDA(deviceId);
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
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (settings.IntraOpThreads > 0) options.IntraOpNumThreads = settings.IntraOpThreads;
        try
        {
            lock (Gate) AppendCudaQuietly(options, settings.CudaDeviceId);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>Options for a CPU session whatever the decided provider (the fallback session of a model).</summary>
    public static SessionOptions CreateCpuOptions(InferenceRuntimeSettings settings)
    {
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (settings.IntraOpThreads > 0) options.IntraOpNumThreads = settings.IntraOpThreads;
        return options;
    }

    public static string Current => _decided?.Provider ?? "undecided";
    public static string Note => _decided?.Note ?? "";
}

/// <summary>Thrown by a primary session's Run when fault injection (edgeactors.inference.runtime.fault-injection) fails it.</summary>
public sealed class InjectedFaultException(InjectedFault kind, string message) : Exception(message)
{
    public InjectedFault Kind { get; } = kind;
}

/// <summary>
/// One loaded ONNX model version: its primary ONNX Runtime session (the decided provider: CUDA when it loaded, else
/// CPU) and, created on first need, a CPU fallback session of the same bytes. Each session has its own preallocated
/// input/output buffers and cached <see cref="OrtValue"/>s per batch size. Not thread-safe for Runs: one
/// <see cref="Run"/> or <see cref="RunOnCpu"/> at a time (the inference actor guarantees it). <see cref="RebuildPrimary"/>
/// may run on another thread while a CPU Run is in progress (never while a primary Run is).
/// </summary>
public sealed class OnnxModel : IDisposable
{
    private readonly byte[] _onnx;
    private readonly InferenceRuntimeSettings _settings;
    private readonly object _gate = new();
    private readonly Random? _faults;
    private int _injected;
    private Session? _primary;
    private Session? _cpu;
    private bool _disposed;

    public ModelInfo Info { get; }
    /// <summary>The primary session's execution provider ("CUDA" or "CPU").</summary>
    public string Provider { get; }
    public int InputSize { get; }
    public int OutputSize { get; }
    public int MaxBatch { get; }
    /// <summary>Why the primary is not CUDA ("" when it is), e.g. "CUDA unavailable: libcudnn.so.9 ...".</summary>
    public string ProviderNote { get; }

    private OnnxModel(byte[] onnx, InferenceRuntimeSettings settings, Session primary, ModelInfo info, string provider, string note)
    {
        _onnx = onnx;
        _settings = settings;
        _primary = primary;
        Info = info;
        Provider = provider;
        ProviderNote = note;
        InputSize = primary.InputSize;
        OutputSize = primary.OutputSize;
        MaxBatch = primary.MaxBatch;
        if (settings.FaultInjection.Enabled)
        {
            // one reproducible sequence per model version and seed
            var h = 17;
            foreach (var c in info.Name) h = unchecked(h * 31 + c);
            _faults = new Random(unchecked(settings.FaultInjection.Seed * 7919 + h * 131 + info.Version));
        }
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    /// <summary>
    /// Loads and checks a model: it must parse, have one float input [N, InputShape...] and a float output [N, K], and
    /// run a warm-up batch. Any problem is a <see cref="ModelLoadException"/> naming it.
    /// </summary>
    public static OnnxModel Load(byte[] onnx, ModelInfo info, InferenceRuntimeSettings settings, int maxBatch, Action<string>? log = null)
    {
        if (onnx.Length == 0) throw new ModelLoadException($"model {info.Name} v{info.Version}: empty ONNX bytes");
        if (info.InputShape.Length == 0 || info.InputShape.Any(d => d <= 0))
            throw new ModelLoadException($"model {info.Name} v{info.Version}: input shape [{string.Join(",", info.InputShape)}] must be positive dimensions");
        if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch));
        var primary = Session.Create(onnx, info, ExecutionProvider.CreateOptions(settings, log), maxBatch);
        var provider = ExecutionProvider.Current;
        var note = provider == ExecutionProvider.Cuda ? "" : ExecutionProvider.Note;
        return new OnnxModel(onnx, settings, primary, info, provider, note);
    }

    /// <summary>Runs <paramref name="count"/> samples (1..MaxBatch) on the primary session and writes count × OutputSize floats.</summary>
    public void Run(ReadOnlySpan<float> input, int count, Span<float> output)
    {
        var session = _primary ?? throw new InvalidOperationException($"model {Info.Name} v{Info.Version}: the primary session is being recreated");
        if (session.Corrupt)
            throw new InjectedFaultException(InjectedFault.Corrupt, Describe(InjectedFault.Corrupt) + " (the session is still corrupt)");
        if (_faults is not null && (_settings.FaultInjection.Limit == 0 || _injected < _settings.FaultInjection.Limit) &&
            _faults.NextDouble() < _settings.FaultInjection.FailureProbability)
        {
            _injected++;
            var kinds = _settings.FaultInjection.Kinds;
            var kind = kinds[_faults.Next(kinds.Length)];
            if (kind == InjectedFault.Corrupt) session.Corrupt = true;
            throw new InjectedFaultException(kind, Describe(kind));
        }
        session.Run(input, count, output);
    }

    private string Describe(InjectedFault kind) => kind switch
    {
        InjectedFault.OutOfMemory => $"injected fault on the {Provider} session: out of memory: failed to allocate memory for requested buffer",
        InjectedFault.Corrupt => $"injected fault on the {Provider} session: an illegal memory access was encountered (session state corrupt)",
        _ => $"injected fault on the {Provider} session: unspecified launch failure",
    };

    /// <summary>
    /// Runs the batch on this model's CPU fallback session, creating it first when this is its first use (a
    /// <see cref="ModelLoadException"/> when it cannot be created).
    /// </summary>
    public void RunOnCpu(ReadOnlySpan<float> input, int count, Span<float> output)
    {
        var cpu = _cpu;
        if (cpu is null)
        {
            cpu = Session.Create(_onnx, Info, ExecutionProvider.CreateCpuOptions(_settings), MaxBatch);
            lock (_gate)
            {
                if (_disposed)
                {
                    cpu.Dispose();
                    throw new ObjectDisposedException(nameof(OnnxModel));
                }
                _cpu = cpu;
            }
        }
        cpu.Run(input, count, output);
    }

    /// <summary>True once the CPU fallback session exists.</summary>
    public bool HasCpuSession => _cpu is not null;

    /// <summary>
    /// Disposes the primary session (freeing its device memory first) and builds it again from the same bytes and
    /// provider, with a warm-up run. Blocking: call off the actor's mailbox, never while a primary Run is in progress.
    /// Throws <see cref="ModelLoadException"/> when the new session cannot be built (the model then has no primary
    /// until a later rebuild succeeds).
    /// </summary>
    public void RebuildPrimary()
    {
        Session? old;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            old = _primary;
            _primary = null;
        }
        old?.Dispose();
        var options = Provider == ExecutionProvider.Cuda ? ExecutionProvider.CreateCudaOptions(_settings) : ExecutionProvider.CreateCpuOptions(_settings);
        var fresh = Session.Create(_onnx, Info, options, MaxBatch);
        lock (_gate)
        {
            if (_disposed)
            {
                fresh.Dispose();
                throw new ObjectDisposedException(nameof(OnnxModel));
            }
            _primary = fresh;
        }
    }

    public void Dispose()
    {
        Session? primary, cpu;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            (primary, cpu) = (_primary, _cpu);
            _primary = null;
            _cpu = null;
        }
        primary?.Dispose();
        cpu?.Dispose();
    }

    /// <summary>One ONNX Runtime session with its own pinned buffers.</summary>
    private sealed class Session : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly float[] _input;
        private readonly float[] _output;
        private readonly Dictionary<int, (OrtValue In, OrtValue Out)> _values = new();
        private readonly RunOptions _runOptions = new();
        private readonly string[] _inputNames;
        private readonly string[] _outputNames;
        private readonly long[] _sampleShape;

        public int InputSize { get; }
        public int OutputSize { get; }
        public int MaxBatch { get; }
        /// <summary>Fault injection: the session's state is corrupt (every Run fails until it is recreated).</summary>
        public bool Corrupt { get; set; }

        private Session(InferenceSession session, int inputSize, int outputSize, int maxBatch, long[] sampleShape)
        {
            _session = session;
            InputSize = inputSize;
            OutputSize = outputSize;
            MaxBatch = maxBatch;
            _sampleShape = sampleShape;
            _input = GC.AllocateArray<float>(inputSize * maxBatch, pinned: true);
            _output = GC.AllocateArray<float>(outputSize * maxBatch, pinned: true);
            _inputNames = [session.InputMetadata.Keys.First()];
            _outputNames = [session.OutputMetadata.Keys.First()];
        }

        /// <summary>Creates (disposing <paramref name="options"/>), checks and warms up a session.</summary>
        public static Session Create(byte[] onnx, ModelInfo info, SessionOptions options, int maxBatch)
        {
            InferenceSession session;
            using (options)
            {
                try
                {
                    session = new InferenceSession(onnx, options);
                }
                catch (Exception ex)
                {
                    throw new ModelLoadException($"model {info.Name} v{info.Version}: ONNX Runtime cannot load it: {ex.Message.Split('\n')[0]}", ex);
                }
            }
            Session? created = null;
            try
            {
                if (session.InputMetadata.Count != 1) throw new ModelLoadException($"model {info.Name} v{info.Version}: expected 1 input, found {session.InputMetadata.Count}");
                var (inName, inMeta) = session.InputMetadata.First();
                var (outName, outMeta) = session.OutputMetadata.First();
                if (inMeta.ElementType != typeof(float)) throw new ModelLoadException($"model {info.Name} v{info.Version}: input '{inName}' is {inMeta.ElementType.Name}, expected float");
                if (outMeta.ElementType != typeof(float)) throw new ModelLoadException($"model {info.Name} v{info.Version}: output '{outName}' is {outMeta.ElementType.Name}, expected float");
                var dims = inMeta.Dimensions;
                var declared = info.InputShape;
                if (dims.Length != declared.Length + 1 || !dims.Skip(1).Select((d, i) => d == declared[i] || d <= 0).All(x => x))
                    throw new ModelLoadException($"model {info.Name} v{info.Version}: input '{inName}' has shape [{string.Join(",", dims)}], registry says [N,{string.Join(",", declared)}]");
                if (dims[0] > 0 && dims[0] != 1 && dims[0] < maxBatch)
                    throw new ModelLoadException($"model {info.Name} v{info.Version}: batch dimension is fixed at {dims[0]}; a dynamic batch dimension is required");
                var outDims = outMeta.Dimensions;
                if (outDims.Length != 2 || outDims[1] <= 0)
                    throw new ModelLoadException($"model {info.Name} v{info.Version}: output '{outName}' has shape [{string.Join(",", outDims)}], expected [N,K]");
                if (dims[0] == 1) maxBatch = 1;
                var inputSize = declared.Aggregate(1, (a, b) => a * b);
                created = new Session(session, inputSize, outDims[1], maxBatch, declared.Select(d => (long)d).ToArray());
                created.WarmUp(info);
                return created;
            }
            catch
            {
                if (created is not null) created.Dispose();
                else session.Dispose();
                throw;
            }
        }

        private void WarmUp(ModelInfo info)
        {
            try
            {
                Run(new float[InputSize], 1, new float[OutputSize]);
                if (MaxBatch > 1) Run(new float[InputSize * MaxBatch], MaxBatch, new float[OutputSize * MaxBatch]);
            }
            catch (Exception ex)
            {
                throw new ModelLoadException($"model {info.Name} v{info.Version}: warm-up run failed: {ex.Message.Split('\n')[0]}", ex);
            }
        }

        public void Run(ReadOnlySpan<float> input, int count, Span<float> output)
        {
            if (count < 1 || count > MaxBatch) throw new ArgumentOutOfRangeException(nameof(count), $"batch of {count} outside 1..{MaxBatch}");
            if (input.Length < count * InputSize) throw new ArgumentException($"input holds {input.Length} floats, {count * InputSize} needed");
            if (output.Length < count * OutputSize) throw new ArgumentException($"output holds {output.Length} floats, {count * OutputSize} needed");
            if (!_values.TryGetValue(count, out var v))
            {
                var inShape = new long[_sampleShape.Length + 1];
                inShape[0] = count;
                _sampleShape.CopyTo(inShape, 1);
                v = (OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _input.AsMemory(0, count * InputSize), inShape),
                     OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _output.AsMemory(0, count * OutputSize), [count, OutputSize]));
                _values[count] = v;
            }
            input[..(count * InputSize)].CopyTo(_input);
            _session.Run(_runOptions, _inputNames, [v.In], _outputNames, [v.Out]);
            _output.AsSpan(0, count * OutputSize).CopyTo(output);
        }

        public void Dispose()
        {
            foreach (var (i, o) in _values.Values)
            {
                i.Dispose();
                o.Dispose();
            }
            _values.Clear();
            _runOptions.Dispose();
            _session.Dispose();
        }
    }
}
