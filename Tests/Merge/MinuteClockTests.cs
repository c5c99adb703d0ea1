using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Xunit;
using static Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Merge;

public sealed class MinuteClockTests
{
    private static MatchState Live(int status, long? kickoffAgoS)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, status, 0, 0, kickoffAgoS is long k ? NowS - k : 0), Now);
        return state;
    }

    [Theory]
    [InlineData(2, 0, 1, "1")]
    [InlineData(2, 59, 1, "1")]
    [InlineData(2, 60, 2, "2")]
    [InlineData(2, 44 * 60, 45, "45")]
    [InlineData(2, 47 * 60 + 5, 45, "45+3")]
    [InlineData(4, 0, 46, "46")]
    [InlineData(4, 44 * 60, 90, "90")]
    [InlineData(4, 50 * 60, 90, "90+6")]
    [InlineData(5, 10 * 60, 101, "101")]
    [InlineData(5, 31 * 60, 120, "120+2")]
    public void Running_phases_count_from_their_kickoff(int status, long elapsedS, int minute, string text)
    {
        var state = Live(status, elapsedS);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(minute, state.Minute!.Value);
        Assert.Equal(text, state.MinuteText);
        Assert.Equal(UpdateSource.Computed, state.Minute.Source);
    }

    [Theory]
    [InlineData(3, 45, "HT")]
    [InlineData(7, 120, "PEN")]
    public void Fixed_phases(int status, int minute, string text)
    {
        var state = Live(status, null);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(minute, state.Minute!.Value);
        Assert.Equal(text, state.MinuteText);
    }

    [Theory]
    [InlineData(8, "FT")]
    [InlineData(1, null)]
    [InlineData(9, null)]
    public void Not_live_means_no_minute(int status, string? text)
    {
        var state = Live(2, 600);
        MinuteClock.Recompute(state, Now);
        FieldMerge.Apply(state, Status(UpdateSource.Admin, Now - 500, status), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(status, state.Status!.Value);
        Assert.Null(state.Minute!.Value);
        Assert.Equal(text, state.MinuteText);
    }

    [Fact]
    public void Unknown_first_half_kickoff_is_estimated_from_the_schedule()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = Now - 2000, MatchTime = NowS - 20 * 60 }, Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 1000, 2), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(21, state.Minute!.Value);
        Assert.Equal(UpdateSource.Computed, state.Minute.Source);
    }

    [Fact]
    public void Unknown_second_half_kickoff_is_estimated_from_the_first_half_plus_an_hour()
    {
        var state = Live(2, 70 * 60);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 500, 4), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(56, state.Minute!.Value); // 10 min into the estimated second half
    }

    [Fact]
    public void With_nothing_known_the_minute_counts_from_when_the_phase_was_first_seen()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Mqtt, Now - 3 * 60_000, 2), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(4, state.Minute!.Value);
    }

    [Fact]
    public void A_carried_minute_is_used_for_120_seconds_when_the_kickoff_is_unknown()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 1000, StatusId = 4, Minute = 67 }, Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(67, state.Minute!.Value);
        Assert.Equal(UpdateSource.Admin, state.Minute.Source);

        // Expired: the estimate (3 min into the phase) is lower, and the minute never goes backwards.
        MinuteClock.Recompute(state, Now + 200_000);
        Assert.True(state.Minute!.Value >= 67);
    }

    [Fact]
    public void Within_a_phase_the_minute_never_goes_backwards()
    {
        var state = Live(2, 30 * 60);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(31, state.Minute!.Value);
        Assert.False(MinuteClock.Recompute(state, Now - 10 * 60_000));
        Assert.Equal(31, state.Minute!.Value);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    public void A_live_match_always_has_a_minute(int status)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Mqtt, Now - 1000, status), Now);
        MinuteClock.Recompute(state, Now);
        Assert.NotNull(state.Minute!.Value);
        Assert.Equal(UpdateSource.Computed, state.Minute.Source);
    }
}
