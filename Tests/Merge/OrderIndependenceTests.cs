using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Xunit;
using static Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>
/// Property: for updates with distinct observation times and no status regressions, the state
/// does not depend on the delivery order (domain rules, invariant 1).
/// </summary>
public sealed class OrderIndependenceTests
{
    public static IEnumerable<object[]> Seeds() => Enumerable.Range(1, 20).Select(i => new object[] { i * 7919 });

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Many_random_orders_of_the_same_updates_end_in_the_same_state(int seed)
    {
        var updates = MatchTimeline.Generate(new Random(seed), count: 40);
        var reference = Fold(updates);

        var rng = new Random(seed ^ 0x5eed);
        for (var order = 0; order < 50; order++)
        {
            var shuffled = updates.OrderBy(_ => rng.Next()).ToList();
            var withDuplicates = shuffled.Concat(shuffled.Where(_ => rng.Next(4) == 0)).ToList();
            Assert.Equal(reference, Fold(withDuplicates));
        }
    }

    private static TsMatchRow Fold(IEnumerable<MatchUpdate> updates)
    {
        var state = new MatchState();
        foreach (var u in updates) FieldMerge.Apply(state, u, Now);
        var row = TsMatchRow.From("m1", state);
        // Arrays compare by reference in records: compare their contents through a checksum. A kick-off
        // time is set once by the first snapshot accepted; which source that was depends on the
        // order when an older snapshot is refused as stale as a whole (and so is its observation time),
        // so only its value is compared.
        return row with
        {
            HomeScores = null, AwayScores = null, HomePenaltyScore = Sum(row.HomeScores), AwayPenaltyScore = Sum(row.AwayScores),
            FirstHalfKickoffSource = null, SecondHalfKickoffSource = null, OvertimeKickoffSource = null,
            FirstHalfKickoffTimestamp = null, SecondHalfKickoffTimestamp = null, OvertimeKickoffTimestamp = null,
        };
    }

    private static int? Sum(int[]? values) => values?.Select((v, i) => v * (i + 1) * 1000).Sum();
}

/// <summary>A realistic match seen by several sources: monotone status, goals, a VAR correction.</summary>
internal static class MatchTimeline
{
    public static List<MatchUpdate> Generate(Random rng, int count)
    {
        var kickoff1 = NowS - 100 * 60;
        var kickoff2 = kickoff1 + 60 * 60;
        var start = kickoff1 * 1000;
        var span = Now - 60_000 - start;
        var times = new SortedSet<long>();
        while (times.Count < count) times.Add(start + (long)(rng.NextDouble() * span));

        var list = new List<MatchUpdate>();
        var home = 0;
        var away = 0;
        foreach (var t in times)
        {
            var elapsed = (t / 1000) - kickoff1;
            var status = elapsed < 45 * 60 ? 2 : elapsed < 60 * 60 ? 3 : 4;
            if (rng.Next(5) == 0) home++;
            if (rng.Next(7) == 0) away++;
            if (home > 0 && rng.Next(15) == 0) home--; // VAR
            var source = (UpdateSource)rng.Next(0, 2) == UpdateSource.Api ? UpdateSource.Api : UpdateSource.Mqtt;
            if (rng.Next(10) == 0) source = UpdateSource.Watchdog;
            var phaseKickoff = status == 2 ? kickoff1 : status == 4 ? kickoff2 : 0;
            list.Add(new MatchUpdate
            {
                Source = source,
                ObservedAtMs = t,
                StatusId = status,
                HomeScores = Side(home, corners: rng.Next(-1, 8)),
                AwayScores = Side(away),
                PhaseKickoffTs = rng.Next(3) == 0 ? 0 : phaseKickoff,
                MatchTime = source == UpdateSource.Mqtt ? null : kickoff1,
                ProviderUpdateTime = source == UpdateSource.Mqtt ? null : t / 1000,
                CompetitionId = source == UpdateSource.Mqtt ? null : "comp_1",
            });
        }

        return list;
    }
}
