using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tests.Simulation;

/// <summary>A fact that needs the real Fashion-MNIST files; skipped (not failed) where they are absent.</summary>
public sealed class FashionMnistFactAttribute : FactAttribute
{
    public FashionMnistFactAttribute()
    {
        var dir = FashionMnist.ResolveDirectory(null);
        if (!File.Exists(Path.Combine(dir, "t10k-images-idx3-ubyte.gz")))
            Skip = $"Fashion-MNIST not found in '{dir}' (sudo apt-get install dataset-fashion-mnist)";
    }
}

/// <summary>A fact that loads from a directory of its own; skipped when the environment variable would override it.</summary>
public sealed class ExplicitDirectoryFactAttribute : FactAttribute
{
    public ExplicitDirectoryFactAttribute()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(FashionMnist.DirectoryEnvironmentVariable)))
            Skip = $"{FashionMnist.DirectoryEnvironmentVariable} is set and overrides the test's directory";
    }
}

/// <summary>Loads both sets once for the whole test class.</summary>
public sealed class FashionMnistFixture
{
    private readonly Lazy<FashionMnist> _train = new(() => FashionMnist.Load(FashionMnist.DefaultDirectory, train: true));
    private readonly Lazy<FashionMnist> _test = new(() => FashionMnist.Load(FashionMnist.DefaultDirectory, train: false));

    public FashionMnist Train => _train.Value;
    public FashionMnist Test => _test.Value;
}
