using EdgeActors.Actors.Inference;
using EdgeActors.Inference.Runtime;

namespace EdgeActors.Actors.Registry;

/// <summary>DistributedPubSub topics of the model registry.</summary>
public static class ModelTopics
{
    /// <summary><see cref="EdgeActors.Messages.ModelActivated"/> announcements.</summary>
    public const string Models = "edgeactors-models";
}

/// <summary>
/// Model registry settings, bound from <c>edgeactors.registry</c>. <see cref="ValidationRuntime"/> is the ONNX Runtime
/// configuration used to validate published models: set it to the node's own runtime settings (the execution provider
/// is decided once per process, see <see cref="ExecutionProvider"/>).
/// </summary>
public sealed record RegistrySettings(string DatabasePath, int ChunkBytes = RegistrySettings.MaxChunkBytes)
{
    public const string DefaultDatabasePath = "registry.db";
    /// <summary>Largest chunk the registry ever sends (well under the 4 MiB remoting frame).</summary>
    public const int MaxChunkBytes = 256 * 1024;

    public InferenceRuntimeSettings ValidationRuntime { get; init; } = InferenceRuntimeSettings.Default;

    /// <summary>The PostgreSQL database of the registry ("": the SQLite file <see cref="DatabasePath"/>); see <see cref="DatacenterSettings"/>.</summary>
    public string PostgresConnection { get; init; } = "";

    public static RegistrySettings Default { get; } = new(DefaultDatabasePath);

    public static RegistrySettings FromConfig(Akka.Configuration.Config? section)
    {
        if (section is null || section.IsEmpty) return Default;
        var path = section.GetString("database-path", DefaultDatabasePath);
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("edgeactors.registry.database-path must not be empty");
        var chunk = section.GetByteSize("chunk-bytes", MaxChunkBytes) ?? MaxChunkBytes;
        if (chunk < 1 || chunk > MaxChunkBytes)
            throw new ArgumentException($"edgeactors.registry.chunk-bytes must be within 1..{MaxChunkBytes}, got {chunk}");
        return new RegistrySettings(path, (int)chunk);
    }
}
