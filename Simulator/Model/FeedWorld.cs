namespace Orleans.GoalGpt.Simulator.Model;

/// <summary>The simulated provider's world: every match's script, queried at a moment.</summary>
public sealed class FeedWorld(IReadOnlyList<MatchScript> matches)
{
    /// <summary>How long an ended match stays in <c>detail_live</c>.</summary>
    private const long RecentlyEnded = 2 * 3600;

    public IReadOnlyList<MatchScript> Matches { get; } = matches;

    /// <summary>The matches <c>detail_live</c> lists at <paramref name="t"/>: live, delayed, interrupted, or ended lately.</summary>
    public IEnumerable<(MatchScript Match, MatchTruth State)> DetailLive(long t)
    {
        foreach (var m in Matches)
        {
            if (m.StateAt(t) is not { } s) continue;
            if (s.StatusId is 2 or 3 or 4 or 5 or 7 or 9 or 10 || (s.StatusId == 8 && t - m.EndedAt < RecentlyEnded)) yield return (m, s);
        }
    }

    /// <summary>The matches changed since <paramref name="since"/> (inclusive), oldest change first.</summary>
    public IReadOnlyList<(MatchScript Match, MatchTruth State)> ChangedSince(long since, long t) => Matches
        .Select(m => (Match: m, State: m.StateAt(t)))
        .Where(x => x.State is not null && x.State.UpdatedAt >= since)
        .Select(x => (x.Match, x.State!))
        .OrderBy(x => x.Item2.UpdatedAt).ThenBy(x => x.Match.Id, StringComparer.Ordinal)
        .ToList();

    /// <summary>The matches scheduled on <paramref name="day"/> (UTC) that are listed at <paramref name="t"/>.</summary>
    public IEnumerable<(MatchScript Match, MatchTruth State)> Diary(DateOnly day, long t)
    {
        var from = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).ToUnixTimeSeconds();
        foreach (var m in Matches)
        {
            if (m.MatchTime >= from && m.MatchTime < from + 86400 && m.StateAt(t) is { } s) yield return (m, s);
        }
    }
}
