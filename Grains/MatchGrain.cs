using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.Runtime;
using Orleans.Storage;

namespace Orleans.GoalGpt.Grains;

/// <summary>
/// The single writer of one match. Decides every update field by field (<see cref="FieldMerge"/>),
/// keeps the minute current while the match is live (<see cref="MinuteClock"/>), hands the row to
/// the write-behind (<see cref="TsMatchesWriter"/>) and saves its rule state to grain storage.
/// </summary>
public sealed partial class MatchGrain(
    [PersistentState("match", StorageNames.Matches)] IPersistentState<MatchState> state,
    TimeProvider time,
    TsMatchesWriter writer,
    TsMatchesTable table,
    GoalGptMetrics metrics,
    IOptions<MatchGrainOptions> options,
    ILogger<MatchGrain> logger) : Grain, IMatchGrain
{
    private static readonly string[] MinuteFields = ["minute"];
    private bool _stateDirty;
    private long _lastSaveMs;
    private bool _validKey;

    private string Id => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _validKey = FieldMerge.IsValidId(Id);
        if (_validKey)
        {
            // Rows written after the last state save (or by the old system) are newer per field.
            var row = await table.ReadAsync(Id, cancellationToken);
            row?.MergeInto(state.State);
        }

        _lastSaveMs = Now();
        var tick = options.Value.MinuteTickInterval;
        this.RegisterGrainTimer(OnTickAsync, new GrainTimerCreationOptions(tick, tick) { Interleave = false, KeepAlive = false });
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_stateDirty)
        {
            await SaveStateAsync();
        }
    }

    public async Task<ApplyResult> Apply(MatchUpdate update)
    {
        var started = time.GetTimestamp();
        var result = ApplyOne(update, out var saveNow);
        if (saveNow) await SaveStateAsync();
        metrics.ApplyLatency.Record(time.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    public async Task<IReadOnlyList<ApplyResult>> ApplyMany(IReadOnlyList<MatchUpdate> updates)
    {
        var results = new List<ApplyResult>(updates.Count);
        var save = false;
        foreach (var u in updates)
        {
            var started = time.GetTimestamp();
            results.Add(ApplyOne(u, out var saveNow));
            save |= saveNow;
            metrics.ApplyLatency.Record(time.GetElapsedTime(started).TotalMilliseconds);
        }

        if (save) await SaveStateAsync();
        return results;
    }

    public Task<bool> RefreshMinute() => Task.FromResult(_validKey && RecomputeMinute());

    public Task<MatchSnapshot> GetSnapshot()
    {
        var s = state.State;
        return Task.FromResult(new MatchSnapshot
        {
            ExternalId = Id,
            Status = s.Status,
            HomeScore = s.HomeScore,
            AwayScore = s.AwayScore,
            Minute = s.Minute,
            MinuteText = s.MinuteText,
            FirstHalfKickoffTs = s.FirstHalfKickoff?.Value,
            SecondHalfKickoffTs = s.SecondHalfKickoff?.Value,
            OvertimeKickoffTs = s.OvertimeKickoff?.Value,
            MatchTime = s.MatchTime?.Value,
            CompetitionId = s.CompetitionId?.Value,
            HomeTeamId = s.HomeTeamId?.Value,
            AwayTeamId = s.AwayTeamId?.Value,
            HomeScores = s.HomeScores?.Value,
            AwayScores = s.AwayScores?.Value,
            ProviderUpdateTime = s.ProviderUpdateTime,
            PendingRegressionStatus = s.Regression?.Status,
            RepollRequested = s.RepollRequested,
        });
    }

    private ApplyResult ApplyOne(MatchUpdate update, out bool saveNow)
    {
        saveNow = false;
        var source = update.Source.ToWire();
        metrics.UpdatesReceived.Add(1, new KeyValuePair<string, object?>("source", source));
        if (!_validKey)
        {
            var rejected = new ApplyResult([new FieldResult("external_id", FieldOutcome.Rejected, RejectReasons.Malformed)]);
            Count(rejected, source);
            LogRejected(Id, source, "external_id:malformed");
            return rejected;
        }

        var s = state.State;
        var regressionBefore = s.Regression;
        var now = Now();
        var outcome = FieldMerge.Apply(s, update, now);
        var minuteChanged = MinuteClock.Recompute(s, now);

        Count(outcome.Result, source);
        Report(outcome, source);

        if (outcome.Result.AnyApplied || minuteChanged)
        {
            var fields = outcome.Result.Fields.Where(f => f.Outcome == FieldOutcome.Applied).Select(f => f.Field);
            writer.Enqueue(TsMatchRow.From(Id, s), minuteChanged ? fields.Concat(MinuteFields) : fields);
            _stateDirty = true;
        }

        if (!ReferenceEquals(regressionBefore, s.Regression))
        {
            // A pending confirmation lives only in grain state: keep it across reactivation.
            _stateDirty = true;
            saveNow = true;
        }

        return outcome.Result;
    }

    private async Task OnTickAsync(CancellationToken ct)
    {
        RecomputeMinute();
        if (_stateDirty && Now() - _lastSaveMs >= (long)options.Value.StateSaveInterval.TotalMilliseconds)
        {
            await SaveStateAsync();
        }
    }

    private bool RecomputeMinute()
    {
        if (!MinuteClock.Recompute(state.State, Now())) return false;
        writer.Enqueue(TsMatchRow.From(Id, state.State), MinuteFields);
        _stateDirty = true;
        return true;
    }

    private async Task SaveStateAsync()
    {
        try
        {
            await state.WriteStateAsync();
            _stateDirty = false;
            _lastSaveMs = Now();
        }
        catch (InconsistentStateException ex)
        {
            // Another activation saved this match meanwhile. Its row and ours are both guarded per
            // field in ts_matches; step aside so the next call activates from the newest of both.
            _stateDirty = false;
            LogStateConflict(ex, Id);
            this.DeactivateOnIdle();
        }
        catch (Exception ex)
        {
            // PostgreSQL unreachable: the update stays accepted in memory; the timer retries.
            metrics.StateWriteFailures.Add(1);
            LogStateSaveFailed(ex, Id);
        }
    }

    private void Count(ApplyResult result, string source)
    {
        foreach (var f in result.Fields)
        {
            if (f.Outcome == FieldOutcome.Applied)
            {
                metrics.FieldsApplied.Add(1, new("source", source), new("field", f.Field));
            }
            else if (f.Outcome == FieldOutcome.Rejected)
            {
                metrics.FieldsRejected.Add(1, new("source", source), new("field", f.Field), new("reason", f.Reason));
            }
        }
    }

    private void Report(MergeOutcome outcome, string source)
    {
        foreach (var e in outcome.Events)
        {
            switch (e)
            {
                case VarCorrection v:
                    metrics.VarCorrections.Add(1, new KeyValuePair<string, object?>("field", v.Field));
                    LogVarCorrection(Id, v.Field, v.From, v.To, source);
                    break;
                case KickoffOverwriteBlocked k:
                    metrics.KickoffOverwritesBlocked.Add(1, new KeyValuePair<string, object?>("field", k.Field));
                    LogKickoffBlocked(Id, k.Field, k.Stored, k.Attempted, source);
                    break;
                case UnconfirmedRegression r:
                    metrics.StatusRegressions.Add(1, new KeyValuePair<string, object?>("outcome", "unconfirmed"));
                    LogRegression(Id, r.From, r.To, source, "unconfirmed; re-poll requested");
                    break;
                case ConfirmedRegression r:
                    metrics.StatusRegressions.Add(1, new KeyValuePair<string, object?>("outcome", "confirmed"));
                    LogRegression(Id, r.From, r.To, source, "confirmed");
                    break;
            }
        }

        var rejected = outcome.Result.Rejected
            .Where(f => f.Reason is not (RejectReasons.Stale or RejectReasons.UnconfirmedRegression or RejectReasons.KickoffOverwriteBlocked))
            .Select(f => $"{f.Field}:{f.Reason}")
            .ToList();
        if (rejected.Count > 0)
        {
            LogRejected(Id, source, string.Join(' ', rejected));
        }
    }

    private long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Match {MatchId}: update from {Source} rejected in part: {Fields}")]
    private partial void LogRejected(string matchId, string source, string fields);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Match {MatchId}: VAR correction of {Field} {From} -> {To} (source {Source})")]
    private partial void LogVarCorrection(string matchId, string field, int from, int to, string source);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Match {MatchId}: kickoff_overwrite_blocked {Field} stays {Stored}, {Source} sent {Attempted}")]
    private partial void LogKickoffBlocked(string matchId, string field, long stored, long attempted, string source);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Match {MatchId}: status regression {From} -> {To} from {Source}: {Outcome}")]
    private partial void LogRegression(string matchId, int from, int to, string source, string outcome);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Match {MatchId}: grain state changed by another activation; deactivating to reload")]
    private partial void LogStateConflict(Exception ex, string matchId);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Match {MatchId}: grain state save failed; kept in memory and retried")]
    private partial void LogStateSaveFailed(Exception ex, string matchId);
}
