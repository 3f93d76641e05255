namespace EdgeActors.Tests.Registry;

/// <summary>A registry database path in a fresh temporary directory, deleted on dispose.</summary>
internal sealed class TempDatabase : IDisposable
{
    public string Directory { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgeactors-registry-" + Guid.NewGuid().ToString("N"));

    /// <summary>Inside a subdirectory that does not exist yet (the store must create it).</summary>
    public string Path => System.IO.Path.Combine(Directory, "nested", "registry.db");

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
