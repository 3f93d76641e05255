using EdgeActors.Actors.Inference;
using EdgeActors.Inference.Runtime;
using EdgeActors.Tests.Inference;

namespace EdgeActors.Tests.Inference.Runtime;

public sealed class OnnxModelTests
{
    [Fact]
    public void Linear_model_should_match_the_reference_computation_for_every_batch_size()
    {
        const int inputs = 16, classes = 5;
        var (onnx, w, b) = TestModels.Linear(inputs, classes);
        using var model = OnnxModel.Load(onnx, TestModels.Info("lin", 1, inputs, classes, onnx), InferenceRuntimeSettings.Default, maxBatch: 8);
        Assert.Equal(inputs, model.InputSize);
        Assert.Equal(classes, model.OutputSize);
        var rng = new Random(11);
        foreach (var batch in new[] { 1, 3, 8, 3, 1 })
        {
            var x = Enumerable.Range(0, batch * inputs).Select(_ => (float)rng.NextDouble()).ToArray();
            var y = new float[batch * classes];
            model.Run(x, batch, y);
            for (var s = 0; s < batch; s++)
            {
                var expected = TestModels.LinearReference(x[(s * inputs)..((s + 1) * inputs)], w, b, inputs, classes);
                for (var k = 0; k < classes; k++) Assert.Equal(expected[k], y[s * classes + k], 5);
            }
        }
    }

    [Fact]
    public void Without_a_GPU_the_CPU_provider_should_serve_and_say_why()
    {
        var (onnx, _, _) = TestModels.Linear(4, 2);
        var logged = new List<string>();
        using var model = OnnxModel.Load(onnx, TestModels.Info("lin", 1, 4, 2, onnx), InferenceRuntimeSettings.Default, 4, logged.Add);
        // either way the provider in use is reported with its reason; without a loadable CUDA provider it is the CPU
        Assert.Equal(MachineFacts.ExpectedProvider, model.Provider);
        if (model.Provider == ExecutionProvider.Cuda)
        {
            Assert.StartsWith("CUDA device", ExecutionProvider.Note);
            return;
        }
        Assert.Equal(ExecutionProvider.Cpu, model.Provider);
        Assert.StartsWith("CUDA unavailable", ExecutionProvider.Note);
    }

    [Fact]
    public void Corrupt_bytes_should_be_rejected_with_a_reason()
    {
        var (onnx, _, _) = TestModels.Linear(4, 2);
        var corrupt = onnx[..(onnx.Length / 2)];
        var ex = Assert.Throws<ModelLoadException>(() => OnnxModel.Load(corrupt, TestModels.Info("lin", 2, 4, 2, corrupt), InferenceRuntimeSettings.Default, 4));
        Assert.Contains("cannot load", ex.Message);
        Assert.Contains("lin v2", ex.Message);
    }

    [Fact]
    public void Wrong_input_shape_should_be_rejected_with_both_shapes_named()
    {
        var (onnx, _, _) = TestModels.Linear(4, 2);
        var ex = Assert.Throws<ModelLoadException>(() => OnnxModel.Load(onnx, TestModels.Info("lin", 3, 784, 2, onnx), InferenceRuntimeSettings.Default, 4));
        Assert.Contains("[-1,4]", ex.Message);
        Assert.Contains("[N,784]", ex.Message);
    }
}
