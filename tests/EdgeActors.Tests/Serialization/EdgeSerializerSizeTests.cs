namespace EdgeActors.Tests.Serialization;

/// <summary>The wire format stays compact: delta-encoded sequences/timestamps, raw 4-byte floats.</summary>
public sealed class EdgeSerializerSizeTests : EdgeSerializationTestKit
{
    [Fact]
    public void TelemetryBatch_should_serialize_compactly_with_delta_encoding()
    {
        var batch = SampleMessages.ConsecutiveTelemetry(readings: 100, channels: 4);

        var (bytes, _) = Serialize(batch);

        // 1600 bytes of floats; sequences and 1 ms timestamps ~1 byte each after the first one
        Assert.True(bytes.Length < 100 * 4 * 4 + 300, $"100x4 batch took {bytes.Length} bytes");
        Assert.True(bytes.Length >= 100 * 4 * 4, "floats are stored raw (4 bytes each)");
    }

    [Fact]
    public void Consecutive_sequences_should_cost_about_one_byte_each()
    {
        var small = SampleMessages.ConsecutiveTelemetry(readings: 10, channels: 0);
        var large = SampleMessages.ConsecutiveTelemetry(readings: 1_010, channels: 0);

        var growth = Serialize(large).Bytes.Length - Serialize(small).Bytes.Length;

        // 1000 more readings: one sequence delta and one timestamp delta each (+1 byte of length prefix growth)
        Assert.InRange(growth, 2_000, 2_004);
    }
}
