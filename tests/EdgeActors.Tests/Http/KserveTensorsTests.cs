using System.Text;
using System.Text.Json;
using EdgeActors.Http;
using EdgeActors.Http.Kserve;
using EdgeActors.Messages;
using Google.Protobuf;
using V2 = global::Inference;

namespace EdgeActors.Tests.Http;

public sealed class KserveTensorsTests
{
    private static readonly ModelSignature Model = new("m", 2, [4], ["a", "b", "c"], [1, 2]);

    private static TensorBatch Parse(string json) => KserveTensors.ParseRequest(Encoding.UTF8.GetBytes(json), Model);

    private static HttpProblem Refused(string json) => Assert.Throws<HttpProblem>(() => Parse(json));

    [Fact]
    public void Fp32_flat_data_should_give_the_floats_and_batch_size()
    {
        var b = Parse("""{"id":"r1","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8.5]}]}""");
        Assert.Equal(2, b.Count);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8.5f], b.Floats!);
        Assert.Null(b.Bytes);
        Assert.Equal("r1", b.Id);
        Assert.Equal(ModelSignature.OutputNames, b.Outputs);
    }

    [Fact]
    public void Nested_data_should_be_read_row_major()
    {
        var b = Parse("""{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}]}""");
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], b.Floats!);
    }

    [Fact]
    public void Uint8_should_stay_bytes_and_int64_should_become_floats()
    {
        var u = Parse("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"UINT8","data":[0,1,254,255]}]}""");
        Assert.Equal([0, 1, 254, 255], u.Bytes!);
        Assert.Null(u.Floats);
        var i = Parse("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[-3,0,7,9000000000]}]}""");
        Assert.Equal([-3f, 0f, 7f, 9e9f], i.Floats!);
    }

    [Fact]
    public void Bytes_should_carry_one_base64_sample_per_element()
    {
        var s1 = Convert.ToBase64String([1, 2, 3, 4]);
        var s2 = Convert.ToBase64String([5, 6, 7, 8]);
        var b = Parse($$"""{"inputs":[{"name":"x","shape":[2],"datatype":"BYTES","data":["{{s1}}","{{s2}}"]}]}""");
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], b.Bytes!);
        Assert.Contains("holds 3 bytes", Refused($$"""{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["{{Convert.ToBase64String([1, 2, 3])}}"]}]}""").Message);
        Assert.Contains("not valid base64", Refused("""{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["%%%"]}]}""").Message);
    }

    [Fact]
    public void Priority_should_come_from_the_parameters()
    {
        Assert.Equal(InferencePriority.High, Parse("""{"parameters":{"priority":"high"},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""").Priority);
        Assert.Equal(InferencePriority.High, Parse("""{"parameters":{"priority":1},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""").Priority);
        Assert.Equal(InferencePriority.Normal, Parse("""{"parameters":{"priority":0},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""").Priority);
        Assert.Contains("priority", Refused("""{"parameters":{"priority":"urgent"},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""").Message);
    }

    [Theory]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3""", "malformed JSON")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"inputs":[]}""", "one input")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}""", "expects [-1,4]")]
    [InlineData("""{"inputs":[{"name":"x","shape":[4],"datatype":"FP32","data":[1,2,3,4]}]}""", "expects [-1,4]")]
    [InlineData("""{"inputs":[{"name":"x","shape":[0,4],"datatype":"FP32","data":[]}]}""", "N >= 1")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}""", "needs 4 elements, \"data\" has 3")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4,5]}]}""", "has more")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP16","data":[1,2,3,4]}]}""", "datatype 'FP16'")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,"2",3,4]}]}""", "element 1 is \"2\", not a number")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2.5,3,4]}]}""", "not an integer")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"UINT8","data":[1,256,3,4]}]}""", "not an integer 0..255")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1e39,2,3,4]}]}""", "outside the FP32 range")]
    [InlineData("""{"inputs":[{"shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""", "no \"name\"")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,4],"data":[1,2,3,4]}]}""", "no \"datatype\"")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,-4],"datatype":"FP32","data":[1,2,3,4]}]}""", "non-negative integers")]
    [InlineData("""{"outputs":[{"name":"logits"}],"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""", "output 'logits' does not exist")]
    public void Bad_requests_should_be_refused_with_400_naming_the_problem(string json, string expected)
    {
        var p = Refused(json);
        Assert.Equal(400, p.Status);
        Assert.Contains(expected, p.Message);
    }

    [Fact]
    public void Response_should_hold_the_requested_outputs_with_shapes_and_the_arg_max()
    {
        var request = Parse("""{"id":"q","outputs":[{"name":"class"},{"name":"label"},{"name":"probabilities"}],"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}""");
        var result = new InferResult(1, "m", 2, "CPU", "node-a", 2, 3, [0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f]);
        using var doc = JsonDocument.Parse(KserveTensors.WriteResponse(Model, request, result));
        var root = doc.RootElement;
        Assert.Equal("m", root.GetProperty("model_name").GetString());
        Assert.Equal("2", root.GetProperty("model_version").GetString());
        Assert.Equal("q", root.GetProperty("id").GetString());
        var outputs = root.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        Assert.Equal([1L, 0L], outputs["class"].GetProperty("data").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(["b", "a"], outputs["label"].GetProperty("data").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal([2, 3], outputs["probabilities"].GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(6, outputs["probabilities"].GetProperty("data").GetArrayLength());
        Assert.Equal("INT64", outputs["class"].GetProperty("datatype").GetString());
    }

    [Fact]
    public void Metadata_should_give_the_input_shape_with_a_dynamic_batch_and_the_registry_versions()
    {
        using var doc = JsonDocument.Parse(KserveTensors.WriteMetadata(Model));
        var root = doc.RootElement;
        Assert.Equal(["1", "2"], root.GetProperty("versions").EnumerateArray().Select(e => e.GetString()));
        var input = root.GetProperty("inputs")[0];
        Assert.Equal("FP32", input.GetProperty("datatype").GetString());
        Assert.Equal([-1L, 4L], input.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal([-1L, 3L], root.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
    }

    private static V2.ModelInferRequest Grpc(string datatype, long[] shape, Action<V2.InferTensorContents>? fill = null, byte[]? raw = null)
    {
        var input = new V2.ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = datatype };
        input.Shape.Add(shape);
        if (fill is not null)
        {
            input.Contents = new V2.InferTensorContents();
            fill(input.Contents);
        }
        var r = new V2.ModelInferRequest { ModelName = "m", Id = "g" };
        r.Inputs.Add(input);
        if (raw is not null) r.RawInputContents.Add(ByteString.CopyFrom(raw));
        return r;
    }

    [Fact]
    public void Grpc_typed_and_raw_contents_should_give_the_same_samples()
    {
        var typed = KserveTensors.FromGrpc(Grpc("FP32", [1, 4], c => c.Fp32Contents.Add([1f, 2f, 3f, 4f])), Model);
        var raw = KserveTensors.FromGrpc(Grpc("FP32", [1, 4], raw: new float[] { 1, 2, 3, 4 }.SelectMany(BitConverter.GetBytes).ToArray()), Model);
        Assert.Equal(typed.Floats, raw.Floats!);
        var bytes = KserveTensors.FromGrpc(Grpc("UINT8", [1, 4], raw: [9, 8, 7, 6]), Model);
        Assert.Equal([9, 8, 7, 6], bytes.Bytes!);
        var element = KserveTensors.FromGrpc(Grpc("BYTES", [1], c => c.BytesContents.Add(ByteString.CopyFrom([1, 2, 3, 4]))), Model);
        Assert.Equal([1, 2, 3, 4], element.Bytes!);
        var rawBytes = KserveTensors.FromGrpc(Grpc("BYTES", [1], raw: [4, 0, 0, 0, 1, 2, 3, 4]), Model);
        Assert.Equal([1, 2, 3, 4], rawBytes.Bytes!);
    }

    [Fact]
    public void Grpc_bad_inputs_should_be_refused_naming_the_problem()
    {
        Assert.Contains("expects [-1,4]", Assert.Throws<HttpProblem>(() => KserveTensors.FromGrpc(Grpc("FP32", [1, 3], c => c.Fp32Contents.Add([1f, 2f, 3f])), Model)).Message);
        Assert.Contains("raw_input_contents holds 12 bytes", Assert.Throws<HttpProblem>(() => KserveTensors.FromGrpc(Grpc("FP32", [1, 4], raw: new byte[12]), Model)).Message);
        Assert.Contains("fp32_contents", Assert.Throws<HttpProblem>(() => KserveTensors.FromGrpc(Grpc("FP32", [1, 4], c => c.Fp32Contents.Add(1f)), Model)).Message);
        Assert.Contains("datatype 'BOOL'", Assert.Throws<HttpProblem>(() => KserveTensors.FromGrpc(Grpc("BOOL", [1, 4]), Model)).Message);
    }

    [Fact]
    public void Grpc_response_should_carry_typed_outputs()
    {
        var request = KserveTensors.FromGrpc(Grpc("FP32", [1, 4], c => c.Fp32Contents.Add([1f, 2f, 3f, 4f])), Model);
        var response = KserveTensors.ToGrpc(Model, request, new InferResult(1, "m", 2, "CPU", "n", 1, 3, [0.1f, 0.2f, 0.7f]));
        Assert.Equal("2", response.ModelVersion);
        var cls = response.Outputs.Single(o => o.Name == "class");
        Assert.Equal([2L], cls.Contents.Int64Contents);
        Assert.Equal("c", response.Outputs.Single(o => o.Name == "label").Contents.BytesContents[0].ToStringUtf8());
        Assert.Equal([1L, 3L], response.Outputs.Single(o => o.Name == "probabilities").Shape);
    }
}
