using System.Text;
using System.Text.Json;
using EdgeActors.Http;
using EdgeActors.Http.Devices;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Http;

public sealed class DeviceJsonTests
{
    private static readonly DeviceId Dev = new("site-a/cam-1");

    private static ReadOnlyMemory<byte> B(string s) => Encoding.UTF8.GetBytes(s);

    // the telemetry shape itself (shared with MQTT) is tested in Protocols/TelemetryJsonTests; here: HTTP's bytes and refusals

    [Fact]
    public void Telemetry_should_become_a_telemetry_batch_of_the_device()
    {
        var batch = DeviceJson.ParseTelemetry(Dev, B("""{"readings":[{"seq":1,"values":[1]},{"seq":2,"ts":9,"values":[null]}]}"""), nowMs: 5);
        Assert.Equal(Dev, batch.DeviceId);
        Assert.Equal([1L, 2L], batch.Sequences);
        Assert.Equal([5L, 9L], batch.Timestamps);
    }

    [Theory]
    [InlineData("""{"seq":1,"values":[1""", "malformed JSON")]
    [InlineData("", "malformed JSON")]
    [InlineData("""{"seq":-1,"values":[1]}""", "telemetry.seq must be a non-negative integer")]
    [InlineData("""{"readings":[{"seq":1,"values":[1]},{"seq":2,"values":[1,2]}]}""", "readings[1].values has 2 values")]
    public void Bad_telemetry_should_be_refused_with_400_naming_the_problem(string json, string expected)
    {
        var p = Assert.Throws<HttpProblem>(() => DeviceJson.ParseTelemetry(Dev, B(json), 0));
        Assert.Equal(400, p.Status);
        Assert.Contains(expected, p.Message);
    }

    [Fact]
    public void Telemetry_that_is_not_UTF8_should_be_refused_with_400()
    {
        var p = Assert.Throws<HttpProblem>(() => DeviceJson.ParseTelemetry(Dev, new byte[] { (byte)'{', 0xFF, (byte)'}' }, 0));
        Assert.Equal(400, p.Status);
        Assert.Contains("not valid UTF-8", p.Message);
    }

    [Fact]
    public void Frames_should_be_raw_bytes_with_query_parameters_or_json_base64()
    {
        var pixels = Enumerable.Range(0, 784).Select(i => (byte)i).ToArray();
        var raw = DeviceJson.ParseFrameRaw(Dev, pixels, "3", "44", 0);
        Assert.Equal(3, raw.Sequence);
        Assert.Equal(44, raw.Timestamp);
        Assert.Equal(pixels, raw.Pixels);
        var json = DeviceJson.ParseFrameJson(Dev, B($$"""{"seq":4,"pixels":"{{Convert.ToBase64String(pixels)}}","label":2}"""), 9);
        Assert.Equal(pixels, json.Pixels);
        Assert.Equal(2, json.Label);
        Assert.Equal(9, json.Timestamp);
        Assert.Contains("784 grey bytes; got 10", Assert.Throws<HttpProblem>(() => DeviceJson.ParseFrameRaw(Dev, new byte[10], "1", null, 0)).Message);
        Assert.Contains("seq", Assert.Throws<HttpProblem>(() => DeviceJson.ParseFrameRaw(Dev, pixels, null, null, 0)).Message);
        Assert.Contains("base64", Assert.Throws<HttpProblem>(() => DeviceJson.ParseFrameJson(Dev, B("""{"seq":1,"pixels":"@@"}"""), 0)).Message);
    }

    [Fact]
    public void Desired_properties_should_map_null_to_remove()
    {
        var values = DeviceJson.ParseDesired(B("""{"rate":"10","gain":2.5,"on":true,"old":null}"""));
        Assert.Equal(
            [new TwinValue("rate", "10"), new TwinValue("gain", "2.5"), new TwinValue("on", "true"), new TwinValue("old", "", Remove: true)],
            values);
        Assert.Contains("JSON object", Assert.Throws<HttpProblem>(() => DeviceJson.ParseDesired(B("[1]"))).Message);
        Assert.Contains("no properties", Assert.Throws<HttpProblem>(() => DeviceJson.ParseDesired(B("{}"))).Message);
        Assert.Contains("'x'", Assert.Throws<HttpProblem>(() => DeviceJson.ParseDesired(B("""{"x":[1]}"""))).Message);
    }

    [Fact]
    public void Commands_should_take_name_payload_ttl_and_id()
    {
        var c = DeviceJson.ParseCommand(Dev, B("""{"name":"recalibrate","payload":{"gain":2},"ttlSeconds":1.5,"id":"c-1"}"""));
        Assert.Equal(new SendCommand(Dev, "c-1", "recalibrate", """{"gain":2}""", 1500), c);
        Assert.Contains("\"name\" is required", Assert.Throws<HttpProblem>(() => DeviceJson.ParseCommand(Dev, B("""{"payload":"1"}"""))).Message);
        Assert.Contains("ttlSeconds", Assert.Throws<HttpProblem>(() => DeviceJson.ParseCommand(Dev, B("""{"name":"x","ttlSeconds":-1}"""))).Message);
    }

    [Fact]
    public void Ack_json_should_name_its_list_rejections_and_carry_the_error()
    {
        var ack = new IngestAck(Dev, 5, 1, [new Rejection(6, RejectReason.Duplicate, "seen")], "node-a", null, AckLevel.DurableOnEdge);
        using var doc = JsonDocument.Parse(DeviceJson.Ack(ack, "overloaded"));
        var r = doc.RootElement;
        Assert.Equal("overloaded", r.GetProperty("error").GetString());
        Assert.Equal("Duplicate", r.GetProperty("rejections")[0].GetProperty("reason").GetString());
        Assert.Equal("site-a/cam-1", r.GetProperty("device").GetString());
    }

    [Fact]
    public void Twin_json_should_show_desired_reported_and_delta()
    {
        var twin = new DeviceTwin(Dev, [new TwinProperty("rate", "10", 2, 0), new TwinProperty("mode", "a", 1, 0)], [new TwinProperty("rate", "5", 1, 0), new TwinProperty("mode", "a", 1, 0)], 2, 1);
        using var doc = JsonDocument.Parse(DeviceJson.Twin(twin));
        var r = doc.RootElement;
        Assert.Equal("10", r.GetProperty("desired").GetProperty("rate").GetString());
        Assert.Equal("5", r.GetProperty("reported").GetProperty("rate").GetString());
        Assert.Equal(["rate"], r.GetProperty("delta").EnumerateObject().Select(p => p.Name));
        Assert.Equal(("twin", true), DeviceJson.Event(twin) is { } e ? (e.Event, e.Data.Length > 0) : default);
        Assert.Null(DeviceJson.Event("something else"));
    }
}
