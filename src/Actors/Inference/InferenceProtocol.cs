using EdgeActors.Messages;

namespace EdgeActors.Actors.Inference;

// The inference feature's protocol as other features (device entities, the gateway, the registry's consumers) use it,
// without depending on the actor classes that implement it (FrameClassifier, ModelHost).

/// <summary>ActorRegistry key of the edge's <see cref="FrameClassifier"/> (AddFrameClassifier; absent when classification is disabled).</summary>
public sealed class FrameClassifierKey;

/// <summary>ActorRegistry key of the node's <see cref="ModelHost"/> (AddModelHost, on gateway nodes).</summary>
public sealed class ModelHostKey;

/// <summary>
/// Local request from a device entity to the edge's frame classifier; answered with <see cref="FrameClassified"/>.
/// <c>Pixels</c>: the frame's 8-bit pixels as received (no per-frame conversion): they travel as bytes to the model,
/// which normalises them itself.
/// </summary>
public sealed record ClassifyFrame(long RequestId, byte[] Pixels);

public sealed record FrameClassified(long RequestId, Prediction Prediction);

/// <summary>Where model hosts live and how the datacenter's is found through distributed pub-sub.</summary>
public static class ModelHostPaths
{
    public const string Name = "models";
    public const string Local = "/user/" + Name;

    /// <summary>The datacenter's model host registers itself with the pub-sub mediator under this path (Put); edges do not.</summary>
    public const string Datacenter = "/user/" + Name;
}

