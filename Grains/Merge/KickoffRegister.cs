using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>
/// Domain rule 3 for two copies of one kick-off register (grain storage and the ts_matches row, read back
/// at a take-over): set once, so the database's value stands unless the other is an admin correction that
/// is newer than any admin value the database holds. The upsert's guard decides the same way.
/// </summary>
public static class KickoffRegister
{
    /// <summary>Which of <paramref name="held"/> and <paramref name="stored"/> (the database's) is the kick-off.</summary>
    public static Provenanced<long>? Merge(Provenanced<long>? held, Provenanced<long>? stored)
    {
        if (held is null) return stored;
        if (stored is null) return held;
        return IsNewerAdmin(held, stored) ? held : stored;
    }

    /// <summary>An admin value replaces a non-admin one, or an older admin one.</summary>
    public static bool IsNewerAdmin(Provenanced<long> incoming, Provenanced<long> stored) =>
        incoming.Source == UpdateSource.Admin
        && (stored.Source != UpdateSource.Admin || incoming.ObservedAtMs > stored.ObservedAtMs);
}
