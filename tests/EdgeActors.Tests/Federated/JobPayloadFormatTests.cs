using EdgeActors.Actors.Federated;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Federated;

/// <summary>Job step payloads are versioned like the wire messages, and the step numbers are named.</summary>
public sealed class JobPayloadFormatTests
{
    [Fact]
    public void Step_names_should_keep_the_numbers_on_the_wire()
    {
        // JobStep.Step travels as these numbers: renaming is free, renumbering breaks mixed-release jobs
        Assert.Equal([0, 1, -1, -2], new[] { KMeansStep.Start, KMeansStep.FirstIteration, KMeansStep.Final, KMeansStep.DistanceHistogram }.Select(s => (int)s));
        Assert.Equal([0, 1, 2], new[] { GbdtStep.Start, GbdtStep.Bins, GbdtStep.FirstLevel }.Select(s => (int)s));
        Assert.Equal(-2, JobParticipant.DistanceHistogramStep);
    }

    [Fact]
    public void Payload_should_start_with_the_version_and_read_back_its_fields()
    {
        var bytes = new PayloadWriter().Int(42).Doubles([1.5, double.NaN]).Strings(["a", "ü"]).ToArray();

        Assert.Equal(WireFormat.Version, bytes[0]);
        var r = new PayloadReader(bytes);
        Assert.Equal(42, r.Int());
        Assert.Equal([1.5, double.NaN], r.Doubles());
        Assert.Equal(["a", "ü"], r.Strings());
        r.End();
    }

    [Fact]
    public void Payload_of_a_newer_release_should_read_skipping_its_extension_fields()
    {
        byte[] extension = [9 << 3 | 0, 0x80, 0x01, 10 << 3 | 5, 1, 2, 3, 4, 11 << 3 | 2, 2, 0xAB, 0xCD];
        var bytes = new PayloadWriter().Int(7).Floats([0.25f]).ToArray();

        var r = new PayloadReader([.. bytes, .. extension]);

        Assert.Equal(7, r.Int());
        Assert.Equal([0.25f], r.Floats());
        r.End();
    }

    [Fact]
    public void Payload_of_an_unknown_version_or_with_garbage_after_its_fields_should_be_refused()
    {
        var bytes = new PayloadWriter().Int(7).ToArray();
        var future = (byte[])bytes.Clone();
        future[0] = 2;

        Assert.Contains("version 2", Assert.Throws<InvalidDataException>(() => new PayloadReader(future)).Message);
        var r = new PayloadReader([.. bytes, 0]);
        Assert.Equal(7, r.Int());
        Assert.Throws<InvalidDataException>(() => r.End());
    }

    [Fact]
    public void JobParty_should_answer_every_kmeans_step_of_a_newer_coordinator_that_appends_extension_fields()
    {
        var party = new JobParticipant(JobParticipant.KMeansKind, new LocalTrainingSet());
        byte[] extension = [12 << 3 | 2, 2, 7, 7]; // field 12, two bytes
        byte[] Step(KMeansStep step, PayloadWriter w) =>
            party.Handle(new Messages.JobStep("km-1", JobParticipant.KMeansKind, (int)step, [.. w.ToArray(), .. extension]));

        var start = new PayloadReader(Step(KMeansStep.Start, new PayloadWriter().Int(42).Int(16)));
        Assert.Equal(0, start.Int()); // dimension: this node holds no devices
        Assert.Equal(0, start.Int());

        PayloadWriter Centroids() => new PayloadWriter().Doubles([0, 0]).Doubles([1, 1]).Int(2).Floats([0, 0, 1, 1]); // mean, std, k, centroids
        Assert.Equal(WireFormat.Version, Step(KMeansStep.FirstIteration, Centroids())[0]);
        Assert.Equal(WireFormat.Version, Step(KMeansStep.DistanceHistogram, Centroids())[0]);
        var final = new PayloadReader(Step(KMeansStep.Final, Centroids().Doubles([1, 1])));
        Assert.Empty(final.Strings());
    }
}
