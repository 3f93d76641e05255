namespace EdgeActors.Inference.Runtime;

/// <summary>Per-node ONNX Runtime settings, bound from <c>edgeactors.inference.runtime</c>.</summary>
public sealed record InferenceRuntimeSettings
{
    public const string Section = "edgeactors.inference.runtime";

    /// <summary>Try the CUDA execution provider first (falls back to CPU when it cannot load).</summary>
    public bool UseCuda { get; init; } = true;
    public int CudaDeviceId { get; init; }
    /// <summary>Threads ONNX Runtime may use inside one operator; 0 lets it choose (all cores). 1 (as base.conf) leaves the other cores to the actors.</summary>
    public int IntraOpThreads { get; init; } = 1;
    /// <summary>
    /// CUDA sessions keep their inputs and outputs in page-locked (CUDA_PINNED) host buffers bound with I/O binding,
    /// one per power-of-two batch bucket, all warmed up at load (<c>pinned-io</c>, on by default; no effect on CPU).
    /// </summary>
    public bool PinnedIo { get; init; } = true;
    /// <summary>cuDNN's convolution algorithm search: EXHAUSTIVE (ONNX Runtime's default, best kernels, slow first run per shape), HEURISTIC or DEFAULT.</summary>
    public string CudnnConvAlgoSearch { get; init; } = "EXHAUSTIVE";
    /// <summary>
    /// Capture each batch bucket's kernels as a CUDA graph (<c>cuda-graphs</c>, off by default: ONNX Runtime then needs
    /// every input on the device, which pinned host buffers are not, so a model that cannot be captured fails to load).
    /// </summary>
    public bool CudaGraphs { get; init; }
    /// <summary>
    /// CUDA primary sessions run the model converted to FP16 (<c>fp16</c>, off by default: about 3 significant digits;
    /// inputs and outputs keep their types; the CPU fallback session runs the original).
    /// </summary>
    public bool Fp16 { get; init; }
    /// <summary>
    /// Models served with a uint8 input normalised inside the graph (<c>byte-input-models</c>, e.g. the camera model):
    /// the model host prepends Cast + Div 255 to their float input at load (<see cref="Models.ByteInput"/>), so frames
    /// stay bytes up to the device. Float requests to such a model are quantised (round(x × 255)), exact for x = byte / 255.
    /// </summary>
    public string[] ByteInputModels { get; init; } = [];
    /// <summary>Extra CUDA provider options passed as given (<c>cuda-provider-options { key = value }</c>, e.g. prefer_nhwc = "1").</summary>
    public IReadOnlyDictionary<string, string> CudaProviderOptions { get; init; } = new Dictionary<string, string>();
    /// <summary>What happens when the primary session fails (<c>session-recovery</c>).</summary>
    public SessionRecoverySettings Recovery { get; init; } = SessionRecoverySettings.Default;
    /// <summary>Makes the primary session's Run fail on purpose (<c>fault-injection</c>); off by default.</summary>
    public FaultInjectionSettings FaultInjection { get; init; } = FaultInjectionSettings.Off;

    public static InferenceRuntimeSettings Default { get; } = new();

}

/// <summary>
/// <c>edgeactors.inference.runtime.session-recovery</c>: a failed primary Run recreates the primary session; after
/// <see cref="FallbackAfter"/> consecutive failures the model is served from its CPU session and the primary is retried
/// after a backoff doubling from <see cref="RetryMin"/> to <see cref="RetryMax"/>.
/// </summary>
public sealed record SessionRecoverySettings
{
    public int FallbackAfter { get; init; } = 3;
    public TimeSpan RetryMin { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan RetryMax { get; init; } = TimeSpan.FromMinutes(1);

    public static SessionRecoverySettings Default { get; } = new();

    public SessionRecoverySettings Validate()
    {
        const string p = InferenceRuntimeSettings.Section + ".session-recovery.";
        if (FallbackAfter < 1) throw new ArgumentException($"{p}fallback-after must be >= 1, got {FallbackAfter}");
        if (RetryMin <= TimeSpan.Zero) throw new ArgumentException($"{p}retry-backoff-min must be positive, got {RetryMin}");
        if (RetryMax < RetryMin) throw new ArgumentException($"{p}retry-backoff-max must be >= retry-backoff-min, got {RetryMax}");
        return this;
    }

    /// <summary>The wait before retrying the primary after <paramref name="consecutive"/> failures (>= FallbackAfter).</summary>
    public TimeSpan Backoff(int consecutive) =>
        new Resilience.Backoff(RetryMin, RetryMax).Delay(consecutive - FallbackAfter + 1);
}

/// <summary>The ways an injected fault makes a primary Run fail, as a failing GPU would.</summary>
public enum InjectedFault
{
    /// <summary>One Run fails (a CUDA kernel error); the next may succeed.</summary>
    Error,
    /// <summary>One Run fails allocating device memory.</summary>
    OutOfMemory,
    /// <summary>The session's state is corrupt: this Run and every later one on the same session fail until it is recreated.</summary>
    Corrupt,
}

/// <summary>
/// <c>edgeactors.inference.runtime.fault-injection</c>: each Run of a model's primary session fails with
/// <see cref="FailureProbability"/> (one seeded random sequence per model, so a run can be repeated), with a kind drawn
/// from <see cref="Kinds"/>. The CPU fallback session is never affected. For tests and chaos runs on machines without a GPU.
/// </summary>
public sealed record FaultInjectionSettings
{
    public double FailureProbability { get; init; }
    public int Seed { get; init; } = 1;
    public InjectedFault[] Kinds { get; init; } = [InjectedFault.Error, InjectedFault.OutOfMemory, InjectedFault.Corrupt];
    /// <summary>Stop after this many injected failures per model (a burst); 0 = no limit.</summary>
    public int Limit { get; init; }

    public bool Enabled => FailureProbability > 0;

    public static FaultInjectionSettings Off { get; } = new();

    public FaultInjectionSettings Validate()
    {
        const string p = InferenceRuntimeSettings.Section + ".fault-injection.";
        if (double.IsNaN(FailureProbability) || FailureProbability is < 0 or > 1)
            throw new ArgumentException($"{p}failure-probability must be in [0,1], got {FailureProbability}");
        if (Limit < 0) throw new ArgumentException($"{p}limit must be >= 0, got {Limit}");
        if (Enabled && (Kinds is null || Kinds.Length == 0)) throw new ArgumentException($"{p}kinds must name at least one of error, out-of-memory, corrupt");
        return this;
    }
}
