using System.Buffers;
using System.Text;
using System.Text.Json;
using EdgeActors.Messages;
using EdgeActors.Mqtt;

namespace EdgeActors.Tests.Mqtt;

public class MqttPayloadTests
{
    private static ReadOnlySequence<byte> B(string s) => new(Encoding.UTF8.GetBytes(s));
    private static ReadOnlySequence<byte> B(byte[] b) => new(b);
    private static Func<string, string?> Props(params (string, string)[] p) => name => p.FirstOrDefault(x => x.Item1 == name).Item2;

    // the telemetry shape itself (shared with HTTP) is tested in Protocols/TelemetryJsonTests; here: MQTT's bytes and refusals

    [Fact]
    public void Telemetry_should_become_a_batch_of_the_topics_device()
    {
        var p = MqttPayloads.ParseTelemetry("site-a/s1", B("""{"readings":[{"seq":1,"values":[1,2]},{"seq":2,"ts":9,"values":[null,4]}]}"""), nowMs: 42);
        Assert.Null(p.Error);
        Assert.Equal("site-a/s1", p.Value!.DeviceId.Value);
        Assert.Equal([42L, 9L], p.Value.Timestamps);
    }

    [Theory]
    [InlineData("{\"seq\":1,\"values\":[1", "not valid JSON")]
    [InlineData("", "empty")]
    [InlineData("{\"seq\":-1,\"values\":[1]}", "telemetry.seq must be a non-negative integer")]
    [InlineData("{\"readings\":[{\"seq\":1,\"values\":[1,2]},{\"seq\":2,\"values\":[1]}]}", "readings[1].values has 1 values; the first reading has 2")]
    public void Bad_telemetry_should_be_refused_naming_what_is_wrong(string json, string expected)
    {
        var p = MqttPayloads.ParseTelemetry("d", B(json), 0);
        Assert.Null(p.Value);
        Assert.Contains(expected, p.Error);
    }

    [Fact]
    public void Too_many_readings_should_be_refused()
    {
        var json = "{\"readings\":[" + string.Join(",", Enumerable.Range(0, 11).Select(i => $"{{\"seq\":{i},\"values\":[1]}}")) + "]}";
        Assert.Contains("limit is 10", MqttPayloads.ParseTelemetry("d", B(json), 0, maxReadings: 10).Error);
    }

    private static byte[] Image()
    {
        var px = new byte[784];
        for (var i = 0; i < px.Length; i++) px[i] = (byte)(i * 7 % 256);
        return px;
    }

    [Fact]
    public void A_raw_frame_should_take_seq_ts_and_label_from_user_properties()
    {
        var px = Image();
        var p = MqttPayloads.ParseFrame("cam", B(px), Props(("seq", "3"), ("ts", "99"), ("label", "4")), 0);
        Assert.Null(p.Error);
        Assert.Equal(3, p.Value!.Sequence);
        Assert.Equal(99, p.Value.Timestamp);
        Assert.Equal(4, p.Value.Label);
        Assert.Equal(px, p.Value.Pixels);
        Assert.Equal((28, 28), (p.Value.Width, p.Value.Height));
    }

    [Fact]
    public void A_raw_frame_without_seq_should_be_refused_with_the_mqtt311_alternative()
    {
        var p = MqttPayloads.ParseFrame("cam", B(Image()), Props(), 0);
        Assert.Contains("user property 'seq'", p.Error);
        Assert.Contains("JSON form", p.Error);
    }

    [Fact]
    public void A_png_frame_should_decode_to_the_same_pixels()
    {
        var px = Image();
        var png = PngGrey.Encode(px, 28, 28);
        var p = MqttPayloads.ParseFrame("cam", B(png), Props(("seq", "1")), 0);
        Assert.Null(p.Error);
        Assert.Equal(px, p.Value!.Pixels);
    }

    [Fact]
    public void A_json_frame_should_carry_raw_or_png_pixels_in_base64()
    {
        var px = Image();
        var raw = MqttPayloads.ParseFrame("cam", B($$"""{"seq":5,"ts":6,"pixels":"{{Convert.ToBase64String(px)}}","label":2}"""), Props(), 0);
        Assert.Null(raw.Error);
        Assert.Equal((5L, 6L, 2), (raw.Value!.Sequence, raw.Value.Timestamp, raw.Value.Label));
        Assert.Equal(px, raw.Value.Pixels);
        var png = MqttPayloads.ParseFrame("cam", B($$"""{"seq":5,"pixels":"{{Convert.ToBase64String(PngGrey.Encode(px, 28, 28))}}"}"""), Props(), 0);
        Assert.Equal(px, png.Value!.Pixels);
    }

    [Theory]
    [InlineData("{\"seq\":1,\"pixels\":\"AAAA\"}", "3 bytes; raw frames are 28x28")]
    [InlineData("{\"seq\":1,\"pixels\":\"@@@\"}", "not valid base64")]
    [InlineData("{\"pixels\":\"AAAA\"}", "needs 'seq'")]
    [InlineData("{\"seq\":1}", "needs 'pixels'")]
    [InlineData("{\"seq\":1,", "not valid JSON")]
    [InlineData("hello", "neither 784 raw bytes")]
    public void Bad_frames_should_be_refused_naming_what_is_wrong(string payload, string expected)
    {
        var p = MqttPayloads.ParseFrame("cam", B(payload), Props(), 0);
        Assert.Null(p.Value);
        Assert.Contains(expected, p.Error);
    }

    [Fact]
    public void A_corrupt_png_should_be_refused_not_thrown()
    {
        var png = PngGrey.Encode(Image(), 28, 28);
        var cut = png[..40];
        var p = MqttPayloads.ParseFrame("cam", B(cut), Props(("seq", "1")), 0);
        Assert.NotNull(p.Error);
        Assert.Contains("PNG", p.Error);
        var garbled = (byte[])png.Clone();
        for (var i = 41; i < garbled.Length - 12; i++) garbled[i] ^= 0x5A;
        Assert.NotNull(MqttPayloads.ParseFrame("cam", B(garbled), Props(("seq", "1")), 0).Error);
    }

    [Fact]
    public void The_ack_json_should_name_its_list_rejected()
    {
        var ack = new IngestAck(new DeviceId("d"), 12, 3, [new Rejection(11, RejectReason.OutOfRange, "too hot")], "edge1", null, AckLevel.DurableOnEdge);
        using var doc = JsonDocument.Parse(MqttPayloads.Ack(ack));
        var r = doc.RootElement;
        Assert.Equal("OutOfRange", r.GetProperty("rejected")[0].GetProperty("reason").GetString());
        Assert.False(r.TryGetProperty("error", out _));
        Assert.False(r.TryGetProperty("prediction", out _));
    }

    [Fact]
    public void A_kubeedge_twin_update_should_become_a_report_of_actual_values()
    {
        var p = MqttPayloads.ParseTwinUpdate("d", B("""{"event_id":"e1","timestamp":1,"twin":{"rate":{"actual":{"value":"10"}},"mode":{"actual":{"value":3}},"old":{"actual":null}}}"""));
        Assert.Null(p.Error);
        Assert.Equal("e1", p.Value!.EventId);
        Assert.Equal([new TwinValue("rate", "10"), new TwinValue("mode", "3"), new TwinValue("old", "", true)], p.Value.Report.Properties);
    }

    [Theory]
    [InlineData("{\"twin\":{\"rate\":{\"expected\":{\"value\":\"1\"}}}}", "needs 'actual'")]
    [InlineData("{\"event_id\":\"x\"}", "needs 'twin'")]
    [InlineData("{\"twin\":{}}", "no properties")]
    [InlineData("{\"twin\":{\"rate\":{\"actual\":{\"value\":[1]}}}}", "value must be a string")]
    [InlineData("nope", "not valid JSON")]
    public void Bad_twin_updates_should_be_refused_naming_what_is_wrong(string json, string expected) =>
        Assert.Contains(expected, MqttPayloads.ParseTwinUpdate("d", B(json)).Error);

    [Fact]
    public void The_twin_document_should_have_kubeedge_expected_and_actual_with_versions_and_the_delta()
    {
        var twin = new DeviceTwin(new DeviceId("d"), [new TwinProperty("rate", "10", 3, 100)], [new TwinProperty("rate", "5", 2, 90), new TwinProperty("fw", "1.2", 1, 80)], 3, 2);
        using var doc = JsonDocument.Parse(MqttPayloads.Delta(7, twin, twin.Delta()));
        var rate = doc.RootElement.GetProperty("twin").GetProperty("rate");
        Assert.Equal("10", rate.GetProperty("expected").GetProperty("value").GetString());
        Assert.Equal("5", rate.GetProperty("actual").GetProperty("value").GetString());
        Assert.Equal(3, rate.GetProperty("expected_version").GetProperty("cloud").GetInt64());
        Assert.Equal(2, rate.GetProperty("actual_version").GetProperty("edge").GetInt64());
        Assert.False(doc.RootElement.GetProperty("twin").GetProperty("fw").TryGetProperty("expected", out _));
        Assert.Equal("10", doc.RootElement.GetProperty("delta").GetProperty("rate").GetString());
        using var err = JsonDocument.Parse(MqttPayloads.Twin("e", 1, null, "no such device"));
        Assert.Equal("no such device", err.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public void Commands_should_round_trip_between_delivery_and_acknowledgement()
    {
        var c = new CommandStatus(new DeviceId("d"), "c1", "set-rate", "10", CommandState.Pending, 1, 2, 1, "");
        using var doc = JsonDocument.Parse(MqttPayloads.Command(c));
        Assert.Equal("c1", doc.RootElement.GetProperty("id").GetString());
        Assert.Equal("set-rate", doc.RootElement.GetProperty("name").GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("expiresAt").GetInt64());
        var ack = MqttPayloads.ParseCommandAck("d", B("""{"id":"c1","success":false,"result":"sensor busy"}"""));
        Assert.Equal(new AcknowledgeCommand(new DeviceId("d"), "c1", false, "sensor busy"), ack.Value);
        Assert.Contains("needs 'id'", MqttPayloads.ParseCommandAck("d", B("""{"success":true}""")).Error);
    }
}
