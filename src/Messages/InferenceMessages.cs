namespace EdgeActors.Messages;

/// <summary>Everything addressed to a model's inference actor on some node.</summary>
public interface IInferenceCommand : IEdgeMessage
{
    string Model { get; }
}

public interface IInferenceEvent : IEdgeMessage;

public enum InferencePriority : byte
{
    Normal = 0,
    High = 1,
}

/// <summary>
/// Run <c>Count</c> samples through <c>Model</c>. <c>Input</c> holds <c>Count × (product of the model's input shape)</c>
/// floats, row-major. <c>RequestId</c> is the caller's own; it comes back on the reply.
/// <para>
/// <see cref="ByteInput"/>, when set, carries the samples as raw 8-bit values instead (camera pixels, 0..255) and
/// <c>Input</c> is empty: a model with a uint8 input normalises them inside its graph; a float model is given byte / 255.
/// </para>
/// </summary>
public sealed record Infer(string Model, long RequestId, int Count, float[] Input, InferencePriority Priority) : IInferenceCommand
{
    /// <summary>Count × (input shape) raw 8-bit values (pixels), or null when <c>Input</c> holds floats.</summary>
    public byte[]? ByteInput { get; init; }

    /// <summary>A request carrying 8-bit samples (pixels) rather than floats.</summary>
    public static Infer Bytes(string model, long requestId, int count, byte[] input, InferencePriority priority) =>
        new(model, requestId, count, [], priority) { ByteInput = input };
}

/// <summary><c>Output</c> holds <c>Count × OutputSize</c> floats (class probabilities for a classifier).</summary>
public sealed record InferResult(long RequestId, string Model, int Version, string Provider, string Node, int Count, int OutputSize, float[] Output)
    : IInferenceEvent;

public enum InferRejectReason : byte
{
    /// <summary>The model's queue is full: retry later or elsewhere. Sent at once, never after a wait.</summary>
    Overloaded = 1,
    /// <summary>No version of that model is loaded on this node.</summary>
    NoModel = 2,
    /// <summary>The input does not match the model's input shape.</summary>
    BadInput = 3,
    /// <summary>The runtime failed on this batch.</summary>
    Failed = 4,
}

public sealed record InferRejected(long RequestId, string Model, InferRejectReason Reason, string Detail) : IInferenceEvent;

/// <summary>
/// Classification of a camera frame, kept with the frame and returned to the client in its <see cref="IngestAck"/>.
/// <c>Escalated</c>: the datacenter's larger model answered (edge confidence was below the threshold).
/// <c>Note</c> says what happened when the answer is not the plain edge answer.
/// </summary>
public sealed record Prediction(int Label, float Confidence, string Model, int Version, string ServedBy, bool Escalated, PredictionNote Note);

public enum PredictionNote : byte
{
    None = 0,
    /// <summary>Escalation was attempted but the datacenter did not answer; the edge answer was kept.</summary>
    EscalationUnavailable = 1,
    /// <summary>The edge queue was saturated; the datacenter served the frame instead.</summary>
    Overflowed = 2,
    /// <summary>No model could serve the frame (none loaded, edge overloaded and datacenter unreachable).</summary>
    NotClassified = 3,
}

// ---------------------------------------------------------------- model registry

/// <summary>Commands and queries for the model registry (a cluster singleton on the datacenter).</summary>
public interface IModelRegistryMessage : IEdgeMessage;

/// <summary>
/// A registered model version. <c>InputShape</c> is per sample (e.g. [784] or [3, 224, 224]); the batch dimension is
/// implicit and dynamic.
/// </summary>
public sealed record ModelInfo(string Name, int Version, int[] InputShape, string[] Labels, string Sha256, long SizeBytes, long CreatedAtMs, string Description);

/// <summary>Registers a new version (the registry assigns the number) after validating the bytes with ONNX Runtime.</summary>
public sealed record PublishModel(string Name, byte[] Onnx, int[] InputShape, string[] Labels, string Description) : IModelRegistryMessage;

public sealed record ModelPublished(ModelInfo Model, bool Active) : IModelRegistryMessage;

/// <summary>The registry refused a command; <c>Reason</c> says what is wrong.</summary>
public sealed record ModelCommandRejected(string Name, string Reason) : IModelRegistryMessage;

public sealed record ListModels : IModelRegistryMessage
{
    public static readonly ListModels Instance = new();
}

/// <summary>Which version of a model edges should serve: the latest, or a pinned one.</summary>
public sealed record ModelPolicy(string Name, int ActiveVersion, int PinnedVersion)
{
    public bool IsPinned => PinnedVersion > 0;
}

public sealed record ModelList(ModelInfo[] Models, ModelPolicy[] Policies) : IModelRegistryMessage;

/// <summary>Pin a version (<c>Version</c> &gt; 0) or follow the latest (<c>Version</c> = 0).</summary>
public sealed record SetModelPolicy(string Name, int Version) : IModelRegistryMessage;

/// <summary>Pin the version before the active one.</summary>
public sealed record RollbackModel(string Name) : IModelRegistryMessage;

public sealed record ModelPolicyChanged(ModelPolicy Policy, ModelInfo Active) : IModelRegistryMessage;

/// <summary>Published on the model topic whenever a model's active version changes (and on request).</summary>
public sealed record ModelActivated(ModelInfo Model) : IModelRegistryMessage;

/// <summary>Asks the registry to (re)announce the active version of every model (nodes send it on start-up).</summary>
public sealed record GetActiveModels : IModelRegistryMessage
{
    public static readonly GetActiveModels Instance = new();
}

public sealed record ActiveModels(ModelInfo[] Models) : IModelRegistryMessage;

public sealed record FetchModelChunk(string Name, int Version, long Offset, int MaxBytes) : IModelRegistryMessage;

public sealed record ModelChunk(string Name, int Version, long Offset, long Total, byte[] Data) : IModelRegistryMessage;

// ---------------------------------------------------------------- node inference status

/// <summary>
/// Inference runtime status of one node: <c>Node</c> (a full address) names it; empty means the node that receives
/// the query. Gateways forward a query for another node to that node's gateway.
/// </summary>
public sealed record GetInferenceStatus(string Node = "") : INodeQuery
{
    public static readonly GetInferenceStatus Instance = new();
}

/// <summary>A query about one node, answered by that node whichever gateway receives it.</summary>
public interface INodeQuery : IEdgeMessage
{
    string Node { get; }
}

/// <summary>One served model. <c>Session</c>: how its ONNX Runtime sessions fare (null when nothing is loaded).</summary>
public sealed record LoadedModel(string Name, int Version, int QueueDepth, long Served, long Batches, long Overloaded, long Escalated, long Overflowed, string LastError,
    SessionHealth? Session = null);

/// <summary>
/// Health of a model's primary ONNX Runtime session (CUDA when it loaded, else CPU) and of its CPU fallback session.
/// <c>Primary</c>: the provider of the primary session; <c>Serving</c>: where batches run now ("CUDA", "CPU", or
/// "CPU fallback" while the primary is being recreated or backs off). <c>Recreations</c>: primary sessions disposed
/// and built again; <c>FallbackBatches</c>: batches (re-)run on the CPU fallback session. <c>NextPrimaryRetryMs</c>:
/// Unix ms when the primary is tried again (0 = not backing off).
/// </summary>
public sealed record SessionHealth(string Primary, string Serving, long PrimaryFailures, int ConsecutiveFailures, long Recreations,
    long FallbackBatches, string FallbackReason, long NextPrimaryRetryMs);

public enum CircuitState : byte
{
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// <summary>
/// The circuit breaker guarding an edge's calls to the datacenter (escalations and overflow). <c>Opens</c>: times it
/// opened; <c>FastAnswers</c>: frames answered at once from the edge because it was open; <c>RetryAtMs</c>: Unix ms
/// when an open breaker lets a trial call through (0 otherwise).
/// </summary>
public sealed record CircuitBreakerStatus(CircuitState State, int ConsecutiveFailures, long Opens, long FastAnswers, long RetryAtMs, string LastFailure);

/// <summary>
/// One node's inference runtime: the execution provider in use (and why, when it fell back) and its models.
/// <c>Datacenter</c>: the breaker on calls to the datacenter (edges that classify frames; null elsewhere).
/// </summary>
public sealed record InferenceStatus(string Node, string Provider, string ProviderNote, LoadedModel[] Models, CircuitBreakerStatus? Datacenter = null) : IEdgeMessage;
