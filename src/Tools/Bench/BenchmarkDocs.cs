namespace EdgeActors.Tools.Bench;

/// <summary>Each bench command owns one marked block of docs/benchmarks.md and rewrites only that block.</summary>
public static class BenchmarkDocs
{
    /// <param name="block">The whole block, from <paramref name="begin"/> to <paramref name="end"/> inclusive.</param>
    public static void WriteBlock(string path, string begin, string end, string block)
    {
        var existing = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n\n";
        var start = existing.IndexOf(begin, StringComparison.Ordinal);
        var stop = existing.IndexOf(end, StringComparison.Ordinal);
        var updated = start >= 0 && stop > start
            ? existing[..start] + block.TrimEnd('\n') + existing[(stop + end.Length)..]
            : existing.TrimEnd('\n') + "\n\n" + block;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, updated);
        Console.WriteLine($"bench: figures written to {path}");
    }
}
