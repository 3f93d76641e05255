using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Simulation;

namespace EdgeActors.Tests.Simulation;

/// <summary>
/// A fact that needs the real Fashion-MNIST files. It fails (never skips) where they are absent:
/// `.ci/run` and the test command (`./test.sh`) install them (`apt-get install dataset-fashion-mnist`).
/// </summary>
public sealed class FashionMnistFactAttribute : FactAttribute;

/// <summary>
/// A fact that loads from a directory of its own. It fails loudly when EDGEACTORS_FASHION_MNIST_DIR is set,
/// because the variable would override the test's directory; unset it to run the suite.
/// </summary>
public sealed class ExplicitDirectoryFactAttribute : FactAttribute;

/// <summary>Loads both sets once for the whole test class.</summary>
public sealed class FashionMnistFixture
{
    private readonly Lazy<FashionMnist> _train = new(() => FashionMnist.Load(FashionMnist.DefaultDirectory, train: true));
    private readonly Lazy<FashionMnist> _test = new(() => FashionMnist.Load(FashionMnist.DefaultDirectory, train: false));

    public FashionMnist Train => _train.Value;
    public FashionMnist Test => _test.Value;
}
