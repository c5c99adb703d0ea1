using System.Collections.Concurrent;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>
/// Drops exact MQTT redeliveries: the same delta for the same match received again within
/// <see cref="Window"/>. Nothing else: a repeated delta received later is a new observation (its
/// receipt time is newer than, say, a poll that came in between) and the grain decides it; a plain
/// repeat is a no-op there anyway. Memory stays bounded: entries older than the window are dropped.
/// </summary>
public sealed class RedeliveryFilter(TimeSpan window, int maxRemembered = 200_000)
{
    private readonly ConcurrentDictionary<string, (int Hash, long AtMs)> _last = new(StringComparer.Ordinal);

    public TimeSpan Window { get; } = window;

    /// <summary>True when <paramref name="update"/> of <paramref name="matchId"/> is a redelivery to drop.</summary>
    public bool IsRedelivery(string matchId, MatchUpdate update, long receivedAtMs)
    {
        var hash = DeltaHash(update);
        var windowMs = (long)Window.TotalMilliseconds;
        if (_last.TryGetValue(matchId, out var last) && last.Hash == hash && receivedAtMs - last.AtMs <= windowMs) return true;
        if (_last.Count >= maxRemembered) Prune(receivedAtMs - windowMs);
        _last[matchId] = (hash, receivedAtMs);
        return false;
    }

    private void Prune(long olderThanMs)
    {
        foreach (var (id, entry) in _last)
        {
            if (entry.AtMs < olderThanMs) _last.TryRemove(id, out _);
        }

        if (_last.Count >= maxRemembered) _last.Clear(); // all recent: forgetting lets at most one repeat through
    }

    private static int DeltaHash(MatchUpdate u)
    {
        var h = new HashCode();
        h.Add(u.StatusId);
        h.Add(u.PhaseKickoffTs);
        foreach (var s in u.HomeScores ?? []) h.Add(s);
        h.Add(-1000);
        foreach (var s in u.AwayScores ?? []) h.Add(s);
        return h.ToHashCode();
    }
}
