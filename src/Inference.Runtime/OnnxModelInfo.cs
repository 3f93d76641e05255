namespace EdgeActors.Inference.Runtime;

/// <summary>
/// What <see cref="OnnxModel"/> needs to know of a registered model: its name and version (for messages and the fault
/// injection seed) and its input shape without the batch dimension (checked against the ONNX graph). The registry's
/// <c>EdgeActors.Messages.ModelInfo</c> maps onto it in EdgeActors.Actors (<c>OnnxModelLoading</c>).
/// </summary>
public sealed record OnnxModelInfo(string Name, int Version, int[] InputShape);
