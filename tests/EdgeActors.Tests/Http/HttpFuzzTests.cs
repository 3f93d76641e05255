using EdgeActors.Tools.Fuzz;

namespace EdgeActors.Tests.Http;

/// <summary>The HTTP API's JSON parsers (KServe v2 infer, device REST bodies) against random and mutated bodies.</summary>
public sealed class HttpFuzzTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void Fuzzed_bodies_should_parse_or_be_refused_with_a_clear_error(int seed)
    {
        var report = HttpFuzzer.Run(3_000, seed);
        Assert.True(report.FailureCount == 0, $"{report.FailureCount} bodies threw something other than a 4xx HttpProblem:\n" + string.Join("\n", report.Failures));
        Assert.Equal(3_000, report.Bodies);
        // the mutations must reach both outcomes, or the fuzzer tests nothing
        Assert.True(report.Parsed > 100, $"only {report.Parsed} bodies parsed");
        Assert.True(report.Refused > 100, $"only {report.Refused} bodies refused");
    }
}
