namespace EdgeActors.Actors.Registry;

/// <summary>
/// ActorRegistry key of the model registry singleton (its proxy on nodes that do not host it; AddModelRegistry). Model
/// hosts, the gateway and the federated coordinator look the registry up by this key, not by the actor class, so the
/// inference feature does not depend on the registry's actor (the registry depends on the inference runtime only).
/// Its messages are in <c>EdgeActors.Messages</c> (InferenceMessages: they go over the wire).
/// </summary>
public sealed class ModelRegistryKey;
