using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Xunit;
using static Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Merge;

/// <summary>Rule 6: stale_since is cleared by an observation showing a provider change, not by an unchanged re-listing.</summary>
public sealed class StaleFlagTests
{
    private const long Put = NowS - 900;

    private static MatchUpdate Poll(long observedAtMs, int home, long put) =>
        Score(UpdateSource.Api, observedAtMs, 2, home, 0) with { ProviderUpdateTime = put };

    private static MatchState Flagged()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Poll(Now - 900_000, 1, Put), Now);
        state.StaleSince = NowS - 300;
        return state;
    }

    [Fact]
    public void An_unchanged_re_listing_does_not_clear_the_flag()
    {
        var state = Flagged();
        var o = FieldMerge.Apply(state, Poll(Now - 1_000, 1, Put), Now);
        Assert.Equal(NowS - 300, state.StaleSince);
        Assert.DoesNotContain(o.Result.Fields, f => f.Field == "stale_since");
        FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 500, 2, 1, 0), Now); // a diary line without a provider time
        Assert.Equal(NowS - 300, state.StaleSince);
    }

    [Theory]
    [InlineData(true, 1)]  // a newer provider change time
    [InlineData(false, 2)] // a changed value
    public void An_observation_showing_a_provider_change_clears_it(bool newerPut, int home)
    {
        var state = Flagged();
        var o = FieldMerge.Apply(state, Poll(Now - 1_000, home, newerPut ? Put + 60 : Put), Now);
        Assert.Null(state.StaleSince);
        Assert.Contains(o.Result.Fields, f => f is { Field: "stale_since", Outcome: FieldOutcome.Applied });
    }

    [Fact]
    public void The_last_provider_change_moves_only_with_a_change()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Poll(Now - 900_000, 1, Put), Now);
        Assert.Equal(Now - 900_000, state.LastProviderChangeMs);
        FieldMerge.Apply(state, Poll(Now - 2_000, 1, Put), Now);
        Assert.Equal(Now - 900_000, state.LastProviderChangeMs);
        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now - 1_000, 2, 2, 0), Now);
        Assert.Equal(Now - 1_000, state.LastProviderChangeMs);
    }
}
