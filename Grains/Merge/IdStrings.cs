using System.Collections.Concurrent;

namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>
/// Competition and team ids as the grains keep them: a few thousand distinct values shared by up to a million tracked
/// matches, one string each instead of one per match (memory per match: issue 13). Bounded: past <see cref="MaxKept"/>
/// distinct ids a new one is kept as it came.
/// </summary>
public static class IdStrings
{
    public const int MaxKept = 200_000;
    private static readonly ConcurrentDictionary<string, string> Kept = new(StringComparer.Ordinal);
    private static int _count;

    /// <summary>The one string kept for <paramref name="id"/>'s value (<paramref name="id"/> itself the first time).</summary>
    public static string Shared(string id)
    {
        if (Kept.TryGetValue(id, out var kept)) return kept;
        if (Volatile.Read(ref _count) >= MaxKept) return id;
        kept = Kept.GetOrAdd(id, id);
        if (ReferenceEquals(kept, id)) Interlocked.Increment(ref _count);
        return kept;
    }
}
