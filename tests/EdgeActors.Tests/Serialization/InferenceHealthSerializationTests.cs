using EdgeActors.Messages;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// InferenceStatus with and without its session-health and circuit-breaker parts (the sample in
/// <see cref="SampleMessages.All"/> has both; a datacenter's status has no breaker).
/// </summary>
public sealed class InferenceHealthSerializationTests : EdgeSerializationTestKit
{
    [Fact]
    public void InferenceStatus_should_round_trip_session_health_and_the_breaker()
    {
        var edge = SampleMessages.Inference();
        Assert.NotNull(edge.Datacenter);
        Assert.NotNull(edge.Models[0].Session);
        Assert.Null(edge.Models[1].Session);
        MessageAssert.Equal(edge, RoundTrip(edge));
    }

    [Fact]
    public void InferenceStatus_without_a_breaker_should_round_trip_as_null()
    {
        var dc = SampleMessages.DatacenterInference();
        var back = RoundTrip(dc);
        MessageAssert.Equal(dc, back);
        Assert.Null(back.Datacenter);
    }
}
