using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;

namespace Orleans.GoalGpt.Grains.Changes;

/// <summary>
/// The values of the fields a change event is about (read API: "each change of a tracked field"), taken
/// before and after an update. Only values count: a poll that confirms what is known (newer observation
/// time, same value) is not a change, else every live match would send an event every 2 s.
/// </summary>
public readonly record struct TrackedFields(
    int? Status, int? HomeScore, int? AwayScore, int? Minute, string? MinuteText,
    long? FirstHalfKickoff, long? SecondHalfKickoff, long? OvertimeKickoff,
    int[]? HomeScores, int[]? AwayScores,
    long? MatchTime, string? CompetitionId, string? HomeTeamId, string? AwayTeamId, long? StaleSince)
{
    public static TrackedFields Of(MatchState s) => new(
        s.Status?.Value, s.HomeScore?.Value, s.AwayScore?.Value, s.Minute?.Value, s.MinuteText,
        s.FirstHalfKickoff?.Value, s.SecondHalfKickoff?.Value, s.OvertimeKickoff?.Value,
        s.HomeScores?.Value, s.AwayScores?.Value,
        s.MatchTime?.Value, s.CompetitionId?.Value, s.HomeTeamId?.Value, s.AwayTeamId?.Value, s.StaleSince);

    /// <summary>The column names whose values differ from <paramref name="before"/> to <paramref name="after"/>; null when none.</summary>
    public static List<string>? Changed(in TrackedFields before, in TrackedFields after)
    {
        List<string>? changed = null;
        void Add(bool differs, string name)
        {
            if (differs) (changed ??= []).Add(name);
        }

        Add(before.Status != after.Status, "status_id");
        Add(before.HomeScore != after.HomeScore, "home_score");
        Add(before.AwayScore != after.AwayScore, "away_score");
        Add(before.Minute != after.Minute || !string.Equals(before.MinuteText, after.MinuteText, StringComparison.Ordinal), "minute");
        Add(before.FirstHalfKickoff != after.FirstHalfKickoff, "first_half_kickoff_ts");
        Add(before.SecondHalfKickoff != after.SecondHalfKickoff, "second_half_kickoff_ts");
        Add(before.OvertimeKickoff != after.OvertimeKickoff, "overtime_kickoff_ts");
        Add(!Same(before.HomeScores, after.HomeScores), "home_scores");
        Add(!Same(before.AwayScores, after.AwayScores), "away_scores");
        Add(before.MatchTime != after.MatchTime, "match_time");
        Add(!string.Equals(before.CompetitionId, after.CompetitionId, StringComparison.Ordinal), "competition_id");
        Add(!string.Equals(before.HomeTeamId, after.HomeTeamId, StringComparison.Ordinal), "home_team_id");
        Add(!string.Equals(before.AwayTeamId, after.AwayTeamId, StringComparison.Ordinal), "away_team_id");
        Add(before.StaleSince != after.StaleSince, "stale_since");
        return changed;
    }

    private static bool Same(int[]? a, int[]? b) => ReferenceEquals(a, b) || (a is not null && b is not null && a.AsSpan().SequenceEqual(b));
}
