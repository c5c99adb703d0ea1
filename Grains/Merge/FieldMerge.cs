using System.Text.RegularExpressions;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>
/// The merge rules of <c>shared/docs/domain-rules.md</c>, in one place: validates an update per
/// field and decides, field by field, what it changes in a <see cref="MatchState"/>. Pure: the
/// only inputs are the state, the update and "now"; the only output is the mutated state and the
/// returned outcome.
/// </summary>
public static partial class FieldMerge
{
    public const long Year2000 = 946_684_800;
    public const long FutureToleranceSeconds = 5 * 60;
    public const long RegressionConfirmMs = 5_000;
    public const long KickoffBeforeScheduleSeconds = 6 * 3600;
    public const long HalfSeconds = 45 * 60;
    public const int MaxScore = 99;

    /// <summary>A lower polled score this soon after the stored value was pushed may be a lagging HTTP API (rule 1).</summary>
    public const long LaggingSnapshotWindowMs = 30_000;

    /// <summary>How far apart two fresh polls must be to confirm a lower score held as a lagging snapshot.</summary>
    public const long ScoreDropConfirmMs = 10_000;

    public static bool IsValidId(string? id) => id is not null && IdPattern().IsMatch(id);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();

    /// <summary>
    /// Applies <paramref name="u"/> to <paramref name="state"/> at <paramref name="nowMs"/>. <paramref name="replay"/>: an
    /// update an activation accepted before, decided again on other state (a reload at a lease re-take, a hand-over, a
    /// migration). Older by provider time than that state (another owner took a newer snapshot meanwhile), it is decided
    /// field by field when it was observed before every newer snapshot this state took (<see cref="ProviderTimes"/>): it was
    /// answered before they existed, and they supersede only what of it landed (a newer observation wins; a status held as
    /// an unconfirmed regression leaves it standing). Otherwise it is superseded as a whole, kick-offs aside
    /// (<see cref="StaleReplay"/>). Kick-offs are set once as ever (invariant 7). A replay is not judged "in the future" again
    /// (observation time, provider time, kick-offs): that was judged by the clock of the silo that first decided it.
    /// </summary>
    public static MergeOutcome Apply(MatchState state, MatchUpdate u, long nowMs, bool replay = false)
    {
        var fields = new List<FieldResult>();
        var events = new List<MergeEvent>();
        var nowS = nowMs / 1000;
        var valuesBefore = ProviderValues(state);
        var providerChanged = false; // a strictly newer provider_update_time than the match held
        var olderSnapshot = false; // a replay older by provider time than the state it meets
        // What a replay of this update may decide again (MergeOutcome.Replayable): not what was refused here for a
        // reason that depends on when it is decided (a kick-off set once, a provider time out of range of this now).
        var replayable = u;

        // "In the future" is judged by the clock of the silo that first decided the update (here too for a kick-off): a
        // replay elsewhere (a hand-over, a take-over) on a silo whose clock is behind must not refuse what was answered
        // Applied. What was refused as out of range there is not replayed (MergeOutcome.Replayable).
        if (u.ObservedAtMs < Year2000 * 1000 || (!replay && u.ObservedAtMs > nowMs + FutureToleranceSeconds * 1000))
        {
            return RejectWhole(u, RejectReasons.OutOfRange, events);
        }

        if (u.ProviderUpdateTime is long put)
        {
            if (put < Year2000 || (!replay && put > nowS + FutureToleranceSeconds))
            {
                fields.Add(new("provider_update_time", FieldOutcome.Rejected, RejectReasons.OutOfRange));
                // Decided minutes later it would be in range: stored for good (the row keeps the greatest), every real
                // poll stale until then, and counted as a provider change that replaces an admin value it was held off.
                replayable = replayable with { ProviderUpdateTime = null };
            }
            else if (state.ProviderUpdateTime is long stored && put < stored)
            {
                // The provider says this snapshot predates what is stored: stale as a whole. A replay (above) observed before
                // every snapshot newer than it that this state took is decided field by field; observed after one (a lagging
                // answer), or when that is not known here, it is superseded by them, kick-offs aside (StaleReplay).
                if (!replay) return RejectWhole(u, RejectReasons.Stale, events);
                if (ProviderTimes.FirstSeenAfter(state, put, stored) is not long seen || u.ObservedAtMs >= seen)
                {
                    return StaleReplay(state, u, nowS, events);
                }

                olderSnapshot = true;
                fields.Add(new("provider_update_time", FieldOutcome.Rejected, RejectReasons.Stale));
            }
            else
            {
                var changed = state.ProviderUpdateTime != put;
                providerChanged = changed;
                state.ProviderUpdateTime = put;
                // A replay is a sighting too: the snapshot was observed then, wherever it was first decided. Without it, a
                // replay older by provider time met a stored time it could not place and was superseded as a whole, though
                // observed before it (an acknowledged status refresh lost so: OwnershipTests, FieldMergeTests).
                ProviderTimes.Seen(state, put, u.ObservedAtMs);
                fields.Add(new("provider_update_time", changed ? FieldOutcome.Applied : FieldOutcome.Unchanged));
            }
        }

        if (u.Source == UpdateSource.Watchdog && !olderSnapshot)
        {
            state.RepollRequested = false; // the re-poll arrived; a regression it still shows asks again below
        }

        if (u.StatusId is int rawStatus)
        {
            fields.Add(rawStatus is < 0 or > 13
                ? new("status_id", FieldOutcome.Rejected, RejectReasons.UnknownStatus)
                : MergeStatus(state, MatchPhases.Normalize(rawStatus), u, providerChanged, events));
        }

        MergeScoreSide(state, u, u.HomeScores, home: true, providerChanged, fields, events);
        MergeScoreSide(state, u, u.AwayScores, home: false, providerChanged, fields, events);

        if (u.MatchTime is long mt)
        {
            fields.Add(mt < Year2000 || mt > nowS + 400L * 86_400
                ? new("match_time", FieldOutcome.Rejected, RejectReasons.OutOfRange)
                : MergeMetadata(state, u, mt, s => s.MatchTime, (s, v) => s.MatchTime = v, "match_time"));
        }

        MergeIdField(state, u, u.CompetitionId, s => s.CompetitionId, (s, v) => s.CompetitionId = v, "competition_id", fields);
        MergeIdField(state, u, u.HomeTeamId, s => s.HomeTeamId, (s, v) => s.HomeTeamId = v, "home_team_id", fields);
        MergeIdField(state, u, u.AwayTeamId, s => s.AwayTeamId, (s, v) => s.AwayTeamId = v, "away_team_id", fields);

        replayable = MergeKickoffs(state, u, replayable, nowS, replay, events, fields);

        if (u.Minute is int carried)
        {
            if (carried is < 0 or > 200)
            {
                fields.Add(new(CarriedMinuteField, FieldOutcome.Rejected, RejectReasons.OutOfRange));
            }
            else if (SourcePriority.Wins(u.ObservedAtMs, u.Source, state.CarriedMinute, SourcePriority.ForStatus))
            {
                state.CarriedMinute = new(carried, u.Source, u.ObservedAtMs);
                fields.Add(new(CarriedMinuteField, FieldOutcome.Applied));
            }
            else
            {
                fields.Add(new(CarriedMinuteField, FieldOutcome.Rejected, RejectReasons.Stale));
            }
        }

        var fromProvider = u.Source is UpdateSource.Api or UpdateSource.Mqtt or UpdateSource.Watchdog;
        // A push is the provider sending a change (as for admin values, AdminHolds); a poll shows one by a newer change time or value.
        var providerChange = u.Source == UpdateSource.Mqtt || (fromProvider && (providerChanged || ProviderValues(state) != valuesBefore));
        // The first sighting by this activation counts as a change: a reactivated grain flags a frozen match one threshold later, never early.
        if (providerChange || (fromProvider && state.LastProviderChangeMs is null))
        {
            state.LastProviderChangeMs = Math.Max(state.LastProviderChangeMs ?? long.MinValue, u.ObservedAtMs);
        }

        ClearStale(state, u, providerChange, fields);
        return new MergeOutcome(new ApplyResult(fields), events, replayable);
    }

    /// <summary>
    /// Rule 6: a fresh observation, one showing a provider change (a push, a newer provider_update_time or a changed value)
    /// observed after the watchdog flagged the match, clears <see cref="MatchState.StaleSince"/>; so does the match
    /// leaving the live states. An unchanged re-listing (a diary every 10 minutes) is no sign of life.
    /// </summary>
    private static void ClearStale(MatchState state, MatchUpdate u, bool providerChange, List<FieldResult> fields)
    {
        if (state.StaleSince is not long since) return;
        var fresh = providerChange && u.ObservedAtMs >= since * 1000;
        if (!fresh && MatchPhases.IsLive(state.Status?.Value)) return;
        state.StaleSince = null;
        fields.Add(new("stale_since", FieldOutcome.Applied));
    }

    /// <summary>A hash of the values a provider sends (sources and observation times left out): equal before and after, nothing changed.</summary>
    private static int ProviderValues(MatchState s)
    {
        var h = new HashCode();
        h.Add(s.Status?.Value);
        h.Add(s.HomeScore?.Value);
        h.Add(s.AwayScore?.Value);
        foreach (var v in s.HomeScores?.Value ?? []) h.Add(v);
        h.Add(-1);
        foreach (var v in s.AwayScores?.Value ?? []) h.Add(v);
        h.Add(s.FirstHalfKickoff?.Value);
        h.Add(s.SecondHalfKickoff?.Value);
        h.Add(s.OvertimeKickoff?.Value);
        h.Add(s.MatchTime?.Value);
        h.Add(s.CompetitionId?.Value);
        h.Add(s.HomeTeamId?.Value);
        h.Add(s.AwayTeamId?.Value);
        return h.ToHashCode();
    }

    /// <summary>
    /// An admin value "wins over every other source": a poll (api, watchdog) replaces it only when it shows a provider
    /// change after the correction, a strictly newer provider_update_time than the match held. A push (mqtt) is a change
    /// by itself: one observed after the correction replaces it. The database's guard holds the same rule.
    /// </summary>
    private static bool AdminHolds<T>(Provenanced<T>? stored, MatchUpdate u, bool providerChanged) =>
        stored?.Source == UpdateSource.Admin && u.Source is not (UpdateSource.Admin or UpdateSource.Mqtt) && !providerChanged;

    private static MergeOutcome RejectWhole(MatchUpdate u, string reason, List<MergeEvent> events)
    {
        var names = PresentFields(u).ToList();
        if (names.Count == 0) names.Add("observed_at");
        // Nothing of it is replayed: answered refused as a whole, it must not land where it is decided again (kept only
        // because grain-state data changed with it, e.g. the minute's basis, it would meet other state and other times).
        return new MergeOutcome(new ApplyResult(names.Select(n => new FieldResult(n, FieldOutcome.Rejected, reason)).ToList()), events, null);
    }

    /// <summary>
    /// A replayed update older by provider time than the state it meets, observed after a newer snapshot this state took (or
    /// not known to be observed before them): superseded by them, as in the order "snapshot, then this" (stale as a whole),
    /// except its kick-offs: it was answered where it was first decided, a kick-off is set once,
    /// and a snapshot that leaves the kick-off out does not supersede it (invariant 7). A kick-off refused at that first
    /// decision is not replayed at all (<see cref="MergeOutcome.Replayable"/>); one that meets a different kick-off here is
    /// blocked as any other.
    /// </summary>
    private static MergeOutcome StaleReplay(MatchState state, MatchUpdate u, long nowS, List<MergeEvent> events)
    {
        var rest = u with { PhaseKickoffTs = null, FirstHalfKickoffTs = null, SecondHalfKickoffTs = null, OvertimeKickoffTs = null };
        var fields = PresentFields(rest).Select(n => new FieldResult(n, FieldOutcome.Rejected, RejectReasons.Stale)).ToList();
        MergeKickoffs(state, u, u, nowS, replay: true, events, fields);
        if (fields.Count == 0) fields.Add(new FieldResult("observed_at", FieldOutcome.Rejected, RejectReasons.Stale));
        return new MergeOutcome(new ApplyResult(fields), events, u);
    }

    /// <summary>
    /// Decides the kick-offs <paramref name="u"/> carries (the score array's phase kick-off, the explicit ones), their answers
    /// added to <paramref name="fields"/>; returns <paramref name="replayable"/> without those refused (set once: decided
    /// again on other state, a refused value would land for good).
    /// </summary>
    private static MatchUpdate MergeKickoffs(MatchState state, MatchUpdate u, MatchUpdate replayable, long nowS, bool replay, List<MergeEvent> events, List<FieldResult> fields)
    {
        bool Refused(Kickoff k, long value)
        {
            var result = MergeKickoff(state, k, value, u, nowS, replay, events);
            fields.Add(result);
            return result.Outcome == FieldOutcome.Rejected;
        }

        if (u.PhaseKickoffTs is long pk && PhaseKickoff(u.StatusId) is Kickoff k && Refused(k, pk)) replayable = replayable with { PhaseKickoffTs = null };
        if (u.FirstHalfKickoffTs is long fh && Refused(Kickoff.FirstHalf, fh)) replayable = replayable with { FirstHalfKickoffTs = null };
        if (u.SecondHalfKickoffTs is long sh && Refused(Kickoff.SecondHalf, sh)) replayable = replayable with { SecondHalfKickoffTs = null };
        if (u.OvertimeKickoffTs is long ot && Refused(Kickoff.Overtime, ot)) replayable = replayable with { OvertimeKickoffTs = null };
        return replayable;
    }

    /// <summary>The kick-off a score array's phase kick-off belongs to: the phase its status names (rule 3), else none.</summary>
    private static Kickoff? PhaseKickoff(int? status) => status is int st and >= 0 and <= 13 ? MatchPhases.Normalize(st) switch
    {
        MatchPhases.FirstHalf => Kickoff.FirstHalf,
        MatchPhases.SecondHalf => Kickoff.SecondHalf,
        MatchPhases.Overtime => Kickoff.Overtime,
        _ => null,
    } : null;

    /// <summary>
    /// The names of the fields an update carries, as the rules name them in their answers: the score array's phase
    /// kick-off as the kick-off of the phase its status names (none when it names no phase: the rules ignore it then),
    /// the minute as the carried minute. For an answer to the update as a whole (stale, out of range, refused).
    /// </summary>
    public static IEnumerable<string> PresentFields(MatchUpdate u)
    {
        var names = new List<string>(8);
        if (u.ProviderUpdateTime is not null) names.Add("provider_update_time");
        if (u.StatusId is not null) names.Add("status_id");
        if (u.HomeScores is not null) names.Add("home_score");
        if (u.AwayScores is not null) names.Add("away_score");
        if (u.MatchTime is not null) names.Add("match_time");
        if (u.CompetitionId is not null) names.Add("competition_id");
        if (u.HomeTeamId is not null) names.Add("home_team_id");
        if (u.AwayTeamId is not null) names.Add("away_team_id");
        if (u.PhaseKickoffTs is not null && PhaseKickoff(u.StatusId) is Kickoff phase) names.Add(KickoffField(phase));
        if (u.FirstHalfKickoffTs is not null) names.Add(KickoffField(Kickoff.FirstHalf));
        if (u.SecondHalfKickoffTs is not null) names.Add(KickoffField(Kickoff.SecondHalf));
        if (u.OvertimeKickoffTs is not null) names.Add(KickoffField(Kickoff.Overtime));
        if (u.Minute is not null) names.Add(CarriedMinuteField);
        return names.Distinct(StringComparer.Ordinal);
    }

    /// <summary>The carried minute's name in the rules' answers (an admin correction's <c>minute</c>).</summary>
    private const string CarriedMinuteField = "minute_carried";

    private static string KickoffField(Kickoff kickoff) => kickoff switch
    {
        Kickoff.FirstHalf => "first_half_kickoff_ts",
        Kickoff.SecondHalf => "second_half_kickoff_ts",
        _ => "overtime_kickoff_ts",
    };

    private static FieldResult MergeStatus(MatchState state, int status, MatchUpdate u, bool providerChanged, List<MergeEvent> events)
    {
        const string Field = "status_id";
        var stored = state.Status;
        if (AdminHolds(stored, u, providerChanged))
        {
            return stored!.Value == status ? new(Field, FieldOutcome.Unchanged) : new(Field, FieldOutcome.Rejected, RejectReasons.AdminHeld);
        }

        if (!SourcePriority.Wins(u.ObservedAtMs, u.Source, stored, SourcePriority.ForStatus))
        {
            return stored!.Value == status
                ? new(Field, FieldOutcome.Unchanged)
                : new(Field, FieldOutcome.Rejected, RejectReasons.Stale);
        }

        if (stored is null || IsForwardOrSide(stored.Value, status))
        {
            SetStatus(state, status, u);
            return new(Field, FieldOutcome.Applied);
        }

        // Backward move: only an admin, or two fresh api/watchdog snapshots >= 5 s apart.
        if (u.Source == UpdateSource.Admin)
        {
            events.Add(new ConfirmedRegression(stored.Value, status));
            SetStatus(state, status, u, confirmed: true);
            return new(Field, FieldOutcome.Applied);
        }

        if (u.Source is UpdateSource.Api or UpdateSource.Watchdog)
        {
            var candidate = state.Regression is { } c && c.Status == status
                ? c with { FirstSeenMs = Math.Min(c.FirstSeenMs, u.ObservedAtMs), LastSeenMs = Math.Max(c.LastSeenMs, u.ObservedAtMs) }
                : new RegressionCandidate(status, u.ObservedAtMs, u.ObservedAtMs);
            if (candidate.LastSeenMs - candidate.FirstSeenMs >= RegressionConfirmMs)
            {
                events.Add(new ConfirmedRegression(stored.Value, status));
                SetStatus(state, status, u, confirmed: true);
                return new(Field, FieldOutcome.Applied);
            }

            state.Regression = candidate;
        }

        state.RepollRequested = true;
        events.Add(new UnconfirmedRegression(stored.Value, status));
        return new(Field, FieldOutcome.Rejected, RejectReasons.UnconfirmedRegression);
    }

    private static bool IsForwardOrSide(int from, int to) =>
        from == to || MatchPhases.IsSideState(from) || MatchPhases.IsSideState(to) || to > from;

    private static void SetStatus(MatchState state, int status, MatchUpdate u, bool confirmed = false)
    {
        if (state.Status?.Value != status)
        {
            state.PhaseEnteredAtMs = u.ObservedAtMs;
        }

        // Seen not started (a delay counts only before the match ever ran): the first half began later.
        if (status == MatchPhases.NotStarted || (status == MatchPhases.Delay && state.Status?.Value is null or MatchPhases.NotStarted or MatchPhases.Delay))
        {
            state.LastNotStartedMs = Math.Max(state.LastNotStartedMs ?? 0, u.ObservedAtMs);
        }

        // A refresh of the stored status observed before a pending regression was first seen (a poll delivered
        // late) says nothing against it: the candidate stands, as it would have in observation order.
        var keep = state.Status?.Value == status && state.Regression is { } candidate && u.ObservedAtMs < candidate.FirstSeenMs;
        // A refresh of the same status keeps the mark: the row carrying it may replace the confirmed one unwritten.
        state.StatusConfirmed = confirmed || (state.Status?.Value == status && state.StatusConfirmed);
        state.Status = new(status, u.Source, u.ObservedAtMs);
        if (keep) return;
        state.Regression = null;
        state.RepollRequested = false;
    }

    private static void MergeScoreSide(MatchState state, MatchUpdate u, IReadOnlyList<int>? scores, bool home, bool providerChanged,
        List<FieldResult> fields, List<MergeEvent> events)
    {
        if (scores is null) return;
        var scoreField = home ? "home_score" : "away_score";
        var rawField = home ? "home_scores" : "away_scores";
        if (scores.Count != 7)
        {
            fields.Add(new(scoreField, FieldOutcome.Rejected, RejectReasons.Malformed));
            return;
        }

        if (u.Source == UpdateSource.Computed)
        {
            fields.Add(new(scoreField, FieldOutcome.Rejected, RejectReasons.SourceNotAllowed));
            return;
        }

        // The displayed score stands or falls on its own value: a bad card or corner count costs the
        // raw array, never a valid score of the same side.
        var overtime = scores[5];
        var displayed = overtime > 0 ? overtime : scores[0];
        var score = overtime is < 0 or > MaxScore || displayed is < 0 or > MaxScore
            ? new FieldResult(scoreField, FieldOutcome.Rejected, RejectReasons.OutOfRange)
            : AdminHolds(home ? state.HomeScore : state.AwayScore, u, providerChanged)
                ? ((home ? state.HomeScore : state.AwayScore)!.Value == displayed
                    ? new FieldResult(scoreField, FieldOutcome.Unchanged)
                    : new FieldResult(scoreField, FieldOutcome.Rejected, RejectReasons.AdminHeld))
                : MergeDisplayedScore(state, u, displayed, home, scoreField, events);
        fields.Add(score);
        if (score.Reason is RejectReasons.UnconfirmedScoreDrop or RejectReasons.AdminHeld)
        {
            // The array of a lagging snapshot lags too (its score elements show the old score), as does one an admin corrected.
            fields.Add(new(rawField, FieldOutcome.Rejected, score.Reason));
            return;
        }

        for (var i = 0; i < 7; i++)
        {
            var min = i == 4 ? -1 : 0; // -1 means "no data" only for corners
            if (scores[i] < min || scores[i] > MaxScore)
            {
                fields.Add(new(rawField, FieldOutcome.Rejected, RejectReasons.OutOfRange));
                return;
            }
        }

        var storedRaw = home ? state.HomeScores : state.AwayScores;
        if (SourcePriority.Wins(u.ObservedAtMs, u.Source, storedRaw, SourcePriority.ForMetadata))
        {
            var raw = new Provenanced<int[]>(scores.ToArray(), u.Source, u.ObservedAtMs);
            if (home) state.HomeScores = raw; else state.AwayScores = raw;
            fields.Add(new(rawField, FieldOutcome.Applied));
        }
        else
        {
            fields.Add(new(rawField, storedRaw!.Value.SequenceEqual(scores) ? FieldOutcome.Unchanged : FieldOutcome.Rejected,
                storedRaw.Value.SequenceEqual(scores) ? null : RejectReasons.Stale));
        }
    }

    /// <summary>
    /// One side's displayed score: last-writer-wins in either direction, except a lagging snapshot
    /// (rule 1, <see cref="IsLaggingSnapshot"/>): it changes nothing until a second fresh poll
    /// <see cref="ScoreDropConfirmMs"/> after the first shows the same score (or push or admin sends it).
    /// </summary>
    private static FieldResult MergeDisplayedScore(MatchState state, MatchUpdate u, int displayed, bool home, string field, List<MergeEvent> events)
    {
        var side = new ScoreSide(state, home);
        var stored = side.Score;
        if (!SourcePriority.Wins(u.ObservedAtMs, u.Source, stored, SourcePriority.ForScore))
        {
            // A push of the stored value that arrives after a newer poll of it (concurrent streams, a replay) still
            // says the value was pushed then: rule 1 holds a lagging poll against it as if it had come in order.
            if (u.Source == UpdateSource.Mqtt && stored!.Value == displayed && (side.Push is not { } known || known.Value != displayed || known.AtMs < u.ObservedAtMs))
            {
                side.Push = new ScorePush(displayed, side.Push is { } same && same.Value == displayed ? same.Replaced : null, u.ObservedAtMs);
            }

            return stored!.Value == displayed
                ? new(field, FieldOutcome.Unchanged)
                : new(field, FieldOutcome.Rejected, RejectReasons.Stale);
        }

        // A register pushed by mqtt whose push is not on record (a reload folded it in from the row, or from state saved
        // before the push): record it now, before a poll takes the register over, so that rule 1 still sees the push.
        // (A push on record for the same value but older, e.g. before a repeated push, gives way to the register's time.)
        if (stored is { Source: UpdateSource.Mqtt } && (side.Push is not { } onRecord || onRecord.Value != stored.Value || onRecord.AtMs < stored.ObservedAtMs))
        {
            side.Push = new ScorePush(stored.Value, side.Push is { } same && same.Value == stored.Value ? same.Replaced : null, stored.ObservedAtMs);
        }

        var confirmedDrop = false;
        if (IsLaggingSnapshot(side, u, displayed))
        {
            var candidate = side.Drop is { } c && c.Score == displayed
                ? c with { FirstSeenMs = Math.Min(c.FirstSeenMs, u.ObservedAtMs), LastSeenMs = Math.Max(c.LastSeenMs, u.ObservedAtMs) }
                : new ScoreDropCandidate(displayed, u.ObservedAtMs, u.ObservedAtMs);
            if (candidate.LastSeenMs - candidate.FirstSeenMs < ScoreDropConfirmMs)
            {
                side.Drop = candidate;
                state.RepollRequested = true;
                events.Add(new UnconfirmedScoreDrop(field, stored!.Value, displayed));
                return new(field, FieldOutcome.Rejected, RejectReasons.UnconfirmedScoreDrop);
            }

            confirmedDrop = displayed < stored!.Value;
            events.Add(new ConfirmedScoreDrop(field, stored.Value, displayed));
        }

        if (stored is not null && displayed < stored.Value)
        {
            events.Add(new VarCorrection(field, stored.Value, displayed));
        }

        var value = new Provenanced<int>(displayed, u.Source, u.ObservedAtMs);
        var valueChanged = stored?.Value != displayed;
        if (u.Source == UpdateSource.Mqtt)
        {
            var replaced = valueChanged ? stored?.Value : side.Push is { } p && p.Value == displayed ? p.Replaced : null;
            side.Push = new ScorePush(displayed, replaced, u.ObservedAtMs);
        }
        else if (valueChanged)
        {
            side.Push = null; // a poll that only confirms the value keeps its push
        }

        if (confirmedDrop) side.ConfirmedDrop = value;
        else if (valueChanged) side.ConfirmedDrop = null;
        side.Score = value;
        side.Drop = null;
        return new(field, FieldOutcome.Applied);
    }

    /// <summary>
    /// Rule 1: a fresh poll within <see cref="LaggingSnapshotWindowMs"/> of the push that showed the stored
    /// value is a lagging snapshot when it shows a lower score. It is one too when it shows exactly the
    /// value that push replaced (a VAR cancellation pushed, then polls still showing the goal): the
    /// rules say "newest wins" for a higher score, but landing it would bring back a cancelled goal for
    /// the length of the lag, the same flicker the rule exists to prevent. Any other higher score lands.
    /// </summary>
    private static bool IsLaggingSnapshot(ScoreSide side, MatchUpdate u, int displayed)
    {
        if (u.Source is not (UpdateSource.Api or UpdateSource.Watchdog) || side.Score is not { } stored || displayed == stored.Value) return false;
        var push = side.Push is { } p && p.Value == stored.Value ? p : null;
        var pushedAt = stored.Source == UpdateSource.Mqtt ? Math.Max(stored.ObservedAtMs, push?.AtMs ?? long.MinValue) : push?.AtMs;
        if (pushedAt is not long at || u.ObservedAtMs - at >= LaggingSnapshotWindowMs) return false;
        return displayed < stored.Value || displayed == push?.Replaced;
    }

    /// <summary>One side's score and what rule 1 keeps for it, in <see cref="MatchState"/>.</summary>
    private readonly struct ScoreSide(MatchState s, bool home)
    {
        public Provenanced<int>? Score
        {
            get => home ? s.HomeScore : s.AwayScore;
            set { if (home) s.HomeScore = value; else s.AwayScore = value; }
        }

        public ScoreDropCandidate? Drop
        {
            get => home ? s.HomeScoreDrop : s.AwayScoreDrop;
            set { if (home) s.HomeScoreDrop = value; else s.AwayScoreDrop = value; }
        }

        public ScorePush? Push
        {
            get => home ? s.HomeScorePush : s.AwayScorePush;
            set { if (home) s.HomeScorePush = value; else s.AwayScorePush = value; }
        }

        public Provenanced<int>? ConfirmedDrop
        {
            get => home ? s.HomeScoreConfirmedDrop : s.AwayScoreConfirmedDrop;
            set { if (home) s.HomeScoreConfirmedDrop = value; else s.AwayScoreConfirmedDrop = value; }
        }
    }

    private static FieldResult MergeMetadata<T>(MatchState state, MatchUpdate u, T value,
        Func<MatchState, Provenanced<T>?> get, Action<MatchState, Provenanced<T>> set, string field)
    {
        // Provider metadata: the newest api poll wins; a push delta carries none of it.
        if (u.Source is UpdateSource.Mqtt or UpdateSource.Computed)
        {
            return new(field, FieldOutcome.Rejected, RejectReasons.SourceNotAllowed);
        }

        var stored = get(state);
        if (SourcePriority.Wins(u.ObservedAtMs, u.Source, stored, SourcePriority.ForMetadata))
        {
            set(state, new(value, u.Source, u.ObservedAtMs));
            return new(field, FieldOutcome.Applied);
        }

        return EqualityComparer<T>.Default.Equals(stored!.Value, value)
            ? new(field, FieldOutcome.Unchanged)
            : new(field, FieldOutcome.Rejected, RejectReasons.Stale);
    }

    private static void MergeIdField(MatchState state, MatchUpdate u, string? value,
        Func<MatchState, Provenanced<string>?> get, Action<MatchState, Provenanced<string>> set, string field, List<FieldResult> fields)
    {
        if (value is null) return;
        fields.Add(IsValidId(value)
            ? MergeMetadata(state, u, IdStrings.Shared(value), get, set, field)
            : new(field, FieldOutcome.Rejected, RejectReasons.OutOfRange));
    }

    private enum Kickoff { FirstHalf, SecondHalf, Overtime }

    private static FieldResult MergeKickoff(MatchState state, Kickoff kickoff, long value, MatchUpdate u, long nowS, bool replay, List<MergeEvent> events)
    {
        var field = KickoffField(kickoff);
        if (value == 0) return new(field, FieldOutcome.Unchanged); // 0 = unknown, never stored
        if (value < Year2000) return new(field, FieldOutcome.Rejected, RejectReasons.OutOfRange);
        if (u.Source == UpdateSource.Computed) return new(field, FieldOutcome.Rejected, RejectReasons.SourceNotAllowed);

        // "In the future" is judged by the clock of the silo that first decided the update: a replay elsewhere (a
        // hand-over, a take-over) on a silo whose clock is behind must not refuse a kick-off answered Applied. What
        // depends on the state (schedule, the other halves) is judged again: the state may differ there.
        var implausible =
            (!replay && value > nowS + FutureToleranceSeconds)
            || (state.MatchTime is { } mt && value < mt.Value - KickoffBeforeScheduleSeconds)
            || (kickoff == Kickoff.SecondHalf && state.FirstHalfKickoff is { } fh && value < fh.Value + HalfSeconds)
            || (kickoff == Kickoff.Overtime && state.SecondHalfKickoff is { } sh && value < sh.Value + HalfSeconds);
        if (implausible) return new(field, FieldOutcome.Rejected, RejectReasons.ImplausibleKickoff);

        var stored = kickoff switch
        {
            Kickoff.FirstHalf => state.FirstHalfKickoff,
            Kickoff.SecondHalf => state.SecondHalfKickoff,
            _ => state.OvertimeKickoff,
        };
        if (stored is not null && stored.Value == value) return new(field, FieldOutcome.Unchanged);
        var set = new Provenanced<long>(value, u.Source, u.ObservedAtMs);
        if (stored is not null && u.Source != UpdateSource.Admin)
        {
            events.Add(new KickoffOverwriteBlocked(field, stored.Value, value));
            return new(field, FieldOutcome.Rejected, RejectReasons.KickoffOverwriteBlocked);
        }

        // An older admin correction (delivered late, or replayed at a take-over) never replaces a newer one.
        if (stored is not null && !KickoffRegister.IsNewerAdmin(set, stored)) return new(field, FieldOutcome.Rejected, RejectReasons.Stale);

        if (stored is not null) events.Add(new KickoffChanged(field, stored.Value, value));
        switch (kickoff)
        {
            case Kickoff.FirstHalf: state.FirstHalfKickoff = set; break;
            case Kickoff.SecondHalf: state.SecondHalfKickoff = set; break;
            default: state.OvertimeKickoff = set; break;
        }

        return new(field, FieldOutcome.Applied);
    }
}
