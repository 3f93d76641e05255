using System.Buffers;
using System.Text;
using EdgeActors.Client.Security;
using EdgeActors.Mqtt;

namespace EdgeActors.Tools.Fuzz;

/// <summary>What <see cref="MqttFuzzer"/> found: payloads tried, parsed, refused with a reason, and failures (exceptions).</summary>
public sealed record MqttFuzzReport(long Payloads, long Parsed, long Refused, IReadOnlyList<string> Failures);

/// <summary>
/// The MQTT broker's payload and topic handling against garbled input (fixed seed): mutated telemetry, frame, twin
/// and command-ack payloads (byte flips, truncation, random tails, invalid UTF-8 in strings), and mutated topics
/// through the topic parser and the access rules. Every input must be parsed or refused with a reason; an exception
/// is a failure.
/// </summary>
public static class MqttFuzzer
{
    private static readonly string[] PayloadSeeds =
    [
        """{"seq":1,"ts":1700000000000,"values":[1.5,-2,3e2,null]}""",
        """{"readings":[{"seq":1,"values":[1,2]},{"seq":2,"ts":5,"values":[3,4]}]}""",
        """{"event_id":"e1","timestamp":1,"twin":{"rate":{"actual":{"value":"10"}},"mode":{"actual":null}}}""",
        """{"id":"c1","success":false,"result":"busy"}""",
        """{"seq":3,"ts":4,"pixels":"AAECAwQF","label":2}""",
    ];

    private static readonly string[] TopicSeeds =
    [
        "edgeactors/devices/site-a/s1/telemetry", "edgeactors/devices/s1/frames", "edgeactors/devices/a/b/commands/ack",
        "$hw/events/device/site-a/s1/twin/update", "$hw/events/device/s1/twin/get", "edgeactors/devices/+/ack",
    ];

    public static MqttFuzzReport Run(int iterations, int seed)
    {
        var random = new Random(seed);
        long parsed = 0, refused = 0;
        var failures = new List<string>();
        var claims = new ClientClaims("fuzz", [ClientTokens.Ingest], "site-a/", DateTimeOffset.MaxValue);
        for (var i = 0; i < iterations; i++)
        {
            var bytes = Mutate(Encoding.UTF8.GetBytes(PayloadSeeds[i % PayloadSeeds.Length]), random);
            var topic = Encoding.UTF8.GetString(Mutate(Encoding.UTF8.GetBytes(TopicSeeds[i % TopicSeeds.Length]), random));
            try
            {
                var payload = new ReadOnlySequence<byte>(bytes);
                foreach (var ok in new[]
                         {
                             MqttPayloads.ParseTelemetry("d", payload, 0).Error is null,
                             MqttPayloads.ParseFrame("d", payload, name => name == "seq" ? "1" : null, 0).Error is null,
                             MqttPayloads.ParseTwinUpdate("d", payload).Error is null,
                             MqttPayloads.ParseCommandAck("d", payload).Error is null,
                         })
                    if (ok) parsed++;
                    else refused++;
                _ = MqttPayloads.EventId(payload);
                _ = MqttTopics.Parse(topic);
                _ = MqttAccess.CanPublish(claims, topic, 128);
                _ = MqttAccess.CanSubscribe(claims, topic, 128);
            }
            catch (Exception ex)
            {
                if (failures.Count < 20) failures.Add($"{ex.GetType().Name}: {ex.Message} (payload {Convert.ToBase64String(bytes)}, topic '{topic}')");
            }
        }
        return new MqttFuzzReport(iterations * 4L, parsed, refused, failures);
    }

    private static byte[] Mutate(byte[] bytes, Random random)
    {
        var n = random.Next(1, 5);
        for (var k = 0; k < n && bytes.Length > 0; k++)
        {
            switch (random.Next(4))
            {
                case 0: bytes[random.Next(bytes.Length)] = (byte)random.Next(256); break;
                case 1: bytes = bytes[..random.Next(bytes.Length)]; break;
                case 2: bytes = [.. bytes, .. Enumerable.Range(0, random.Next(1, 8)).Select(_ => (byte)random.Next(256))]; break;
                default: bytes[random.Next(bytes.Length)] = (byte)"{}[]\",:/#+\\0"[random.Next(12)]; break;
            }
        }
        return bytes;
    }
}
