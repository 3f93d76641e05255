namespace EdgeActors.Actors.Inference;

/// <summary>Per-node ONNX Runtime settings, bound from <c>edgeactors.inference.runtime</c>.</summary>
public sealed record InferenceRuntimeSettings
{
    /// <summary>Try the CUDA execution provider first (falls back to CPU when it cannot load).</summary>
    public bool UseCuda { get; init; } = true;
    public int CudaDeviceId { get; init; }
    /// <summary>Threads ONNX Runtime may use inside one operator; 0 lets it choose.</summary>
    public int IntraOpThreads { get; init; }

    public static InferenceRuntimeSettings Default { get; } = new();

    public static InferenceRuntimeSettings FromConfig(Akka.Configuration.Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var s = new InferenceRuntimeSettings
        {
            UseCuda = section.GetBoolean("use-cuda", true),
            CudaDeviceId = section.GetInt("cuda-device-id", 0),
            IntraOpThreads = section.GetInt("intra-op-threads", 0),
        };
        if (s.CudaDeviceId < 0) throw new ArgumentException($"edgeactors.inference.runtime.cuda-device-id must be >= 0, got {s.CudaDeviceId}");
        if (s.IntraOpThreads < 0) throw new ArgumentException($"edgeactors.inference.runtime.intra-op-threads must be >= 0, got {s.IntraOpThreads}");
        return s;
    }
}
