using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// The federated fields added after wire version 1 (server optimiser, learning-rate decay, publish gate, DP budget in
/// the spec; validation, publish decision and ε per round; FedNova's local steps and SCAFFOLD's control variates)
/// travel as extension fields: they round-trip, a message holding only defaults encodes exactly as before, and the
/// new encoding is the old one plus well-formed extension fields (which an older reader skips).
/// </summary>
public sealed class FederatedExtensionFieldsTests : EdgeSerializationTestKit
{
    private static ExperimentSpec NewSpec() => SampleMessages.Spec() with
    {
        Strategy = "fedyogi", ServerBeta1 = 0.8, ServerBeta2 = 0.95, ServerTau = 0.01, LearningRateDecay = 0.98, PublishTolerance = 0.02,
        EpsilonBudget = 8, Delta = 1e-6,
    };

    private static RoundSummary Round(int r) => new(r, 1, 0.85, 0.4, 10, 10, 0, 0, 3.5, 1.2, r, ["fl-client-00"]);

    [Fact]
    public void StartExperiment_should_round_trip_the_new_spec_fields()
    {
        var start = new StartExperiment(NewSpec());
        MessageAssert.Deep(start, RoundTrip(start), "xs");
    }

    [Fact]
    public void ExperimentStatus_should_round_trip_validation_publish_decision_and_epsilon_per_round()
    {
        var status = new ExperimentStatus("x", "running", 2, 50, 2, "", [
            Round(1) with { ValidationAccuracy = 0.81, Published = true, PublishReason = "published: first version", Epsilon = 0.5, RoundEpsilon = 0.5, SamplingRate = 1 },
            Round(2) with { ValidationAccuracy = double.NaN, Published = false, PublishReason = "not published: validation 0.7 < active 0.81 − tolerance 0.01", Epsilon = 0.75, RoundEpsilon = 0.5, SamplingRate = 0.5 },
        ]);
        MessageAssert.Deep(status, RoundTrip(status), "xt");
    }

    [Fact]
    public void ClientUpdate_and_TrainRound_should_round_trip_local_steps_and_control_variates()
    {
        var update = new ClientUpdate("x", 3, 4, "fl-client-01", 600, 0.3f, [1f, -2f, float.NaN]) { LocalSteps = 20, ControlDelta = [0.5f, -0.25f, 0f] };
        MessageAssert.Deep(update, RoundTrip(update), "cu");
        var training = new LocalTraining(2, 64, 0.05f, 0.9f, 0, 1, 0, [], 1);
        var round = new TrainRound("x", 3, 4, "mlp:784-256-128-10", [1f, 2f, 3f], training, ["fl-client-01"], [], []) { ServerControl = [0.1f, 0.2f, -0.3f] };
        MessageAssert.Deep(round, RoundTrip(round), "tr");
    }

    [Fact]
    public void New_fields_should_be_appended_as_extension_fields_after_the_version_1_encoding()
    {
        AssertAppended(new StartExperiment(SampleMessages.Spec()), new StartExperiment(NewSpec() with { Strategy = SampleMessages.Spec().Strategy }));
        var update = new ClientUpdate("x", 3, 4, "fl-client-01", 600, 0.3f, [1f, 2f]);
        AssertAppended(update, update with { LocalSteps = 7, ControlDelta = [1f, 1f] });
        var status = new ExperimentStatus("x", "done", 1, 1, 1, "", [Round(1)]);
        AssertAppended(status, status with { History = [Round(1) with { Published = true, PublishReason = "published", ValidationAccuracy = 0.8 }] });
    }

    [Fact]
    public void A_payload_without_the_new_fields_should_decode_with_their_defaults()
    {
        var (bytes, manifest) = Serialize(new StartExperiment(SampleMessages.Spec()));
        var spec = ((StartExperiment)Deserialize(bytes, manifest)).Spec;
        Assert.Equal((0.9, 0.99, 1e-3, 1.0, ExperimentSpec.DefaultPublishTolerance, 0.0, ExperimentSpec.DefaultDelta),
            (spec.ServerBeta1, spec.ServerBeta2, spec.ServerTau, spec.LearningRateDecay, spec.PublishTolerance, spec.EpsilonBudget, spec.Delta));
        var (ub, um) = Serialize(new ClientUpdate("x", 1, 1, "c", 1, 0, [1f]));
        var u = (ClientUpdate)Deserialize(ub, um);
        Assert.Equal(0, u.LocalSteps);
        Assert.Empty(u.ControlDelta);
    }

    [Fact]
    public void A_parallel_round_array_of_the_wrong_length_should_be_refused_naming_the_field()
    {
        var one = new ExperimentStatus("x", "done", 1, 1, 1, "", [Round(1) with { Published = true }]);
        var two = new ExperimentStatus("x", "done", 2, 2, 1, "", [Round(1), Round(2)]);
        var (oneBytes, manifest) = Serialize(one);
        var (twoBytes, _) = Serialize(two);
        var plainOne = Serialize(one with { History = [Round(1)] }).Bytes;
        // two rounds, followed by the one-round "published" array
        var forged = twoBytes.Concat(oneBytes[plainOne.Length..]).ToArray();
        var ex = Assert.ThrowsAny<Exception>(() => Deserialize(forged, manifest));
        Assert.Contains("extension field 2 has 1 values for 2 rounds", ex.ToString());
    }

    private void AssertAppended(IEdgeMessage before, IEdgeMessage after)
    {
        var (old, _) = Serialize(before);
        var (@new, _) = Serialize(after);
        Assert.True(@new.Length > old.Length, "the new fields add bytes");
        Assert.Equal(old, @new[..old.Length]);
        // what follows is a well-formed extension key: field number ≥ 1 and a wire type an older reader can skip
        var key = @new[old.Length];
        Assert.True(key >> 3 >= 1 && (key & 7) is 0 or 1 or 2 or 5, $"byte {key} is not an extension key");
    }
}
