using EdgeActors.Nodes.Data;
using EdgeActors.Learning.Models;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tests.Learning.Models;

/// <summary>
/// Fashion-MNIST as floats (the first 6,000 training images, the first 2,000 test images) and one <see cref="Cnn"/>
/// trained one epoch on them with the experiments' defaults (batch 64, lr 0.05, momentum 0.9), built once per test class.
/// </summary>
public sealed class CnnFixture
{
    public const int TrainCount = 6_000;
    public const int TestCount = 2_000;
    public static readonly SgdOptions Options = new(Epochs: 1, BatchSize: 64, LearningRate: 0.05f, Momentum: 0.9f, Seed: 3);

    private readonly Lazy<(float[] X, byte[] Y)> _train = new(() => Load(train: true, TrainCount));
    private readonly Lazy<(float[] X, byte[] Y)> _test = new(() => Load(train: false, TestCount));
    private readonly Lazy<(Cnn Model, float[] Losses)> _trained;

    public CnnFixture()
    {
        _trained = new(() =>
        {
            var model = new Cnn(seed: 1);
            var losses = model.Train(TrainX, TrainY, TrainCount, Options);
            return (model, losses);
        });
    }

    public float[] TrainX => _train.Value.X;
    public byte[] TrainY => _train.Value.Y;
    public float[] TestX => _test.Value.X;
    public byte[] TestY => _test.Value.Y;

    /// <summary>Seed 1, trained with <see cref="Options"/> on the first 6,000 training images.</summary>
    public Cnn Trained => _trained.Value.Model;
    public float[] TrainedLosses => _trained.Value.Losses;

    private static (float[] X, byte[] Y) Load(bool train, int limit)
    {
        var data = FashionMnist.Load(FashionMnist.ResolveDirectory(null), train, limit);
        return (FashionLabels.ToFloats(data.Images, data.Count), data.Labels);
    }
}
