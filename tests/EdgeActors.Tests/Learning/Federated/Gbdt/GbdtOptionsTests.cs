using EdgeActors.Learning.Federated.Gbdt;

namespace EdgeActors.Tests.Learning.Federated.Gbdt;

public sealed class GbdtOptionsTests
{
    public static TheoryData<string, Func<GbdtOptions>> BadOptions => new()
    {
        { "Classes", () => new GbdtOptions { Classes = 1 } },
        { "Iterations", () => new GbdtOptions { Iterations = 0 } },
        { "MaxDepth", () => new GbdtOptions { MaxDepth = 0 } },
        { "MaxDepth", () => new GbdtOptions { MaxDepth = GbdtOptions.MaxSupportedDepth + 1 } },
        { "LearningRate", () => new GbdtOptions { LearningRate = 0 } },
        { "LearningRate", () => new GbdtOptions { LearningRate = double.NaN } },
        { "MaxBins", () => new GbdtOptions { MaxBins = 1 } },
        { "MaxBins", () => new GbdtOptions { MaxBins = 256 } },
        { "Lambda", () => new GbdtOptions { Lambda = -0.1 } },
        { "MinChildHessian", () => new GbdtOptions { MinChildHessian = -1 } },
        { "MinChildHessian", () => new GbdtOptions { MinChildHessian = double.PositiveInfinity } },
        { "MinGain", () => new GbdtOptions { MinGain = -1e-9 } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Bad_options_should_throw_an_argument_exception_naming_the_field(string field, Func<GbdtOptions> make)
    {
        var ex = Assert.Throws<ArgumentException>(make);
        Assert.Equal(field, ex.ParamName);
        Assert.Contains("GbdtOptions." + field, ex.Message);
    }

    [Fact]
    public void A_with_expression_should_validate_too()
    {
        var ok = new GbdtOptions { Classes = 10 };
        var ex = Assert.Throws<ArgumentException>(() => ok with { MaxBins = 300 });
        Assert.Equal("MaxBins", ex.ParamName);
    }

    [Fact]
    public void Defaults_and_boundaries_should_be_accepted()
    {
        var d = new GbdtOptions();
        Assert.Equal((2, 50, 4, 0.3, 32), (d.Classes, d.Iterations, d.MaxDepth, d.LearningRate, d.MaxBins));
        Assert.Equal(1, d.TreesPerIteration);
        var edge = new GbdtOptions { Classes = 10, MaxBins = 255, MaxDepth = GbdtOptions.MaxSupportedDepth, Lambda = 0, MinChildHessian = 0, MinGain = 0 };
        Assert.Equal(10, edge.TreesPerIteration);
    }
}
