using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeActors.Inference.Runtime;

/// <summary>A model that cannot be served, with the reason (bad bytes, shape mismatch, runtime failure).</summary>
public sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// One loaded ONNX model version: its primary ONNX Runtime session (the decided provider: CUDA when it loaded, else
/// CPU) and, created on first need, a CPU fallback session of the same bytes. Each session has its own preallocated
/// input/output buffers and cached <see cref="OrtValue"/>s per batch size. Not thread-safe for Runs: one
/// <see cref="Run"/> or <see cref="RunOnCpu"/> at a time (the inference actor guarantees it). <see cref="RebuildPrimary"/>
/// may run on another thread while a CPU Run is in progress (never while a primary Run is).
/// <para>
/// The provider and everything that follows from it (session options, pinned memory) come from
/// <see cref="ExecutionProvider"/>; fault injection on the primary session from a <see cref="FaultInjector"/>.
/// </para>
/// </summary>
public sealed class OnnxModel : IDisposable
{
    private readonly byte[] _onnx;
    /// <summary>What the primary session runs: <see cref="_onnx"/>, or its FP16 conversion on CUDA with <c>fp16 = on</c>.</summary>
    private readonly byte[] _primaryOnnx;
    private readonly InferenceRuntimeSettings _settings;
    private readonly object _gate = new();
    /// <summary>Held by a primary Run, and by a rebuild while it takes the primary away (a queued batch may run meanwhile).</summary>
    private readonly object _runGate = new();
    /// <summary>Fault injection on the primary session; null when off.</summary>
    private readonly FaultInjector? _faults;
    private Session? _primary;
    private Session? _cpu;
    private bool _disposed;

    public OnnxModelInfo Info { get; }
    /// <summary>The primary session's execution provider ("CUDA" or "CPU").</summary>
    public string Provider { get; }
    public int InputSize { get; }
    public int OutputSize { get; }
    public int MaxBatch { get; }
    /// <summary>The model's input is uint8 (pixels, normalised inside the graph) rather than float.</summary>
    public bool InputIsBytes => InputElementSize == 1;
    /// <summary>Bytes per input value in the buffers <see cref="Run(ReadOnlySpan{byte}, int, Span{float})"/> takes: 1 (uint8) or 4 (float).</summary>
    public int InputElementSize { get; }
    /// <summary>The primary session pads runs to power-of-two buckets with pinned buffers and I/O binding (CUDA).</summary>
    public bool PinnedIo { get; }
    /// <summary>Why a CUDA primary runs without pinned I/O binding although configured ("" otherwise).</summary>
    public string IoNote { get; private init; } = "";
    /// <summary>Why the primary is not CUDA ("" when it is), e.g. "CUDA unavailable: libcudnn.so.9 ...".</summary>
    public string ProviderNote { get; }

    private OnnxModel(byte[] onnx, byte[] primaryOnnx, InferenceRuntimeSettings settings, Session primary, OnnxModelInfo info, string provider, string note)
    {
        _onnx = onnx;
        _primaryOnnx = primaryOnnx;
        _settings = settings;
        _primary = primary;
        Info = info;
        Provider = provider;
        ProviderNote = note;
        InputSize = primary.InputSize;
        OutputSize = primary.OutputSize;
        MaxBatch = primary.MaxBatch;
        InputElementSize = primary.InputElementSize;
        PinnedIo = primary.Bucketed;
        _faults = FaultInjector.For(settings.FaultInjection, info, provider);
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    /// <summary>
    /// Loads and checks a model: it must parse, have one float input [N, InputShape...] and a float output [N, K], and
    /// run a warm-up batch. Any problem is a <see cref="ModelLoadException"/> naming it.
    /// </summary>
    public static OnnxModel Load(byte[] onnx, OnnxModelInfo info, InferenceRuntimeSettings settings, int maxBatch, Action<string>? log = null)
    {
        if (onnx.Length == 0) throw new ModelLoadException($"model {info.Name} v{info.Version}: empty ONNX bytes");
        if (info.InputShape.Length == 0 || info.InputShape.Any(d => d <= 0))
            throw new ModelLoadException($"model {info.Name} v{info.Version}: input shape [{string.Join(",", info.InputShape)}] must be positive dimensions");
        if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch));
        var options = ExecutionProvider.CreateOptions(settings, log);
        var provider = ExecutionProvider.Current;
        var primaryOnnx = onnx;
        if (provider == ExecutionProvider.Cuda && settings.Fp16)
        {
            try
            {
                primaryOnnx = Learning.Models.Fp16.Convert(onnx);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or Google.Protobuf.InvalidProtocolBufferException)
            {
                options.Dispose();
                throw new ModelLoadException($"model {info.Name} v{info.Version}: cannot convert it to FP16: {ex.Message}", ex);
            }
        }
        Session primary;
        var pinned = ExecutionProvider.PinnedMemory(provider, settings);
        var ioNote = "";
        try
        {
            primary = Session.Create(primaryOnnx, info, options, maxBatch, pinned);
        }
        catch (Exception ex) when (pinned is not null)
        {
            // pinned buffers or I/O binding not available here: serve with pageable buffers rather than not at all
            ioNote = $"pinned I/O binding unavailable ({ex.GetType().Name}: {ex.Message.Split('\n')[0].Trim()}); pageable buffers";
            log?.Invoke($"ONNX Runtime: model {info.Name} v{info.Version}: {ioNote}");
            primary = Session.Create(primaryOnnx, info, ExecutionProvider.CreateCudaOptions(settings), maxBatch);
        }
        return new OnnxModel(onnx, primaryOnnx, settings, primary, info, provider, ExecutionProvider.NoteFor(provider)) { IoNote = ioNote };
    }

    /// <summary>Runs <paramref name="count"/> samples (1..MaxBatch) of floats on the primary session and writes count × OutputSize floats (a uint8 model gets them as round(x × 255)).</summary>
    public void Run(ReadOnlySpan<float> input, int count, Span<float> output)
    {
        var raw = new byte[count * InputSize * InputElementSize];
        Pack(input[..Math.Min(input.Length, count * InputSize)], raw);
        Run(raw, count, output);
    }

    /// <summary>Writes float samples into <paramref name="raw"/> in this model's input format (uint8: round(x × 255), clamped).</summary>
    public void Pack(ReadOnlySpan<float> values, Span<byte> raw)
    {
        if (!InputIsBytes)
        {
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(raw);
            return;
        }
        for (var i = 0; i < values.Length; i++) raw[i] = (byte)Math.Clamp(MathF.Round(values[i] * 255f), 0f, 255f);
    }

    /// <summary>Writes 8-bit samples into <paramref name="raw"/> in this model's input format (float: byte / 255).</summary>
    public void Pack(ReadOnlySpan<byte> values, Span<byte> raw)
    {
        if (InputIsBytes)
        {
            values.CopyTo(raw);
            return;
        }
        var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw);
        for (var i = 0; i < values.Length; i++) floats[i] = values[i] / 255f;
    }

    /// <summary>
    /// Runs <paramref name="count"/> samples on the primary session; <paramref name="input"/> holds them in the model's
    /// input format (count × InputSize × InputElementSize bytes, see <see cref="Pack(ReadOnlySpan{float}, Span{byte})"/>).
    /// </summary>
    public void Run(ReadOnlySpan<byte> input, int count, Span<float> output)
    {
        lock (_runGate) RunPrimary(input, count, output);
    }

    private void RunPrimary(ReadOnlySpan<byte> input, int count, Span<float> output)
    {
        var session = _primary ?? throw new InvalidOperationException($"model {Info.Name} v{Info.Version}: the primary session is being recreated");
        _faults?.BeforeRun(session);
        session.Run(input, count, output);
    }

    /// <summary>
    /// Runs the batch on this model's CPU fallback session, creating it first when this is its first use (a
    /// <see cref="ModelLoadException"/> when it cannot be created).
    /// </summary>
    public void RunOnCpu(ReadOnlySpan<float> input, int count, Span<float> output)
    {
        var raw = new byte[count * InputSize * InputElementSize];
        Pack(input[..Math.Min(input.Length, count * InputSize)], raw);
        RunOnCpu(raw, count, output);
    }

    /// <summary>As <see cref="RunOnCpu(ReadOnlySpan{float}, int, Span{float})"/>, with the input in the model's input format.</summary>
    public void RunOnCpu(ReadOnlySpan<byte> input, int count, Span<float> output)
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
        lock (_runGate)
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            old = _primary;
            _primary = null;
        }
        old?.Dispose();
        var options = ExecutionProvider.CreatePrimaryOptions(Provider, _settings);
        var fresh = Session.Create(_primaryOnnx, Info, options, MaxBatch, PinnedIo ? ExecutionProvider.PinnedMemory(Provider, _settings) : null);
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

    /// <summary>
    /// One ONNX Runtime session with its own pinned host buffers. On CPU: GC-pinned arrays wrapped in OrtValues per batch
    /// size. On CUDA (<see cref="InferenceRuntimeSettings.PinnedIo"/>): page-locked (CUDA_PINNED) buffers from ONNX
    /// Runtime's allocator, bound with an <see cref="OrtIoBinding"/> per batch bucket (powers of two up to the maximum),
    /// so the host-to-device copy is one DMA from pinned memory and every shape the GPU sees was warmed up at load (cuDNN
    /// picks its algorithms per shape); a batch runs in the smallest bucket that holds it, the rest of the bucket unused.
    /// </summary>
    private sealed class Session : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly RunOptions _runOptions = new();
        private readonly string[] _inputNames;
        private readonly string[] _outputNames;
        private readonly long[] _sampleShape;
        private readonly TensorElementType _inputType;

        // CPU: one pinned array each, OrtValues per batch size over their start
        private readonly byte[]? _input;
        private readonly float[]? _output;
        private readonly Dictionary<int, (OrtValue In, OrtValue Out)> _values = new();

        // CUDA: per bucket, pinned OrtValues bound once
        private readonly OrtAllocator? _pinned;
        private readonly OrtMemoryInfo? _pinnedInfo;
        private readonly SortedDictionary<int, Bucket> _buckets = new();

        private sealed record Bucket(OrtValue In, OrtValue Out, OrtIoBinding Binding);

        public int InputSize { get; }
        public int OutputSize { get; }
        public int MaxBatch { get; }
        /// <summary>Bytes per input value: 1 for a uint8 input, 4 for float.</summary>
        public int InputElementSize { get; }
        /// <summary>Runs are padded to bucket sizes (CUDA with pinned I/O).</summary>
        public bool Bucketed => _pinned is not null;

        private Session(InferenceSession session, int inputSize, int outputSize, int maxBatch, long[] sampleShape, TensorElementType inputType, OrtMemoryInfo? pinnedInfo)
        {
            _session = session;
            InputSize = inputSize;
            OutputSize = outputSize;
            MaxBatch = maxBatch;
            _sampleShape = sampleShape;
            _inputType = inputType;
            InputElementSize = inputType == TensorElementType.UInt8 ? 1 : sizeof(float);
            _inputNames = [session.InputMetadata.Keys.First()];
            _outputNames = [session.OutputMetadata.Keys.First()];
            if (pinnedInfo is not null)
            {
                _pinnedInfo = pinnedInfo;
                _pinned = new OrtAllocator(session, pinnedInfo);
            }
            else
            {
                _input = GC.AllocateArray<byte>(inputSize * maxBatch * InputElementSize, pinned: true);
                _output = GC.AllocateArray<float>(outputSize * maxBatch, pinned: true);
            }
        }

        /// <summary>Creates (disposing <paramref name="options"/>), checks and warms up a session.</summary>
        public static Session Create(byte[] onnx, OnnxModelInfo info, SessionOptions options, int maxBatch, OrtMemoryInfo? pinnedInfo = null)
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
                if (inMeta.ElementType != typeof(float) && inMeta.ElementType != typeof(byte))
                    throw new ModelLoadException($"model {info.Name} v{info.Version}: input '{inName}' is {inMeta.ElementType.Name}, expected float or uint8");
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
                var inputType = inMeta.ElementType == typeof(byte) ? TensorElementType.UInt8 : TensorElementType.Float;
                created = new Session(session, inputSize, outDims[1], maxBatch, declared.Select(d => (long)d).ToArray(), inputType, pinnedInfo);
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

        /// <summary>The batch sizes a bucketed session runs at: powers of two below the maximum, and the maximum.</summary>
        public static IEnumerable<int> BucketSizes(int maxBatch)
        {
            for (var b = 1; b < maxBatch; b *= 2) yield return b;
            yield return maxBatch;
        }

        private void WarmUp(OnnxModelInfo info)
        {
            try
            {
                var sizes = Bucketed ? BucketSizes(MaxBatch).ToArray() : MaxBatch > 1 ? [1, MaxBatch] : [1];
                var output = new float[OutputSize * MaxBatch];
                var input = new byte[InputSize * InputElementSize * MaxBatch];
                foreach (var b in sizes) Run(input, b, output);
            }
            catch (Exception ex)
            {
                throw new ModelLoadException($"model {info.Name} v{info.Version}: warm-up run failed: {ex.Message.Split('\n')[0]}", ex);
            }
        }

        private long[] Shape(int count)
        {
            var inShape = new long[_sampleShape.Length + 1];
            inShape[0] = count;
            _sampleShape.CopyTo(inShape, 1);
            return inShape;
        }

        /// <summary><paramref name="input"/>: count × InputSize values in the input's element type, as bytes.</summary>
        public void Run(ReadOnlySpan<byte> input, int count, Span<float> output)
        {
            if (count < 1 || count > MaxBatch) throw new ArgumentOutOfRangeException(nameof(count), $"batch of {count} outside 1..{MaxBatch}");
            var inBytes = count * InputSize * InputElementSize;
            if (input.Length < inBytes) throw new ArgumentException($"input holds {input.Length} bytes, {inBytes} needed");
            if (output.Length < count * OutputSize) throw new ArgumentException($"output holds {output.Length} floats, {count * OutputSize} needed");
            if (_pinned is not null)
            {
                var bucket = GetBucket(count);
                input[..inBytes].CopyTo(bucket.In.GetTensorMutableRawData());
                _session.RunWithBinding(_runOptions, bucket.Binding);
                bucket.Binding.SynchronizeBoundOutputs();
                bucket.Out.GetTensorDataAsSpan<float>()[..(count * OutputSize)].CopyTo(output);
                return;
            }
            if (!_values.TryGetValue(count, out var v))
            {
                v = (CreateOver(_input!, inBytes, _inputType, Shape(count)),
                     OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _output.AsMemory(0, count * OutputSize), [count, OutputSize]));
                _values[count] = v;
            }
            input[..inBytes].CopyTo(_input);
            _session.Run(_runOptions, _inputNames, [v.In], _outputNames, [v.Out]);
            _output.AsSpan(0, count * OutputSize).CopyTo(output);
        }

        private static OrtValue CreateOver(byte[] pinnedArray, int bytes, TensorElementType type, long[] shape) =>
            OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, shape,
                System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(pinnedArray, 0), bytes);

        private Bucket GetBucket(int count)
        {
            var size = BucketSizes(MaxBatch).First(b => b >= count);
            if (_buckets.TryGetValue(size, out var bucket)) return bucket;
            OrtValue? inValue = null, outValue = null;
            OrtIoBinding? binding = null;
            try
            {
                inValue = OrtValue.CreateAllocatedTensorValue(_pinned!, _inputType, Shape(size));
                outValue = OrtValue.CreateAllocatedTensorValue(_pinned!, TensorElementType.Float, [size, OutputSize]);
                binding = _session.CreateIoBinding();
                binding.BindInput(_inputNames[0], inValue);
                binding.BindOutput(_outputNames[0], outValue);
                bucket = new Bucket(inValue, outValue, binding);
                _buckets[size] = bucket;
                return bucket;
            }
            catch
            {
                binding?.Dispose();
                inValue?.Dispose();
                outValue?.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            foreach (var (i, o) in _values.Values)
            {
                i.Dispose();
                o.Dispose();
            }
            _values.Clear();
            foreach (var b in _buckets.Values)
            {
                b.Binding.Dispose();
                b.In.Dispose();
                b.Out.Dispose();
            }
            _buckets.Clear();
            _pinned?.Dispose();
            _pinnedInfo?.Dispose();
            _runOptions.Dispose();
            _session.Dispose();
        }
    }
}
