using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Models;

namespace EdgeActors.Tests.Learning.Federated;

/// <summary>The server optimisers, FedNova and SCAFFOLD against values computed by hand (arithmetic in the comments).</summary>
public sealed class ServerOptimizerTests
{
    [Fact]
    public void FedAvgM_should_accumulate_server_momentum()
    {
        var opt = new ServerOptimizer(ServerOptimizerKind.Momentum, 1, new ServerOptimizerOptions(LearningRate: 1, Beta1: 0.9));
        float[] x = [1f];
        opt.Step(x, [0.5f]);            // m = 0.5, x = 1 + 0.5
        Assert.Equal(1.5f, x[0], 6);
        opt.Step(x, [0.5f]);            // m = 0.9·0.5 + 0.5 = 0.95, x = 1.5 + 0.95
        Assert.Equal(2.45f, x[0], 6);
    }

    [Fact]
    public void FedAdam_should_follow_the_moment_updates_of_Reddi_et_al()
    {
        var opt = new ServerOptimizer(ServerOptimizerKind.Adam, 1, new ServerOptimizerOptions(LearningRate: 0.1, Beta1: 0.9, Beta2: 0.99, Tau: 0.1));
        float[] x = [0f];
        opt.Step(x, [1f]);
        // m = 0.1·1 = 0.1; v = 0.99·τ² + 0.01·1 = 0.0099 + 0.01 = 0.0199; x = 0.1·0.1/(√0.0199 + 0.1) = 0.01/0.2410673
        Assert.Equal(0.1, opt.FirstMoment[0], 12);
        Assert.Equal(0.0199, opt.SecondMoment[0], 12);
        Assert.Equal(0.0414822, x[0], 6);
        opt.Step(x, [0f]);
        // m = 0.09; v = 0.99·0.0199 = 0.019701; x += 0.1·0.09/(0.1403602 + 0.1) = 0.009/0.2403602 = 0.0374438
        Assert.Equal(0.019701, opt.SecondMoment[0], 12);
        Assert.Equal(0.0414822 + 0.0374438, x[0], 5);
    }

    [Fact]
    public void FedYogi_should_grow_v_additively_by_the_sign_rule()
    {
        var opt = new ServerOptimizer(ServerOptimizerKind.Yogi, 1, new ServerOptimizerOptions(LearningRate: 0.1, Beta1: 0.9, Beta2: 0.99, Tau: 0.1));
        float[] x = [0f];
        opt.Step(x, [1f]);
        // v = τ² − 0.01·1·sign(0.01 − 1) = 0.01 + 0.01 = 0.02; x = 0.01/(√0.02 + 0.1) = 0.01/0.2414214
        Assert.Equal(0.02, opt.SecondMoment[0], 12);
        Assert.Equal(0.0414214, x[0], 6);
        opt.Step(x, [0f]);
        // Δ² = 0: v stays 0.02 (FedAdam would decay it to 0.0198); m = 0.09; x += 0.009/0.2414214
        Assert.Equal(0.02, opt.SecondMoment[0], 12);
        Assert.Equal(0.0414214 + 0.0372792, x[0], 5);
    }

    [Fact]
    public void Sgd_server_optimizer_should_scale_the_update_by_the_server_learning_rate()
    {
        var opt = new ServerOptimizer(ServerOptimizerKind.Sgd, 2, new ServerOptimizerOptions(LearningRate: 0.5));
        float[] x = [1f, 2f];
        opt.Step(x, [2f, -2f]);
        Assert.Equal([2f, 1f], x);
        Assert.Throws<ArgumentException>(() => opt.Step(x, [1f]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ServerOptimizerOptions(Beta1: 1).Validate());
    }

    [Fact]
    public void FedNova_step_norm_should_sum_the_momentum_weights_of_each_gradient()
    {
        Assert.Equal(4, FedNova.StepNorm(4, 0));
        // τ = 3, ρ = 0.5: gradient k weighs (1 − ρ^(τ−k))/(1 − ρ): 1.75 + 1.5 + 1 = 4.25
        Assert.Equal(4.25, FedNova.StepNorm(3, 0.5), 12);
        Assert.Equal(2 * 16, FedNova.LocalSteps(samples: 1000, epochs: 2, batchSize: 64)); // ⌈1000/64⌉ = 16
    }

    [Fact]
    public void FedNova_should_normalise_each_update_by_its_steps_and_rescale_by_the_effective_steps()
    {
        var agg = new FedNovaAggregator(1);
        agg.Add([2f], samples: 1, stepNorm: 2);   // d = 1
        agg.Add([3f], samples: 3, stepNorm: 6);   // d = 0.5
        // p = (0.25, 0.75); Σ p·d = 0.625; τ_eff = 0.25·2 + 0.75·6 = 5; result 3.125 (FedAvg would give 11/4 = 2.75)
        Assert.Equal(5, agg.EffectiveSteps, 12);
        var r = new float[1];
        agg.Complete(r);
        Assert.Equal(3.125f, r[0], 6);
    }

    [Fact]
    public void Scaffold_should_update_client_and_server_control_variates_with_option_II()
    {
        float[] c = [1f, 0f];
        float[] ci = [0.5f, 0f];
        Assert.Equal([0.5f, 0f], Scaffold.Correction(c, ci));
        var dc = new float[2];
        // K = 2, η = 0.1 → 1/(Kη) = 5; cᵢ⁺ = cᵢ − c − Δy·5 = (0.5 − 1 + 1, 0 − 0 − 2) = (0.5, −2)
        var next = Scaffold.ClientControl(ci, c, [-0.2f, 0.4f], steps: 2, learningRate: 0.1, dc);
        Assert.Equal(0.5f, next[0], 6);
        Assert.Equal(-2f, next[1], 6);
        Assert.Equal(0f, dc[0], 6);
        Assert.Equal(-2f, dc[1], 6);
        // c += (|S|/N)·mean(Δc) = (1, 0) + 0.5·(0, −2)
        Scaffold.ServerControl(c, dc, participants: 5, totalClients: 10);
        Assert.Equal([1f, -1f], c);
    }

    [Fact]
    public void Scaffold_correction_should_change_local_sgd_and_a_zero_correction_should_not()
    {
        var images = new float[8 * 784];
        var rng = new Random(3);
        for (var i = 0; i < images.Length; i++) images[i] = (float)rng.NextDouble();
        byte[] labels = [0, 1, 2, 3, 4, 5, 6, 7];
        float[] Train(float[]? correction)
        {
            var mlp = new Mlp([784, 8, 10], seed: 5);
            MlpTrainer.Train(mlp, images, labels, 8, new SgdOptions(Epochs: 1, BatchSize: 4, Seed: 2) { GradientCorrection = correction });
            return mlp.Parameters;
        }
        var plain = Train(null);
        var n = plain.Length;
        Assert.Equal(plain, Train(new float[n]));
        var shifted = Train(Enumerable.Repeat(0.1f, n).ToArray());
        Assert.NotEqual(plain, shifted);
        Assert.Throws<ArgumentException>(() => Train(new float[3]));
    }
}
