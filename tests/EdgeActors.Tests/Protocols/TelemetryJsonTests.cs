using System.Buffers;
using System.Text.Json;
using EdgeActors.Messages;
using EdgeActors.Messages.Json;

namespace EdgeActors.Tests.Protocols;

/// <summary>
/// The telemetry shape and the ack that HTTP (DeviceJson) and MQTT (MqttPayloads) share; what is particular to each
/// protocol (its bytes → JSON, its refusals, the name of the ack's list) is tested with the protocol.
/// </summary>
public sealed class TelemetryJsonTests
{
    private static readonly DeviceId Dev = new("site-a/s1");

    private static (TelemetryBatch? Batch, string? Error) Parse(string json, long nowMs = 0, int maxReadings = TelemetryJson.DefaultMaxReadings)
    {
        using var doc = JsonDocument.Parse(json);
        return TelemetryJson.Parse(Dev, doc.RootElement, nowMs, maxReadings);
    }

    [Fact]
    public void A_single_reading_should_become_a_batch_of_one_with_its_channels()
    {
        var (b, error) = Parse("""{"seq":7,"ts":1700000000000,"values":[1.5,-2,3e2]}""", nowMs: 5);
        Assert.Null(error);
        Assert.Equal("site-a/s1", b!.DeviceId.Value);
        Assert.Equal(3, b.Channels);
        Assert.Equal([7L], b.Sequences);
        Assert.Equal([1700000000000L], b.Timestamps);
        Assert.Equal([1.5f, -2f, 300f], b.Values);
    }

    [Fact]
    public void A_readings_array_should_keep_order_and_default_ts_to_now_and_null_to_NaN()
    {
        var (b, error) = Parse("""{"readings":[{"seq":1,"values":[1,2]},{"seq":2,"ts":9,"values":[null,4]},{"seq":3,"ts":null,"values":[5,6]}]}""", nowMs: 42);
        Assert.Null(error);
        Assert.Equal([1L, 2L, 3L], b!.Sequences);
        Assert.Equal([42L, 9L, 42L], b.Timestamps); // ts left out or null: now
        Assert.Equal(2, b.Channels);
        Assert.True(float.IsNaN(b.Values[2])); // null = missing: the entity rejects it as NotANumber
    }

    [Theory]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("{\"values\":[1]}", "has no 'seq'")]
    [InlineData("{\"seq\":-1,\"values\":[1]}", "telemetry.seq must be a non-negative integer, got -1")]
    [InlineData("{\"seq\":1.5,\"values\":[1]}", "seq must be a non-negative integer")]
    [InlineData("{\"seq\":1,\"ts\":\"now\",\"values\":[1]}", "ts must be Unix milliseconds")]
    [InlineData("{\"seq\":1}", "has no 'values'")]
    [InlineData("{\"seq\":1,\"values\":{}}", "values must be an array")]
    [InlineData("{\"seq\":1,\"values\":[]}", "values is empty")]
    [InlineData("{\"seq\":1,\"values\":[1,\"x\"]}", "values[1] must be a number or null, got \"x\"")]
    [InlineData("{\"readings\":[{\"seq\":1,\"values\":[1,2]},{\"seq\":2,\"values\":[1]}]}", "readings[1].values has 1 values; the first reading has 2")]
    [InlineData("{\"readings\":[{\"seq\":1,\"values\":[1]},7]}", "readings[1] must be an object")]
    [InlineData("{\"readings\":[]}", "'readings' is empty")]
    [InlineData("{\"readings\":{}}", "'readings' must be an array")]
    public void Bad_telemetry_should_be_refused_naming_what_is_wrong(string json, string expected)
    {
        var (b, error) = Parse(json);
        Assert.Null(b);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Too_many_readings_should_be_refused()
    {
        var json = "{\"readings\":[" + string.Join(",", Enumerable.Range(0, 11).Select(i => $"{{\"seq\":{i},\"values\":[1]}}")) + "]}";
        Assert.Contains("holds 11 readings; the limit is 10", Parse(json, maxReadings: 10).Error);
        Assert.Null(Parse(json, maxReadings: 11).Error);
    }

    [Fact]
    public void The_ack_json_should_carry_counts_level_rejections_and_prediction_under_the_protocols_list_name()
    {
        var ack = new IngestAck(Dev, 12, 3, [new Rejection(11, RejectReason.OutOfRange, "too hot")], "edge1",
            new Prediction(7, 0.875f, "fmnist-mlp", 2, "edge1", false, PredictionNote.None), AckLevel.DurableOnEdge);
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) TelemetryJson.WriteAck(w, ack, "rejected", error: "overloaded");
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        var r = doc.RootElement;
        Assert.Equal("overloaded", r.GetProperty("error").GetString());
        Assert.Equal("site-a/s1", r.GetProperty("device").GetString());
        Assert.Equal(3, r.GetProperty("accepted").GetInt32());
        Assert.Equal(12, r.GetProperty("highestContiguous").GetInt64());
        Assert.Equal("DurableOnEdge", r.GetProperty("level").GetString());
        Assert.Equal("edge1", r.GetProperty("node").GetString());
        Assert.Equal(11, r.GetProperty("rejected")[0].GetProperty("seq").GetInt64());
        Assert.Equal("OutOfRange", r.GetProperty("rejected")[0].GetProperty("reason").GetString());
        Assert.Equal("too hot", r.GetProperty("rejected")[0].GetProperty("detail").GetString());
        var p = r.GetProperty("prediction");
        Assert.Equal(7, p.GetProperty("label").GetInt32());
        Assert.Equal(0.875, p.GetProperty("confidence").GetDouble());
        Assert.Equal("fmnist-mlp", p.GetProperty("model").GetString());
        Assert.Equal(2, p.GetProperty("version").GetInt32());
        Assert.Equal("edge1", p.GetProperty("servedBy").GetString());
        Assert.False(p.GetProperty("escalated").GetBoolean());
        Assert.Equal("None", p.GetProperty("note").GetString());
    }
}
