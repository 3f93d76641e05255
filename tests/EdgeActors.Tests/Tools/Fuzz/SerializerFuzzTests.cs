using Akka.Actor;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Federated;
using EdgeActors.Actors.Ingestion;
using EdgeActors.Learning.Federated;
using EdgeActors.Messages;
using EdgeActors.Tools.Fuzz;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// Fixed-seed fuzzing of the wire format and of the ingestion path: mutated payloads of every message kind either
/// decode or fail with SerializationException; whatever decodes and is meant for a device is answered by a real
/// device entity with an acknowledgement, and the data it accepted before is intact. (Longer runs: <c>edgeactors fuzz</c>.)
/// </summary>
public sealed class SerializerFuzzTests : EdgeSerializationTestKit
{
    private static readonly DeviceId Target = new("fuzz-target");

    [Fact]
    public void Mutated_payloads_of_every_message_kind_should_decode_or_be_rejected_cleanly()
    {
        var report = SerializerFuzzer.Run(EdgeSerializerInstance, SampleMessages.All(), iterations: 60_000, seed: 20261127);

        Assert.True(report.Clean, string.Join("\n", report.Failures));
        Assert.Equal(60_000, report.Payloads);
        Assert.True(report.Rejected > 10_000, $"only {report.Rejected} payloads rejected: the mutations are too mild to test anything");
        Assert.True(report.Decoded > 1_000, $"only {report.Decoded} payloads decoded: the mutations never produce a message");
    }

    [Fact]
    public void A_device_should_answer_every_fuzzed_command_and_keep_what_it_accepted_before()
    {
        var training = new LocalTrainingSet();
        var device = Sys.ActorOf(DeviceActor.Props(Target, IngestionSettings.Default, new DeviceServices { Training = training }));
        Watch(device);
        var good = new TelemetryBatch(Target, 2, [1, 2, 3, 4, 5], [10, 20, 30, 40, 50], [1f, 2f, 1f, 2f, 1f, 2f, 1f, 2f, 1f, 2f]);
        device.Tell(good, TestActor);
        Assert.Equal(5, ExpectMsg<IngestAck>().Accepted);
        var frames = new TrainingFrames(Target, 0, new byte[2 * TrainingFrames.FrameBytes], [3, 7]);
        device.Tell(frames, TestActor);
        Assert.Equal(2, ExpectMsg<TrainingFramesAck>().Accepted);

        var seeds = SampleMessages.All().Where(m => m is TelemetryBatch or CameraFrame or TrainingFrames).ToList();
        var report = SerializerFuzzer.Run(EdgeSerializerInstance, seeds, iterations: 20_000, seed: 7);
        Assert.True(report.Clean, string.Join("\n", report.Failures));
        var commands = report.DecodedMessages.OfType<IDeviceCommand>().ToList();
        Assert.True(commands.Count > 200, $"only {commands.Count} decoded device commands");

        var answered = 0;
        foreach (var command in commands)
        {
            // aimed at this device (a different id is answered too, with a rejection naming it)
            IDeviceCommand aimed = command switch
            {
                TelemetryBatch t when answered % 2 == 0 => t with { DeviceId = Target },
                CameraFrame f when answered % 2 == 0 => f with { DeviceId = Target },
                TrainingFrames t when answered % 2 == 0 => t with { DeviceId = Target },
                _ => command,
            };
            device.Tell(aimed, TestActor);
            var reply = ReceiveOne(TimeSpan.FromSeconds(5));
            Assert.True(reply is IngestAck or TrainingFramesAck, $"reply to {aimed.GetType().Name}: {reply?.GetType().Name ?? "none"}");
            answered++;
        }

        // no restart (it would have forgotten the sequences it holds) and nothing accepted before is gone
        device.Tell(good, TestActor);
        Assert.Equal(0, ExpectMsg<IngestAck>().Accepted);
        device.Tell(new GetDeviceState(Target), TestActor);
        Assert.True(ExpectMsg<DeviceState>().AcceptedReadings >= 5);
        Assert.True(training.TryGetSamples(Target.Value, out _, out var labels));
        Assert.Equal([3, 7], labels[..2]);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }
}
