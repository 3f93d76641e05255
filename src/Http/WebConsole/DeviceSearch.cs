namespace EdgeActors.Http.WebConsole;

/// <summary>The console's device search (docs/console.md): plain functions, no Akka.</summary>
public static class DeviceSearch
{
    /// <summary>Most matches one search returns (and asks the entities about).</summary>
    public const int MaxLimit = 50;

    /// <summary>Default number of matches.</summary>
    public const int DefaultLimit = 20;

    /// <summary>
    /// The ids starting with <paramref name="prefix"/> (ordinal, case-sensitive like device ids), sorted, distinct, at
    /// most <paramref name="limit"/>; <c>Truncated</c> when more matched.
    /// </summary>
    public static (IReadOnlyList<string> Matches, bool Truncated) Match(IEnumerable<string> ids, string prefix, int limit)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(prefix);
        if (limit < 1) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must be at least 1");
        var sorted = new SortedSet<string>(StringComparer.Ordinal); // the limit + 1 smallest: one more tells truncation
        foreach (var id in ids)
        {
            if (!id.StartsWith(prefix, StringComparison.Ordinal)) continue;
            sorted.Add(id);
            if (sorted.Count > limit + 1) sorted.Remove(sorted.Max!);
        }
        return (sorted.Take(limit).ToArray(), sorted.Count > limit);
    }

    /// <summary>The <c>limit</c> query value: empty → <see cref="DefaultLimit"/>; else 1..<see cref="MaxLimit"/>, or why not.</summary>
    public static (int Limit, string? Error) ParseLimit(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return (DefaultLimit, null);
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1 || n > MaxLimit)
            return (0, $"limit: '{text}' is not a number from 1 to {MaxLimit}");
        return (n, null);
    }
}
