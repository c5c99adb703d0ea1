using Orleans.GoalGpt.Grains.Storage;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>Checks of ts_matches rows against the reference model and the invariants.</summary>
internal static class Expectations
{
    /// <summary>True when <see cref="RowsMatchModel"/> would pass.</summary>
    public static bool Matches(IReadOnlyDictionary<string, TsMatchRow> rows, IEnumerable<MatchScript> scripts)
    {
        try
        {
            RowsMatchModel(rows, scripts);
            return true;
        }
        catch (Xunit.Sdk.XunitException)
        {
            return false;
        }
    }

    public static void RowsMatchModel(IReadOnlyDictionary<string, TsMatchRow> rows, IEnumerable<MatchScript> scripts)
    {
        foreach (var script in scripts)
        {
            Assert.True(rows.TryGetValue(script.Id, out var row), $"{script.Id}: no row in ts_matches");
            var e = ExpectedMatch.Of(script);
            var m = $"{script.Id}: ";
            Assert.True(e.Status == row!.StatusId, m + $"status {row.StatusId}, expected {e.Status}");
            Assert.True(e.StatusSource == row.StatusSource, m + $"status_source {row.StatusSource}, expected {e.StatusSource}");
            Assert.True(e.StatusTs == row.StatusTimestamp, m + $"status_timestamp {row.StatusTimestamp}, expected {e.StatusTs}");
            Assert.True(e.Home == row.HomeScore, m + $"home_score {row.HomeScore}, expected {e.Home}");
            Assert.True(e.HomeSource == row.HomeScoreSource, m + $"home_score_source {row.HomeScoreSource}, expected {e.HomeSource}");
            Assert.True(e.Away == row.AwayScore, m + $"away_score {row.AwayScore}, expected {e.Away}");
            Assert.True(e.Kickoff1 == row.FirstHalfKickoffTs, m + $"first_half_kickoff_ts {row.FirstHalfKickoffTs}, expected {e.Kickoff1}");
            Assert.True(e.Kickoff2 == row.SecondHalfKickoffTs, m + $"second_half_kickoff_ts {row.SecondHalfKickoffTs}, expected {e.Kickoff2}");
            Assert.True(e.MatchTime == row.MatchTime, m + $"match_time {row.MatchTime}, expected {e.MatchTime}");
            Assert.NotNull(row.HomeScoreTimestamp);
            Assert.NotNull(row.AwayScoreSource);
            MinuteIsDerived(row);
        }
    }

    /// <summary>The minute equals the rule's value at the time it was computed; never NULL when live.</summary>
    public static void MinuteIsDerived(TsMatchRow row)
    {
        var m = $"{row.ExternalId}: ";
        if (row.StatusId is 2 or 3 or 4 or 5 or 7)
        {
            Assert.True(row.Minute is not null && row.MinuteSource is not null && row.MinuteTimestamp is not null, m + "live with a NULL minute");
            Assert.Equal("computed", row.MinuteSource);
        }

        var at = (row.MinuteTimestamp ?? 0) / 1000;
        var (minute, text) = row.StatusId switch
        {
            2 when row.FirstHalfKickoffTs is long k => Running(at - k, 1, 45),
            3 => (45, "HT"),
            4 when row.SecondHalfKickoffTs is long k => Running(at - k, 46, 90),
            8 => ((int?)null, "FT"),
            _ => (row.Minute, row.MinuteText),
        };
        Assert.True(minute == row.Minute && text == row.MinuteText, m + $"minute {row.Minute} '{row.MinuteText}', expected {minute} '{text}' at {at}");
    }

    private static (int?, string) Running(long elapsedS, int first, int cap)
    {
        var raw = elapsedS <= 0 ? first : (int)(elapsedS / 60) + first;
        return raw > cap ? (cap, $"{cap}+{raw - cap}") : (raw, raw.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
