using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Xunit;
using Orleans.GoalGpt.Grains.Storage;
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

    private static MatchUpdate Schedule(long observedAtMs, long matchTimeS) =>
        new() { Source = UpdateSource.Api, ObservedAtMs = observedAtMs, MatchTime = matchTimeS };

    private static MatchUpdate Kickoffs(UpdateSource source, long observedAtMs, long? first = null, long? second = null, long? overtime = null) =>
        new() { Source = source, ObservedAtMs = observedAtMs, FirstHalfKickoffTs = first, SecondHalfKickoffTs = second, OvertimeKickoffTs = overtime };

    [Theory]
    [InlineData(1)] // not started
    [InlineData(9)] // delay: not started either
    public void A_late_kickoff_estimate_never_starts_before_the_last_not_started_sighting(int notStarted)
    {
        // Scheduled 20 min ago, still not started 5 min ago; now in the first half, kick-off unknown (0).
        var state = new MatchState();
        FieldMerge.Apply(state, Schedule(Now - 30 * 60_000, NowS - 20 * 60), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 25 * 60_000, 1), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 5 * 60_000, notStarted), Now);
        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now - 4 * 60_000, 2, 0, 0, phaseKickoff: 0), Now);

        MinuteClock.Recompute(state, Now);

        Assert.Equal(Now - 5 * 60_000, state.LastNotStartedMs);
        Assert.Equal(6, state.Minute!.Value); // from the sighting, not 21 from match_time
        Assert.Equal(UpdateSource.Computed, state.Minute.Source);
        Assert.Equal(MinuteBasis.Estimate, state.MinuteBasis);
    }

    [Fact]
    public void A_not_started_sighting_before_the_schedule_leaves_the_estimate_at_match_time()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Schedule(Now - 30 * 60_000, NowS - 20 * 60), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 25 * 60_000, 1), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Mqtt, Now - 10 * 60_000, 2), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(21, state.Minute!.Value);
    }

    [Fact]
    public void A_delay_after_the_match_ran_is_no_not_started_sighting()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 25 * 60_000, 1), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20 * 60_000, 2), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 5 * 60_000, 9), Now);
        Assert.Equal(Now - 25 * 60_000, state.LastNotStartedMs);
    }

    [Fact]
    public void A_kickoff_arriving_lower_than_the_estimate_recomputes_at_once_and_is_reported()
    {
        // Scheduled 20 min ago, kicked off 13 min ago; the first-half snapshot came with kick-off 0.
        var state = new MatchState();
        FieldMerge.Apply(state, Schedule(Now - 60 * 60_000, NowS - 20 * 60), Now);
        FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 60_000, 2, 0, 0, phaseKickoff: 0), Now - 60_000);
        MinuteClock.Recompute(state, Now - 60_000, out var none);
        Assert.Null(none);
        Assert.Equal(20, state.Minute!.Value); // the estimate runs ahead

        FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, 2, 0, 0, phaseKickoff: NowS - 13 * 60), Now);
        Assert.True(MinuteClock.Recompute(state, Now, out var corrected));

        Assert.Equal(14, state.Minute!.Value); // the true minute, lower
        Assert.Equal("14", state.MinuteText);
        Assert.Equal(new MinuteCorrected(2, 21, 14, MinuteBasis.Kickoff), corrected);
        Assert.Equal(MinuteBasis.Kickoff, state.MinuteBasis);

        // From then on it counts on from the kick-off, and a second identical kick-off is no correction.
        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now + 60_000, 2, 1, 0, phaseKickoff: NowS - 13 * 60), Now + 61_000);
        MinuteClock.Recompute(state, Now + 61_000, out var again);
        Assert.Null(again);
        Assert.Equal(15, state.Minute!.Value);
    }

    [Fact]
    public void Stoppage_time_shown_from_an_estimate_is_taken_back_when_the_kickoff_arrives()
    {
        // The example: 45+6 shown while the truth is in the 31st minute.
        var state = new MatchState();
        FieldMerge.Apply(state, Schedule(Now - 90 * 60_000, NowS - 50 * 60), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Mqtt, Now - 1000, 2), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal("45+6", state.MinuteText);

        FieldMerge.Apply(state, Kickoffs(UpdateSource.Api, Now, first: NowS - 30 * 60), Now);
        MinuteClock.Recompute(state, Now, out var corrected);
        Assert.Equal((31, "31"), (state.Minute!.Value, state.MinuteText));
        Assert.Equal(new MinuteCorrected(2, 51, 31, MinuteBasis.Kickoff), corrected);
    }

    [Fact]
    public void A_kickoff_confirming_the_estimate_is_no_correction()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Schedule(Now - 60 * 60_000, NowS - 20 * 60), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Mqtt, Now - 1000, 2), Now);
        MinuteClock.Recompute(state, Now);
        FieldMerge.Apply(state, Kickoffs(UpdateSource.Api, Now + 1000, first: NowS - 20 * 60), Now + 3000);
        Assert.False(MinuteClock.Recompute(state, Now + 3000, out var corrected));
        Assert.Null(corrected);
        Assert.Equal(21, state.Minute!.Value);
    }

    [Fact]
    public void While_the_basis_stays_an_estimate_the_minute_never_goes_backwards()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Schedule(Now - 60 * 60_000, NowS - 20 * 60), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Mqtt, Now - 1000, 2), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(21, state.Minute!.Value);

        // The provider moves the schedule 10 min later: still an estimate, so the minute holds.
        FieldMerge.Apply(state, Schedule(Now, NowS - 10 * 60), Now);
        Assert.False(MinuteClock.Recompute(state, Now + 30_000, out var corrected));
        Assert.Null(corrected);
        Assert.Equal(21, state.Minute!.Value);
    }

    [Fact]
    public void While_the_basis_stays_the_kickoff_the_minute_never_goes_backwards()
    {
        var state = Live(2, 30 * 60);
        MinuteClock.Recompute(state, Now);
        Assert.False(MinuteClock.Recompute(state, Now - 3 * 60_000, out var corrected)); // a clock that steps back
        Assert.Null(corrected);
        Assert.Equal(31, state.Minute!.Value);
    }

    [Fact]
    public void An_admin_correction_of_the_kickoff_recomputes_the_minute_and_other_sources_cannot()
    {
        var state = Live(2, 30 * 60);
        MinuteClock.Recompute(state, Now);
        Assert.Equal(31, state.Minute!.Value);

        // Any other source: blocked (set once), the minute stays.
        FieldMerge.Apply(state, Kickoffs(UpdateSource.Api, Now, first: NowS - 20 * 60), Now);
        MinuteClock.Recompute(state, Now, out var blocked);
        Assert.Null(blocked);
        Assert.Equal(31, state.Minute!.Value);

        FieldMerge.Apply(state, Kickoffs(UpdateSource.Admin, Now, first: NowS - 20 * 60), Now);
        Assert.True(MinuteClock.Recompute(state, Now, out var corrected));
        Assert.Equal(21, state.Minute!.Value);
        Assert.Equal(new MinuteCorrected(2, 31, 21, MinuteBasis.Kickoff), corrected);

        // Corrected the other way (earlier): up at once, also a correction.
        FieldMerge.Apply(state, Kickoffs(UpdateSource.Admin, Now + 1, first: NowS - 40 * 60), Now);
        MinuteClock.Recompute(state, Now, out var up);
        Assert.Equal(41, state.Minute!.Value);
        Assert.Equal(new MinuteCorrected(2, 21, 41, MinuteBasis.Kickoff), up);
    }

    [Fact]
    public void A_second_half_estimate_counts_from_the_first_half_plus_an_hour_until_its_kickoff_arrives()
    {
        // First half kicked off 80 min ago: the estimate puts the second half at 20 min ago (minute 66);
        // it really began 12 min ago.
        var state = Live(2, 80 * 60);
        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now - 500, 4, 0, 0, phaseKickoff: 0), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal((66, MinuteBasis.Estimate), (state.Minute!.Value, state.MinuteBasis));

        FieldMerge.Apply(state, Score(UpdateSource.Api, Now, 4, 0, 0, phaseKickoff: NowS - 12 * 60), Now);
        MinuteClock.Recompute(state, Now, out var corrected);
        Assert.Equal(58, state.Minute!.Value);
        Assert.Equal(new MinuteCorrected(4, 66, 58, MinuteBasis.Kickoff), corrected);
    }

    [Fact]
    public void An_overtime_estimate_counts_from_the_second_half_plus_50_min_until_its_kickoff_arrives()
    {
        var state = Live(2, 150 * 60);
        FieldMerge.Apply(state, Kickoffs(UpdateSource.Api, Now - 2000, second: NowS - 70 * 60), Now);
        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now - 500, 5, 1, 1, phaseKickoff: 0), Now);
        MinuteClock.Recompute(state, Now);
        Assert.Equal((111, "111"), (state.Minute!.Value, state.MinuteText)); // 20 min after second half + 50 min

        FieldMerge.Apply(state, Score(UpdateSource.Api, Now, 5, 1, 1, phaseKickoff: NowS - 14 * 60), Now);
        MinuteClock.Recompute(state, Now, out var corrected);
        Assert.Equal(105, state.Minute!.Value);
        Assert.Equal(new MinuteCorrected(5, 111, 105, MinuteBasis.Kickoff), corrected);
    }

    [Fact]
    public void A_newer_admin_minute_replaces_the_carried_one_at_once()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 2000, StatusId = 4, Minute = 67 }, Now);
        MinuteClock.Recompute(state, Now);
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 1000, Minute = 61 }, Now);
        MinuteClock.Recompute(state, Now, out var corrected);
        Assert.Equal(61, state.Minute!.Value);
        Assert.Equal(new MinuteCorrected(4, 67, 61, MinuteBasis.Carried), corrected);
    }

    [Fact]
    public void What_the_minute_needs_is_saved_and_survives_a_reload()
    {
        // Not started 5 min after the schedule, then live with kick-off 0: the estimate rests on the sighting.
        var live = new MatchState();
        FieldMerge.Apply(live, Schedule(Now - 30 * 60_000, NowS - 20 * 60), Now);
        var before = MatchStateExtras.Of(live);
        FieldMerge.Apply(live, Status(UpdateSource.Api, Now - 15 * 60_000, 9), Now);
        Assert.NotEqual(before, MatchStateExtras.Of(live)); // the grain marks its state for a save
        var saved = MatchStateExtras.Of(live);
        FieldMerge.Apply(live, Status(UpdateSource.Mqtt, Now - 10 * 60_000, 2), Now);
        MinuteClock.Recompute(live, Now);
        Assert.Equal(16, live.Minute!.Value);
        Assert.NotEqual(saved, MatchStateExtras.Of(live)); // the basis too, while the kick-off is unknown
        Assert.Equal((Now - 15 * 60_000, MinuteBasis.Estimate), (MatchStateExtras.Of(live).LastNotStartedMs, MatchStateExtras.Of(live).MinuteBasis));

        // A reload: the row holds the values, the grain state only what the row lacks (what this activation
        // accepted since is replayed through the rules, not folded in).
        var reloaded = new MatchState
        {
            LastNotStartedMs = saved.LastNotStartedMs,
        };
        TsMatchRow.From("m", live).MergeInto(reloaded);
        MinuteClock.Recompute(reloaded, Now + 60_000);
        Assert.Equal(17, reloaded.Minute!.Value); // still from the sighting, not 22 from match_time
    }

    [Fact]
    public void After_a_reload_without_the_basis_a_known_kickoff_still_takes_back_an_estimate()
    {
        // Saved before the basis was kept: only the row's minute (21, an estimate) and its kick-off remain.
        var live = new MatchState();
        FieldMerge.Apply(live, Schedule(Now - 60 * 60_000, NowS - 20 * 60), Now);
        FieldMerge.Apply(live, Status(UpdateSource.Mqtt, Now - 1000, 2), Now);
        MinuteClock.Recompute(live, Now);
        var reloaded = new MatchState();
        TsMatchRow.From("m", live).MergeInto(reloaded);
        Assert.Equal(MinuteBasis.None, reloaded.MinuteBasis);

        FieldMerge.Apply(reloaded, Kickoffs(UpdateSource.Api, Now + 1000, first: NowS - 13 * 60), Now + 1000);
        MinuteClock.Recompute(reloaded, Now + 1000, out var corrected);
        Assert.Equal(14, reloaded.Minute!.Value);
        Assert.Equal(new MinuteCorrected(2, 21, 14, MinuteBasis.Kickoff), corrected);
    }
}
