using System.Net;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Merge;
using Xunit;

namespace Orleans.GoalGpt.Tests.Admin;

/// <summary>
/// Corrections that stand against later polls, stale flags for frozen matches, and corrections handed over
/// after a refused row, on the admin tests' two-silo cluster (one cluster: part of <c>AdminAuditTests</c>).
/// </summary>
public sealed partial class AdminAuditTests
{
    [Fact]
    public async Task A_correction_beats_a_poll_stamped_by_a_clock_ahead_and_stands_against_the_next_poll_of_the_same_provider_time()
    {
        const string id = "adm-hold";
        var now = NowMs;
        var put = now / 1000 - 30;
        var grain = f.Grains.GetGrain<IMatchGrain>(id);
        // A silo whose clock is a minute ahead observed the goal.
        Assert.True((await grain.Apply(Updates.Score(UpdateSource.Api, now + 60_000, 2, 2, 0, phaseKickoff: now / 1000 - 1200) with { ProviderUpdateTime = put })).AnyApplied);
        await WaitAsync(async () => (await f.Db.Table.ReadAsync(id))?.HomeScore == 2, "the first row");

        var (status, answer) = await PostAsync(f.A, id, """{"reason": "goal disallowed", "fields": {"home_score": 1}}""", f.Key);
        Assert.True(status == HttpStatusCode.OK, answer.ToString());
        Assert.Equal("applied", answer.GetProperty("fields").GetProperty("home_score").GetProperty("outcome").GetString());
        var row = await f.Db.Table.ReadAsync(id);
        Assert.Equal((1, "admin"), (row!.HomeScore, row.HomeScoreSource));

        // The next poll still shows the provider's old view: the correction stands.
        var poll = await grain.Apply(Updates.Score(UpdateSource.Api, now + 62_000, 2, 2, 0) with { ProviderUpdateTime = put });
        Assert.Contains(poll.Fields, x => x is { Field: "home_score", Reason: RejectReasons.AdminHeld });
        Assert.Equal(1, (await grain.GetSnapshot()).HomeScore!.Value);
    }

    [Fact]
    public async Task A_live_match_the_provider_keeps_returning_unchanged_is_flagged_and_only_a_change_clears_it()
    {
        const string id = "adm-frozen";
        var now = NowMs;
        var put = now / 1000 - 600;
        var grain = f.Grains.GetGrain<IMatchGrain>(id);
        MatchUpdate Listing(long at, int home, long providerTime) => Updates.Score(UpdateSource.Api, at, 2, home, 0, phaseKickoff: now / 1000 - 1200) with { ProviderUpdateTime = providerTime };
        Assert.True((await grain.Apply(Listing(now - 600_000, 0, put))).AnyApplied);
        await grain.Apply(Listing(NowMs, 0, put)); // re-listed just now, unchanged for ten minutes
        TsMatchRow? row = null;
        await WaitAsync(async () => (row = await f.Db.Table.ReadAsync(id))?.StaleSince is not null, "the watchdog's flag on a frozen match");
        Assert.Equal(2, row!.StatusId);

        var relisted = await grain.Apply(Listing(NowMs, 0, put));
        Assert.DoesNotContain(relisted.Fields, x => x.Field == "stale_since");
        Assert.NotNull((await grain.GetSnapshot()).StaleSince);

        var changed = await grain.Apply(Listing(NowMs, 0, put + 600));
        Assert.Contains(changed.Fields, x => x is { Field: "stale_since", Outcome: FieldOutcome.Applied });
        Assert.Null((await grain.GetSnapshot()).StaleSince);
    }

    [Fact]
    public async Task A_correction_refused_for_its_epoch_lands_later_with_its_audit_record()
    {
        const string id = "adm-refused";
        var now = NowMs;
        var grain = f.Grains.GetGrain<IMatchGrain>(id);
        Assert.True((await grain.Apply(Updates.Score(UpdateSource.Api, now - 10_000, 2, 0, 0, phaseKickoff: now / 1000 - 1200))).AnyApplied);
        await WaitAsync(async () => (await f.Db.Table.ReadAsync(id))?.StatusId == 2, "the first row");
        // Another owner's epoch, as a take-over would draw it.
        await f.Db.ExecuteAsync($"UPDATE ts_matches SET fence_token = fence_token + 1 WHERE external_id = '{id}'");

        var (status, answer) = await PostAsync(f.B, id, """{"reason": "late goal from the referee report", "fields": {"away_score": 3}}""", f.Key);
        Assert.True(status == HttpStatusCode.ServiceUnavailable, answer.ToString());

        await WaitAsync(async () => (await f.Db.Table.ReadAsync(id))?.AwayScore == 3, "the correction, written by the next activation");
        var history = await HistoryAsync(f.A, id, f.Key);
        Assert.Contains(history, e => e.Kind == "admin_correction" && e.Reason == "late goal from the referee report" && e.KeyName == "ops");
    }
}
