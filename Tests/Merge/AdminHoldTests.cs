using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Xunit;
using static Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>
/// An admin value "wins over every other source": a poll replaces it only when the provider changed the match
/// after the correction (a strictly newer provider_update_time than the match held); a push replaces it when
/// observed after it (a push is a change by itself).
/// </summary>
public sealed class AdminHoldTests
{
    private const long Put = NowS - 600;

    private static MatchUpdate Poll(long observedAtMs, int status, int home, long put) =>
        Score(UpdateSource.Api, observedAtMs, status, home, 0) with { ProviderUpdateTime = put };

    private static FieldResult Field(MergeOutcome o, string name) => Assert.Single(o.Result.Fields, f => f.Field == name);

    [Fact]
    public void A_corrected_score_stands_against_later_polls_of_the_same_provider_time_and_yields_to_a_newer_one()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Poll(Now - 30_000, 2, 2, Put), Now);
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 20_000, HomeScores = Side(1) }, Now);
        Assert.Equal((1, UpdateSource.Admin), (state.HomeScore!.Value, state.HomeScore.Source));

        var held = FieldMerge.Apply(state, Poll(Now - 18_000, 2, 2, Put), Now);
        Assert.Equal(RejectReasons.AdminHeld, Field(held, "home_score").Reason);
        Assert.Equal(RejectReasons.AdminHeld, Field(held, "home_scores").Reason); // the array would show the old score
        Assert.Equal(1, state.HomeScore!.Value);
        Assert.Equal(1, state.HomeScores!.Value[0]);
        FieldMerge.Apply(state, Score(UpdateSource.Watchdog, Now - 16_000, 2, 2, 0), Now); // no provider time: no change shown
        Assert.Equal(1, state.HomeScore!.Value);

        var changed = FieldMerge.Apply(state, Poll(Now - 10_000, 2, 3, Put + 30), Now);
        Assert.Equal(FieldOutcome.Applied, Field(changed, "home_score").Outcome);
        Assert.Equal((3, UpdateSource.Api), (state.HomeScore!.Value, state.HomeScore.Source));
    }

    [Fact]
    public void A_status_corrected_forward_is_not_reverted_by_two_polls_five_seconds_apart_of_the_same_provider_time()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Poll(Now - 30_000, 4, 0, Put), Now);
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 20_000, StatusId = 8 }, Now);
        FieldMerge.Apply(state, Poll(Now - 15_000, 4, 0, Put), Now);
        var second = FieldMerge.Apply(state, Poll(Now - 9_000, 4, 0, Put), Now);

        Assert.Equal((8, UpdateSource.Admin), (state.Status!.Value, state.Status.Source));
        Assert.Equal(RejectReasons.AdminHeld, Field(second, "status_id").Reason);
        Assert.False(state.RepollRequested); // nothing to confirm: the provider has not moved
    }

    [Fact]
    public void A_push_observed_after_the_correction_replaces_it()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Poll(Now - 30_000, 2, 2, Put), Now);
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 20_000, HomeScores = Side(1) }, Now);
        var before = FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now - 21_000, 2, 2, 0), Now); // pushed before it
        Assert.Equal(1, state.HomeScore!.Value);
        Assert.Equal(RejectReasons.Stale, Field(before, "home_score").Reason);
        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now - 5_000, 2, 2, 0), Now);
        Assert.Equal((2, UpdateSource.Mqtt), (state.HomeScore!.Value, state.HomeScore.Source));
    }
}
