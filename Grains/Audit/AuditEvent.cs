using System.Globalization;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;

namespace Orleans.GoalGpt.Grains.Audit;

/// <summary>
/// One recorded event of a match's history (<c>match_events</c>): what the rules decided, with the
/// values, the source and the observation time of the update that caused it.
/// </summary>
public sealed record AuditEvent(
    string MatchId,
    string Kind,
    string? Field,
    string? Old,
    string? New,
    string? Source,
    long ObservedAtMs,
    string? Reason = null,
    string? KeyName = null)
{
    /// <summary>
    /// Decided again from an update another activation accepted (a hand-over): that one's flush may have committed
    /// the same event with its acknowledgement lost, so it is written only where not there yet.
    /// </summary>
    public bool MayExist { get; init; }
}

/// <summary>The <c>kind</c> column of <c>match_events</c>.</summary>
public static class AuditKinds
{
    public const string ValueChanged = "value_changed";
    public const string VarCorrection = "var_correction";
    public const string KickoffOverwriteBlocked = "kickoff_overwrite_blocked";
    public const string KickoffChanged = "kickoff_changed";
    public const string RegressionUnconfirmed = "status_regression_unconfirmed";
    public const string RegressionConfirmed = "status_regression_confirmed";
    public const string ScoreDropUnconfirmed = "score_drop_unconfirmed";
    public const string ScoreDropConfirmed = "score_drop_confirmed";
    public const string AdminCorrection = "admin_correction";
    public const string InputRejected = "input_rejected";
    public const string StaleFlagged = "stale_flagged";
    public const string StaleCleared = "stale_cleared";
}

/// <summary>
/// The values of a match an update can change, taken before the merge (references to immutable
/// registers: taking them costs nothing), so that an applied field's old value can be recorded.
/// </summary>
public readonly record struct AuditValues(
    Provenanced<int>? Status, Provenanced<int>? HomeScore, Provenanced<int>? AwayScore,
    Provenanced<int[]>? HomeScores, Provenanced<int[]>? AwayScores,
    Provenanced<long>? FirstHalfKickoff, Provenanced<long>? SecondHalfKickoff, Provenanced<long>? OvertimeKickoff,
    Provenanced<long>? MatchTime, Provenanced<string>? CompetitionId, Provenanced<string>? HomeTeamId, Provenanced<string>? AwayTeamId,
    Provenanced<int>? CarriedMinute, long? StaleSince)
{
    public static AuditValues Of(MatchState s) => new(s.Status, s.HomeScore, s.AwayScore, s.HomeScores, s.AwayScores,
        s.FirstHalfKickoff, s.SecondHalfKickoff, s.OvertimeKickoff, s.MatchTime, s.CompetitionId, s.HomeTeamId, s.AwayTeamId,
        s.CarriedMinute, s.StaleSince);

    /// <summary>The value of <paramref name="field"/> as text (null: none), or false when the field is not audited.</summary>
    public bool TryGet(string field, out string? value)
    {
        value = field switch
        {
            "status_id" => Text(Status?.Value),
            "home_score" => Text(HomeScore?.Value),
            "away_score" => Text(AwayScore?.Value),
            "home_scores" => Array(HomeScores?.Value),
            "away_scores" => Array(AwayScores?.Value),
            "first_half_kickoff_ts" => Text(FirstHalfKickoff?.Value),
            "second_half_kickoff_ts" => Text(SecondHalfKickoff?.Value),
            "overtime_kickoff_ts" => Text(OvertimeKickoff?.Value),
            "match_time" => Text(MatchTime?.Value),
            "competition_id" => CompetitionId?.Value,
            "home_team_id" => HomeTeamId?.Value,
            "away_team_id" => AwayTeamId?.Value,
            "minute_carried" => Text(CarriedMinute?.Value),
            _ => null,
        };
        // provider_update_time moves with every provider change and the computed minute with the clock:
        // neither is an observation of the match worth a history line.
        return field is "status_id" or "home_score" or "away_score" or "home_scores" or "away_scores" or "first_half_kickoff_ts"
            or "second_half_kickoff_ts" or "overtime_kickoff_ts" or "match_time" or "competition_id" or "home_team_id"
            or "away_team_id" or "minute_carried";
    }

    public static string? Text(long? v) => v?.ToString(CultureInfo.InvariantCulture);

    private static string? Text(int? v) => v?.ToString(CultureInfo.InvariantCulture);

    private static string? Array(int[]? v) => v is null ? null : "[" + string.Join(',', v) + "]";
}

/// <summary>
/// Turns one merge (the update, the values before, the state after, the outcome) into audit events.
/// Pure. Repeated no-op observations produce nothing: an applied field whose value did not change (a
/// poll confirming what is stored) is no event, and a noticed event equal to the last one noticed for
/// the same field (a provider sending the same wrong kick-off every poll) is left out by <see cref="AuditTrail"/>.
/// </summary>
public static class AuditEvents
{
    public static List<AuditEvent> Of(string matchId, MatchUpdate u, AuditValues before, MatchState after, MergeOutcome outcome,
        string? correctionReason = null, string? keyName = null)
    {
        var source = u.Source.ToWire();
        var events = new List<AuditEvent>();
        var now = AuditValues.Of(after);
        foreach (var f in outcome.Result.Fields)
        {
            if (f.Outcome == FieldOutcome.Applied)
            {
                if (!before.TryGet(f.Field, out var old) || !now.TryGet(f.Field, out var @new) || old == @new) continue;
                // A raw array that changed with its side's displayed score says nothing more than the score's event (half the rows per goal).
                if (f.Field is "home_scores" or "away_scores" && ScoreChanged(before, now, f.Field)) continue;
                events.Add(new(matchId, AuditKinds.ValueChanged, f.Field, old, @new, source, u.ObservedAtMs));
            }
            else if (f.Outcome == FieldOutcome.Rejected && IsBadInput(f.Reason))
            {
                events.Add(new(matchId, AuditKinds.InputRejected, f.Field, null, AuditText.Safe(ValueOf(u, f.Field)), source, u.ObservedAtMs, f.Reason));
            }
        }

        foreach (var e in outcome.Events)
        {
            AuditEvent? ev = e switch
            {
                VarCorrection v => new(matchId, AuditKinds.VarCorrection, v.Field, Num(v.From), Num(v.To), source, u.ObservedAtMs),
                KickoffOverwriteBlocked k => new(matchId, AuditKinds.KickoffOverwriteBlocked, k.Field, Num(k.Stored), Num(k.Attempted), source, u.ObservedAtMs),
                KickoffChanged k => new(matchId, AuditKinds.KickoffChanged, k.Field, Num(k.From), Num(k.To), source, u.ObservedAtMs),
                UnconfirmedRegression r => new(matchId, AuditKinds.RegressionUnconfirmed, "status_id", Num(r.From), Num(r.To), source, u.ObservedAtMs),
                ConfirmedRegression r => new(matchId, AuditKinds.RegressionConfirmed, "status_id", Num(r.From), Num(r.To), source, u.ObservedAtMs),
                UnconfirmedScoreDrop d => new(matchId, AuditKinds.ScoreDropUnconfirmed, d.Field, Num(d.From), Num(d.To), source, u.ObservedAtMs),
                ConfirmedScoreDrop d => new(matchId, AuditKinds.ScoreDropConfirmed, d.Field, Num(d.From), Num(d.To), source, u.ObservedAtMs),
                _ => null,
            };
            if (ev is not null) events.Add(ev);
        }

        if (before.StaleSince is long since && after.StaleSince is null)
        {
            events.Add(new(matchId, AuditKinds.StaleCleared, "stale_since", AuditValues.Text(since), null, source, u.ObservedAtMs));
        }

        if (correctionReason is not null)
        {
            var fields = string.Join(',', outcome.Result.Fields.Select(f => $"{f.Field}:{(f.Outcome == FieldOutcome.Rejected ? f.Reason : f.Outcome.ToString().ToLowerInvariant())}"));
            events.Add(new(matchId, AuditKinds.AdminCorrection, null, null, fields, source, u.ObservedAtMs, AuditText.Safe(correctionReason), AuditText.Safe(keyName)));
        }

        return events;
    }

    private static bool ScoreChanged(AuditValues before, AuditValues now, string rawField) =>
        rawField == "home_scores" ? before.HomeScore?.Value != now.HomeScore?.Value : before.AwayScore?.Value != now.AwayScore?.Value;

    /// <summary>Rejections that say the input was wrong (not the rules working on good input: stale, held, blocked, backlog).</summary>
    private static bool IsBadInput(string? reason) =>
        reason is RejectReasons.Malformed or RejectReasons.OutOfRange or RejectReasons.UnknownStatus
            or RejectReasons.ImplausibleKickoff or RejectReasons.SourceNotAllowed;

    private static string? Num(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string? ValueOf(MatchUpdate u, string field) => field switch
    {
        "status_id" => Num(u.StatusId),
        "home_score" or "home_scores" => u.HomeScores is null ? null : "[" + string.Join(',', u.HomeScores) + "]",
        "away_score" or "away_scores" => u.AwayScores is null ? null : "[" + string.Join(',', u.AwayScores) + "]",
        "match_time" => Num(u.MatchTime),
        "competition_id" => u.CompetitionId,
        "home_team_id" => u.HomeTeamId,
        "away_team_id" => u.AwayTeamId,
        "first_half_kickoff_ts" => Num(u.FirstHalfKickoffTs ?? (Phase(u) == MatchPhases.FirstHalf ? u.PhaseKickoffTs : null)),
        "second_half_kickoff_ts" => Num(u.SecondHalfKickoffTs ?? (Phase(u) == MatchPhases.SecondHalf ? u.PhaseKickoffTs : null)),
        "overtime_kickoff_ts" => Num(u.OvertimeKickoffTs ?? (Phase(u) == MatchPhases.Overtime ? u.PhaseKickoffTs : null)),
        "minute_carried" => Num(u.Minute),
        "provider_update_time" => Num(u.ProviderUpdateTime),
        "observed_at" => Num(u.ObservedAtMs),
        _ => null,
    };

    private static string? Num(long? v) => v?.ToString(CultureInfo.InvariantCulture);

    /// <summary>The phase the update's score array names (status 6, the deprecated overtime, is overtime: rule 3).</summary>
    private static int? Phase(MatchUpdate u) => u.StatusId is int status ? MatchPhases.Normalize(status) : null;
}

/// <summary>
/// The events one activation noticed and has not handed to the write-behind yet (they ride with the
/// match's next row), and the last noticed event per kind and field, so that a provider repeating the
/// same refused value every poll is recorded once. Bounded: beyond <see cref="MaxHeld"/> (no lease for
/// long) the oldest are dropped and counted.
/// </summary>
public sealed class AuditTrail
{
    public const int MaxHeld = 2000;
    private List<AuditEvent>? _held;
    private Dictionary<(string Kind, string? Field), string?>? _lastNoticed;

    public int Held => _held?.Count ?? 0;

    /// <summary>Holds no event and remembers no notice: dropping it loses nothing.</summary>
    public bool IsEmpty => _held is null && _lastNoticed is null;

    /// <summary>Adds <paramref name="events"/>; returns how many were dropped for the bound.</summary>
    public int Add(List<AuditEvent> events)
    {
        foreach (var e in events)
        {
            if (IsNoticed(e.Kind))
            {
                _lastNoticed ??= [];
                var key = (e.Kind, e.Field);
                if (_lastNoticed.TryGetValue(key, out var last) && last == e.New) continue;
                _lastNoticed[key] = e.New;
            }
            else if (e.Kind is AuditKinds.ValueChanged or AuditKinds.RegressionConfirmed or AuditKinds.ScoreDropConfirmed && _lastNoticed is not null)
            {
                // The value moved: the same refusal later is news again.
                _lastNoticed.Remove((AuditKinds.RegressionUnconfirmed, "status_id"));
                _lastNoticed.Remove((AuditKinds.KickoffOverwriteBlocked, e.Field));
                _lastNoticed.Remove((AuditKinds.ScoreDropUnconfirmed, e.Field));
            }

            (_held ??= []).Add(e);
        }

        if (_held is null || _held.Count <= MaxHeld) return 0;
        var dropped = _held.Count - MaxHeld;
        _held.RemoveRange(0, dropped);
        return dropped;
    }

    /// <summary>Takes what is held (to ride with the row being enqueued).</summary>
    public List<AuditEvent>? Take()
    {
        var held = _held;
        _held = null;
        return held;
    }

    private static bool IsNoticed(string kind) =>
        kind is AuditKinds.KickoffOverwriteBlocked or AuditKinds.RegressionUnconfirmed or AuditKinds.ScoreDropUnconfirmed or AuditKinds.InputRejected;
}
