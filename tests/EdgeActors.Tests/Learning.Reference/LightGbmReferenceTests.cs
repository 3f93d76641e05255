using EdgeActors.Learning.Federated.Gbdt;
using EdgeActors.Learning.Reference;
using EdgeActors.Tests.Learning.Federated.Gbdt;

namespace EdgeActors.Tests.Learning.Reference;

public sealed class LightGbmReferenceTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(2)]
    public void LightGbm_should_learn_the_synthetic_task_about_as_well_as_our_gbdt(int classes)
    {
        var train = GbdtTestData.Make(rows: 1500, features: 5, classes, seed: 31);
        var test = GbdtTestData.Make(rows: 500, features: 5, classes, seed: 32);
        var options = new GbdtOptions { Classes = classes, Iterations = 20, MaxDepth = 3, LearningRate = 0.3, MaxBins = 32 };

        using var lightGbm = LightGbmReference.Train(train.X, train.Rows, train.Features, train.Y, classes, options);
        var ours = GbdtTrainer.TrainCentral(train.X, train.Rows, train.Features, train.Y, options);

        var proba = lightGbm.PredictProba(test.X, test.Rows);
        Assert.Equal(test.Rows * classes, proba.Length);
        for (var r = 0; r < test.Rows; r++)
            Assert.Equal(1.0, proba.AsSpan(r * classes, classes).ToArray().Sum(), 9);
        var theirs = lightGbm.Accuracy(test.X, test.Y, test.Rows);
        var mine = ours.Accuracy(test.X, test.Y, test.Rows);
        Assert.True(theirs > 0.75, $"LightGBM accuracy {theirs}");
        Assert.True(Math.Abs(theirs - mine) < 0.05, $"LightGBM {theirs} vs ours {mine}");
        Assert.Contains("num_leaves=8", lightGbm.Parameters);
        Assert.Contains(classes == 2 ? "objective=binary" : "objective=multiclass num_class=3", lightGbm.Parameters);
    }

    [Fact]
    public void A_LightGbm_error_should_surface_with_its_own_message()
    {
        var data = GbdtTestData.Make(rows: 50, features: 3, classes: 2, seed: 1);
        var ex = Assert.Throws<LightGbmException>(() =>
            LightGbmReference.Train(data.X, data.Rows, data.Features, data.Y, 2, new GbdtOptions(), extraParameters: "bagging_fraction=2"));
        Assert.StartsWith("LightGBM: ", ex.Message);
        Assert.Contains("bagging_fraction", ex.Message);
    }

    [Fact]
    public void A_disposed_result_should_refuse_to_predict()
    {
        var data = GbdtTestData.Make(rows: 60, features: 3, classes: 2, seed: 1);
        var result = LightGbmReference.Train(data.X, data.Rows, data.Features, data.Y, 2, new GbdtOptions { Iterations = 2 });
        result.Dispose();
        Assert.Throws<ObjectDisposedException>(() => result.PredictProba(data.X, data.Rows));
    }
}
