using System.Text;
using EdgeActors.Http;
using EdgeActors.Http.Kserve;
using EdgeActors.Http.Devices;
using EdgeActors.Messages;

namespace EdgeActors.Tools.Fuzz;

/// <summary>What <see cref="HttpFuzzer"/> found: bodies tried (one parser each), parsed, refused with a 4xx
/// <see cref="HttpProblem"/> naming the problem, and failures (any other exception, or a refusal without a message).</summary>
public sealed record HttpFuzzReport(long Bodies, long Parsed, long Refused, IReadOnlyList<string> Failures)
{
    /// <summary>All failures (<see cref="Failures"/> keeps the first 20).</summary>
    public long FailureCount => Bodies - Parsed - Refused;
}

/// <summary>
/// The HTTP API's JSON parsers against random and mutated bodies (fixed seed): the KServe v2 infer request
/// (<see cref="KserveTensors.ParseRequest"/>) and the device REST bodies (<see cref="DeviceJson"/>: telemetry, JSON and
/// raw frames, desired twin properties, commands). Each body goes through one parser and must be parsed or refused with
/// an <see cref="HttpProblem"/> (a 4xx with a message, what the endpoint turns into a clear error); any other exception
/// would be a 500 and is a failure.
/// </summary>
public static class HttpFuzzer
{
    /// <summary>The signature the KServe bodies are parsed against: 4 values per sample, 3 labels (small, so mutations reach every branch).</summary>
    private static readonly ModelSignature Model = new("m", 2, [4], ["a", "b", "c"], [1, 2]);

    private static readonly string[] KserveSeeds =
    [
        """{"id":"r1","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8.5]}]}""",
        """{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}],"outputs":[{"name":"class"},{"name":"label"}]}""",
        """{"inputs":[{"name":"x","shape":[1,4],"datatype":"UINT8","data":[0,1,254,255]}],"parameters":{"priority":"high"}}""",
        """{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[-1,0,1,9007199254740993]}],"parameters":{"priority":1}}""",
        """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1e300,-1e-300,0.5,3]}],"outputs":[{"name":"probabilities"}]}""",
        """{"inputs":[{"name":"x","shape":[2],"datatype":"BYTES","data":["AAECAw==","BAUGBw=="]}]}""",
        """{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT32","data":[1,2,3,4]}]}""",
    ];

    private static readonly string[] TelemetrySeeds =
    [
        """{"seq":1,"ts":1700000000000,"values":[1.5,-2,3e2,null]}""",
        """{"readings":[{"seq":1,"values":[1,2]},{"seq":2,"ts":5,"values":[3,4]}]}""",
    ];

    private static readonly string[] FrameSeeds =
    [
        """{"seq":3,"ts":4,"pixels":"AAECAwQF","label":2}""",
        "{\"seq\":1,\"pixels\":\"" + Convert.ToBase64String(new byte[28 * 28]) + "\",\"label\":-1}",
    ];

    private static readonly string[] DesiredSeeds =
    [
        """{"rate":"10","mode":null,"on":true,"gain":0.5}""",
        """{"name":"value"}""",
    ];

    private static readonly string[] CommandSeeds =
    [
        """{"name":"reboot","payload":{"delay":5},"ttlSeconds":30,"id":"c1"}""",
        """{"name":"set","payload":"x","ttlSeconds":0.5}""",
        """{"name":"ping","payload":[1,2,{"a":null}],"id":null}""",
    ];

    /// <summary>Fragments spliced into bodies: edge values, wrong kinds, deep nesting, escapes and invalid UTF-8.</summary>
    private static readonly string[] Splices =
    [
        "1e400", "-1", "-0", "99999999999999999999999", "9223372036854775808", "3.4e39", "NaN", "null", "true", "\"\"", "[]", "{}",
        "[[[[[[[[[[1]]]]]]]]]]", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1}}}}}}}}", "\"\\ud800\"", "\"\\u0000\"", "\"====\"",
        "\"AAECAw\"", "\"high\"", "\"HIGH\"", "\"normal\"", "2", "1.5", "\"FP32\"", "\"BYTES\"", "\"UINT8\"", "\"FP16\"", ",", ":", "\"",
    ];

    private static readonly byte[][] RawSplices = [[0xC3], [0xFF, 0xFE], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xEF, 0xBB, 0xBF], [0]];

    private enum Target { Kserve, Telemetry, FrameJson, FrameRaw, Desired, Command }

    private static readonly Target[] Targets = Enum.GetValues<Target>();

    public static HttpFuzzReport Run(int iterations, int seed)
    {
        var random = new Random(seed);
        long parsed = 0, refused = 0;
        var failures = new List<string>();
        var device = new DeviceId("fuzz-device");
        for (var i = 0; i < iterations; i++)
        {
            var target = Targets[i % Targets.Length];
            var body = Body(target, random);
            var seqText = random.Next(4) switch { 0 => null, 1 => "1", 2 => random.Next(-5, 5).ToString(System.Globalization.CultureInfo.InvariantCulture), _ => Encoding.UTF8.GetString(Mutate(Encoding.UTF8.GetBytes("12"), random)) };
            var tsText = random.Next(3) switch { 0 => null, 1 => "1700000000000", _ => Encoding.UTF8.GetString(Mutate(Encoding.UTF8.GetBytes("1700000000000"), random)) };
            try
            {
                _ = target switch
                {
                    Target.Kserve => (object)KserveTensors.ParseRequest(body, Model),
                    Target.Telemetry => DeviceJson.ParseTelemetry(device, body, 1),
                    Target.FrameJson => DeviceJson.ParseFrameJson(device, body, 1),
                    Target.FrameRaw => DeviceJson.ParseFrameRaw(device, body, seqText, tsText, 1),
                    Target.Desired => DeviceJson.ParseDesired(body),
                    _ => DeviceJson.ParseCommand(device, body),
                };
                parsed++;
            }
            catch (HttpProblem p) when (p.Status is >= 400 and < 500 && !string.IsNullOrWhiteSpace(p.Message))
            {
                refused++;
            }
            catch (Exception ex)
            {
                if (failures.Count < 20) failures.Add($"{target}: {ex.GetType().Name}: {ex.Message} (body {Truncate(Convert.ToBase64String(body))})");
            }
        }
        return new HttpFuzzReport(iterations, parsed, refused, failures);
    }

    /// <summary>A body for <paramref name="target"/>: mostly a mutated seed of its own kind, sometimes another kind's, sometimes random bytes or tokens.</summary>
    private static byte[] Body(Target target, Random random)
    {
        switch (random.Next(20))
        {
            case 0: return Enumerable.Range(0, random.Next(0, 64)).Select(_ => (byte)random.Next(256)).ToArray();
            case 1: return Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, random.Next(1, 16)).Select(_ => Splices[random.Next(Splices.Length)])));
            case 2 when target == Target.FrameRaw: return Enumerable.Range(0, 28 * 28 + random.Next(-2, 3)).Select(_ => (byte)random.Next(256)).ToArray();
        }
        var seeds = random.Next(5) == 0 ? All[random.Next(All.Length)] : target switch
        {
            Target.Kserve => KserveSeeds,
            Target.Telemetry => TelemetrySeeds,
            Target.FrameJson or Target.FrameRaw => FrameSeeds,
            Target.Desired => DesiredSeeds,
            _ => CommandSeeds,
        };
        return Mutate(Encoding.UTF8.GetBytes(seeds[random.Next(seeds.Length)]), random);
    }

    private static string Truncate(string s) => s.Length <= 160 ? s : s[..160] + "…";

    private static readonly string[][] All = [KserveSeeds, TelemetrySeeds, FrameSeeds, DesiredSeeds, CommandSeeds];

    private static byte[] Mutate(byte[] bytes, Random random)
    {
        var n = random.Next(0, 5);
        for (var k = 0; k < n && bytes.Length > 0; k++)
        {
            var at = random.Next(bytes.Length);
            switch (random.Next(7))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes = bytes[..at]; break;
                case 2: bytes = [.. bytes, .. Enumerable.Range(0, random.Next(1, 8)).Select(_ => (byte)random.Next(256))]; break;
                case 3: bytes[at] = (byte)"{}[]\",:-.0123456789eE\\nu"[random.Next(24)]; break;
                case 4: bytes = [.. bytes[..at], .. Encoding.UTF8.GetBytes(Splices[random.Next(Splices.Length)]), .. bytes[at..]]; break;
                case 5: bytes = [.. bytes[..at], .. RawSplices[random.Next(RawSplices.Length)], .. bytes[at..]]; break;
                default:
                    // replace a number or string token with a splice (keeps the body valid JSON more often than a byte flip)
                    var end = at;
                    while (end < bytes.Length && bytes[end] is not ((byte)',' or (byte)']' or (byte)'}')) end++;
                    bytes = [.. bytes[..at], .. Encoding.UTF8.GetBytes(Splices[random.Next(Splices.Length)]), .. bytes[end..]];
                    break;
            }
        }
        return bytes;
    }
}
