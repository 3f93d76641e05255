using EdgeActors.Client.Serialization;
using Akka.Configuration;
using EdgeActors.Nodes.Data;
using EdgeActors.Actors.Inference;
using EdgeActors.Inference.Runtime;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;
using EdgeActors.Nodes.Simulation;
using Onnx;

namespace EdgeActors.Tests.Inference;

/// <summary>
/// Camera frames as bytes: a model given a uint8 input by <see cref="ByteInput.Prepend"/> (Cast + Div 255 [+ mean/std]
/// in the graph) must compute what the float model computes on the normalised floats, on real ONNX Runtime sessions.
/// </summary>
public sealed class ByteInputTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public ByteInputTests()
        : base(ConfigurationFactory.ParseString("akka.actor.serialize-messages = on").WithFallback(EdgeSerialization.Config))
    {
    }

    private static ModelInfo Info(string name, int[] shape, byte[] onnx, int outputs) =>
        new(name, 1, shape, Enumerable.Range(0, outputs).Select(i => $"o{i}").ToArray(), OnnxModel.Sha256(onnx), onnx.Length, 0, "test");

    private static float[] Run(OnnxModel model, byte[] pixels, int count)
    {
        var raw = new byte[count * model.InputSize * model.InputElementSize];
        model.Pack(pixels, raw);
        var output = new float[count * model.OutputSize];
        model.Run(raw, count, output);
        return output;
    }

    [Fact]
    public void Byte_input_mlp_should_give_the_float_models_predictions_on_fashion_mnist_images()
    {
        const int count = 64;
        var images = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train: false, limit: count);
        var pixels = images.Images[..(count * FashionLabels.ImageSize)];
        var mlp = new Mlp([784, 256, 128, 10], seed: 7);
        var floatOnnx = MlpOnnx.Export(mlp);
        var byteOnnx = ByteInput.Prepend(floatOnnx);
        Assert.False(ByteInput.HasByteInput(floatOnnx));
        Assert.True(ByteInput.HasByteInput(byteOnnx));

        using var floatModel = OnnxModel.Load(floatOnnx, Info("f", [784], floatOnnx, 10), InferenceRuntimeSettings.Default, count);
        using var byteModel = OnnxModel.Load(byteOnnx, Info("b", [784], byteOnnx, 10), InferenceRuntimeSettings.Default, count);
        Assert.False(floatModel.InputIsBytes);
        Assert.True(byteModel.InputIsBytes);

        var expected = new float[count * 10];
        floatModel.Run(FashionLabels.ToFloats(pixels, count), count, expected); // the old path: byte / 255 in C#
        var actual = Run(byteModel, pixels, count);                          // the new one: bytes, / 255 in the graph
        for (var s = 0; s < count; s++)
        {
            var e = expected.AsSpan(s * 10, 10);
            var a = actual.AsSpan(s * 10, 10);
            for (var k = 0; k < 10; k++) Assert.True(Math.Abs(e[k] - a[k]) <= 1e-6f, $"image {s} class {k}: float path {e[k]}, byte path {a[k]}");
            Assert.Equal(ArgMax(e), ArgMax(a));
        }
        // the float path through the byte model (floats quantised back to bytes) agrees too
        var viaFloats = new float[count * 10];
        byteModel.Run(FashionLabels.ToFloats(pixels, count), count, viaFloats);
        Assert.Equal(actual, viaFloats);
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        var best = 0;
        for (var k = 1; k < v.Length; k++)
        {
            if (v[k] > v[best]) best = k;
        }
        return best;
    }

    [Fact]
    public void Byte_input_resnet18_should_match_the_float_model_on_imagenet_normalised_pixels()
    {
        const int count = 2, size = 3 * 224 * 224;
        var rng = new Random(11);
        var pixels = new byte[count * size];
        rng.NextBytes(pixels);
        var floatOnnx = ResNet18.Load();
        var byteOnnx = ResNet18.LoadWithByteInput();
        using var floatModel = OnnxModel.Load(floatOnnx, Info("r", ResNet18.InputShape, floatOnnx, ResNet18.Features), InferenceRuntimeSettings.Default, count);
        using var byteModel = OnnxModel.Load(byteOnnx, Info("rb", ResNet18.InputShape, byteOnnx, ResNet18.Features), InferenceRuntimeSettings.Default, count);

        var x = new float[count * size];
        for (var i = 0; i < x.Length; i++)
        {
            var c = i / (224 * 224) % 3;
            x[i] = (pixels[i] / 255f - ByteInput.ImageNetMean[c]) / ByteInput.ImageNetStd[c];
        }
        var expected = new float[count * ResNet18.Features];
        floatModel.Run(x, count, expected);
        var actual = Run(byteModel, pixels, count);
        var scale = expected.Max(Math.Abs);
        Assert.True(scale > 0);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * scale + 1e-5f, $"feature {i}: float path {expected[i]}, byte path {actual[i]}");
    }

    [Fact]
    public void Inference_actor_should_answer_byte_and_float_requests_alike_for_byte_and_float_models()
    {
        const int inputs = 16, classes = 5;
        var (floatOnnx, w, b) = TestModels.Linear(inputs, classes);
        var byteOnnx = ByteInput.Prepend(floatOnnx);
        var rng = new Random(3);
        var pixels = new byte[inputs];
        rng.NextBytes(pixels);
        var floats = pixels.Select(p => p / 255f).ToArray();
        var reference = TestModels.LinearReference(floats, w, b, inputs, classes);

        foreach (var (name, onnx) in new[] { ("lin-float", floatOnnx), ("lin-bytes", byteOnnx) })
        {
            var model = OnnxModel.Load(onnx, TestModels.Info(name, 1, inputs, classes, onnx), InferenceRuntimeSettings.Default, 8);
            var actor = Sys.ActorOf(InferenceActor.Props(name, BatchingSettings.Default with { MaxQueueDelay = TimeSpan.Zero }, "node-a"));
            actor.Tell(new InferenceActor.Swap(model), TestActor);
            ExpectMsg<InferenceActor.Swapped>(Wait);
            // bytes travel through the serializer (serialize-messages = on)
            actor.Tell(Infer.Bytes(name, 1, 1, pixels, InferencePriority.Normal), TestActor);
            var fromBytes = ExpectMsg<InferResult>(Wait);
            actor.Tell(new Infer(name, 2, 1, floats, InferencePriority.Normal), TestActor);
            var fromFloats = ExpectMsg<InferResult>(Wait);
            for (var k = 0; k < classes; k++)
            {
                Assert.True(Math.Abs(reference[k] - fromBytes.Output[k]) <= 1e-5f, $"{name}, bytes, class {k}: {fromBytes.Output[k]} vs {reference[k]}");
                Assert.True(Math.Abs(reference[k] - fromFloats.Output[k]) <= 1e-5f, $"{name}, floats, class {k}: {fromFloats.Output[k]} vs {reference[k]}");
            }
            // a byte request of the wrong size is refused at once
            actor.Tell(Infer.Bytes(name, 3, 1, new byte[inputs + 1], InferencePriority.Normal), TestActor);
            Assert.Equal(InferRejectReason.BadInput, ExpectMsg<InferRejected>(Wait).Reason);
        }
    }

    [Fact]
    public void Fp16_conversion_should_store_weights_as_float16_and_keep_the_byte_input_and_float_output()
    {
        var onnx = Fp16.Convert(ByteInput.Prepend(MlpOnnx.Export(new Mlp([784, 32, 10], seed: 1))));
        var model = ModelProto.Parser.ParseFrom(onnx);
        var g = model.Graph;
        Assert.Equal((int)TensorProto.Types.DataType.Uint8, Assert.Single(g.Input).Type.TensorType.ElemType);
        Assert.Equal((int)TensorProto.Types.DataType.Float, Assert.Single(g.Output).Type.TensorType.ElemType);
        var weights = g.Initializer.Where(t => !t.Name.StartsWith("edgeactors_", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, weights.Count);
        Assert.All(weights, t => Assert.Equal((int)TensorProto.Types.DataType.Float16, t.DataType));
        // normalisation in float, one cast into FP16 after it, one cast back to float at the output
        var casts = g.Node.Where(n => n.OpType == "Cast").Select(n => n.Attribute.Single(a => a.Name == "to").I).ToList();
        Assert.Equal([(long)TensorProto.Types.DataType.Float, (long)TensorProto.Types.DataType.Float16, (long)TensorProto.Types.DataType.Float], casts);
        Assert.Equal(g.Output[0].Name, g.Node[^1].Output[0]);
    }

    [Fact]
    public void Batching_settings_should_read_a_cuda_max_batch_and_the_batches_in_flight()
    {
        var s = BatchingSettings.FromConfig(ConfigurationFactory.ParseString("max-batch-size = 64\nmax-batch-size-cuda = 512\nmax-batches-in-flight = 3"));
        Assert.Equal(64, s.MaxBatchSizeFor(ExecutionProvider.Cpu));
        Assert.Equal(512, s.MaxBatchSizeFor(ExecutionProvider.Cuda));
        Assert.Equal(3, s.MaxBatchesInFlight);
        Assert.Equal(32, BatchingSettings.FromConfig(ConfigurationFactory.ParseString("max-batch-size = 32\nmax-batch-size-cuda = 0")).MaxBatchSizeFor(ExecutionProvider.Cuda));
        var bad = Assert.Throws<ArgumentException>(() => BatchingSettings.FromConfig(ConfigurationFactory.ParseString("max-batches-in-flight = 0")));
        Assert.Contains("max-batches-in-flight", bad.Message);
    }

    [Fact]
    public void Runtime_settings_should_read_pinned_io_fp16_and_byte_input_models()
    {
        var s = InferenceRuntimeSettings.FromConfig(ConfigurationFactory.ParseString(
            "pinned-io = off\nfp16 = on\nbyte-input-models = [\"fmnist-mlp\"]\ncudnn-conv-algo-search = HEURISTIC\ncuda-provider-options { prefer_nhwc = \"1\" }"));
        Assert.False(s.PinnedIo);
        Assert.True(s.Fp16);
        Assert.Equal(["fmnist-mlp"], s.ByteInputModels);
        var options = ExecutionProvider.CudaProviderOptions(s);
        Assert.Equal("HEURISTIC", options["cudnn_conv_algo_search"]);
        Assert.Equal("1", options["prefer_nhwc"]);
        Assert.Throws<ArgumentException>(() => InferenceRuntimeSettings.FromConfig(ConfigurationFactory.ParseString("cudnn-conv-algo-search = FAST")));
    }
}
