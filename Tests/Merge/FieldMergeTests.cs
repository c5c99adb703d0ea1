using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Xunit;
using static Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Merge;

public sealed class FieldMergeTests
{
    private static FieldResult Field(MergeOutcome o, string name) => Assert.Single(o.Result.Fields, f => f.Field == name);

    [Theory]
    // observed later wins in either direction
    [InlineData(UpdateSource.Api, 1000, UpdateSource.Api, 2000, 3, true)]
    [InlineData(UpdateSource.Api, 2000, UpdateSource.Api, 1000, 3, false)]
    // exact tie: admin > mqtt > api
    [InlineData(UpdateSource.Api, 1000, UpdateSource.Mqtt, 1000, 3, true)]
    [InlineData(UpdateSource.Mqtt, 1000, UpdateSource.Api, 1000, 3, false)]
    [InlineData(UpdateSource.Mqtt, 1000, UpdateSource.Admin, 1000, 3, true)]
    [InlineData(UpdateSource.Admin, 1000, UpdateSource.Mqtt, 1000, 3, false)]
    public void Score_is_last_writer_wins_with_source_priority_on_ties(
        UpdateSource firstSource, long firstAt, UpdateSource secondSource, long secondAt, int secondValue, bool secondWins)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Score(firstSource, Now - 10_000 + firstAt, 2, 1, 0), Now);
        var o = FieldMerge.Apply(state, Score(secondSource, Now - 10_000 + secondAt, 2, secondValue, 0), Now);

        Assert.Equal(secondWins ? secondValue : 1, state.HomeScore!.Value);
        Assert.Equal(secondWins ? FieldOutcome.Applied : FieldOutcome.Rejected, Field(o, "home_score").Outcome);
        if (!secondWins) Assert.Equal(RejectReasons.Stale, Field(o, "home_score").Reason);
    }

    [Fact]
    public void A_replayed_update_is_a_no_op()
    {
        var state = new MatchState();
        var u = Score(UpdateSource.Mqtt, Now - 5000, 2, 1, 1);
        FieldMerge.Apply(state, u, Now);
        var again = FieldMerge.Apply(state, u, Now);

        Assert.False(again.Result.AnyApplied);
        Assert.All(again.Result.Fields, f => Assert.NotEqual(FieldOutcome.Rejected, f.Outcome));
    }

    [Fact]
    public void A_score_going_down_is_a_VAR_correction_and_is_applied()
    {
        var state = new MatchState();
        // Stored by a poll: a lower score soon after a push is the lagging-snapshot case (tests below).
        FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 5000, 2, 2, 0), Now);
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 4000, 2, 1, 0), Now);

        Assert.Equal(1, state.HomeScore!.Value);
        Assert.Contains(new VarCorrection("home_score", 2, 1), o.Events);
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(2, 3, 3)] // overtime aggregate shown when > 0
    [InlineData(2, 0, 2)]
    public void Displayed_score_is_overtime_when_positive_and_penalties_stay_apart(int regular, int overtime, int expected)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, new MatchUpdate
        {
            Source = UpdateSource.Api, ObservedAtMs = Now - 1000, StatusId = 7,
            HomeScores = Side(regular, overtime, penalties: 4), AwayScores = Side(0),
        }, Now);

        Assert.Equal(expected, state.HomeScore!.Value);
        Assert.Equal(4, state.HomeScores!.Value[6]);
    }

    [Theory]
    [InlineData(1, 2, true)]
    [InlineData(2, 4, true)]
    [InlineData(4, 8, true)]
    [InlineData(4, 9, true)]  // into a side state
    [InlineData(10, 2, true)] // out of a side state
    [InlineData(4, 0, true)]
    [InlineData(4, 2, false)] // regression needs confirmation
    [InlineData(8, 4, false)]
    public void Status_moves_forward_and_through_side_states_but_not_backwards_unconfirmed(int from, int to, bool applied)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 10_000, from), Now);
        var o = FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 9_000, to), Now);

        Assert.Equal(applied ? to : from, state.Status!.Value);
        if (!applied)
        {
            Assert.Equal(RejectReasons.UnconfirmedRegression, Field(o, "status_id").Reason);
            Assert.True(state.RepollRequested);
            Assert.Contains(o.Events, e => e is UnconfirmedRegression);
        }
    }

    [Theory]
    [InlineData(UpdateSource.Api, UpdateSource.Api, 5000, true)]
    [InlineData(UpdateSource.Api, UpdateSource.Watchdog, 6000, true)]
    [InlineData(UpdateSource.Api, UpdateSource.Api, 4999, false)]  // less than 5 s apart
    [InlineData(UpdateSource.Mqtt, UpdateSource.Mqtt, 9000, false)] // mqtt never confirms
    public void A_regression_is_confirmed_by_two_fresh_polls_five_seconds_apart(UpdateSource first, UpdateSource second, long gapMs, bool confirmed)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20_000, 4), Now);
        FieldMerge.Apply(state, Status(first, Now - 15_000, 2), Now);
        var o = FieldMerge.Apply(state, Status(second, Now - 15_000 + gapMs, 2), Now);

        Assert.Equal(confirmed ? 2 : 4, state.Status!.Value);
        Assert.Equal(confirmed ? FieldOutcome.Applied : FieldOutcome.Rejected, Field(o, "status_id").Outcome);
        if (confirmed) Assert.Null(state.Regression);
    }

    [Theory]
    [InlineData(-1_000, true)] // the refresh was observed before the candidate: delivered late, it changes nothing
    [InlineData(2_000, false)] // observed between the two sightings: the provider flip-flopped, start over
    public void A_late_refresh_of_the_stored_status_keeps_a_regression_seen_after_it(long refreshAfterFirstMs, bool confirmed)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20_000, 4), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 15_000, 2), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 15_000 + refreshAfterFirstMs, 4), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 9_000, 2), Now);
        Assert.Equal(confirmed ? 2 : 4, state.Status!.Value);
    }

    [Fact]
    public void A_refresh_of_a_confirmed_regression_keeps_its_mark_for_the_database()
    {
        // The row written after the refresh may be the first to reach the database: it must still say "confirmed".
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20_000, 4), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 15_000, 2), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 9_000, 2), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 6_000, 2), Now);
        Assert.True(state.StatusConfirmed);
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 3_000, 3), Now);
        Assert.False(state.StatusConfirmed);
    }

    [Fact]
    public void Admin_moves_status_backwards_at_once()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20_000, 8), Now);
        FieldMerge.Apply(state, Status(UpdateSource.Admin, Now - 19_000, 4), Now);
        Assert.Equal(4, state.Status!.Value);
    }

    [Fact]
    public void Status_6_is_treated_as_overtime()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20_000, 6), Now);
        Assert.Equal(5, state.Status!.Value);
    }

    [Theory]
    [InlineData(2, "first_half_kickoff_ts")]
    [InlineData(4, "second_half_kickoff_ts")]
    [InlineData(5, "overtime_kickoff_ts")]
    public void Phase_kickoff_goes_to_the_phase_named_by_the_status_of_the_same_array(int status, string field)
    {
        var state = new MatchState();
        var kickoff = NowS - 600;
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, status, 0, 0, kickoff), Now);

        Assert.Equal(FieldOutcome.Applied, Field(o, field).Outcome);
        var stored = new[] { state.FirstHalfKickoff, state.SecondHalfKickoff, state.OvertimeKickoff }.Where(k => k is not null).ToList();
        Assert.Single(stored);
        Assert.Equal(kickoff, stored[0]!.Value);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void Phase_kickoff_under_a_status_without_a_running_phase_is_ignored(int status)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, status, 0, 0, NowS - 600), Now);
        Assert.Null(state.FirstHalfKickoff);
        Assert.Null(state.SecondHalfKickoff);
        Assert.Null(state.OvertimeKickoff);
    }

    [Fact]
    public void Kickoff_zero_is_unknown_and_never_stored()
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, 2, 0, 0, 0), Now);
        Assert.Null(state.FirstHalfKickoff);
        Assert.Equal(FieldOutcome.Unchanged, Field(o, "first_half_kickoff_ts").Outcome);
    }

    [Fact]
    public void A_set_kickoff_is_never_changed_except_by_admin()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 3000, 4, 0, 0, NowS - 600), Now);
        var blocked = FieldMerge.Apply(state, Score(UpdateSource.Mqtt, Now - 2000, 4, 0, 0, NowS - 300), Now);
        Assert.Equal(NowS - 600, state.SecondHalfKickoff!.Value);
        Assert.Equal(RejectReasons.KickoffOverwriteBlocked, Field(blocked, "second_half_kickoff_ts").Reason);
        Assert.Contains(blocked.Events, e => e is KickoffOverwriteBlocked);

        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 1000, SecondHalfKickoffTs = NowS - 400 }, Now);
        Assert.Equal(NowS - 400, state.SecondHalfKickoff!.Value);
    }

    [Fact]
    public void What_a_replay_decides_again_leaves_out_the_kickoffs_refused_and_keeps_the_rest()
    {
        // Set once: a replay on state without the kick-off that blocked this one (OwnershipTests.A_take_over_replay_…) would set it.
        var state = new MatchState();
        var set = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 3000, 2, 0, 0, NowS - 600), Now);
        Assert.Equal(NowS - 600, set.Replayable!.PhaseKickoffTs);

        var attempt = Score(UpdateSource.Api, Now - 2000, 2, 1, 0, NowS - 480) with { SecondHalfKickoffTs = NowS + 600 };
        var blocked = FieldMerge.Apply(state, attempt, Now);
        Assert.Equal(FieldOutcome.Applied, Field(blocked, "home_score").Outcome);
        Assert.Equal(RejectReasons.KickoffOverwriteBlocked, Field(blocked, "first_half_kickoff_ts").Reason);
        Assert.Equal(RejectReasons.ImplausibleKickoff, Field(blocked, "second_half_kickoff_ts").Reason);
        Assert.Equal(attempt with { PhaseKickoffTs = null, SecondHalfKickoffTs = null }, blocked.Replayable);

        // Stale as a whole: nothing of it is replayed.
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = Now - 1500, ProviderUpdateTime = NowS - 10 }, Now);
        var whole = FieldMerge.Apply(state, attempt with { ProviderUpdateTime = NowS - 20 }, Now);
        Assert.All(whole.Result.Fields, f => Assert.Equal(RejectReasons.Stale, f.Reason));
        Assert.Null(whole.Replayable);
    }

    [Fact]
    public void A_replay_stale_as_a_whole_still_sets_the_kickoff_it_carries_and_nothing_else()
    {
        // The row another owner wrote: a newer provider time, status and score, no kick-off.
        MatchState Row() => InOrder(new MatchState(), Score(UpdateSource.Api, Now - 1000, 4, 2, 0) with { ProviderUpdateTime = NowS - 5 });

        var state = Row();
        var accepted = Score(UpdateSource.Api, Now - 2000, 2, 1, 0, NowS - 3000) with { ProviderUpdateTime = NowS - 10, SecondHalfKickoffTs = NowS - 200 };

        // Decided afresh it is stale as a whole; replayed, its kick-offs are set and its scores and status stay superseded
        // (that snapshot's newer observations stand; where they did not land, see the test below).
        Assert.All(FieldMerge.Apply(Row(), accepted, Now).Result.Fields, f => Assert.Equal(RejectReasons.Stale, f.Reason));
        var replayed = FieldMerge.Apply(state, accepted, Now, replay: true);
        Assert.Equal(FieldOutcome.Applied, Field(replayed, "first_half_kickoff_ts").Outcome);
        Assert.Equal(FieldOutcome.Applied, Field(replayed, "second_half_kickoff_ts").Outcome);
        Assert.Equal(RejectReasons.Stale, Field(replayed, "home_score").Reason);
        Assert.Equal(RejectReasons.Stale, Field(replayed, "status_id").Reason);
        Assert.Equal((NowS - 3000, NowS - 200), (state.FirstHalfKickoff!.Value, state.SecondHalfKickoff!.Value));
        Assert.Equal((4, 2, NowS - 5), (state.Status!.Value, state.HomeScore!.Value, state.ProviderUpdateTime));

        // Set once holds on a replay too: a different kick-off is blocked.
        var other = FieldMerge.Apply(state, accepted with { PhaseKickoffTs = NowS - 2900 }, Now, replay: true);
        Assert.Equal(RejectReasons.KickoffOverwriteBlocked, Field(other, "first_half_kickoff_ts").Reason);
        Assert.Equal(NowS - 3000, state.FirstHalfKickoff.Value);
    }

    [Fact]
    public void A_replay_stale_as_a_whole_is_superseded_only_where_the_newer_snapshot_landed()
    {
        // The state another owner left: its newer snapshot (provider time NowS - 1) showed 2, held as an unconfirmed
        // regression: the status register stays 4 @ Now - 10 s, only the provider time moved on.
        MatchState Reloaded()
        {
            var s = new MatchState();
            FieldMerge.Apply(s, Status(UpdateSource.Api, Now - 10_000, 4) with { ProviderUpdateTime = NowS - 10 }, Now);
            var held = FieldMerge.Apply(s, Status(UpdateSource.Api, Now - 1_000, 2) with { ProviderUpdateTime = NowS - 1 }, Now);
            Assert.Equal(RejectReasons.UnconfirmedRegression, Field(held, "status_id").Reason);
            return s;
        }

        // A refresh of 4 answered Applied by an activation that had not seen that snapshot: nothing newer stands in the register.
        var state = Reloaded();
        var refresh = FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 9_000, 4) with { ProviderUpdateTime = NowS - 9 }, Now, replay: true);
        Assert.Equal(FieldOutcome.Applied, Field(refresh, "status_id").Outcome);
        Assert.Equal(RejectReasons.Stale, Field(refresh, "provider_update_time").Reason);
        Assert.Equal((4, Now - 9_000, NowS - 1), (state.Status!.Value, state.Status.ObservedAtMs, state.ProviderUpdateTime));
        Assert.Equal(2, state.Regression?.Status); // observed before the held sighting: the candidate stands

        // Sightings of 2 older by provider time count toward the confirmation, as they did where they were answered.
        state = Reloaded();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 8_000, 2) with { ProviderUpdateTime = NowS - 8 }, Now, replay: true);
        var confirmed = FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 2_000, 2) with { ProviderUpdateTime = NowS - 2 }, Now, replay: true);
        Assert.Equal(FieldOutcome.Applied, Field(confirmed, "status_id").Outcome);
        Assert.Equal((2, Now - 2_000, true), (state.Status!.Value, state.Status.ObservedAtMs, state.StatusConfirmed));

        // Where the newer snapshot did land, it supersedes the replay (last-writer-wins), as before.
        state = Reloaded();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 500, 4) with { ProviderUpdateTime = NowS }, Now);
        var superseded = FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 9_000, 4) with { ProviderUpdateTime = NowS - 9 }, Now, replay: true);
        Assert.Equal(FieldOutcome.Unchanged, Field(superseded, "status_id").Outcome);
        Assert.Equal(Now - 500, state.Status!.ObservedAtMs);
    }

    [Fact]
    public void A_provider_time_refused_as_in_the_future_is_not_taken_when_the_update_is_replayed_later()
    {
        // First decision (a lease lapsed meanwhile): the poll's provider time is more than 5 min ahead of this silo's now
        // (the polling silo's clock runs ahead): refused out_of_range; its score is applied, so the update is kept.
        var firstNow = Now - 240_000;
        var row = () =>
        {
            var s = new MatchState();
            FieldMerge.Apply(s, Score(UpdateSource.Api, firstNow - 60_000, 2, 0, 0) with { ProviderUpdateTime = firstNow / 1000 - 60 }, firstNow);
            return s;
        };
        var state = row();
        var u = Score(UpdateSource.Api, firstNow - 1_000, 2, 1, 0) with { ProviderUpdateTime = NowS + 120 };
        var first = FieldMerge.Apply(state, u, firstNow);
        Assert.Equal(RejectReasons.OutOfRange, Field(first, "provider_update_time").Reason);
        Assert.Equal(FieldOutcome.Applied, Field(first, "home_score").Outcome);

        // Four minutes later the lease is taken again: the reload replays what the activation kept (MergeOutcome.Replayable).
        var reloaded = row();
        FieldMerge.Apply(reloaded, first.Replayable!, Now, replay: true);
        var providerTimeAfterReplay = reloaded.ProviderUpdateTime;

        // The provider's next poll, with its real change time: as after the first decision, it must apply.
        var next = Score(UpdateSource.Api, Now - 500, 2, 2, 0) with { ProviderUpdateTime = NowS - 5 };
        var inMemory = FieldMerge.Apply(state, next, Now);
        var afterReplay = FieldMerge.Apply(reloaded, next, Now);
        Assert.Equal(FieldOutcome.Applied, Field(inMemory, "home_score").Outcome);
        Assert.Equal((firstNow / 1000 - 60, FieldOutcome.Applied), (providerTimeAfterReplay, Field(afterReplay, "home_score").Outcome));
    }

    [Fact]
    public void A_poll_refused_as_admin_held_does_not_replace_the_correction_when_replayed_later()
    {
        // The same time-dependent check turns a refused (admin_held) score into a landed one: at the first decision the
        // poll's provider time is out of range, so it shows no provider change and the correction holds it off; replayed
        // four minutes later the same provider time is in range, counts as a provider change, and the poll replaces it.
        var firstNow = Now - 240_000;
        MatchState Row()
        {
            var s = new MatchState();
            FieldMerge.Apply(s, Score(UpdateSource.Api, firstNow - 60_000, 2, 2, 0) with { ProviderUpdateTime = firstNow / 1000 - 60 }, firstNow);
            FieldMerge.Apply(s, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = firstNow - 10_000, HomeScores = Side(1) }, firstNow);
            return s;
        }

        var state = Row();
        var poll = Score(UpdateSource.Api, firstNow - 1_000, 2, 2, 0) with { ProviderUpdateTime = NowS + 120 };
        var first = FieldMerge.Apply(state, poll, firstNow);
        Assert.Equal(RejectReasons.AdminHeld, Field(first, "home_score").Reason);
        Assert.Equal(FieldOutcome.Applied, Field(first, "status_id").Outcome); // a refresh: the update is kept
        Assert.Equal(1, state.HomeScore!.Value);

        // The row holds the correction (it was written); the lease re-take replays the kept poll.
        var reloaded = Row();
        var replayed = FieldMerge.Apply(reloaded, first.Replayable!, Now, replay: true);
        Assert.Equal((1, UpdateSource.Admin), (reloaded.HomeScore!.Value, reloaded.HomeScore.Source));
        Assert.NotEqual(FieldOutcome.Applied, Field(replayed, "home_score").Outcome);
    }

    /// <summary>A match polled at 2-0 (provider time now - 200 s): the row the admin-replay tests start from.</summary>
    private static MatchState Row()
    {
        var s = new MatchState();
        FieldMerge.Apply(s, Score(UpdateSource.Api, Now - 30_000, 2, 2, 0) with { ProviderUpdateTime = NowS - 200 }, Now);
        return s;
    }

    /// <summary><paramref name="s"/> after <paramref name="updates"/>, first decisions in this order.</summary>
    private static MatchState InOrder(MatchState s, params MatchUpdate[] updates)
    {
        foreach (var u in updates) FieldMerge.Apply(s, u, Now);
        return s;
    }

    [Fact]
    public void A_replayed_admin_correction_does_not_undo_a_push_that_a_later_poll_confirmed()
    {
        var correction = new MatchUpdate
        {
            Source = UpdateSource.Admin, ObservedAtMs = Now - 20_000, StatusId = 2, HomeScores = Side(1),
        };
        var push = Score(UpdateSource.Mqtt, Now - 10_000, 3, 3, 0);  // a new goal, then half-time, pushed
        var poll = Score(UpdateSource.Api, Now - 8_000, 3, 3, 0);    // detail_live confirms it (no provider time)

        // One activation, in that order: the push replaces the correction, the poll confirms the push.
        var inOrder = Row();
        FieldMerge.Apply(inOrder, correction, Now);
        FieldMerge.Apply(inOrder, push, Now);
        FieldMerge.Apply(inOrder, poll, Now);
        Assert.Equal((3, 3), (inOrder.Status!.Value, inOrder.HomeScore!.Value));

        // The next owner decided the push and the poll first; the hand-over (Adopt) replays the correction.
        var next = Row();
        FieldMerge.Apply(next, push, Now);
        FieldMerge.Apply(next, poll, Now);
        FieldMerge.Apply(next, correction, Now, replay: true);
        Assert.Equal((3, 3), (next.Status!.Value, next.HomeScore!.Value));
    }

    // A reload folds the raw arrays in from the row as "api" at raw_scores_timestamp (TsMatchRow.MergeInto): a newer admin
    // correction's array looks like a poll made after an older correction, which must not beat it when replayed.
    [Fact]
    public void An_older_admin_correction_replayed_after_a_reload_does_not_beat_a_newer_one()
    {
        // A's correction (row refused: 503 with home_score applied), then B's newer one (written by B).
        var older = new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 20_000, HomeScores = Side(1) };
        var newer = new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 10_000, HomeScores = Side(3) };
        var b = Row();
        FieldMerge.Apply(b, newer, Now);
        var row = TsMatchRow.From("m1", b);

        // A takes the lease again: grain state (saved before B's correction) + B's row, then the replay of A's correction.
        var reloaded = Row();
        row.MergeInto(reloaded);
        Assert.Equal((3, UpdateSource.Admin), (reloaded.HomeScore!.Value, reloaded.HomeScore.Source));
        FieldMerge.Apply(reloaded, older, Now, replay: true);
        Assert.Equal((3, Now - 10_000), (reloaded.HomeScore!.Value, reloaded.HomeScore.ObservedAtMs));
    }

    // A push the old activation accepted after its correction (answered Applied, replacing the correction in order, as the
    // next owner's later poll of the same score confirms) survives the hand-over's replay of both.
    [Fact]
    public void A_push_answered_applied_after_the_correction_survives_the_replay_of_both()
    {
        var correction = new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 20_000, HomeScores = Side(1) };
        var push = Score(UpdateSource.Mqtt, Now - 15_000, 2, 3, 0); // accepted by the old activation after its correction
        var poll = Score(UpdateSource.Api, Now - 10_000, 2, 3, 0);  // the next owner's detail_live poll (no provider time)

        var old = Row();
        FieldMerge.Apply(old, correction, Now);
        Assert.Equal(FieldOutcome.Applied, Field(FieldMerge.Apply(old, push, Now), "home_score").Outcome);

        var inOrder = Row();
        foreach (var u in new[] { correction, push, poll }) FieldMerge.Apply(inOrder, u, Now);
        Assert.Equal(3, inOrder.HomeScore!.Value);

        // The next owner decided its poll; the hand-over replays [correction, push] in their order.
        var next = Row();
        FieldMerge.Apply(next, poll, Now);
        FieldMerge.Apply(next, correction, Now, replay: true);
        FieldMerge.Apply(next, push, Now, replay: true);
        Assert.Equal(3, next.HomeScore!.Value);
    }

    [Fact]
    public void An_update_applied_where_the_clock_was_ahead_is_applied_when_replayed_on_a_silo_whose_clock_is_behind()
    {
        // First decided on a silo whose clock runs 7 minutes ahead of this one: observed, changed by the provider and
        // kicked off a minute ago there, answered Applied. Replayed here (a hand-over or a take-over) all three are "later
        // than now + 5 min" by this clock: decided afresh here it would be refused, replayed the answer must hold.
        var kickoff = NowS + 6 * 60;
        var update = Score(UpdateSource.Api, Now + 6 * 60_000, 2, 1, 0, kickoff) with { ProviderUpdateTime = kickoff };
        var there = FieldMerge.Apply(new MatchState(), update, Now + 7 * 60_000);
        Assert.All(there.Result.Fields, f => Assert.Equal(FieldOutcome.Applied, f.Outcome));
        Assert.All(FieldMerge.Apply(new MatchState(), update, Now).Result.Fields, f => Assert.Equal(RejectReasons.OutOfRange, f.Reason));
        Assert.Equal(RejectReasons.ImplausibleKickoff, Field(FieldMerge.Apply(new MatchState(), update with { ObservedAtMs = Now - 1000, ProviderUpdateTime = null }, Now), "first_half_kickoff_ts").Reason);
        var state = new MatchState();
        var replayed = FieldMerge.Apply(state, update, Now, replay: true);
        Assert.All(replayed.Result.Fields, f => Assert.Equal(FieldOutcome.Applied, f.Outcome));
        Assert.Equal((kickoff, 1, kickoff), (state.FirstHalfKickoff!.Value, state.HomeScore!.Value, state.ProviderUpdateTime));

        // What depends on the state is judged again: a second half earlier than first half + 45 min is refused on replay too.
        var second = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 500, 4, 0, 0, kickoff + 60), Now, replay: true);
        Assert.Equal(RejectReasons.ImplausibleKickoff, Field(second, "second_half_kickoff_ts").Reason);
    }

    [Theory]
    [InlineData(2, 6 * 60, RejectReasons.ImplausibleKickoff)]          // later than now + 5 min
    [InlineData(2, -8 * 3600, RejectReasons.ImplausibleKickoff)]       // earlier than match_time - 6 h
    [InlineData(4, -3000, RejectReasons.ImplausibleKickoff)]           // second half < first half + 45 min
    [InlineData(2, -1_800_000_000, RejectReasons.OutOfRange)]          // before 2000
    public void Implausible_kickoffs_are_rejected(int status, long offsetFromNow, string reason)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = Now - 5000, MatchTime = NowS - 3600 }, Now);
        if (status == 4) FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 4000, 2, 0, 0, NowS - 3600), Now);

        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, status, 0, 0, NowS + offsetFromNow), Now);
        var field = status == 2 ? "first_half_kickoff_ts" : "second_half_kickoff_ts";
        Assert.Equal(reason, Field(o, field).Reason);
    }

    [Theory]
    [InlineData(new[] { -1, 0, 0, 0, 0, 0, 0 }, RejectReasons.OutOfRange)]
    [InlineData(new[] { 100, 0, 0, 0, 0, 0, 0 }, RejectReasons.OutOfRange)]
    [InlineData(new[] { 1, 0, 0, 0, 0, -1, 0 }, RejectReasons.OutOfRange)] // overtime score: the displayed score is unknown
    [InlineData(new[] { 1, 0, 0 }, RejectReasons.Malformed)]
    public void Bad_score_arrays_are_rejected_and_the_rest_of_the_update_applies(int[] home, string reason)
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, new MatchUpdate
        {
            Source = UpdateSource.Api, ObservedAtMs = Now - 1000, StatusId = 2, HomeScores = home, AwayScores = Side(1),
        }, Now);

        Assert.Equal(reason, Field(o, "home_score").Reason);
        Assert.Null(state.HomeScore);
        Assert.Equal(1, state.AwayScore!.Value);
        Assert.Equal(2, state.Status!.Value);
    }

    [Fact]
    public void Corners_of_minus_one_mean_no_data()
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, 2, 1, 0), Now);
        Assert.Equal(FieldOutcome.Applied, Field(o, "home_score").Outcome);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(14)]
    [InlineData(99)]
    public void Unknown_status_ids_are_rejected(int status)
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 1000, status, 1, 0), Now);
        Assert.Equal(RejectReasons.UnknownStatus, Field(o, "status_id").Reason);
        Assert.Equal(1, state.HomeScore!.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("ünïcode")]
    [InlineData("a-very-long-id-a-very-long-id-a-very-long-id-a-very-long-id-12345")]
    public void Bad_ids_are_rejected(string id)
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = Now - 1000, CompetitionId = id, HomeTeamId = "ok_1" }, Now);
        Assert.Equal(RejectReasons.OutOfRange, Field(o, "competition_id").Reason);
        Assert.Equal("ok_1", state.HomeTeamId!.Value);
        Assert.False(FieldMerge.IsValidId(id));
    }

    [Theory]
    [InlineData(6 * 60 * 1000)]            // later than now + 5 min
    [InlineData(-1_000_000_000_000)]       // before 2000
    public void Observation_times_out_of_range_reject_the_whole_update(long offsetMs)
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, Now + offsetMs, 2, 1, 0), Now);
        Assert.All(o.Result.Fields, f => Assert.Equal(RejectReasons.OutOfRange, f.Reason));
        Assert.Null(state.Status);
    }

    [Fact]
    public void A_snapshot_with_an_older_provider_time_is_stale_as_a_whole()
    {
        var state = new MatchState();
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = Now - 5000, ProviderUpdateTime = NowS - 10, StatusId = 4 }, Now);
        var o = FieldMerge.Apply(state, new MatchUpdate
        {
            Source = UpdateSource.Api, ObservedAtMs = Now - 1000, ProviderUpdateTime = NowS - 20, StatusId = 8, MatchTime = NowS - 7200,
        }, Now);

        Assert.All(o.Result.Fields, f => Assert.Equal(RejectReasons.Stale, f.Reason));
        Assert.Equal(4, state.Status!.Value);
        Assert.Null(state.MatchTime);
        Assert.Equal(NowS - 10, state.ProviderUpdateTime);
    }

    [Fact]
    public void Metadata_comes_from_polls_not_push()
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Mqtt, ObservedAtMs = Now - 1000, MatchTime = NowS - 600 }, Now);
        Assert.Equal(RejectReasons.SourceNotAllowed, Field(o, "match_time").Reason);
        FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = Now - 900, MatchTime = NowS - 600 }, Now);
        Assert.Equal(NowS - 600, state.MatchTime!.Value);
    }

    [Fact]
    public void An_unknown_match_is_created_from_whatever_the_first_update_carries()
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, new MatchUpdate { Source = UpdateSource.Mqtt, ObservedAtMs = Now - 1000, HomeScores = Side(1), AwayScores = Side(0) }, Now);
        Assert.True(o.Result.AnyApplied);
        Assert.Null(state.Status);
        Assert.Equal(1, state.HomeScore!.Value);
    }

    [Theory]
    [InlineData(new[] { 2, 0, -1, 0, 0, 0, 0 })]  // yellow cards -1
    [InlineData(new[] { 2, 0, 0, 0, -2, 0, 0 })]  // corners below "no data"
    [InlineData(new[] { 2, 0, 0, 100, 0, 0, 0 })] // red cards out of range
    [InlineData(new[] { 2, -1, 0, 0, 0, 0, 0 })]  // half-time score
    [InlineData(new[] { 2, 0, 0, 0, 0, 0, -1 })]  // penalties
    public void A_bad_card_or_corner_element_rejects_the_raw_array_not_the_displayed_score(int[] home)
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, new MatchUpdate
        {
            Source = UpdateSource.Api, ObservedAtMs = Now - 1000, StatusId = 2, HomeScores = home, AwayScores = Side(1),
        }, Now);

        Assert.Equal(FieldOutcome.Applied, Field(o, "home_score").Outcome);
        Assert.Equal(2, state.HomeScore!.Value);
        Assert.Equal(RejectReasons.OutOfRange, Field(o, "home_scores").Reason);
        Assert.Null(state.HomeScores);
        Assert.Equal(FieldOutcome.Applied, Field(o, "away_scores").Outcome);
    }

    [Fact]
    public void A_positive_overtime_score_stands_on_its_own_value()
    {
        var state = new MatchState();
        var o = FieldMerge.Apply(state, new MatchUpdate
        {
            Source = UpdateSource.Api, ObservedAtMs = Now - 1000, StatusId = 5, HomeScores = [-3, 0, 0, 0, 0, 2, 0], AwayScores = Side(1, overtime: 1),
        }, Now);

        Assert.Equal(2, state.HomeScore!.Value);
        Assert.Equal(FieldOutcome.Applied, Field(o, "home_score").Outcome);
        Assert.Equal(RejectReasons.OutOfRange, Field(o, "home_scores").Reason);
    }

    // Rule 1, lagging snapshots: the push at T showed 1-0; the HTTP API still serves 0-0.
    private const long T = Now - 120_000;

    private static MatchState Pushed(int home = 1, int status = 2)
    {
        var state = new MatchState();
        FieldMerge.Apply(state, Score(UpdateSource.Api, T - 60_000, status, 0, 0), Now);
        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, T, status, home, 0), Now);
        return state;
    }

    [Theory]
    [InlineData(UpdateSource.Api)]
    [InlineData(UpdateSource.Watchdog)]
    public void A_lower_polled_score_soon_after_a_push_is_held_as_a_lagging_snapshot(UpdateSource poll)
    {
        var state = Pushed();
        var o = FieldMerge.Apply(state, Score(poll, T + 3_000, 2, 0, 0), Now);

        Assert.Equal((1, UpdateSource.Mqtt, T), (state.HomeScore!.Value, state.HomeScore.Source, state.HomeScore.ObservedAtMs));
        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(o, "home_score").Reason);
        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(o, "home_scores").Reason);
        Assert.Equal(1, state.HomeScores!.Value[0]); // the lagging array is held with its score
        Assert.Equal(FieldOutcome.Applied, Field(o, "away_score").Outcome); // the other side did not drop
        Assert.Contains(new UnconfirmedScoreDrop("home_score", 1, 0), o.Events);
        Assert.DoesNotContain(o.Events, e => e is VarCorrection);
        Assert.True(state.RepollRequested);
        Assert.Equal(new ScoreDropCandidate(0, T + 3_000, T + 3_000), state.HomeScoreDrop);
        Assert.False(state.HomeScoreDropConfirmed);
    }

    [Theory]
    [InlineData(UpdateSource.Api, UpdateSource.Api, 10_000, true)]
    [InlineData(UpdateSource.Api, UpdateSource.Watchdog, 10_000, true)]
    [InlineData(UpdateSource.Watchdog, UpdateSource.Api, 12_000, true)]
    [InlineData(UpdateSource.Api, UpdateSource.Api, 9_999, false)]
    [InlineData(UpdateSource.Api, UpdateSource.Api, -10_000, true)] // the later poll delivered first (both still fresh)
    public void A_held_drop_is_confirmed_by_two_fresh_polls_ten_seconds_apart(UpdateSource first, UpdateSource second, long gapMs, bool confirmed)
    {
        var state = Pushed();
        var firstAt = T + 12_000;
        FieldMerge.Apply(state, Score(first, firstAt, 2, 0, 0), Now);
        var o = FieldMerge.Apply(state, Score(second, firstAt + gapMs, 2, 0, 0), Now);

        Assert.Equal(confirmed ? 0 : 1, state.HomeScore!.Value);
        Assert.Equal(confirmed ? FieldOutcome.Applied : FieldOutcome.Rejected, Field(o, "home_score").Outcome);
        Assert.Equal(confirmed, state.HomeScoreDropConfirmed);
        Assert.False(state.AwayScoreDropConfirmed);
        if (confirmed)
        {
            Assert.Contains(new ConfirmedScoreDrop("home_score", 1, 0), o.Events);
            Assert.Contains(new VarCorrection("home_score", 1, 0), o.Events);
            Assert.Null(state.HomeScoreDrop);
            Assert.Equal(0, state.HomeScores!.Value[0]);
        }
    }

    [Fact]
    public void A_fresh_poll_showing_the_pushed_score_ends_the_wait_and_keeps_the_push_time()
    {
        var state = Pushed();
        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 1_000, 2, 0, 0), Now); // lagging
        var caughtUp = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 7_000, 2, 1, 0), Now);
        Assert.Equal(FieldOutcome.Applied, Field(caughtUp, "home_score").Outcome); // a confirmation: newer observation
        Assert.Null(state.HomeScoreDrop);

        // 11 s after the first lagging poll, but the two polls that show 0 are only 3 s apart, and the
        // value shown was pushed 12 s ago although a poll stored it last: held.
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 12_000, 2, 0, 0), Now);
        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(o, "home_score").Reason);
        Assert.Equal(1, state.HomeScore!.Value);
    }

    [Theory]
    [InlineData(UpdateSource.Mqtt)]
    [InlineData(UpdateSource.Admin)]
    public void A_drop_sent_by_push_or_admin_lands_at_once(UpdateSource source)
    {
        var state = Pushed();
        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 2_000, 2, 0, 0), Now); // held
        var o = FieldMerge.Apply(state, Score(source, T + 3_000, 2, 0, 0), Now);

        Assert.Equal((0, source), (state.HomeScore!.Value, state.HomeScore.Source));
        Assert.Equal(FieldOutcome.Applied, Field(o, "home_score").Outcome);
        Assert.Contains(new VarCorrection("home_score", 1, 0), o.Events);
        Assert.DoesNotContain(o.Events, e => e is UnconfirmedScoreDrop or ConfirmedScoreDrop);
        Assert.Null(state.HomeScoreDrop);
        Assert.False(state.HomeScoreDropConfirmed);
    }

    [Theory]
    [InlineData(29_999, false)]
    [InlineData(30_000, true)]
    [InlineData(90_000, true)]
    public void A_lower_polled_score_30_s_or_more_after_the_push_lands_at_once(long afterPushMs, bool immediate)
    {
        var state = Pushed();
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, T + afterPushMs, 2, 0, 0), Now);

        Assert.Equal(immediate ? 0 : 1, state.HomeScore!.Value);
        Assert.Equal(immediate ? FieldOutcome.Applied : FieldOutcome.Rejected, Field(o, "home_score").Outcome);
        Assert.Equal(immediate, o.Events.Contains(new VarCorrection("home_score", 1, 0)));
        Assert.False(state.HomeScoreDropConfirmed);
    }

    [Fact]
    public void A_lower_status_in_the_same_lagging_snapshot_still_follows_the_regression_rule()
    {
        var state = Pushed(status: 4);
        FieldMerge.Apply(state, Status(UpdateSource.Api, T + 1_000, 4), Now);

        var first = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 2_000, 3, 0, 0), Now);
        Assert.Equal(RejectReasons.UnconfirmedRegression, Field(first, "status_id").Reason);
        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(first, "home_score").Reason);

        // 5 s later the regression is confirmed (its own rule); the score waits for its 10 s.
        var second = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 7_000, 3, 0, 0), Now);
        Assert.Equal(FieldOutcome.Applied, Field(second, "status_id").Outcome);
        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(second, "home_score").Reason);
        Assert.Equal((3, 1), (state.Status!.Value, state.HomeScore!.Value));

        var third = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 12_000, 3, 0, 0), Now);
        Assert.Equal(FieldOutcome.Applied, Field(third, "home_score").Outcome);
        Assert.Equal((3, 0), (state.Status!.Value, state.HomeScore!.Value));
    }

    [Fact]
    public void A_higher_polled_score_soon_after_a_push_is_not_held()
    {
        var state = Pushed();
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 2_000, 2, 2, 0), Now);
        Assert.Equal(FieldOutcome.Applied, Field(o, "home_score").Outcome);
        Assert.Equal(2, state.HomeScore!.Value);
    }

    [Fact]
    public void A_pushed_score_folded_in_from_the_row_still_holds_a_lagging_poll_after_a_poll_repeated_it()
    {
        // A reload folds in the row (2, mqtt, T) over state saved before that push: no push on record. A poll repeating
        // 2 takes the register over; a poll of 1 three seconds after the push is still a lagging snapshot (rule 1).
        var state = new MatchState();
        new TsMatchRow { ExternalId = "m", HomeScore = 2, HomeScoreSource = "mqtt", HomeScoreTimestamp = T }.MergeInto(state);
        Assert.Null(state.HomeScorePush);

        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 1_000, 2, 2, 0), Now);
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 3_000, 2, 1, 0), Now);

        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(o, "home_score").Reason);
        Assert.Equal(2, state.HomeScore!.Value);
    }

    [Fact]
    public void A_push_delivered_after_a_newer_poll_of_its_value_still_holds_a_lagging_poll()
    {
        // The streams are delivered concurrently (or a hand-over replays): poll 2 at +1 s, then the push of 2 at +0 s,
        // then a poll of 1 at +3 s. In observation order the 1 is a lagging snapshot; it must be one in this order too.
        var state = new MatchState();
        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 1_000, 2, 2, 0), Now);
        Assert.Equal(FieldOutcome.Unchanged, Field(FieldMerge.Apply(state, Score(UpdateSource.Mqtt, T, 2, 2, 0), Now), "home_score").Outcome);
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 3_000, 2, 1, 0), Now);

        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(o, "home_score").Reason);
        Assert.Equal(2, state.HomeScore!.Value);
    }

    [Fact]
    public void A_repeated_push_folded_in_from_the_row_is_the_push_rule_1_counts_from()
    {
        // State saved with a push of 2 long ago; the row (folded in at a reload) holds a later push of the same 2. A poll
        // repeating 2, then a poll of 1 three seconds after the later push: held, as it would have been without the reload.
        var state = Pushed(home: 2);
        new TsMatchRow { ExternalId = "m", HomeScore = 2, HomeScoreSource = "mqtt", HomeScoreTimestamp = T + 40_000 }.MergeInto(state);

        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 41_000, 2, 2, 0), Now);
        var o = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 43_000, 2, 1, 0), Now);

        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(o, "home_score").Reason);
        Assert.Equal(2, state.HomeScore!.Value);
    }

    [Theory]
    [InlineData("mqtt", 2, "mqtt")] // the row's push beats the state's poll of the same millisecond (score priority)
    [InlineData("api", 1, "watchdog")] // an api row does not beat the state's watchdog of the same millisecond
    public void A_row_folded_in_at_the_same_millisecond_as_the_state_wins_by_source_priority(string rowSource, int expected, string expectedSource)
    {
        var state = new MatchState { HomeScore = new Provenanced<int>(1, rowSource == "mqtt" ? UpdateSource.Api : UpdateSource.Watchdog, T) };
        new TsMatchRow { ExternalId = "m", HomeScore = 2, HomeScoreSource = rowSource, HomeScoreTimestamp = T }.MergeInto(state);
        Assert.Equal((expected, expectedSource, T), (state.HomeScore!.Value, state.HomeScore.Source.ToWire(), state.HomeScore.ObservedAtMs));
    }

    [Fact]
    public void The_confirmed_flag_stays_while_the_dropped_value_stands_and_goes_when_it_changes()
    {
        var state = Pushed();
        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 2_000, 2, 0, 0), Now);
        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 12_000, 2, 0, 0), Now);
        Assert.True(state.HomeScoreDropConfirmed);

        FieldMerge.Apply(state, Score(UpdateSource.Api, T + 14_000, 2, 0, 0), Now); // a poll that confirms the value
        Assert.True(state.HomeScoreDropConfirmed);

        FieldMerge.Apply(state, Score(UpdateSource.Mqtt, T + 20_000, 2, 1, 0), Now); // a new goal
        Assert.False(state.HomeScoreDropConfirmed);
    }

    [Fact]
    public void Polls_still_showing_a_goal_that_push_cancelled_do_not_bring_it_back()
    {
        var state = Pushed(home: 2);
        var cancel = FieldMerge.Apply(state, Score(UpdateSource.Mqtt, T + 1_000, 2, 1, 0), Now);
        Assert.Contains(new VarCorrection("home_score", 2, 1), cancel.Events); // by push: at once

        var lagging = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 3_000, 2, 2, 0), Now);
        Assert.Equal(RejectReasons.UnconfirmedScoreDrop, Field(lagging, "home_score").Reason);
        Assert.Equal(1, state.HomeScore!.Value);

        // A goal the push has not shown yet is not the cancelled value: it lands.
        var newGoal = FieldMerge.Apply(state, Score(UpdateSource.Api, T + 5_000, 2, 3, 0), Now);
        Assert.Equal(FieldOutcome.Applied, Field(newGoal, "home_score").Outcome);
        Assert.Equal(3, state.HomeScore!.Value);
    }

    // ---- Review 2 of the replay of updates older by provider time (FieldMerge.Apply(..., replay: true)) ----

    [Fact]
    public void A_poll_refused_as_stale_as_a_whole_is_not_kept_to_replay_when_the_minute_clock_changed_with_it()
    {
        // The owner's row: second half, 2-1 at provider time NowS - 5 (polled at Now - 20 s); the second half's kick-off
        // is unknown, so the minute is estimated and its basis is what grain state keeps (MatchStateExtras).
        var owner = new MatchState();
        FieldMerge.Apply(owner, Score(UpdateSource.Api, Now - 3_600_000, 2, 0, 0, NowS - 3_600) with { ProviderUpdateTime = NowS - 3_600 }, Now);
        FieldMerge.Apply(owner, Score(UpdateSource.Api, Now - 20_000, 4, 2, 1) with { ProviderUpdateTime = NowS - 5 }, Now);
        MinuteClock.Recompute(owner, Now);
        var row = TsMatchRow.From("m", owner);
        MatchState Reload()
        {
            var s = new MatchState();
            row.MergeInto(s);
            return s;
        }

        // An activation without the lease starts from that row (no grain state saved with this basis). Its first update
        // is a lagging answer: requested at Now - 10 s, the provider's snapshot of NowS - 60 (1-1).
        var state = Reload();
        var lagging = Score(UpdateSource.Api, Now - 10_000, 4, 1, 1) with { ProviderUpdateTime = NowS - 60 };

        // MatchGrain.ApplyOne, step by step.
        var extrasBefore = MatchStateExtras.Of(state);
        var first = FieldMerge.Apply(state, lagging, Now);
        MinuteClock.Recompute(state, Now);
        var extrasChanged = MatchStateExtras.Of(state) != extrasBefore;

        // Answered "rejected: stale" whole, yet kept: ApplyOne keeps outcome.Replayable when extrasChanged.
        Assert.All(first.Result.Fields, f => Assert.Equal(RejectReasons.Stale, f.Reason));
        Assert.True(extrasChanged);
        Assert.Equal(2, state.HomeScore!.Value);

        // Refused whole where it was decided (the newer snapshot was there first): nothing of it is kept to replay, so
        // nothing of it can land at the lease take (it did: 1-1 replaced 2-1, counted as a VAR correction).
        Assert.Null(first.Replayable);
    }

    [Fact]
    public void A_replayed_lagging_poll_older_by_provider_time_ends_in_a_state_one_delivery_order_reaches()
    {
        // The row both activations started from: second half, 1-1, provider time NowS - 600.
        MatchState Base() => InOrder(new MatchState(), Score(UpdateSource.Api, Now - 600_000, 4, 1, 1) with { ProviderUpdateTime = NowS - 600 });

        // The owner's poll: full time, 2-1, provider time NowS - 30, requested at Now - 20 s.
        var final = Score(UpdateSource.Api, Now - 20_000, 8, 2, 1) with { ProviderUpdateTime = NowS - 30 };
        // The lease-less activation's poll, requested later (Now - 10 s) and answered from a lagging API:
        // the provider's snapshot of NowS - 120, still 1-1 in the second half. Answered Applied there (status refreshed).
        var lagging = Score(UpdateSource.Api, Now - 10_000, 4, 1, 1) with { ProviderUpdateTime = NowS - 120 };
        Assert.True(FieldMerge.Apply(Base(), lagging, Now).Result.AnyApplied);

        static (int Status, int Home, int Away) Of(MatchState s) => (s.Status!.Value, s.HomeScore!.Value, s.AwayScore!.Value);
        var finalFirst = InOrder(Base(), final, lagging);
        var laggingFirst = InOrder(Base(), lagging, final);

        // The take-over: the owner's row (final) reloaded, the lagging poll replayed.
        var takeOver = InOrder(Base(), final);
        FieldMerge.Apply(takeOver, lagging, Now, replay: true);

        // One activation receiving both decides (8, 2-1) or (4, 1-1). Decided field by field, the replay (observed after the
        // newer snapshot) left "full time 1-1", which no snapshot showed; superseded by that snapshot, it leaves (8, 2-1).
        Assert.Equal((8, 2, 1), Of(finalFirst));
        Assert.Equal((4, 1, 1), Of(laggingFirst));
        Assert.Contains(Of(takeOver), new[] { Of(finalFirst), Of(laggingFirst) });
    }

    [Fact]
    public void A_provider_time_taken_from_a_replay_is_a_sighting_so_an_earlier_replay_is_still_decided_field_by_field()
    {
        // The owner's state: second half, provider time NowS - 40 seen at Now - 40 s.
        var state = InOrder(new MatchState(), Status(UpdateSource.Api, Now - 40_000, 4) with { ProviderUpdateTime = NowS - 40 });
        // It adopts a poll another activation answered (a hand-over): 2 at Now - 10 s, held as an unconfirmed regression;
        // the provider time NowS - 10 is taken from it.
        var held = FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 10_000, 2) with { ProviderUpdateTime = NowS - 10 }, Now, replay: true);
        Assert.Equal(RejectReasons.UnconfirmedRegression, Field(held, "status_id").Reason);
        // Then a refresh of 4 that a third activation answered Applied, observed at Now - 20 s (before the held 2): older by
        // provider time. In observation order (4, 4, then 2 held) the status is 4 as of Now - 20 s; when the sighting of
        // NowS - 10, taken by a replay, was not known here, the refresh was superseded as a whole and lost.
        var refresh = FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20_000, 4) with { ProviderUpdateTime = NowS - 20 }, Now, replay: true);

        Assert.Equal(FieldOutcome.Applied, Field(refresh, "status_id").Outcome);
        Assert.Equal((4, Now - 20_000, NowS - 10), (state.Status!.Value, state.Status.ObservedAtMs, state.ProviderUpdateTime));
        Assert.Equal(2, state.Regression?.Status); // observed before the held sighting: the candidate stands
    }

    [Fact]
    public void A_replayed_watchdog_poll_observed_after_the_held_sighting_leaves_the_regression_and_its_repoll()
    {
        // The owner's state: 4, then its newer snapshot (provider time NowS - 10) shows 2: held, re-poll requested.
        var state = new MatchState();
        FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 60_000, 4) with { ProviderUpdateTime = NowS - 60 }, Now);
        var held = FieldMerge.Apply(state, Status(UpdateSource.Api, Now - 20_000, 2) with { ProviderUpdateTime = NowS - 10 }, Now);
        Assert.Equal(RejectReasons.UnconfirmedRegression, Field(held, "status_id").Reason);
        Assert.True(state.RepollRequested);

        // A watchdog re-poll answered Applied by a lease-less activation, requested at Now - 15 s but answered with the
        // provider's snapshot of NowS - 30 (before the one that showed 2): older by provider time where it is replayed.
        var watchdog = Status(UpdateSource.Watchdog, Now - 15_000, 4) with { ProviderUpdateTime = NowS - 30 };
        FieldMerge.Apply(state, watchdog, Now, replay: true);

        // Observed after the snapshot that showed 2 (and brought the stored provider time): superseded by it, nothing changes.
        Assert.True(state.RepollRequested);
        Assert.Equal(2, state.Regression?.Status);
    }

    [Fact]
    public void An_update_refused_whole_as_out_of_range_is_not_kept_to_replay()
    {
        var owner = new MatchState();
        FieldMerge.Apply(owner, Score(UpdateSource.Api, Now - 3_600_000, 2, 0, 0, NowS - 3_600), Now);
        FieldMerge.Apply(owner, Score(UpdateSource.Api, Now - 20_000, 4, 2, 1), Now);
        MinuteClock.Recompute(owner, Now);
        var row = TsMatchRow.From("m", owner);
        var state = new MatchState();
        row.MergeInto(state);

        // Stamped by a poller whose clock is 6 min ahead: refused whole here, kept (the minute clock changed grain-state data).
        var ahead = Score(UpdateSource.Api, Now + 360_000, 4, 0, 1);
        var extrasBefore = MatchStateExtras.Of(state);
        var first = FieldMerge.Apply(state, ahead, Now);
        MinuteClock.Recompute(state, Now);
        Assert.All(first.Result.Fields, f => Assert.Equal(RejectReasons.OutOfRange, f.Reason));
        Assert.True(MatchStateExtras.Of(state) != extrasBefore);

        // Not kept to replay: 2 minutes later (a lease re-take) it would be in range, land, and its future time would beat
        // every real poll for minutes.
        Assert.Null(first.Replayable);
    }
    // ---- Review 3: the replay rule checks only the snapshot that brought the stored provider time ----

    [Fact]
    public void The_provider_times_kept_are_the_last_sixteen_and_the_oldest_goes_without_changing_the_next()
    {
        var state = new MatchState();
        // Provider times 10..27, observed in order but for 11 (observed first) and 25 (seen again earlier below).
        for (var t = 10; t < 28; t++) ProviderTimes.Seen(state, t, t == 11 ? 5 : t * 100);
        var pairs = state.ProviderTimesSeen!;
        Assert.Equal(ProviderTimes.Kept * 2, pairs.Length);
        Assert.Equal((12L, 1_200L), (pairs[0], pairs[1])); // 10 and 11 went; 12 keeps its own observation
        // A replay of provider time 12, observed at 1,250: the next snapshot (13) was first seen at 1,300, after it. Folded,
        // 11's observation (5) would have made it "observed after a newer snapshot" and superseded it as a whole.
        Assert.Equal(1_300, ProviderTimes.FirstSeenAfter(state, 12, stored: 27));
        ProviderTimes.Seen(state, 25, 1_000); // the same provider time seen earlier elsewhere: the earlier observation counts
        Assert.Equal(1_000, ProviderTimes.SeenAt(state, 25));
        Assert.Equal(1_000, ProviderTimes.FirstSeenAfter(state, 12, stored: 27));
        Assert.Null(ProviderTimes.FirstSeenAfter(state, 13, stored: 28)); // the newest came from a row that does not say: not known
        ProviderTimes.Seen(state, 3, 1); // older than every kept one: nothing to keep
        Assert.Equal((12L, 1_200L), (state.ProviderTimesSeen![0], state.ProviderTimesSeen[1]));

        // A state saved with fewer pairs (an earlier version kept four) keeps them when it takes the next one.
        var saved = new MatchState { ProviderTimesSeen = [40, 4_000, 41, 4_100, 42, 4_200, 43, 4_300] };
        ProviderTimes.Seen(saved, 44, 4_400);
        Assert.Equal([4_000L, 4_100, 4_200, 4_300, 4_400], Enumerable.Range(40, 5).Select(t => ProviderTimes.SeenAt(saved, t)!.Value));
    }

    [Fact]
    public void A_replayed_poll_older_than_an_intermediate_snapshot_delivered_before_it_was_requested_does_not_confirm_a_regression()
    {
        // The row both activations started from: second half, provider time NowS - 600.
        MatchState Base() => InOrder(new MatchState(), Status(UpdateSource.Api, Now - 600_000, 4) with { ProviderUpdateTime = NowS - 600 });

        // Owner B: V (provider time NowS - 40, requested Now - 30 s, answered by Now - 29 s) still shows 4.
        var v = Status(UpdateSource.Api, Now - 30_000, 4) with { ProviderUpdateTime = NowS - 40 };
        // Lease-less A (memory: the base row): U requested at Now - 20 s, AFTER V was delivered, answered from a lagging
        // API with the provider's snapshot of NowS - 100 (older than V's): shows 2. Held there, kept (its sighting).
        var u = Status(UpdateSource.Api, Now - 20_000, 2) with { ProviderUpdateTime = NowS - 100 };
        var a = Base();
        var extrasBefore = MatchStateExtras.Of(a);
        var atA = FieldMerge.Apply(a, u, Now);
        Assert.NotNull(atA.Replayable);
        Assert.True(MatchStateExtras.Of(a) != extrasBefore); // MatchGrain.ApplyOne keeps it (extrasChanged)
        // Owner B: S (provider time NowS - 5, requested Now - 10 s) shows 2: held as an unconfirmed regression (saved state).
        var s = Status(UpdateSource.Api, Now - 10_000, 2) with { ProviderUpdateTime = NowS - 5 };

        // One activation receiving the same updates: V was delivered before U was requested, so V precedes U in every
        // order consistent with real time, and U (older provider time than V) is stale as a whole: 4 stays, 2 held.
        var vus = InOrder(Base(), v, u, s);
        var vsu = InOrder(Base(), v, s, u);
        Assert.Equal(4, vus.Status!.Value);
        Assert.Equal(4, vsu.Status!.Value);

        // A takes the lease: B's state (V, S) reloaded, U replayed. U was observed before S but after V, a newer snapshot
        // the state took: superseded as a whole. Checked against S alone it was decided field by field, beat V's status
        // by observation time, and its stale sighting of 2 (10 s before S's) confirmed the regression 4 -> 2.
        var takeOver = InOrder(Base(), v, s);
        var replayed = FieldMerge.Apply(takeOver, u, Now, replay: true);
        Assert.DoesNotContain(replayed.Events, e => e is ConfirmedRegression);
        Assert.Equal(4, takeOver.Status!.Value);
    }

    [Fact]
    public void A_replayed_poll_older_than_an_intermediate_snapshot_delivered_before_it_was_requested_does_not_undo_its_goal()
    {
        MatchState Base() => InOrder(new MatchState(), Score(UpdateSource.Api, Now - 600_000, 4, 0, 0) with { ProviderUpdateTime = NowS - 600 });

        // Owner B: V (NowS - 40, requested Now - 30 s, delivered by Now - 29 s) shows the goal, 1-0.
        var v = Score(UpdateSource.Api, Now - 30_000, 4, 1, 0) with { ProviderUpdateTime = NowS - 40 };
        // Lease-less A: U requested at Now - 20 s, answered with the provider's snapshot of NowS - 100: 0-0. Applied there.
        var u = Score(UpdateSource.Api, Now - 20_000, 4, 0, 0) with { ProviderUpdateTime = NowS - 100 };
        var atA = FieldMerge.Apply(Base(), u, Now);
        Assert.True(atA.Result.AnyApplied);
        Assert.NotNull(atA.Replayable);
        // Owner B: S (NowS - 5, requested Now - 10 s) without score arrays (rejected at the edge as malformed).
        var s = Status(UpdateSource.Api, Now - 10_000, 4) with { ProviderUpdateTime = NowS - 5 };

        // One activation: V precedes U in every order consistent with real time; U is stale as a whole: 1-0.
        var vus = InOrder(Base(), v, u, s);
        var vsu = InOrder(Base(), v, s, u);
        Assert.Equal(1, vus.HomeScore!.Value);
        Assert.Equal(1, vsu.HomeScore!.Value);

        // The take-over replays U on B's state: observed after V, superseded as a whole (checked against S alone, it was
        // decided field by field and its 0 beat V's 1, a VAR correction).
        var takeOver = InOrder(Base(), v, s);
        FieldMerge.Apply(takeOver, u, Now, replay: true);
        Assert.Equal(1, takeOver.HomeScore!.Value);
    }

    [Fact]
    public void An_update_answered_as_a_whole_names_its_fields_as_the_rules_answer_them()
    {
        // The score array's phase kick-off is the kick-off of the phase its status names, the minute is the carried
        // minute: the names a field-by-field answer gives them (and the audit reads the refused value by).
        var state = new MatchState();
        var decided = FieldMerge.Apply(state, Score(UpdateSource.Api, Now - 2000, 4, 1, 0, NowS - 300) with { Minute = 50 }, Now);
        Assert.Contains(decided.Result.Fields, f => f.Field == "second_half_kickoff_ts");
        Assert.Contains(decided.Result.Fields, f => f.Field == "minute_carried");

        var future = Score(UpdateSource.Api, Now + 3_600_000, 4, 2, 0, NowS - 300) with { Minute = 51, SecondHalfKickoffTs = NowS - 300 };
        var whole = FieldMerge.Apply(state, future, Now);
        Assert.All(whole.Result.Fields, f => Assert.Equal(RejectReasons.OutOfRange, f.Reason));
        Assert.Equal(["status_id", "home_score", "away_score", "second_half_kickoff_ts", "minute_carried"], whole.Result.Fields.Select(f => f.Field));

        // A phase kick-off whose status names no phase (half time) is no field: the rules ignore it.
        Assert.Equal(["status_id", "home_score", "away_score"], FieldMerge.PresentFields(Score(UpdateSource.Api, Now, 3, 1, 0, NowS - 300)));

        // The refused values reach the audit under those names.
        var audited = AuditEvents.Of("m1", future, AuditValues.Of(state), state, whole);
        Assert.Equal(((long)NowS - 300).ToString(System.Globalization.CultureInfo.InvariantCulture),
            Assert.Single(audited, e => e.Field == "second_half_kickoff_ts").New);
        Assert.Equal("51", Assert.Single(audited, e => e.Field == "minute_carried").New);
    }
}
