namespace EdgeActors.Messages;

/// <summary>Every federated-learning message (client ⇄ coordinator ⇄ edge workers).</summary>
public interface IFederatedMessage : IEdgeMessage;

/// <summary>What client apps send to the round coordinator through a gateway.</summary>
public interface IFederationRequest : IFederatedMessage;

// ================================================================ labelled training data (client → device entity)

/// <summary>
/// Labelled camera frames a device keeps on its edge for local training (they are not classified and never leave the
/// edge: only model updates do). Frame <c>i</c> has sequence <c>FirstSequence + i</c>, pixels
/// <c>Pixels[i*784 .. (i+1)*784)</c> (28×28 grey, row-major) and class <c>Labels[i]</c>.
/// </summary>
public sealed record TrainingFrames(DeviceId DeviceId, long FirstSequence, byte[] Pixels, byte[] Labels) : IDeviceCommand
{
    public int Count => Labels.Length;
    public const int FrameBytes = CameraFrame.ExpectedWidth * CameraFrame.ExpectedHeight;
    public const int Classes = 10;
}

/// <summary>
/// Reply to <see cref="TrainingFrames"/>: <c>NextSequence</c> is the next sequence the device expects (all before it are
/// held), <c>Accepted</c> how many frames of this batch were added, <c>Duplicates</c> how many it already held.
/// <c>Error</c> is non-empty when the batch was refused as a whole (nothing of it was kept).
/// </summary>
public sealed record TrainingFramesAck(DeviceId DeviceId, long NextSequence, int Accepted, int Duplicates, int Held, string Node, string Error)
    : IDeviceEvent;

// ================================================================ experiments (client → coordinator)

/// <summary>
/// A federated training run. <c>Model</c>: "mlp:784-256-128-10". <c>Strategy</c>: fedavg | fedprox | fedavgm | fedadam |
/// fedyogi | fednova | scaffold | median | trimmed-mean | krum. Each round samples <c>max(MinClients, ⌈Fraction·available⌉)</c> clients, waits at most
/// <c>RoundTimeoutMs</c>, and aggregates once ≥ <c>Quorum</c> of the sampled clients replied (≥ 1 client).
/// <c>LateUpdates</c>: "drop" or "fold" (an update for an earlier round, at most <c>MaxStaleness</c> rounds old, joins the
/// current round weighted by 1/√(1+staleness)). <c>ClipNorm</c> &gt; 0 clips each update (L2); <c>NoiseMultiplier</c> &gt; 0
/// adds Gaussian noise of std NoiseMultiplier·ClipNorm to the sum (central DP). <c>SecureAggregation</c>: pairwise
/// masks; the coordinator only sees the sum. <c>PoisonedClients</c> send their update multiplied by <c>PoisonScale</c>
/// (attack simulation). Each new global model is published to the registry as <c>PublishAs</c> (empty: not published).
/// </summary>
public sealed record ExperimentSpec(
    string Id,
    string Model,
    string Strategy,
    int Rounds,
    double Fraction,
    int MinClients,
    int LocalEpochs,
    int BatchSize,
    float LearningRate,
    float Momentum,
    float ProximalMu,
    float ServerLearningRate,
    int Seed,
    long RoundTimeoutMs,
    double Quorum,
    string LateUpdates,
    int MaxStaleness,
    double ClipNorm,
    double NoiseMultiplier,
    bool SecureAggregation,
    string[] PoisonedClients,
    float PoisonScale,
    double TrimFraction,
    int KrumByzantine,
    string PublishAs)
{
    // added after wire version 1 (extension fields of "xs"; an older peer's spec reads with these defaults)

    /// <summary>Server optimiser β₁: the momentum of fedavgm, the first-moment decay of fedadam/fedyogi.</summary>
    public double ServerBeta1 { get; init; } = 0.9;

    /// <summary>Second-moment decay β₂ of fedadam/fedyogi.</summary>
    public double ServerBeta2 { get; init; } = 0.99;

    /// <summary>Adaptivity τ of fedadam/fedyogi.</summary>
    public double ServerTau { get; init; } = 1e-3;

    /// <summary>The local learning rate of round r is LearningRate·decay^(r−1) (1: constant).</summary>
    public double LearningRateDecay { get; init; } = 1;

    /// <summary>
    /// The publish gate: a round's model is published only when its accuracy on the coordinator's validation set is
    /// ≥ the active version's − this tolerance (a fraction, e.g. 0.01 = one point).
    /// </summary>
    public double PublishTolerance { get; init; } = DefaultPublishTolerance;

    /// <summary>Central DP: the experiment stops before a round that would take ε above this budget (0: no budget).</summary>
    public double EpsilonBudget { get; init; }

    /// <summary>Central DP: the δ that ε is reported for.</summary>
    public double Delta { get; init; } = DefaultDelta;

    public const double DefaultPublishTolerance = 0.01;
    public const double DefaultDelta = 1e-5;
}

public sealed record StartExperiment(ExperimentSpec Spec) : IFederationRequest;

public sealed record ExperimentAccepted(string Id, int AvailableClients) : IFederatedMessage;

public sealed record ExperimentRejected(string Id, string Reason) : IFederatedMessage;

public sealed record GetExperimentStatus(string Id) : IFederationRequest;

/// <summary>One finished round. <c>Late</c>: updates folded in from earlier rounds. <c>ModelVersion</c>: registry version (0: not published yet).</summary>
public sealed record RoundSummary(
    int Round, int Attempt, double Accuracy, double Loss, int Sampled, int Received, int Dropped, int Late, double Seconds,
    double UpdateNormMedian, int ModelVersion, string[] Clients)
{
    // added after wire version 1 (parallel-array extension fields of "xt")

    /// <summary>Accuracy on the coordinator's validation set (NaN: none held).</summary>
    public double ValidationAccuracy { get; init; } = double.NaN;

    /// <summary>Whether the publish gate let this round's model go to the registry, and why (empty: not recorded).</summary>
    public bool Published { get; init; }

    public string PublishReason { get; init; } = "";

    /// <summary>Central DP: ε (for the experiment's δ) of all rounds up to and including this one; 0 without noise.</summary>
    public double Epsilon { get; init; }

    /// <summary>Central DP: ε of this round's release alone.</summary>
    public double RoundEpsilon { get; init; }

    /// <summary>Central DP: the round's sampling rate q = sampled / available clients (0: not recorded).</summary>
    public double SamplingRate { get; init; }
}

/// <summary><c>State</c>: running | done | failed | unknown.</summary>
public sealed record ExperimentStatus(string Id, string State, int Round, int Rounds, int Attempt, string Detail, RoundSummary[] History)
    : IFederatedMessage;

/// <summary>Which clients (devices with labelled data) the coordinator currently knows, by node.</summary>
public sealed record GetFederationStatus : IFederationRequest
{
    public static readonly GetFederationStatus Instance = new();
}

public sealed record ClientInfo(string ClientId, int Samples);

public sealed record ParticipantInfo(string Node, ClientInfo[] Clients, long LastSeenMsAgo);

public sealed record FederationStatus(ParticipantInfo[] Participants, string RunningExperiment) : IFederatedMessage;

// ================================================================ coordinator ⇄ edge workers

/// <summary>An edge worker announces the clients it can train (every few seconds; also its liveness).</summary>
public sealed record ParticipantHeartbeat(string Node, ClientInfo[] Clients) : IFederatedMessage;

/// <summary>Local training settings of a round (from the <see cref="ExperimentSpec"/>).</summary>
public sealed record LocalTraining(
    int Epochs, int BatchSize, float LearningRate, float Momentum, float ProximalMu, int Seed, double ClipNorm,
    string[] PoisonedClients, float PoisonScale);

/// <summary>
/// Train <c>Clients</c> (those this worker holds) from <c>Global</c> and reply one <see cref="ClientUpdate"/> (or, with
/// <c>MaskPeers</c>, one <see cref="MaskedClientUpdate"/>) per client. <c>MaskPeers</c>/<c>MaskKeys</c>: every masked
/// participant of the round and its public key.
/// </summary>
public sealed record TrainRound(
    string ExperimentId, int Round, int Attempt, string Model, float[] Global, LocalTraining Training, string[] Clients,
    string[] MaskPeers, byte[][] MaskKeys) : IFederatedMessage
{
    /// <summary>SCAFFOLD: the server control variate c (empty: not a SCAFFOLD round). Extension field 1 of "tr".</summary>
    public float[] ServerControl { get; init; } = [];
}

/// <summary>A client's model delta (local − global) after local training on <c>Samples</c> examples.</summary>
public sealed record ClientUpdate(string ExperimentId, int Round, int Attempt, string ClientId, int Samples, float Loss, float[] Delta)
    : IFederatedMessage
{
    /// <summary>Local SGD steps τᵢ the client ran (FedNova normalises by them; 0: not reported). Extension field 1 of "cu".</summary>
    public int LocalSteps { get; init; }

    /// <summary>SCAFFOLD: Δcᵢ = cᵢ⁺ − cᵢ (empty otherwise). Extension field 2 of "cu".</summary>
    public float[] ControlDelta { get; init; } = [];
}

/// <summary>Secure aggregation: Samples·clip(delta), fixed point, plus pairwise masks (mod 2^64).</summary>
public sealed record MaskedClientUpdate(string ExperimentId, int Round, int Attempt, string ClientId, int Samples, float Loss, ulong[] Masked)
    : IFederatedMessage;

public sealed record ClientFailed(string ExperimentId, int Round, int Attempt, string ClientId, string Reason) : IFederatedMessage;

/// <summary>Secure aggregation, step 1: make a key pair per listed client and return the public keys.</summary>
public sealed record MaskKeyRequest(string ExperimentId, int Round, int Attempt, string[] Clients) : IFederatedMessage;

public sealed record MaskKeys(string ExperimentId, int Round, int Attempt, string[] Clients, byte[][] PublicKeys) : IFederatedMessage;

/// <summary>Secure aggregation recovery: each listed survivor reveals its pair seed with each dropped client.</summary>
public sealed record RevealMasks(string ExperimentId, int Round, int Attempt, string[] Survivors, string[] Dropped) : IFederatedMessage;

/// <summary>Seeds[i] is the pair seed of (Survivors[i], Dropped[i]).</summary>
public sealed record RevealedMasks(string ExperimentId, int Round, int Attempt, string[] Survivors, string[] Dropped, byte[][] Seeds)
    : IFederatedMessage;

// ================================================================ federated k-means and GBDT jobs

/// <summary>
/// Federated k-means over device behaviour (per-device telemetry summaries held by edges): <c>K</c> clusters,
/// at most <c>Iterations</c>, outliers beyond mean + <c>OutlierZ</c>·std of their cluster's distances.
/// </summary>
public sealed record StartKMeans(string Id, int K, int Iterations, double OutlierZ, int Seed) : IFederationRequest;

/// <summary>
/// Federated histogram GBDT over the labelled frames the edges hold (7×7 pooled features).
/// <c>Classes</c> 10 (softmax) or 2 (binary: label ≥ <c>BinaryThreshold</c>).
/// </summary>
public sealed record StartGbdt(
    string Id, int Classes, int Iterations, int MaxDepth, float LearningRate, int MaxBins, double Lambda, int BinaryThreshold,
    string PublishAs) : IFederationRequest;

public sealed record GetJobStatus(string Id) : IFederationRequest;

/// <summary><c>State</c>: running | done | failed | unknown. <c>Result</c>: key=value pairs (accuracy, clusters, …).</summary>
public sealed record JobStatus(string Id, string Kind, string State, string Detail, string[] ResultKeys, double[] ResultValues, string[] Lines)
    : IFederatedMessage;

/// <summary>A job step sent to every participating edge worker; the payload is the job kind's own encoding.</summary>
public sealed record JobStep(string JobId, string Kind, int Step, byte[] Payload) : IFederatedMessage;

/// <summary>A worker's answer to one <see cref="JobStep"/>; <c>Error</c> non-empty when it could not compute it.</summary>
public sealed record JobStepReply(string JobId, int Step, string Node, byte[] Payload, string Error) : IFederatedMessage;
