namespace EdgeActors.Learning.Federated;

/// <summary>Labelled held-out data the coordinator scores each global model on (floats in [0,1], N × 784).</summary>
public sealed record EvaluationSet(float[] Images, byte[] Labels)
{
    public int Count => Labels.Length;

    /// <summary>
    /// The coordinator's own validation slice (not the test set; no client trains on it): the publish gate compares
    /// rounds on it. Null: no gate data, every round is published.
    /// </summary>
    public EvaluationSet? Validation { get; init; }
}
