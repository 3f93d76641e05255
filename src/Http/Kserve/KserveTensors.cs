using V2 = global::Inference;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeActors.Messages;

namespace EdgeActors.Http.Kserve;

/// <summary>
/// A model as KServe v2 describes it: one input, <c>[-1, ..InputShape]</c> (the batch dimension is dynamic), and its
/// outputs: <c>probabilities</c> FP32 <c>[-1, Labels]</c>, <c>class</c> INT64 <c>[-1]</c> (the arg-max) and <c>label</c>
/// BYTES <c>[-1]</c> (its name).
/// </summary>
public sealed record ModelSignature(string Name, int Version, int[] InputShape, string[] Labels, int[] Versions)
{
    public const string InputName = "input";
    public const string Probabilities = "probabilities";
    public const string Class = "class";
    public const string Label = "label";
    public static readonly string[] OutputNames = [Probabilities, Class, Label];

    /// <summary>Values per sample (the product of the input shape).</summary>
    public int SampleSize => InputShape.Aggregate(1, (a, b) => checked(a * b));

    public static ModelSignature From(ModelInfo info, int[] versions) => new(info.Name, info.Version, info.InputShape, info.Labels, versions);

    public string Describe() => $"{Name} v{Version}";
}

/// <summary>The samples of one inference request, checked against the model: floats or raw 8-bit values.</summary>
public sealed record TensorBatch(string Id, int Count, float[]? Floats, byte[]? Bytes, InferencePriority Priority, string[] Outputs)
{
    public Infer ToInfer(string model, long requestId) => Bytes is not null
        ? Infer.Bytes(model, requestId, Count, Bytes, Priority)
        : new Infer(model, requestId, Count, Floats!, Priority);
}

/// <summary>
/// KServe / Open Inference Protocol v2 tensors: parsing and checking an infer request's input against a model (shape,
/// datatype, element values) and writing the response, for REST (JSON) and gRPC. Plain code, no Akka, no ASP.NET.
/// <para>Input datatypes: FP32, FP64, INT64, INT32 (values as given, to float), UINT8 (raw 8-bit samples, e.g. pixels
/// 0..255: the model normalises them as it does camera frames) and BYTES (one element per sample holding its raw 8-bit
/// values: base64 in JSON, bytes in gRPC; shape <c>[N]</c>).</para>
/// </summary>
public static class KserveTensors
{
    public static readonly string[] InputDatatypes = ["FP32", "FP64", "INT64", "INT32", "UINT8", "BYTES"];

    private static string Shape(IEnumerable<long> shape) => "[" + string.Join(",", shape) + "]";

    /// <summary>The shape a request must give: <c>[N, ..InputShape]</c> (N ≥ 1), or <c>[N]</c> for BYTES.</summary>
    public static string ExpectedShape(ModelSignature model, string datatype) =>
        datatype == "BYTES" ? "[-1]" : "[-1," + string.Join(",", model.InputShape) + "]";

    /// <summary>The batch size a shape gives for the model, or a 400 naming what is wrong.</summary>
    public static int BatchOf(string input, string datatype, IReadOnlyList<long> shape, ModelSignature model)
    {
        if (!InputDatatypes.Contains(datatype))
            throw HttpProblem.BadRequest($"input '{input}' has datatype '{datatype}'; {model.Describe()} takes one of {string.Join(", ", InputDatatypes)}");
        var ok = datatype == "BYTES"
            ? shape.Count == 1 || (shape.Count == 2 && shape[1] == 1)
            : shape.Count == model.InputShape.Length + 1 && model.InputShape.Select((d, i) => shape[i + 1] == d).All(b => b);
        if (!ok || shape[0] < 1)
            throw HttpProblem.BadRequest(
                $"input '{input}' has shape {Shape(shape)}; {model.Describe()} expects {ExpectedShape(model, datatype)} for {datatype} (N >= 1)");
        var max = datatype == "BYTES" ? int.MaxValue : int.MaxValue / Math.Max(1, model.SampleSize);
        if (shape[0] > max) throw HttpProblem.BadRequest($"input '{input}': batch of {shape[0]} is too large");
        return (int)shape[0];
    }

    /// <summary>
    /// Priority from a request's <c>parameters.priority</c>: "high" / "normal", or an integer as Triton numbers them
    /// (1 = highest = high; 0 = default and 2+ = normal).
    /// </summary>
    public static InferencePriority Priority(string? text, long? number)
    {
        if (number is { } n) return n == 1 ? InferencePriority.High : InferencePriority.Normal;
        if (text is null) return InferencePriority.Normal;
        return text.Trim().ToLowerInvariant() switch
        {
            "high" or "1" => InferencePriority.High,
            "normal" or "0" or "" => InferencePriority.Normal,
            _ => throw HttpProblem.BadRequest($"parameter 'priority' is '{text}'; use \"high\" or \"normal\" (or 1 / 0)"),
        };
    }

    private static void CheckOutputs(IEnumerable<string> requested)
    {
        foreach (var o in requested)
            if (!ModelSignature.OutputNames.Contains(o))
                throw HttpProblem.BadRequest($"requested output '{o}' does not exist; outputs are {string.Join(", ", ModelSignature.OutputNames)}");
    }

    // ------------------------------------------------------------------------------------------------ REST (JSON)

    /// <summary>
    /// Parses a v2 inference request body (<c>{"id", "parameters", "inputs": [{"name", "shape", "datatype", "data"}],
    /// "outputs"}</c>) for <paramref name="model"/>. <c>data</c> is row-major, flat or nested as the shape. Any problem:
    /// <see cref="HttpProblem"/> 400 naming it.
    /// </summary>
    public static TensorBatch ParseRequest(ReadOnlyMemory<byte> body, ModelSignature model)
    {
        // System.Text.Json checks UTF-8 only when a string is read (an InvalidOperationException, a 500), so check it here
        if (!System.Text.Unicode.Utf8.IsValid(body.Span)) throw HttpProblem.BadRequest("the body is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw HttpProblem.BadRequest($"malformed JSON: {ex.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw HttpProblem.BadRequest("the request body must be a JSON object with \"inputs\"");
            var id = root.TryGetProperty("id", out var idEl) && idEl.ValueKind == JsonValueKind.String ? idEl.GetString()! : "";
            var priority = InferencePriority.Normal;
            if (root.TryGetProperty("parameters", out var pars) && pars.ValueKind == JsonValueKind.Object && pars.TryGetProperty("priority", out var p))
                priority = p.ValueKind switch
                {
                    JsonValueKind.Number when p.TryGetInt64(out var n) => Priority(null, n),
                    JsonValueKind.String => Priority(p.GetString(), null),
                    _ => throw HttpProblem.BadRequest("parameter 'priority' must be a string (\"high\", \"normal\") or an integer"),
                };
            var outputs = ModelSignature.OutputNames;
            if (root.TryGetProperty("outputs", out var outs))
            {
                if (outs.ValueKind != JsonValueKind.Array) throw HttpProblem.BadRequest("\"outputs\" must be an array of {\"name\": ...}");
                outputs = outs.EnumerateArray()
                    .Select(o => o.ValueKind == JsonValueKind.Object && o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                        ? n.GetString()!
                        : throw HttpProblem.BadRequest("each requested output must be an object with a string \"name\""))
                    .ToArray();
                CheckOutputs(outputs);
            }
            if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
                throw HttpProblem.BadRequest("the request has no \"inputs\" array");
            if (inputs.GetArrayLength() != 1)
                throw HttpProblem.BadRequest($"{model.Describe()} has one input ('{ModelSignature.InputName}'); the request has {inputs.GetArrayLength()}");
            var input = inputs[0];
            if (input.ValueKind != JsonValueKind.Object) throw HttpProblem.BadRequest("each input must be a JSON object");
            var name = input.TryGetProperty("name", out var nameEl) && nameEl.ValueKind == JsonValueKind.String ? nameEl.GetString()! : "";
            if (name.Length == 0) throw HttpProblem.BadRequest("the input has no \"name\"");
            if (!input.TryGetProperty("datatype", out var dtEl) || dtEl.ValueKind != JsonValueKind.String)
                throw HttpProblem.BadRequest($"input '{name}' has no \"datatype\" string");
            var datatype = dtEl.GetString()!;
            if (!input.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
                throw HttpProblem.BadRequest($"input '{name}' has no \"shape\" array");
            var shape = new List<long>();
            foreach (var d in shapeEl.EnumerateArray())
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                    throw HttpProblem.BadRequest($"input '{name}': shape dimensions must be non-negative integers");
                shape.Add(v);
            }
            var count = BatchOf(name, datatype, shape, model);
            if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw HttpProblem.BadRequest($"input '{name}' has no \"data\" array");
            if (datatype == "BYTES")
            {
                var bytes = new byte[checked(count * model.SampleSize)];
                var i = 0;
                foreach (var e in Flatten(data))
                {
                    if (i >= count) throw ElementCount(name, shape, count, i + 1);
                    if (e.ValueKind != JsonValueKind.String) throw HttpProblem.BadRequest($"input '{name}' (BYTES): element {i} must be a base64 string");
                    var sample = Base64(name, i, e.GetString()!);
                    if (sample.Length != model.SampleSize)
                        throw HttpProblem.BadRequest($"input '{name}' (BYTES): element {i} holds {sample.Length} bytes; {model.Describe()} takes {model.SampleSize} per sample");
                    sample.CopyTo(bytes, i * model.SampleSize);
                    i++;
                }
                if (i != count) throw ElementCount(name, shape, count, i);
                return new TensorBatch(id, count, null, bytes, priority, outputs);
            }
            var total = count * model.SampleSize;
            if (datatype == "UINT8")
            {
                var bytes = new byte[total];
                var i = 0;
                foreach (var e in Flatten(data))
                {
                    if (i >= total) throw ElementCount(name, shape, total, i + 1);
                    if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var v) || v is < 0 or > 255)
                        throw HttpProblem.BadRequest($"input '{name}' (UINT8): element {i} is {Short(e)}, not an integer 0..255");
                    bytes[i++] = (byte)v;
                }
                if (i != total) throw ElementCount(name, shape, total, i);
                return new TensorBatch(id, count, null, bytes, priority, outputs);
            }
            var floats = new float[total];
            var k = 0;
            var integer = datatype is "INT64" or "INT32";
            foreach (var e in Flatten(data))
            {
                if (k >= total) throw ElementCount(name, shape, total, k + 1);
                if (e.ValueKind != JsonValueKind.Number)
                    throw HttpProblem.BadRequest($"input '{name}' ({datatype}): element {k} is {Short(e)}, not a number");
                if (integer)
                {
                    if (!e.TryGetInt64(out var l) || (datatype == "INT32" && l is < int.MinValue or > int.MaxValue))
                        throw HttpProblem.BadRequest($"input '{name}' ({datatype}): element {k} is {Short(e)}, not an integer of that type");
                    floats[k++] = l;
                }
                else
                {
                    var d = e.GetDouble();
                    if (datatype == "FP32" && Math.Abs(d) > float.MaxValue)
                        throw HttpProblem.BadRequest($"input '{name}' (FP32): element {k} is {Short(e)}, outside the FP32 range");
                    floats[k++] = (float)d;
                }
            }
            if (k != total) throw ElementCount(name, shape, total, k);
            return new TensorBatch(id, count, floats, null, priority, outputs);
        }
    }

    private static HttpProblem ElementCount(string name, IReadOnlyList<long> shape, int expected, int got) =>
        HttpProblem.BadRequest($"input '{name}': shape {Shape(shape)} needs {expected} elements, \"data\" has {(got > expected ? "more" : got.ToString(CultureInfo.InvariantCulture))}");

    private static string Short(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Length > 40 ? raw[..40] + "..." : raw;
    }

    private static byte[] Base64(string name, int i, string text)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw HttpProblem.BadRequest($"input '{name}' (BYTES): element {i} is not valid base64");
        }
    }

    /// <summary>The elements of a flat or nested JSON array, row-major (a flat array as it is, without copying).</summary>
    private static IEnumerable<JsonElement> Flatten(JsonElement array)
    {
        var nested = false;
        foreach (var e in array.EnumerateArray())
        {
            nested = e.ValueKind == JsonValueKind.Array;
            break;
        }
        if (!nested) return array.EnumerateArray();
        var all = new List<JsonElement>();
        Collect(array, all);
        return all;
    }

    private static void Collect(JsonElement array, List<JsonElement> into)
    {
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Array) Collect(e, into);
            else into.Add(e);
        }
    }

    /// <summary>The v2 inference response for <paramref name="result"/> (the outputs the request asked for).</summary>
    public static byte[] WriteResponse(ModelSignature model, TensorBatch request, InferResult result)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, HttpIo.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("model_name", result.Model);
            w.WriteString("model_version", result.Version.ToString(CultureInfo.InvariantCulture));
            if (request.Id.Length > 0) w.WriteString("id", request.Id);
            w.WriteStartObject("parameters");
            w.WriteString("node", result.Node);
            w.WriteString("provider", result.Provider);
            w.WriteEndObject();
            w.WriteStartArray("outputs");
            foreach (var o in request.Outputs)
            {
                w.WriteStartObject();
                w.WriteString("name", o);
                switch (o)
                {
                    case ModelSignature.Probabilities:
                        w.WriteString("datatype", "FP32");
                        WriteShape(w, result.Count, result.OutputSize);
                        w.WriteStartArray("data");
                        foreach (var v in result.Output.AsSpan(0, result.Count * result.OutputSize)) w.WriteNumberValue(v);
                        w.WriteEndArray();
                        break;
                    case ModelSignature.Class:
                        w.WriteString("datatype", "INT64");
                        WriteShape(w, result.Count);
                        w.WriteStartArray("data");
                        for (var i = 0; i < result.Count; i++) w.WriteNumberValue(ArgMax(result, i));
                        w.WriteEndArray();
                        break;
                    default:
                        w.WriteString("datatype", "BYTES");
                        WriteShape(w, result.Count);
                        w.WriteStartArray("data");
                        for (var i = 0; i < result.Count; i++) w.WriteStringValue(LabelOf(model, ArgMax(result, i)));
                        w.WriteEndArray();
                        break;
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void WriteShape(Utf8JsonWriter w, params int[] dims)
    {
        w.WriteStartArray("shape");
        foreach (var d in dims) w.WriteNumberValue(d);
        w.WriteEndArray();
    }

    public static int ArgMax(InferResult r, int sample)
    {
        var row = r.Output.AsSpan(sample * r.OutputSize, r.OutputSize);
        var best = 0;
        for (var k = 1; k < row.Length; k++) if (row[k] > row[best]) best = k;
        return best;
    }

    public static string LabelOf(ModelSignature model, int index) =>
        index < model.Labels.Length ? model.Labels[index] : index.ToString(CultureInfo.InvariantCulture);

    /// <summary>Model metadata (<c>GET /v2/models/{name}</c>).</summary>
    public static byte[] WriteMetadata(ModelSignature model)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, HttpIo.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("name", model.Name);
            w.WriteStartArray("versions");
            foreach (var v in model.Versions) w.WriteStringValue(v.ToString(CultureInfo.InvariantCulture));
            w.WriteEndArray();
            w.WriteString("platform", "onnxruntime_onnx");
            w.WriteStartArray("inputs");
            WriteTensorMeta(w, ModelSignature.InputName, "FP32", [-1, .. model.InputShape.Select(d => (long)d)]);
            w.WriteEndArray();
            w.WriteStartArray("outputs");
            WriteTensorMeta(w, ModelSignature.Probabilities, "FP32", [-1, model.Labels.Length]);
            WriteTensorMeta(w, ModelSignature.Class, "INT64", [-1]);
            WriteTensorMeta(w, ModelSignature.Label, "BYTES", [-1]);
            w.WriteEndArray();
            w.WriteStartObject("parameters");
            w.WriteString("version", model.Version.ToString(CultureInfo.InvariantCulture));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void WriteTensorMeta(Utf8JsonWriter w, string name, string datatype, long[] shape)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("datatype", datatype);
        w.WriteStartArray("shape");
        foreach (var d in shape) w.WriteNumberValue(d);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A JSON error body, <c>{"error": message}</c>.</summary>
    public static byte[] Error(string message)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, HttpIo.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("error", message);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    // ------------------------------------------------------------------------------------------------ gRPC

    /// <summary>
    /// Checks a gRPC <c>ModelInfer</c> input (typed contents or <c>raw_input_contents</c>, little-endian as the spec says)
    /// against <paramref name="model"/>; problems as <see cref="HttpProblem"/> 400.
    /// </summary>
    internal static TensorBatch FromGrpc(V2.ModelInferRequest request, ModelSignature model)
    {
        var priority = InferencePriority.Normal;
        if (request.Parameters.TryGetValue("priority", out var p))
            priority = p.ParameterChoiceCase switch
            {
                V2.InferParameter.ParameterChoiceOneofCase.Int64Param => Priority(null, p.Int64Param),
                V2.InferParameter.ParameterChoiceOneofCase.StringParam => Priority(p.StringParam, null),
                _ => throw HttpProblem.BadRequest("parameter 'priority' must be a string (\"high\", \"normal\") or an int64"),
            };
        var outputs = request.Outputs.Count == 0 ? ModelSignature.OutputNames : request.Outputs.Select(o => o.Name).ToArray();
        CheckOutputs(outputs);
        if (request.Inputs.Count != 1)
            throw HttpProblem.BadRequest($"{model.Describe()} has one input ('{ModelSignature.InputName}'); the request has {request.Inputs.Count}");
        var input = request.Inputs[0];
        var name = input.Name.Length > 0 ? input.Name : throw HttpProblem.BadRequest("the input has no name");
        var datatype = input.Datatype;
        var count = BatchOf(name, datatype, input.Shape, model);
        var raw = request.RawInputContents.Count > 0 ? request.RawInputContents[0].Span : default;
        var hasRaw = request.RawInputContents.Count > 0;
        if (request.RawInputContents.Count > 1) throw HttpProblem.BadRequest($"raw_input_contents has {request.RawInputContents.Count} entries for one input");
        var c = input.Contents;
        var total = count * model.SampleSize;
        switch (datatype)
        {
            case "BYTES":
            {
                var bytes = new byte[total];
                if (hasRaw)
                {
                    // raw BYTES: each element is a 4-byte little-endian length followed by its bytes
                    var at = 0;
                    for (var i = 0; i < count; i++)
                    {
                        if (raw.Length - at < 4) throw HttpProblem.BadRequest($"input '{name}' (BYTES): raw contents end before element {i}");
                        var len = BitConverter.ToInt32(raw.Slice(at, 4));
                        at += 4;
                        if (len != model.SampleSize || raw.Length - at < len)
                            throw HttpProblem.BadRequest($"input '{name}' (BYTES): element {i} holds {len} bytes; {model.Describe()} takes {model.SampleSize} per sample");
                        raw.Slice(at, len).CopyTo(bytes.AsSpan(i * model.SampleSize));
                        at += len;
                    }
                    if (at != raw.Length) throw HttpProblem.BadRequest($"input '{name}' (BYTES): raw contents hold more than {count} elements");
                }
                else
                {
                    if (c is null || c.BytesContents.Count != count)
                        throw HttpProblem.BadRequest($"input '{name}' (BYTES): shape needs {count} elements in bytes_contents, got {c?.BytesContents.Count ?? 0}");
                    for (var i = 0; i < count; i++)
                    {
                        var s = c.BytesContents[i].Span;
                        if (s.Length != model.SampleSize)
                            throw HttpProblem.BadRequest($"input '{name}' (BYTES): element {i} holds {s.Length} bytes; {model.Describe()} takes {model.SampleSize} per sample");
                        s.CopyTo(bytes.AsSpan(i * model.SampleSize));
                    }
                }
                return new TensorBatch(request.Id, count, null, bytes, priority, outputs);
            }
            case "UINT8":
            {
                if (hasRaw)
                {
                    if (raw.Length != total) throw RawSize(name, datatype, total, 1, raw.Length);
                    return new TensorBatch(request.Id, count, null, raw.ToArray(), priority, outputs);
                }
                if (c is null || c.UintContents.Count != total) throw TypedCount(name, "uint_contents", total, c?.UintContents.Count ?? 0);
                var bytes = new byte[total];
                for (var i = 0; i < total; i++)
                    bytes[i] = c.UintContents[i] <= 255 ? (byte)c.UintContents[i] : throw HttpProblem.BadRequest($"input '{name}' (UINT8): element {i} is {c.UintContents[i]}, not 0..255");
                return new TensorBatch(request.Id, count, null, bytes, priority, outputs);
            }
            default:
            {
                var floats = new float[total];
                var size = datatype switch { "FP32" or "INT32" => 4, _ => 8 };
                if (hasRaw)
                {
                    if (raw.Length != total * size) throw RawSize(name, datatype, total, size, raw.Length);
                    for (var i = 0; i < total; i++)
                    {
                        var s = raw.Slice(i * size, size);
                        floats[i] = datatype switch
                        {
                            "FP32" => BitConverter.ToSingle(s),
                            "FP64" => (float)BitConverter.ToDouble(s),
                            "INT32" => BitConverter.ToInt32(s),
                            _ => BitConverter.ToInt64(s),
                        };
                    }
                    return new TensorBatch(request.Id, count, floats, null, priority, outputs);
                }
                var (field, n) = datatype switch
                {
                    "FP32" => ("fp32_contents", c?.Fp32Contents.Count ?? 0),
                    "FP64" => ("fp64_contents", c?.Fp64Contents.Count ?? 0),
                    "INT32" => ("int_contents", c?.IntContents.Count ?? 0),
                    _ => ("int64_contents", c?.Int64Contents.Count ?? 0),
                };
                if (n != total) throw TypedCount(name, field, total, n);
                for (var i = 0; i < total; i++)
                    floats[i] = datatype switch
                    {
                        "FP32" => c!.Fp32Contents[i],
                        "FP64" => (float)c!.Fp64Contents[i],
                        "INT32" => c!.IntContents[i],
                        _ => c!.Int64Contents[i],
                    };
                return new TensorBatch(request.Id, count, floats, null, priority, outputs);
            }
        }
    }

    private static HttpProblem RawSize(string name, string datatype, int elements, int size, int got) =>
        HttpProblem.BadRequest($"input '{name}' ({datatype}): raw_input_contents holds {got} bytes; the shape needs {elements} elements x {size} bytes = {elements * size}");

    private static HttpProblem TypedCount(string name, string field, int expected, int got) =>
        HttpProblem.BadRequest($"input '{name}': the shape needs {expected} elements in contents.{field}, got {got}");

    /// <summary>The gRPC response for <paramref name="result"/> (typed contents, the outputs asked for).</summary>
    internal static V2.ModelInferResponse ToGrpc(ModelSignature model, TensorBatch request, InferResult result)
    {
        var response = new V2.ModelInferResponse
        {
            ModelName = result.Model,
            ModelVersion = result.Version.ToString(CultureInfo.InvariantCulture),
            Id = request.Id,
        };
        response.Parameters["node"] = new V2.InferParameter { StringParam = result.Node };
        response.Parameters["provider"] = new V2.InferParameter { StringParam = result.Provider };
        foreach (var o in request.Outputs)
        {
            var t = new V2.ModelInferResponse.Types.InferOutputTensor { Name = o, Contents = new V2.InferTensorContents() };
            switch (o)
            {
                case ModelSignature.Probabilities:
                    t.Datatype = "FP32";
                    t.Shape.Add([result.Count, result.OutputSize]);
                    t.Contents.Fp32Contents.Add(result.Output.Take(result.Count * result.OutputSize));
                    break;
                case ModelSignature.Class:
                    t.Datatype = "INT64";
                    t.Shape.Add(result.Count);
                    for (var i = 0; i < result.Count; i++) t.Contents.Int64Contents.Add(ArgMax(result, i));
                    break;
                default:
                    t.Datatype = "BYTES";
                    t.Shape.Add(result.Count);
                    for (var i = 0; i < result.Count; i++)
                        t.Contents.BytesContents.Add(Google.Protobuf.ByteString.CopyFrom(Encoding.UTF8.GetBytes(LabelOf(model, ArgMax(result, i)))));
                    break;
            }
            response.Outputs.Add(t);
        }
        return response;
    }
}
