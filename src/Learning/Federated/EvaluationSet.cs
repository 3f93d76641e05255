namespace EdgeActors.Learning.Federated;

/// <summary>Labelled held-out data the coordinator scores each global model on (floats in [0,1], N × 784).</summary>
public sealed record EvaluationSet(float[] Images, byte[] Labels)
{
    public int Count => Labels.Length;
}
