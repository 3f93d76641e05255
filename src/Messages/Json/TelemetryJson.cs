using System.Text.Json;

namespace EdgeActors.Messages.Json;

/// <summary>
/// The device JSON both open protocols share (HTTP's device REST API and the MQTT broker): the telemetry shape
/// <c>{"seq":n,"ts":ms,"values":[...]}</c> or <c>{"readings":[...those...]}</c> read into a <see cref="TelemetryBatch"/>,
/// and the ingest ack written back. Plain code (no Akka, no ASP.NET, no MQTTnet): each protocol parses its bytes into a
/// <see cref="JsonDocument"/> itself (its own UTF-8, depth and malformed-JSON answers) and turns an error text into its
/// own refusal (HTTP 400, MQTT PUBACK reason + ack topic). It lives in EdgeActors.Messages because both EdgeActors.Http
/// and EdgeActors.Mqtt reference it (through EdgeActors.Actors) and it depends only on the messages it builds.
/// </summary>
public static class TelemetryJson
{
    /// <summary>Readings one telemetry document may hold unless the caller says otherwise.</summary>
    public const int DefaultMaxReadings = 10_000;

    /// <summary>What a refused telemetry document should have looked like (for error texts).</summary>
    public const string Shape = "{\"seq\":n,\"ts\":ms,\"values\":[...]} or {\"readings\":[...]}";

    /// <summary>
    /// One device's readings from a parsed document: every reading has as many values (the channels); <c>ts</c> may be
    /// left out or null (<paramref name="nowMs"/>); a value <c>null</c> is a missing reading (NaN: the entity rejects it
    /// as NotANumber). Returns the batch, or the error naming what is wrong (never both, never throws for bad input
    /// other than a JSON string that is not UTF-8, which System.Text.Json reports lazily as InvalidOperationException).
    /// </summary>
    public static (TelemetryBatch? Batch, string? Error) Parse(DeviceId device, JsonElement root, long nowMs, int maxReadings = DefaultMaxReadings)
    {
        if (root.ValueKind != JsonValueKind.Object) return (null, $"telemetry payload must be a JSON object, got {root.ValueKind}: {Shape}");
        var seqs = new List<long>();
        var times = new List<long>();
        var values = new List<float>();
        var channels = -1;
        if (root.TryGetProperty("readings", out var readings))
        {
            if (readings.ValueKind != JsonValueKind.Array) return (null, "'readings' must be an array of {\"seq\",\"ts\",\"values\"}");
            var n = readings.GetArrayLength();
            if (n == 0) return (null, "'readings' is empty");
            if (n > maxReadings) return (null, $"'readings' holds {n} readings; the limit is {maxReadings}");
            var i = 0;
            foreach (var r in readings.EnumerateArray())
            {
                var error = Reading(r, $"readings[{i}]", nowMs, seqs, times, values, ref channels);
                if (error is not null) return (null, error);
                i++;
            }
        }
        else
        {
            var error = Reading(root, "telemetry", nowMs, seqs, times, values, ref channels);
            if (error is not null) return (null, error);
        }
        return (new TelemetryBatch(device, channels, seqs.ToArray(), times.ToArray(), values.ToArray()), null);
    }

    private static string? Reading(JsonElement r, string where, long nowMs, List<long> seqs, List<long> times, List<float> values, ref int channels)
    {
        if (r.ValueKind != JsonValueKind.Object) return $"{where} must be an object {{\"seq\":n,\"ts\":ms,\"values\":[...]}}, got {r.ValueKind}";
        if (!r.TryGetProperty("seq", out var seqEl)) return $"{where} has no 'seq' (the reading's sequence number)";
        if (seqEl.ValueKind != JsonValueKind.Number || !seqEl.TryGetInt64(out var seq) || seq < 0)
            return $"{where}.seq must be a non-negative integer, got {Text(seqEl)}";
        var ts = nowMs;
        if (r.TryGetProperty("ts", out var tsEl) && tsEl.ValueKind != JsonValueKind.Null)
            if (tsEl.ValueKind != JsonValueKind.Number || !tsEl.TryGetInt64(out ts))
                return $"{where}.ts must be Unix milliseconds (an integer), got {Text(tsEl)}";
        if (!r.TryGetProperty("values", out var vs)) return $"{where} has no 'values' (an array of numbers, one per channel)";
        if (vs.ValueKind != JsonValueKind.Array) return $"{where}.values must be an array of numbers, got {vs.ValueKind}";
        var count = vs.GetArrayLength();
        if (count == 0) return $"{where}.values is empty";
        if (channels < 0) channels = count;
        else if (count != channels) return $"{where}.values has {count} values; the first reading has {channels} (every reading needs one value per channel)";
        var j = 0;
        foreach (var v in vs.EnumerateArray())
        {
            if (v.ValueKind == JsonValueKind.Null) values.Add(float.NaN);
            else if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d)) values.Add((float)d);
            else return $"{where}.values[{j}] must be a number or null, got {Text(v)}";
            j++;
        }
        seqs.Add(seq);
        times.Add(ts);
        return null;
    }

    /// <summary>A JSON value as it was written, cut at 40 characters (for error texts).</summary>
    public static string Text(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Length > 40 ? raw[..40] + "…" : raw;
    }

    /// <summary>
    /// The ingest ack as one JSON object: <c>{"error"?,"device","accepted","highestContiguous","level","node",
    /// "&lt;rejections&gt;":[{"seq","reason","detail"}],"prediction":{"label","confidence","model","version","servedBy",
    /// "escalated","note"}}</c>. The list is <c>rejections</c> on HTTP and <c>rejected</c> on MQTT
    /// (<paramref name="rejectionsProperty"/>: each protocol keeps the name its clients know).
    /// </summary>
    public static void WriteAck(Utf8JsonWriter w, IngestAck ack, string rejectionsProperty, string? error = null)
    {
        w.WriteStartObject();
        if (error is not null) w.WriteString("error", error);
        w.WriteString("device", ack.DeviceId.Value);
        w.WriteNumber("accepted", ack.Accepted);
        w.WriteNumber("highestContiguous", ack.HighestContiguous);
        w.WriteString("level", ack.Level.ToString());
        w.WriteString("node", ack.Node);
        w.WriteStartArray(rejectionsProperty);
        foreach (var r in ack.Rejected)
        {
            w.WriteStartObject();
            w.WriteNumber("seq", r.Sequence);
            w.WriteString("reason", r.Reason.ToString());
            w.WriteString("detail", r.Detail);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (ack.Prediction is { } p)
        {
            w.WriteStartObject("prediction");
            w.WriteNumber("label", p.Label);
            w.WriteNumber("confidence", Math.Round(p.Confidence, 5));
            w.WriteString("model", p.Model);
            w.WriteNumber("version", p.Version);
            w.WriteString("servedBy", p.ServedBy);
            w.WriteBoolean("escalated", p.Escalated);
            w.WriteString("note", p.Note.ToString());
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
