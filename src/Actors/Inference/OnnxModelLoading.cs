using EdgeActors.Inference.Runtime;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Inference;

/// <summary>
/// The glue between the Akka-free <see cref="OnnxModel"/> (EdgeActors.Inference.Runtime) and the registry's
/// <see cref="ModelInfo"/> and the node's <see cref="BatchingSettings"/>: <c>OnnxModel.Load(onnx, modelInfo, …)</c>.
/// </summary>
public static class OnnxModelLoading
{
    public static OnnxModelInfo ToOnnxModelInfo(this ModelInfo info) => new(info.Name, info.Version, info.InputShape);

    extension(OnnxModel)
    {
        /// <summary>
        /// Loads and checks a model: it must parse, have one float input [N, InputShape...] and a float output [N, K], and
        /// run a warm-up batch. Any problem is a <see cref="ModelLoadException"/> naming it.
        /// </summary>
        public static OnnxModel Load(byte[] onnx, ModelInfo info, InferenceRuntimeSettings settings, int maxBatch, Action<string>? log = null) =>
            OnnxModel.Load(onnx, info.ToOnnxModelInfo(), settings, maxBatch, log);

        /// <summary>
        /// Loads a model with the maximum batch <paramref name="batching"/> gives the provider this process uses (decided
        /// by the first load: <c>max-batch-size</c> for CPU, <c>max-batch-size-cuda</c> for CUDA).
        /// </summary>
        public static OnnxModel Load(byte[] onnx, ModelInfo info, InferenceRuntimeSettings settings, BatchingSettings batching, Action<string>? log = null)
        {
            if (ExecutionProvider.Current == "undecided") ExecutionProvider.CreateOptions(settings, log).Dispose();
            return OnnxModel.Load(onnx, info.ToOnnxModelInfo(), settings, batching.MaxBatchSizeFor(ExecutionProvider.Current), log);
        }
    }
}
