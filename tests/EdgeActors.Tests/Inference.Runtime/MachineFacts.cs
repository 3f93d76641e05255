using System.Runtime.InteropServices;
using EdgeActors.Inference.Runtime;

namespace EdgeActors.Tests.Inference.Runtime;

/// <summary>
/// The execution provider this machine should end up with, from facts independent of <see cref="ExecutionProvider"/>'s
/// own decision: CUDA only when an NVIDIA device is present and ONNX Runtime's CUDA provider library (with its CUDA and
/// cuDNN dependencies) loads; otherwise CPU.
/// </summary>
internal static class MachineFacts
{
    private static readonly Lazy<bool> CudaUsable = new(() =>
    {
        if (!File.Exists("/dev/nvidiactl") && !File.Exists("/dev/nvidia0")) return false;
        const string name = "libonnxruntime_providers_cuda.so";
        var local = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", name);
        if (!NativeLibrary.TryLoad(File.Exists(local) ? local : name, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    });

    /// <summary>
    /// "CUDA" or "CPU". The provider is decided once per process: when an earlier test in this process turned CUDA off by
    /// configuration (the decision's note says so), CPU is expected whatever the machine.
    /// </summary>
    public static string ExpectedProvider =>
        CudaUsable.Value && !ExecutionProvider.Note.StartsWith("CUDA disabled by configuration", StringComparison.Ordinal)
            ? ExecutionProvider.Cuda
            : ExecutionProvider.Cpu;
}
