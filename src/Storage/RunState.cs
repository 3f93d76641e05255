namespace EdgeActors.Storage;

/// <summary>
/// The state of a federated experiment or job inside the coordinator. On the wire (<c>ExperimentStatus.State</c>,
/// <c>JobStatus.State</c>) and in the federation store it stays the lower-case string of <see cref="RunStates.Wire"/>.
/// </summary>
public enum RunState
{
    Running,
    Done,
    Failed,
}

public static class RunStates
{
    /// <summary>The wire and store value: "running", "done", "failed".</summary>
    public static string Wire(this RunState state) => state switch
    {
        RunState.Running => "running",
        RunState.Done => "done",
        RunState.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };
}
