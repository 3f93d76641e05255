using EdgeActors.Actors.Federated;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Models;

namespace EdgeActors.Tests.Learning.Federated;

public sealed class FederatedModelTests
{
    [Theory]
    [InlineData("cnn", 44_426)]
    [InlineData("mlp:784-256-128-10", 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)]
    [InlineData("mlp:784-10", 7_850)]
    public void Create_should_build_the_named_model_and_FromParameters_should_round_trip_it(string spec, int parameters)
    {
        var model = FederatedModel.Create(spec, seed: 3);
        var copy = FederatedModel.FromParameters(spec, model.Parameters);

        Assert.Equal(parameters, model.ParameterCount);
        Assert.Equal(model.Parameters, copy.Parameters);
        Assert.NotSame(model.Parameters, copy.Parameters);
        Assert.Equal(spec == "cnn", model is Cnn);
    }

    [Theory]
    [InlineData("resnet", "expected cnn or mlp")]
    [InlineData("mlp:784-x-10", "'x' is not a number")]
    [InlineData("mlp:100-10", "input must be 784")]
    [InlineData("mlp:784-7", "output must be 10")]
    public void Validate_should_name_what_is_wrong_with_a_model_spec(string spec, string problem)
    {
        var ex = Assert.Throws<ArgumentException>(() => FederatedModel.Validate(spec));
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void Model_input_and_output_sizes_should_match_the_training_frames()
    {
        // FederatedModel (EdgeActors.Learning) cannot reference EdgeActors.Messages: its own constants must agree
        Assert.Equal(global::EdgeActors.Messages.TrainingFrames.FrameBytes, FederatedModel.InputSize);
        Assert.Equal(global::EdgeActors.Messages.TrainingFrames.Classes, FederatedModel.OutputSize);
    }

    [Fact]
    public void ClientSeed_should_be_stable_and_differ_by_client_and_round()
    {
        Assert.Equal(FederatedModel.ClientSeed(1, "fl-client-00", 3), FederatedModel.ClientSeed(1, "fl-client-00", 3));
        Assert.NotEqual(FederatedModel.ClientSeed(1, "fl-client-00", 3), FederatedModel.ClientSeed(1, "fl-client-01", 3));
        Assert.NotEqual(FederatedModel.ClientSeed(1, "fl-client-00", 3), FederatedModel.ClientSeed(1, "fl-client-00", 4));
    }
}
