using EdgeActors.Client.Serialization;
using EdgeActors.Nodes.Simulation;
using System.Runtime.Serialization;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tools.Fuzz;

/// <summary>What a fuzz run saw: every payload must decode to a message or fail with SerializationException.</summary>
public sealed record FuzzReport(long Payloads, long Decoded, long Rejected, IReadOnlyList<string> Failures, IReadOnlyList<IEdgeMessage> DecodedMessages)
{
    public bool Clean => Failures.Count == 0;
}

/// <summary>
/// Feeds <see cref="EdgeSerializer"/> random and mutated payloads (bit flips, overwritten, inserted and deleted bytes,
/// truncation, duplicated chunks, another message's manifest, pure noise) derived from real messages, deterministic for
/// a seed. Anything but a decoded message or a <see cref="SerializationException"/> is a failure, as is a decoded
/// message that cannot be serialized again.
/// </summary>
public static class SerializerFuzzer
{
    /// <summary>Representative messages of the kinds that arrive from outside the cluster, and a few internal ones.</summary>
    public static IReadOnlyList<IEdgeMessage> Seeds()
    {
        var device = new DeviceId("fuzz-seed-01");
        var telemetry = new TelemetryGenerator(device, 4, new FaultSettings(), 3).NextBatch(50, 1_767_225_600_000, 100);
        var pixels = new byte[CameraFrame.ExpectedWidth * CameraFrame.ExpectedHeight];
        new Random(5).NextBytes(pixels);
        var weights = Enumerable.Range(0, 500).Select(i => (float)Math.Sin(i)).ToArray();
        var spec = new ExperimentSpec("fuzz", "mlp:784-256-128-10", "fedavg", 50, 1, 1, 2, 64, 0.05f, 0.9f, 0, 1, 1, 300_000, 0.5, "drop", 2, 0, 0, false, [], -10, 0.2, 2, "fmnist-fed");
        return
        [
            telemetry,
            new CameraFrame(device, 7, 1_767_225_600_000, CameraFrame.ExpectedWidth, CameraFrame.ExpectedHeight, pixels, 3),
            new TrainingFrames(device, 0, [.. pixels, .. pixels], [1, 9]),
            new GetDeviceState(device),
            new Infer("fmnist-mlp", 1, 1, new float[784], default),
            new StartExperiment(spec),
            new GetExperimentStatus("fuzz"),
            new TrainRound("fuzz", 3, 4, "mlp:784-256-128-10", weights, new LocalTraining(2, 64, 0.05f, 0.9f, 0, 1, 0, [], 1), ["c1", "c2"], [], []),
            new ClientUpdate("fuzz", 3, 4, "c1", 6000, 0.3f, weights),
            new MaskedClientUpdate("fuzz", 3, 4, "c2", 6000, 0.3f, weights.Select(w => (ulong)BitConverter.SingleToInt32Bits(w)).ToArray()),
            new ParticipantHeartbeat("akka.tcp://edgeactors@127.0.0.1:4055", [new ClientInfo("c1", 6000)]),
            new StartGbdt("g", 10, 50, 4, 0.3f, 32, 1, 5, ""),
            new JobStep("g", "gbdt", 3, [1, 2, 3, 4, 5, 6, 7, 8]),
            new PublishModel("fmnist-mlp", [8, 1, 18, 4], [784], ["a", "b"], "fuzz"),
        ];
    }

    public static FuzzReport Run(EdgeSerializer serializer, IReadOnlyList<IEdgeMessage> seeds, int iterations, int seed, int keepDecoded = 2_000)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        if (seeds.Count == 0) throw new ArgumentException("the fuzzer needs at least one seed message", nameof(seeds));
        var rng = new Random(seed);
        var encoded = seeds.Select(m => (Bytes: serializer.ToBinary(m), Manifest: serializer.Manifest(m))).ToArray();
        var manifests = EdgeSerializer.Manifests.Values.Distinct().ToArray();
        long decoded = 0, rejected = 0;
        var failures = new List<string>();
        var kept = new List<IEdgeMessage>();
        for (var i = 0; i < iterations; i++)
        {
            var (bytes, manifest) = encoded[rng.Next(encoded.Length)];
            var (payload, target, how) = Mutate(rng, bytes, manifest, manifests);
            try
            {
                var message = serializer.FromBinary(payload, target);
                decoded++;
                try
                {
                    _ = serializer.ToBinary(message); // whatever decodes must encode again
                }
                catch (Exception e)
                {
                    failures.Add($"#{i} {how} '{target}': decoded {message.GetType().Name} cannot be serialized again: {e.GetType().Name}: {e.Message}");
                }
                if (kept.Count < keepDecoded && message is IEdgeMessage edge) kept.Add(edge);
            }
            catch (SerializationException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                failures.Add($"#{i} {how} '{target}' ({payload.Length} bytes): {e.GetType().Name}: {e.Message}");
            }
            if (failures.Count >= 50) break;
        }
        return new FuzzReport(decoded + rejected + failures.Count, decoded, rejected, failures, kept);
    }

    private static (byte[] Payload, string Manifest, string How) Mutate(Random rng, byte[] original, string manifest, string[] manifests)
    {
        var b = (byte[])original.Clone();
        switch (rng.Next(8))
        {
            case 0:
            {
                var flips = 1 + rng.Next(8);
                for (var k = 0; k < flips && b.Length > 0; k++) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return (b, manifest, $"{flips} bit flips");
            }
            case 1:
            {
                if (b.Length == 0) return (b, manifest, "empty");
                var at = rng.Next(b.Length);
                var value = rng.Next(3) switch { 0 => (byte)0, 1 => (byte)0xFF, _ => (byte)rng.Next(256) };
                var n = 1 + rng.Next(Math.Min(8, b.Length - at));
                b.AsSpan(at, n).Fill(value);
                return (b, manifest, $"overwrite {n}@{at}");
            }
            case 2:
            {
                var at = rng.Next(b.Length + 1);
                var extra = new byte[1 + rng.Next(16)];
                rng.NextBytes(extra);
                return ([.. b.AsSpan(0, at), .. extra, .. b.AsSpan(at)], manifest, $"insert {extra.Length}@{at}");
            }
            case 3:
            {
                if (b.Length == 0) return (b, manifest, "empty");
                var at = rng.Next(b.Length);
                var n = 1 + rng.Next(Math.Min(16, b.Length - at));
                return ([.. b.AsSpan(0, at), .. b.AsSpan(at + n)], manifest, $"delete {n}@{at}");
            }
            case 4:
                return (b[..rng.Next(b.Length + 1)], manifest, "truncate");
            case 5:
            {
                if (b.Length == 0) return (b, manifest, "empty");
                var at = rng.Next(b.Length);
                var n = 1 + rng.Next(Math.Min(64, b.Length - at));
                return ([.. b.AsSpan(0, at + n), .. b.AsSpan(at, n), .. b.AsSpan(at + n)], manifest, $"duplicate {n}@{at}");
            }
            case 6:
                return (b, manifests[rng.Next(manifests.Length)], "other manifest");
            default:
            {
                var noise = new byte[rng.Next(256)];
                rng.NextBytes(noise);
                return (noise, manifests[rng.Next(manifests.Length)], "noise");
            }
        }
    }
}
