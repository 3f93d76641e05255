using System.Globalization;
using System.Text.Json;
using EdgeActors.Messages;
using EdgeActors.Messages.Json;

namespace EdgeActors.Http.Devices;

/// <summary>
/// JSON of the device REST API: telemetry and frame bodies to messages, and acks, state, twins, commands and alerts
/// to JSON. Plain code (no Akka, no ASP.NET); every problem is an <see cref="HttpProblem"/> 400 naming it.
/// </summary>
public static class DeviceJson
{
    private static JsonDocument Parse(ReadOnlyMemory<byte> body)
    {
        // System.Text.Json checks UTF-8 only when a string is read (an InvalidOperationException, a 500), so check it here
        if (!System.Text.Unicode.Utf8.IsValid(body.Span)) throw HttpProblem.BadRequest("the body is not valid UTF-8");
        try
        {
            return JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw HttpProblem.BadRequest($"malformed JSON: {ex.Message}");
        }
    }

    /// <summary>
    /// Telemetry in the shape shared with MQTT (<see cref="TelemetryJson.Parse"/>): <c>{"seq": n, "ts": ms, "values": [...]}</c>
    /// or <c>{"readings": [ ...those... ]}</c>; a problem is a 400 naming it. No limit on the readings by default: the
    /// body's size is bounded by <c>edgeactors.http.max-request-bytes</c> (413 beyond).
    /// </summary>
    public static TelemetryBatch ParseTelemetry(DeviceId device, ReadOnlyMemory<byte> body, long nowMs, int maxReadings = int.MaxValue)
    {
        using var doc = Parse(body);
        var (batch, error) = TelemetryJson.Parse(device, doc.RootElement, nowMs, maxReadings);
        return batch ?? throw HttpProblem.BadRequest(error!);
    }

    /// <summary><c>{"seq": n, "ts": ms, "pixels": "&lt;base64 of 28×28 bytes&gt;", "label": k}</c> (ts, label optional).</summary>
    public static CameraFrame ParseFrameJson(DeviceId device, ReadOnlyMemory<byte> body, long nowMs)
    {
        using var doc = Parse(body);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw HttpProblem.BadRequest("a JSON frame must be an object {\"seq\",\"ts\",\"pixels\"}");
        if (!root.TryGetProperty("seq", out var seqEl) || !seqEl.TryGetInt64Safe(out var seq) || seq < 0)
            throw HttpProblem.BadRequest("frame: \"seq\" must be a non-negative integer");
        var ts = nowMs;
        if (root.TryGetProperty("ts", out var tsEl) && !tsEl.TryGetInt64Safe(out ts)) throw HttpProblem.BadRequest("frame: \"ts\" must be an integer (Unix milliseconds)");
        var label = CameraFrame.NoLabel;
        if (root.TryGetProperty("label", out var lEl))
        {
            if (!lEl.TryGetInt64Safe(out var l) || l is < -1 or > int.MaxValue) throw HttpProblem.BadRequest("frame: \"label\" must be an integer >= -1 (-1 = unknown)");
            label = (int)l;
        }
        if (!root.TryGetProperty("pixels", out var px) || px.ValueKind != JsonValueKind.String)
            throw HttpProblem.BadRequest("frame: \"pixels\" must be a base64 string of 28x28 bytes");
        byte[] pixels;
        try
        {
            pixels = Convert.FromBase64String(px.GetString()!);
        }
        catch (FormatException)
        {
            throw HttpProblem.BadRequest("frame: \"pixels\" is not valid base64");
        }
        return Frame(device, seq, ts, pixels, label);
    }

    /// <summary>A raw frame body (28×28 bytes) with <c>seq</c> and <c>ts</c> query parameters.</summary>
    public static CameraFrame ParseFrameRaw(DeviceId device, ReadOnlyMemory<byte> body, string? seqText, string? tsText, long nowMs)
    {
        if (!long.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            throw HttpProblem.BadRequest("a raw frame needs the query parameter seq (a non-negative integer): .../frames?seq=1&ts=<unix ms>");
        var ts = nowMs;
        if (tsText is not null && !long.TryParse(tsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out ts))
            throw HttpProblem.BadRequest("query parameter ts must be an integer (Unix milliseconds)");
        return Frame(device, seq, ts, body.ToArray(), CameraFrame.NoLabel);
    }

    private static CameraFrame Frame(DeviceId device, long seq, long ts, byte[] pixels, int label)
    {
        const int size = CameraFrame.ExpectedWidth * CameraFrame.ExpectedHeight;
        if (pixels.Length != size)
            throw HttpProblem.BadRequest($"a frame is {CameraFrame.ExpectedWidth}x{CameraFrame.ExpectedHeight} = {size} grey bytes; got {pixels.Length}");
        return new CameraFrame(device, seq, ts, CameraFrame.ExpectedWidth, CameraFrame.ExpectedHeight, pixels, label);
    }

    private static bool TryGetInt64Safe(this JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value);
    }

    /// <summary>
    /// Desired twin properties: a JSON object name → value (strings as they are; numbers and booleans as written;
    /// <c>null</c> removes the property).
    /// </summary>
    public static TwinValue[] ParseDesired(ReadOnlyMemory<byte> body)
    {
        using var doc = Parse(body);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw HttpProblem.BadRequest("desired properties must be a JSON object: {\"name\": \"value\", \"other\": null}");
        var list = new List<TwinValue>();
        foreach (var p in root.EnumerateObject())
        {
            if (p.Name.Length == 0) throw HttpProblem.BadRequest("a property name is empty");
            list.Add(p.Value.ValueKind switch
            {
                JsonValueKind.String => new TwinValue(p.Name, p.Value.GetString()!),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => new TwinValue(p.Name, p.Value.GetRawText()),
                JsonValueKind.Null => new TwinValue(p.Name, "", Remove: true),
                _ => throw HttpProblem.BadRequest($"property '{p.Name}': values are strings, numbers, booleans or null (remove), not {p.Value.ValueKind.ToString().ToLowerInvariant()}"),
            });
        }
        if (list.Count == 0) throw HttpProblem.BadRequest("no properties given");
        return list.ToArray();
    }

    /// <summary><c>{"name": "...", "payload": "...", "ttlSeconds": n, "id": "..."}</c> (payload, ttlSeconds, id optional).</summary>
    public static SendCommand ParseCommand(DeviceId device, ReadOnlyMemory<byte> body)
    {
        using var doc = Parse(body);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw HttpProblem.BadRequest("a command must be a JSON object {\"name\", \"payload\", \"ttlSeconds\", \"id\"}");
        string Text(string key, bool required)
        {
            if (!root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null)
                return required ? throw HttpProblem.BadRequest($"command: \"{key}\" is required") : "";
            return e.ValueKind switch
            {
                JsonValueKind.String => e.GetString()!,
                JsonValueKind.Object or JsonValueKind.Array when key == "payload" => e.GetRawText(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False when key == "payload" => e.GetRawText(),
                _ => throw HttpProblem.BadRequest($"command: \"{key}\" must be a string"),
            };
        }
        var name = Text("name", required: true);
        if (name.Trim().Length == 0) throw HttpProblem.BadRequest("command: \"name\" is empty");
        long ttlMs = 0;
        if (root.TryGetProperty("ttlSeconds", out var ttl))
        {
            if (ttl.ValueKind != JsonValueKind.Number || !ttl.TryGetDouble(out var seconds) || seconds < 0 || seconds > 365 * 24 * 3600)
                throw HttpProblem.BadRequest("command: \"ttlSeconds\" must be a number of seconds, 0 (the entity's default) up to a year");
            ttlMs = (long)(seconds * 1000);
        }
        return new SendCommand(device, Text("id", required: false), name, Text("payload", required: false), ttlMs);
    }

    // ------------------------------------------------------------------------------------------------ answers

    public static byte[] Ack(IngestAck ack, string? error = null) => HttpIo.Json(w => WriteAck(w, ack, error));

    public static void WriteAck(Utf8JsonWriter w, IngestAck ack, string? error = null) => TelemetryJson.WriteAck(w, ack, "rejections", error);

    public static byte[] State(DeviceState s) => HttpIo.Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("device", s.DeviceId.Value);
        w.WriteString("node", s.Node);
        w.WriteNumber("lastSequence", s.LastSequence);
        w.WriteNumber("highestContiguous", s.HighestContiguous);
        w.WriteNumber("acceptedReadings", s.AcceptedReadings);
        w.WriteNumber("acceptedFrames", s.AcceptedFrames);
        w.WriteNumber("rejected", s.RejectedTotal);
        w.WriteStartObject("rejections");
        foreach (var r in s.Rejections) w.WriteNumber(r.Reason.ToString(), r.Count);
        w.WriteEndObject();
        w.WriteStartArray("channels");
        foreach (var c in s.Channels)
        {
            w.WriteStartObject();
            w.WriteNumber("count", c.Count);
            Number(w, "mean", c.Mean);
            Number(w, "variance", c.Variance);
            Number(w, "min", c.Min);
            Number(w, "max", c.Max);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("bufferFill", s.BufferFill);
        w.WriteNumber("bufferCapacity", s.BufferCapacity);
        w.WriteNumber("frameBufferFill", s.FrameBufferFill);
        w.WriteNumber("frameBufferCapacity", s.FrameBufferCapacity);
        w.WriteString("restore", s.Restore.ToString());
        if (s.Sensor is not null) w.WriteString("sensor", s.Sensor.ToString());
        w.WriteEndObject();
    });

    /// <summary>JSON has no NaN or infinity: those are written as null.</summary>
    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    public static byte[] Twin(DeviceTwin t) => HttpIo.Json(w => WriteTwin(w, t));

    public static void WriteTwin(Utf8JsonWriter w, DeviceTwin t)
    {
        w.WriteStartObject();
        w.WriteString("device", t.DeviceId.Value);
        w.WriteStartObject("desired");
        foreach (var p in t.Desired) w.WriteString(p.Name, p.Value);
        w.WriteEndObject();
        w.WriteStartObject("reported");
        foreach (var p in t.Reported) w.WriteString(p.Name, p.Value);
        w.WriteEndObject();
        w.WriteStartObject("delta");
        foreach (var p in t.Delta()) w.WriteString(p.Name, p.Value);
        w.WriteEndObject();
        w.WriteNumber("desiredVersion", t.DesiredVersion);
        w.WriteNumber("reportedVersion", t.ReportedVersion);
        w.WriteEndObject();
    }

    public static byte[] Command(CommandStatus c) => HttpIo.Json(w => WriteCommand(w, c));

    public static void WriteCommand(Utf8JsonWriter w, CommandStatus c)
    {
        w.WriteStartObject();
        w.WriteString("device", c.DeviceId.Value);
        w.WriteString("id", c.CommandId);
        w.WriteString("name", c.Name);
        w.WriteString("payload", c.Payload);
        w.WriteString("state", c.State.ToString().ToLowerInvariant());
        w.WriteNumber("createdAt", c.CreatedAt);
        w.WriteNumber("expiresAt", c.ExpiresAt);
        w.WriteNumber("updatedAt", c.UpdatedAt);
        w.WriteString("result", c.Result);
        if (c.Error.Length > 0) w.WriteString("error", c.Error);
        w.WriteEndObject();
    }

    public static byte[] Commands(DeviceCommands cs) => HttpIo.Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("device", cs.DeviceId.Value);
        w.WriteStartArray("commands");
        foreach (var c in cs.Commands) WriteCommand(w, c);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    public static byte[] Alert(DeviceAlert a) => HttpIo.Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("device", a.DeviceId.Value);
        w.WriteString("kind", a.Kind);
        w.WriteNumber("seq", a.Sequence);
        w.WriteNumber("ts", a.Timestamp);
        w.WriteString("detail", a.Detail);
        w.WriteEndObject();
    });

    /// <summary>One Server-Sent Event for something a follower of the device receives (null: not streamed).</summary>
    public static (string Event, byte[] Data)? Event(object message) => message switch
    {
        DeviceTwin t => ("twin", Twin(t)),
        CommandStatus c => ("command", Command(c)),
        IngestAck a => ("ack", Ack(a)),
        DeviceAlert a => ("alert", Alert(a)),
        _ => null,
    };
}
