using Akka.Configuration;
using EdgeActors.Storage;
using EdgeActors.Learning.Federated;

namespace EdgeActors.Actors.Federated;

/// <summary>Settings of federated learning (HOCON <c>edgeactors.federated</c>).</summary>
public sealed record FederationSettings(
    bool Enabled = true,
    string DatabasePath = "federation.db",
    TimeSpan HeartbeatInterval = default,
    TimeSpan ParticipantTimeout = default,
    int MaxFramesPerDevice = 30_000,
    int MaxParallelTraining = 1,
    TimeSpan ResumeGrace = default,
    int EvalLimit = 10_000,
    int ValidationSize = 5_000)
{
    /// <summary>
    /// The coordinator's validation slice for the publish gate: the LAST <see cref="ValidationSize"/> images of the
    /// Fashion-MNIST training file (experiments partition only the images before it over the clients). 0: no gate.
    /// </summary>
    public const int TrainingImages = 60_000;

    public TimeSpan HeartbeatInterval { get; init; } = HeartbeatInterval == default ? TimeSpan.FromSeconds(2) : HeartbeatInterval;
    public TimeSpan ParticipantTimeout { get; init; } = ParticipantTimeout == default ? TimeSpan.FromSeconds(8) : ParticipantTimeout;
    public TimeSpan ResumeGrace { get; init; } = ResumeGrace == default ? TimeSpan.FromSeconds(4) : ResumeGrace;

    /// <summary>
    /// k-means/GBDT jobs (<see cref="JobRunner"/>): a worker that has not answered a step within this time is retried with
    /// backoff (HOCON <c>job-step-timeout</c>, default 120 s).
    /// </summary>
    public TimeSpan JobStepTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// A job that completes no step for this long (a worker gone, or failing) fails with a message naming the worker
    /// (HOCON <c>job-stall-timeout</c>, default 10 min; at least <see cref="JobStepTimeout"/>).
    /// </summary>
    public TimeSpan JobStallTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The PostgreSQL database of the coordinator's state ("": the SQLite file <see cref="DatabasePath"/>); see <see cref="DatacenterSettings"/>.</summary>
    public string PostgresConnection { get; init; } = "";

    /// <summary>The store the settings name: the PostgreSQL database, or the SQLite file.</summary>
    public IFederationStore OpenStore() =>
        PostgresConnection.Length > 0 ? new PostgresFederationStore(PostgresConnection) : new FederationStore(DatabasePath);

    public static FederationSettings Default { get; } = new();

    public static FederationSettings FromConfig(Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var s = new FederationSettings(
            section.GetBoolean("enabled", true),
            section.GetString("database-path", Default.DatabasePath),
            section.GetTimeSpan("heartbeat-interval", Default.HeartbeatInterval),
            section.GetTimeSpan("participant-timeout", Default.ParticipantTimeout),
            section.GetInt("max-frames-per-device", Default.MaxFramesPerDevice),
            section.GetInt("max-parallel-training", Default.MaxParallelTraining),
            section.GetTimeSpan("resume-grace", Default.ResumeGrace),
            section.GetInt("eval-limit", Default.EvalLimit),
            section.GetInt("validation-size", Default.ValidationSize))
        {
            JobStepTimeout = section.GetTimeSpan("job-step-timeout", Default.JobStepTimeout),
            JobStallTimeout = section.GetTimeSpan("job-stall-timeout", Default.JobStallTimeout),
        };
        if (s.JobStepTimeout <= TimeSpan.Zero) throw new ArgumentException($"edgeactors.federated.job-step-timeout = {s.JobStepTimeout}: must be > 0");
        if (s.JobStallTimeout < s.JobStepTimeout)
            throw new ArgumentException($"edgeactors.federated.job-stall-timeout = {s.JobStallTimeout}: must be at least job-step-timeout ({s.JobStepTimeout})");
        if (string.IsNullOrWhiteSpace(s.DatabasePath)) throw new ArgumentException("edgeactors.federated.database-path must not be empty");
        if (s.MaxFramesPerDevice < 1) throw new ArgumentException($"edgeactors.federated.max-frames-per-device = {s.MaxFramesPerDevice}: must be ≥ 1");
        if (s.ValidationSize is < 0 or >= TrainingImages) throw new ArgumentException($"edgeactors.federated.validation-size = {s.ValidationSize}: must be 0..{TrainingImages - 1}");
        if (s.MaxParallelTraining < 1) throw new ArgumentException($"edgeactors.federated.max-parallel-training = {s.MaxParallelTraining}: must be ≥ 1");
        if (s.HeartbeatInterval <= TimeSpan.Zero || s.ParticipantTimeout <= s.HeartbeatInterval)
            throw new ArgumentException("edgeactors.federated: heartbeat-interval must be > 0 and participant-timeout longer than it");
        return s;
    }
}
