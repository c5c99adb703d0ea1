using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.Runtime;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>What a match grain keeps across activations, and where it starts from.</summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class MatchGrainLifecycleTests : IAsyncLifetime
{
    private GoalGptCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await GoalGptCluster.StartAsync(silos: 1);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private async Task DeactivateAllAsync()
    {
        var management = _cluster.Grains.GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_reactivated_grain_resumes_with_its_pending_regression_confirmation()
    {
        var grain = _cluster.Grains.GetGrain<IMatchGrain>("life-regression");
        var t = Now - 60_000;
        await grain.Apply(Merge.Updates.Status(UpdateSource.Api, t, 4));
        var first = await grain.Apply(Merge.Updates.Status(UpdateSource.Api, t + 1_000, 2));
        Assert.Equal(RejectReasons.UnconfirmedRegression, Assert.Single(first.Fields).Reason);
        Assert.Equal(2, (await grain.GetSnapshot()).PendingRegressionStatus);

        await DeactivateAllAsync();

        // 6 s after the first sighting: confirmed only if the candidate survived deactivation.
        var second = await grain.Apply(Merge.Updates.Status(UpdateSource.Api, t + 7_000, 2));
        Assert.Equal(FieldOutcome.Applied, Assert.Single(second.Fields).Outcome);
        Assert.Equal(2, (await grain.GetSnapshot()).Status!.Value);
        await _cluster.PersistAndFlushAsync(["life-regression"]);
        var row = (await _cluster.Database.Table.ReadAsync("life-regression"))!;
        Assert.Equal((2, true), (row.StatusId, row.StatusConfirmed)); // the database lets a confirmed regression through
    }

    [Fact]
    public async Task A_reactivated_grain_resumes_with_its_pending_score_drop_confirmation()
    {
        var grain = _cluster.Grains.GetGrain<IMatchGrain>("life-score-drop");
        var t = Now - 60_000;
        await grain.Apply(Merge.Updates.Score(UpdateSource.Mqtt, t, 2, 1, 0, phaseKickoff: t / 1000 - 600));
        Assert.True(await grain.Persist()); // saved: from here only the pending drop makes the state differ
        var lagging = await grain.Apply(Merge.Updates.Score(UpdateSource.Api, t + 2_000, 2, 0, 0));
        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, lagging.Fields.Single(f => f.Field == "home_score").Reason);
        await _cluster.FlushAsync();

        await DeactivateAllAsync();

        // 10 s after the first sighting and 12 s after the push: confirmed only if the pending drop
        // survived deactivation (otherwise this poll would be a first sighting, held again).
        var second = await grain.Apply(Merge.Updates.Score(UpdateSource.Api, t + 12_000, 2, 0, 0));
        Assert.Equal(FieldOutcome.Applied, second.Fields.Single(f => f.Field == "home_score").Outcome);
        Assert.Equal((0, UpdateSource.Api), ((await grain.GetSnapshot()).HomeScore!.Value, (await grain.GetSnapshot()).HomeScore!.Source));
        await _cluster.PersistAndFlushAsync(["life-score-drop"]);
        Assert.Equal(0, await _cluster.Database.ScalarAsync("SELECT home_score FROM ts_matches WHERE external_id = 'life-score-drop'"));
    }

    [Fact]
    public async Task A_reactivated_grain_keeps_the_not_started_sighting_a_late_kickoff_estimate_rests_on()
    {
        // Scheduled 20 min ago, still delayed 5½ min ago: only grain state can keep that sighting.
        var grain = _cluster.Grains.GetGrain<IMatchGrain>("life-late-kickoff");
        var delayedAt = Now - 330_000;
        await grain.Apply(new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = Now - 1_800_000, MatchTime = Now / 1000 - 20 * 60 });
        await grain.Apply(Merge.Updates.Status(UpdateSource.Api, delayedAt, 9));
        await _cluster.FlushAsync();

        await DeactivateAllAsync();

        // Then live with kick-off 0: the estimate starts at the sighting, not at match_time (minute 21).
        var lowest = (Now - delayedAt) / 60_000 + 1;
        await grain.Apply(Merge.Updates.Score(UpdateSource.Mqtt, Now - 1_000, 2, 0, 0, phaseKickoff: 0));
        var minute = (await grain.GetSnapshot()).Minute!.Value;
        var highest = (Now - delayedAt) / 60_000 + 1;
        Assert.InRange((long)(minute ?? -1), lowest, highest);
    }

    [Fact]
    public async Task A_reactivated_grain_keeps_its_provenance_and_refuses_what_is_older()
    {
        var grain = _cluster.Grains.GetGrain<IMatchGrain>("life-provenance");
        var t = Now - 30_000;
        await grain.Apply(Merge.Updates.Score(UpdateSource.Mqtt, t, 2, 2, 1, phaseKickoff: t / 1000 - 600));
        await _cluster.FlushAsync();
        await DeactivateAllAsync();

        var stale = await grain.Apply(Merge.Updates.Score(UpdateSource.Api, t - 5_000, 2, 0, 0));
        Assert.Equal(RejectReasons.Stale, stale.Fields.Single(f => f.Field == "home_score").Reason);
        var snapshot = await grain.GetSnapshot();
        Assert.Equal((2, UpdateSource.Mqtt, t), (snapshot.HomeScore!.Value, snapshot.HomeScore.Source, snapshot.HomeScore.ObservedAtMs));
        Assert.Equal(t / 1000 - 600, snapshot.FirstHalfKickoffTs);
    }

    [Fact]
    public async Task Without_grain_state_a_grain_starts_from_the_row_the_old_system_wrote()
    {
        var t = Now - 120_000;
        await _cluster.Database.Table.UpsertAsync([new TsMatchRow
        {
            ExternalId = "life-legacy",
            StatusId = 4, StatusSource = "api", StatusTimestamp = t,
            HomeScore = 3, HomeScoreSource = "api", HomeScoreTimestamp = t,
            AwayScore = 1, AwayScoreSource = "api", AwayScoreTimestamp = t,
            SecondHalfKickoffTs = t / 1000 - 900,
        }]);

        var grain = _cluster.Grains.GetGrain<IMatchGrain>("life-legacy");
        var snapshot = await grain.GetSnapshot();
        Assert.Equal(4, snapshot.Status!.Value);
        Assert.Equal((3, 1), (snapshot.HomeScore!.Value, snapshot.AwayScore!.Value));
        Assert.Equal(t / 1000 - 900, snapshot.SecondHalfKickoffTs);

        var blocked = await grain.Apply(Merge.Updates.Score(UpdateSource.Mqtt, Now, 4, 3, 1, phaseKickoff: t / 1000 - 300));
        Assert.Equal(RejectReasons.KickoffOverwriteBlocked, blocked.Fields.Single(f => f.Field == "second_half_kickoff_ts").Reason);
    }

    [Fact]
    public async Task A_malformed_match_id_is_rejected_and_the_grain_keeps_serving()
    {
        var grain = _cluster.Grains.GetGrain<IMatchGrain>("bad id with spaces");
        var result = await grain.Apply(Merge.Updates.Status(UpdateSource.Api, Now, 2));
        Assert.Equal(RejectReasons.Malformed, Assert.Single(result.Fields).Reason);
        Assert.Null((await grain.GetSnapshot()).Status);
    }
}
