using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>Which source wins an exact tie of observation times, per kind of field.</summary>
public static class SourcePriority
{
    /// <summary>Scores: admin &gt; mqtt &gt; watchdog &gt; api (watchdog is not named by the rules; it is a fresher api poll).</summary>
    public static int ForScore(UpdateSource s) => s switch
    {
        UpdateSource.Admin => 4,
        UpdateSource.Mqtt => 3,
        UpdateSource.Watchdog => 2,
        UpdateSource.Api => 1,
        _ => 0,
    };

    /// <summary>Status: admin &gt; api &gt; watchdog &gt; mqtt.</summary>
    public static int ForStatus(UpdateSource s) => s switch
    {
        UpdateSource.Admin => 4,
        UpdateSource.Api => 3,
        UpdateSource.Watchdog => 2,
        UpdateSource.Mqtt => 1,
        _ => 0,
    };

    /// <summary>Provider metadata and raw arrays: admin &gt; api &gt; watchdog &gt; mqtt.</summary>
    public static int ForMetadata(UpdateSource s) => ForStatus(s);

    /// <summary>
    /// Last-writer-wins: newer observation wins; on an exact tie the higher priority; on a tie of
    /// both the stored value stays.
    /// </summary>
    public static bool Wins<T>(long observedAtMs, UpdateSource source, Provenanced<T>? stored, Func<UpdateSource, int> priority) =>
        stored is null
        || observedAtMs > stored.ObservedAtMs
        || (observedAtMs == stored.ObservedAtMs && priority(source) > priority(stored.Source));
}
