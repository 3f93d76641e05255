using EdgeActors.Storage;
using EdgeActors.Learning.Federated;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;

namespace EdgeActors.Actors.Federated;

/// <summary>
/// The checks an <see cref="ExperimentSpec"/> passes before the <see cref="RoundCoordinator"/> starts it: id, model,
/// strategy, ranges of the training and aggregation settings, and the combinations that cannot work together
/// (secure aggregation with a robust aggregator, folded late updates, DP noise without clipping). No actor, no state.
/// </summary>
public static class ExperimentSpecValidator
{
    /// <summary>Why <paramref name="spec"/> cannot run (the first problem found), or null.</summary>
    public static string? Problem(ExperimentSpec spec)
    {
        if (string.IsNullOrWhiteSpace(spec.Id) || spec.Id.Length > 64 || spec.Id.Any(char.IsControl)) return "experiment id must be 1..64 printable characters";
        try
        {
            FederatedModel.Validate(spec.Model);
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
        AggregationStrategy strategy;
        try
        {
            strategy = Aggregators.Parse(spec.Strategy);
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
        if (spec.Rounds is < 1 or > 100_000) return $"rounds = {spec.Rounds}: must be 1..100000";
        if (spec.Fraction is <= 0 or > 1) return $"fraction = {spec.Fraction}: must be in (0, 1]";
        if (spec.MinClients < 1) return $"min clients = {spec.MinClients}: must be ≥ 1";
        if (spec.LocalEpochs is < 1 or > 1000) return $"local epochs = {spec.LocalEpochs}: must be 1..1000";
        if (spec.BatchSize is < 1 or > 65_536) return $"batch size = {spec.BatchSize}: must be 1..65536";
        if (!(spec.LearningRate > 0) || !float.IsFinite(spec.LearningRate)) return $"learning rate = {spec.LearningRate}: must be > 0";
        if (spec.Momentum is < 0 or >= 1) return $"momentum = {spec.Momentum}: must be in [0, 1)";
        if (spec.ProximalMu < 0) return $"proximal mu = {spec.ProximalMu}: must be ≥ 0";
        if (!(spec.ServerLearningRate > 0)) return $"server learning rate = {spec.ServerLearningRate}: must be > 0";
        if (spec.RoundTimeoutMs < 100) return $"round timeout = {spec.RoundTimeoutMs} ms: must be ≥ 100 ms";
        if (spec.Quorum is <= 0 or > 1) return $"quorum = {spec.Quorum}: must be in (0, 1]";
        if (spec.LateUpdates is not ("drop" or "fold")) return $"late updates = '{spec.LateUpdates}': must be drop or fold";
        if (spec.MaxStaleness < 0) return $"max staleness = {spec.MaxStaleness}: must be ≥ 0";
        if (spec.ClipNorm < 0 || spec.NoiseMultiplier < 0) return "clip norm and noise multiplier must be ≥ 0";
        if (spec.NoiseMultiplier > 0 && spec.ClipNorm <= 0) return "DP noise needs a clip norm > 0 (the noise scale is noise-multiplier × clip-norm)";
        if (spec.TrimFraction is < 0 or >= 0.5) return $"trim fraction = {spec.TrimFraction}: must be in [0, 0.5)";
        if (spec.KrumByzantine < 0) return $"krum byzantine = {spec.KrumByzantine}: must be ≥ 0";
        if (!(spec.ServerBeta1 >= 0 && spec.ServerBeta1 < 1)) return $"server beta1 = {spec.ServerBeta1}: must be in [0, 1)";
        if (!(spec.ServerBeta2 >= 0 && spec.ServerBeta2 < 1)) return $"server beta2 = {spec.ServerBeta2}: must be in [0, 1)";
        if (!(spec.ServerTau > 0) || !double.IsFinite(spec.ServerTau)) return $"server tau = {spec.ServerTau}: must be > 0";
        if (!(spec.LearningRateDecay > 0 && spec.LearningRateDecay <= 1)) return $"learning-rate decay = {spec.LearningRateDecay}: must be in (0, 1]";
        if (!(spec.PublishTolerance >= 0) || !double.IsFinite(spec.PublishTolerance)) return $"publish tolerance = {spec.PublishTolerance}: must be ≥ 0";
        if (!(spec.EpsilonBudget >= 0) || double.IsNaN(spec.EpsilonBudget)) return $"epsilon budget = {spec.EpsilonBudget}: must be ≥ 0 (0: none)";
        if (!(spec.Delta > 0 && spec.Delta < 1)) return $"delta = {spec.Delta}: must be in (0, 1)";
        if (spec.EpsilonBudget > 0 && spec.NoiseMultiplier <= 0) return "an epsilon budget needs DP noise (--clip C --noise z with z > 0)";
        var individual = Aggregators.NeedsIndividualUpdates(strategy);
        if (spec.SecureAggregation && individual)
            return $"strategy {spec.Strategy} needs each client's update, which secure aggregation hides: use fedavg, fedprox, fedavgm, fedadam or fedyogi with --secure-aggregation";
        if (spec.LateUpdates == "fold" && (individual || spec.SecureAggregation))
            return "late updates can only be folded into fedavg/fedprox/fedavgm/fedadam/fedyogi rounds without secure aggregation";
        if (spec.PublishAs.Length > 0 && ModelStore.ValidateName(spec.PublishAs) is { } bad) return "publish-as: " + bad;
        return null;
    }
}
