using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeActors.Messages;
using EdgeActors.Messages.Json;

namespace EdgeActors.Mqtt;

/// <summary>A parsed payload, or why it was refused (names what is wrong).</summary>
public readonly record struct Parsed<T>(T? Value, string? Error) where T : class
{
    public static Parsed<T> Ok(T value) => new(value, null);
    public static Parsed<T> Fail(string error) => new(null, error);
}

/// <summary>
/// Device payloads of the broker's topics (docs/mqtt.md), parsed into the cluster's messages; plain, no Akka.
/// </summary>
public static class MqttPayloads
{
    private static readonly JsonDocumentOptions DocOptions = new() { MaxDepth = 16 };

    private static Parsed<TelemetryBatch> FailParseTelemetry(string e) => Parsed<TelemetryBatch>.Fail(e);
    private static Parsed<CameraFrame> FailParseFrame(string e) => Parsed<CameraFrame>.Fail(e);
    private static Parsed<AcknowledgeCommand> FailParseCommandAck(string e) => Parsed<AcknowledgeCommand>.Fail(e);
    private static Parsed<TwinUpdate> FailParseTwinUpdate(string e) => Parsed<TwinUpdate>.Fail(e);

    // ------------------------------------------------------------------ telemetry

    /// <summary>
    /// <c>{"seq":n,"ts":ms,"values":[...]}</c> or <c>{"readings":[{"seq":n,"ts":ms,"values":[...]},...]}</c>: one
    /// device's readings; every reading has as many values (the channels). <c>ts</c> may be left out (the broker's
    /// clock, <paramref name="nowMs"/>); a value <c>null</c> is a missing reading (NaN: the entity rejects it as NotANumber).
    /// </summary>
    public static Parsed<TelemetryBatch> ParseTelemetry(string deviceId, ReadOnlySequence<byte> payload, long nowMs, int maxReadings = TelemetryJson.DefaultMaxReadings)
    {
        try
        {
            return ParseTelemetryCore(deviceId, payload, nowMs, maxReadings);
        }
        catch (InvalidOperationException ex)
        {
            // a JSON string holding bytes that are not UTF-8 (System.Text.Json decodes strings lazily)
            return FailParseTelemetry($"telemetry payload is not valid UTF-8 text: {ex.GetBaseException().Message}");
        }
    }

    private static Parsed<TelemetryBatch> ParseTelemetryCore(string deviceId, ReadOnlySequence<byte> payload, long nowMs, int maxReadings)
    {
        if (payload.IsEmpty) return Parsed<TelemetryBatch>.Fail($"telemetry payload is empty; send {TelemetryJson.Shape}");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload, DocOptions);
        }
        catch (JsonException ex)
        {
            return Parsed<TelemetryBatch>.Fail($"telemetry payload is not valid JSON: {ex.Message}");
        }
        using (doc)
        {
            var (batch, error) = TelemetryJson.Parse(new DeviceId(deviceId), doc.RootElement, nowMs, maxReadings);
            return batch is not null ? Parsed<TelemetryBatch>.Ok(batch) : Parsed<TelemetryBatch>.Fail(error!);
        }
    }

    // ------------------------------------------------------------------ frames

    /// <summary>
    /// A camera frame: the raw 784 bytes (28×28 grey), a PNG (8-bit grey, 28×28), or JSON
    /// <c>{"seq":n,"ts":ms,"pixels":"&lt;base64 of raw bytes or PNG&gt;","label":n}</c>. For raw and PNG payloads
    /// seq/ts (and optionally label) come from the MQTT 5 user properties <c>seq</c>/<c>ts</c>/<c>label</c>
    /// (<paramref name="properties"/>); MQTT 3.1.1 has none, so 3.1.1 devices send the JSON form.
    /// </summary>
    public static Parsed<CameraFrame> ParseFrame(string deviceId, ReadOnlySequence<byte> payload, Func<string, string?> properties, long nowMs, int maxBytes = 1 << 20)
    {
        try
        {
            return ParseFrameCore(deviceId, payload, properties, nowMs, maxBytes);
        }
        catch (InvalidOperationException ex)
        {
            // a JSON string holding bytes that are not UTF-8 (System.Text.Json decodes strings lazily)
            return FailParseFrame($"frame payload is not valid UTF-8 text: {ex.GetBaseException().Message}");
        }
    }

    private static Parsed<CameraFrame> ParseFrameCore(string deviceId, ReadOnlySequence<byte> payload, Func<string, string?> properties, long nowMs, int maxBytes = 1 << 20)
    {
        if (payload.IsEmpty) return Parsed<CameraFrame>.Fail("frame payload is empty; send 784 raw bytes (28x28 grey), a PNG, or {\"seq\":n,\"ts\":ms,\"pixels\":\"<base64>\"}");
        var bytes = payload.ToArray();
        const int raw = CameraFrame.ExpectedWidth * CameraFrame.ExpectedHeight;
        if (bytes.Length == raw || PngGrey.IsPng(bytes))
        {
            var seqText = properties("seq");
            if (seqText is null)
                return Parsed<CameraFrame>.Fail("frame has no sequence number: send MQTT 5 user property 'seq' (and 'ts'), or the JSON form {\"seq\":n,\"ts\":ms,\"pixels\":\"<base64>\"} (MQTT 3.1.1)");
            if (!long.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                return Parsed<CameraFrame>.Fail($"user property seq must be a non-negative integer, got '{seqText}'");
            var ts = nowMs;
            if (properties("ts") is { } tsText && !long.TryParse(tsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out ts))
                return Parsed<CameraFrame>.Fail($"user property ts must be Unix milliseconds, got '{tsText}'");
            var label = CameraFrame.NoLabel;
            if (properties("label") is { } labelText && !int.TryParse(labelText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out label))
                return Parsed<CameraFrame>.Fail($"user property label must be an integer, got '{labelText}'");
            return Image(deviceId, seq, ts, bytes, label);
        }
        if (bytes[0] != (byte)'{')
            return Parsed<CameraFrame>.Fail($"frame payload of {bytes.Length} bytes is neither 784 raw bytes (28x28 grey), a PNG, nor JSON {{\"seq\":n,\"ts\":ms,\"pixels\":\"<base64>\"}}");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, DocOptions);
        }
        catch (JsonException ex)
        {
            return Parsed<CameraFrame>.Fail($"frame payload is not valid JSON: {ex.Message}");
        }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) return Parsed<CameraFrame>.Fail("frame JSON must be an object {\"seq\":n,\"ts\":ms,\"pixels\":\"<base64>\"}");
            if (!r.TryGetProperty("seq", out var seqEl) || seqEl.ValueKind != JsonValueKind.Number || !seqEl.TryGetInt64(out var seq) || seq < 0)
                return Parsed<CameraFrame>.Fail("frame JSON needs 'seq', a non-negative integer");
            var ts = nowMs;
            if (r.TryGetProperty("ts", out var tsEl) && tsEl.ValueKind != JsonValueKind.Null && (tsEl.ValueKind != JsonValueKind.Number || !tsEl.TryGetInt64(out ts)))
                return Parsed<CameraFrame>.Fail($"frame JSON 'ts' must be Unix milliseconds, got {Text(tsEl)}");
            var label = CameraFrame.NoLabel;
            if (r.TryGetProperty("label", out var lEl) && lEl.ValueKind != JsonValueKind.Null && (lEl.ValueKind != JsonValueKind.Number || !lEl.TryGetInt32(out label)))
                return Parsed<CameraFrame>.Fail($"frame JSON 'label' must be an integer, got {Text(lEl)}");
            if (!r.TryGetProperty("pixels", out var pEl) || pEl.ValueKind != JsonValueKind.String)
                return Parsed<CameraFrame>.Fail("frame JSON needs 'pixels', a base64 string of 784 raw bytes (28x28 grey) or of a PNG");
            byte[] pixels;
            try
            {
                pixels = pEl.GetBytesFromBase64();
            }
            catch (FormatException)
            {
                return Parsed<CameraFrame>.Fail("frame JSON 'pixels' is not valid base64");
            }
            if (pixels.Length > maxBytes) return Parsed<CameraFrame>.Fail($"frame pixels are {pixels.Length} bytes; the limit is {maxBytes}");
            return Image(deviceId, seq, ts, pixels, label);
        }
    }

    private static Parsed<CameraFrame> Image(string deviceId, long seq, long ts, byte[] data, int label)
    {
        int w = CameraFrame.ExpectedWidth, h = CameraFrame.ExpectedHeight;
        if (PngGrey.IsPng(data))
        {
            var (pixels, pw, ph, error) = PngGrey.Decode(data);
            if (error is not null) return Parsed<CameraFrame>.Fail(error);
            data = pixels!;
            (w, h) = (pw, ph);
        }
        else if (data.Length != w * h)
            return Parsed<CameraFrame>.Fail($"frame pixels are {data.Length} bytes; raw frames are {w}x{h} = {w * h} bytes of grey");
        // a PNG of another size reaches the entity, which answers WrongFrameSize (counted like any other device's)
        return Parsed<CameraFrame>.Ok(new CameraFrame(new DeviceId(deviceId), seq, ts, w, h, data, label));
    }

    // ------------------------------------------------------------------ commands

    /// <summary>A command's acknowledgement from the device: <c>{"id":"…","success":true,"result":"…"}</c>.</summary>
    public static Parsed<AcknowledgeCommand> ParseCommandAck(string deviceId, ReadOnlySequence<byte> payload)
    {
        try
        {
            return ParseCommandAckCore(deviceId, payload);
        }
        catch (InvalidOperationException ex)
        {
            // a JSON string holding bytes that are not UTF-8 (System.Text.Json decodes strings lazily)
            return FailParseCommandAck($"command ack is not valid UTF-8 text: {ex.GetBaseException().Message}");
        }
    }

    private static Parsed<AcknowledgeCommand> ParseCommandAckCore(string deviceId, ReadOnlySequence<byte> payload)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload, DocOptions);
        }
        catch (JsonException ex)
        {
            return Parsed<AcknowledgeCommand>.Fail($"command ack is not valid JSON: {ex.Message}");
        }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) return Parsed<AcknowledgeCommand>.Fail("command ack must be an object {\"id\":\"…\",\"success\":true,\"result\":\"…\"}");
            if (!r.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString()!.Length == 0)
                return Parsed<AcknowledgeCommand>.Fail("command ack needs 'id', the command's id (a non-empty string)");
            var success = true;
            if (r.TryGetProperty("success", out var s))
            {
                if (s.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) return Parsed<AcknowledgeCommand>.Fail($"command ack 'success' must be true or false, got {Text(s)}");
                success = s.GetBoolean();
            }
            var result = r.TryGetProperty("result", out var res) ? res.ValueKind == JsonValueKind.String ? res.GetString()! : res.GetRawText() : "";
            return Parsed<AcknowledgeCommand>.Ok(new AcknowledgeCommand(new DeviceId(deviceId), id.GetString()!, success, result));
        }
    }

    /// <summary>A command delivered to the device: <c>{"id","name","payload","createdAt","expiresAt"}</c>.</summary>
    public static byte[] Command(CommandStatus c) => Json(w =>
    {
        w.WriteString("id", c.CommandId);
        w.WriteString("name", c.Name);
        w.WriteString("payload", c.Payload);
        w.WriteNumber("createdAt", c.CreatedAt);
        w.WriteNumber("expiresAt", c.ExpiresAt);
    });

    // ------------------------------------------------------------------ acks

    /// <summary>
    /// The answer on <c>edgeactors/devices/{id}/ack</c>: <c>{"device","accepted","highestContiguous","level","node",
    /// "rejected":[{"seq","reason","detail"}],"prediction":{"label","confidence","model","version","servedBy","escalated","note"}}</c>
    /// (written by <see cref="TelemetryJson.WriteAck"/>, shared with HTTP, which names the list "rejections").
    /// </summary>
    public static byte[] Ack(IngestAck ack)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer)) TelemetryJson.WriteAck(w, ack, "rejected");
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A publish the broker refused (nothing was accepted): <c>{"device","error","topic"}</c> on the ack topic.</summary>
    public static byte[] Error(string deviceId, string topic, string error) => Json(w =>
    {
        w.WriteString("device", deviceId);
        w.WriteString("topic", topic);
        w.WriteString("error", error);
    });

    // ------------------------------------------------------------------ twins (KubeEdge layout)

    /// <summary>
    /// KubeEdge's twin update from the device: <c>{"event_id":"…","timestamp":ms,"twin":{"prop":{"actual":{"value":"v"}}}}</c>
    /// (a number or boolean value is taken as its text; <c>"actual":null</c> or <c>"value":null</c> removes the property).
    /// </summary>
    public static Parsed<TwinUpdate> ParseTwinUpdate(string deviceId, ReadOnlySequence<byte> payload)
    {
        try
        {
            return ParseTwinUpdateCore(deviceId, payload);
        }
        catch (InvalidOperationException ex)
        {
            // a JSON string holding bytes that are not UTF-8 (System.Text.Json decodes strings lazily)
            return FailParseTwinUpdate($"twin update is not valid UTF-8 text: {ex.GetBaseException().Message}");
        }
    }

    private static Parsed<TwinUpdate> ParseTwinUpdateCore(string deviceId, ReadOnlySequence<byte> payload)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload, DocOptions);
        }
        catch (JsonException ex)
        {
            return Parsed<TwinUpdate>.Fail($"twin update is not valid JSON: {ex.Message}");
        }
        using (doc)
        {
            var r = doc.RootElement;
            const string shape = "{\"event_id\":\"…\",\"timestamp\":ms,\"twin\":{\"prop\":{\"actual\":{\"value\":\"v\"}}}}";
            if (r.ValueKind != JsonValueKind.Object) return Parsed<TwinUpdate>.Fail($"twin update must be an object {shape}");
            var eventId = r.TryGetProperty("event_id", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "";
            if (!r.TryGetProperty("twin", out var twin) || twin.ValueKind != JsonValueKind.Object)
                return Parsed<TwinUpdate>.Fail($"twin update needs 'twin', an object of properties: {shape}");
            var values = new List<TwinValue>();
            foreach (var prop in twin.EnumerateObject())
            {
                if (prop.Name.Length == 0) return Parsed<TwinUpdate>.Fail("twin property with an empty name");
                if (prop.Value.ValueKind != JsonValueKind.Object || !prop.Value.TryGetProperty("actual", out var actual))
                    return Parsed<TwinUpdate>.Fail($"twin property '{prop.Name}' needs 'actual': {{\"actual\":{{\"value\":\"v\"}}}} (a device reports actual values only)");
                if (actual.ValueKind == JsonValueKind.Null) { values.Add(new TwinValue(prop.Name, "", Remove: true)); continue; }
                if (actual.ValueKind != JsonValueKind.Object || !actual.TryGetProperty("value", out var v))
                    return Parsed<TwinUpdate>.Fail($"twin property '{prop.Name}': 'actual' needs 'value'");
                switch (v.ValueKind)
                {
                    case JsonValueKind.Null: values.Add(new TwinValue(prop.Name, "", Remove: true)); break;
                    case JsonValueKind.String: values.Add(new TwinValue(prop.Name, v.GetString()!)); break;
                    case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False: values.Add(new TwinValue(prop.Name, v.GetRawText())); break;
                    default: return Parsed<TwinUpdate>.Fail($"twin property '{prop.Name}': value must be a string, got {v.ValueKind}");
                }
            }
            if (values.Count == 0) return Parsed<TwinUpdate>.Fail("twin update has no properties");
            return Parsed<TwinUpdate>.Ok(new TwinUpdate(eventId, new ReportTwin(new DeviceId(deviceId), values.ToArray())));
        }
    }

    /// <summary>The event id of a twin get request (<c>{"event_id":"…"}</c>; any payload is accepted, "" when none).</summary>
    public static string EventId(ReadOnlySequence<byte> payload)
    {
        if (payload.IsEmpty) return "";
        try
        {
            using var doc = JsonDocument.Parse(payload, DocOptions);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("event_id", out var e) && e.ValueKind == JsonValueKind.String
                ? e.GetString()! : "";
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return "";
        }
    }

    /// <summary>
    /// The twin in KubeEdge's shape (<c>twin/get/result</c>, <c>twin/update/document</c>, <c>twin/update/result</c>):
    /// <c>{"event_id","timestamp","twin":{"prop":{"expected":{"value","metadata":{"timestamp"}},"actual":{…},
    /// "expected_version":{"cloud":n},"actual_version":{"edge":n}}},"desired_version":n,"reported_version":n}</c>;
    /// <paramref name="error"/> non-empty: <c>{"event_id","timestamp","error"}</c>.
    /// </summary>
    public static byte[] Twin(string eventId, long nowMs, DeviceTwin? twin, string error = "") => Json(w =>
    {
        w.WriteString("event_id", eventId);
        w.WriteNumber("timestamp", nowMs);
        if (error.Length > 0 || twin is null)
        {
            w.WriteString("error", error.Length > 0 ? error : "no twin");
            return;
        }
        WriteTwin(w, twin);
    });

    /// <summary>KubeEdge's delta: the whole twin plus <c>"delta":{"prop":"desired value"}</c> for every desired ≠ reported.</summary>
    public static byte[] Delta(long nowMs, DeviceTwin twin, TwinProperty[] delta) => Json(w =>
    {
        w.WriteString("event_id", "");
        w.WriteNumber("timestamp", nowMs);
        WriteTwin(w, twin);
        w.WriteStartObject("delta");
        foreach (var p in delta) w.WriteString(p.Name, p.Value);
        w.WriteEndObject();
    });

    private static void WriteTwin(Utf8JsonWriter w, DeviceTwin twin)
    {
        var desired = twin.Desired.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var reported = twin.Reported.ToDictionary(p => p.Name, StringComparer.Ordinal);
        w.WriteStartObject("twin");
        foreach (var name in desired.Keys.Concat(reported.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            w.WriteStartObject(name);
            if (desired.TryGetValue(name, out var d))
            {
                Side(w, "expected", d);
                w.WriteStartObject("expected_version");
                w.WriteNumber("cloud", d.Version);
                w.WriteEndObject();
            }
            if (reported.TryGetValue(name, out var a))
            {
                Side(w, "actual", a);
                w.WriteStartObject("actual_version");
                w.WriteNumber("edge", a.Version);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteNumber("desired_version", twin.DesiredVersion);
        w.WriteNumber("reported_version", twin.ReportedVersion);
    }

    private static void Side(Utf8JsonWriter w, string name, TwinProperty p)
    {
        w.WriteStartObject(name);
        w.WriteString("value", p.Value);
        w.WriteStartObject("metadata");
        w.WriteNumber("timestamp", p.UpdatedAt);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string Text(JsonElement e) => TelemetryJson.Text(e);

    public static string Utf8(ReadOnlySequence<byte> payload) => Encoding.UTF8.GetString(payload);
}

/// <summary>A device's twin report with the KubeEdge event id it came with (echoed in the result).</summary>
public sealed record TwinUpdate(string EventId, ReportTwin Report);
