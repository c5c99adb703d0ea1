using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Jobs;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.Runtime;
using Orleans.Storage;

namespace Orleans.GoalGpt.Grains;

/// <summary>
/// The single writer of one match. Decides every update field by field (<see cref="FieldMerge"/>),
/// keeps the minute current while the match is live (<see cref="MinuteClock"/>), hands the row to
/// the write-behind (<see cref="TsMatchesWriter"/>) and saves its rule state to grain storage.
/// Writes happen only under a lease (<see cref="MatchLocks"/>): without one, updates are accepted
/// in memory and land once a lease is had; a writer fenced out by a newer epoch stops, hands its
/// unsaved updates to the current owner and deactivates.
/// </summary>
public sealed partial class MatchGrain(
    [PersistentState("match", StorageNames.Matches)] IPersistentState<MatchState> state,
    TimeProvider time,
    TsMatchesWriter writer,
    TsMatchesTable table,
    MatchLocks locks,
    GoalGptMetrics metrics,
    IOptions<MatchGrainOptions> options,
    IOptions<JobsOptions> jobs,
    ILogger<MatchGrain> logger) : Grain, IMatchGrain
{
    private static readonly string[] MinuteFields = ["minute"];

    /// <summary>Updates applied since the state was last saved: replayed after a reload, handed over when fenced out.</summary>
    private readonly List<MatchUpdate> _unsaved = [];
    private MatchLease? _lease;
    private LeaseState? _leaseState;
    private MatchLease? _staleLease;
    /// <summary>The values (not the observation times) of the last row handed over; a hash, not the row: 100,000 of them per silo.</summary>
    private int? _lastValues;
    private long _nextLeaseTickMs;
    private long _leaseRetryMs;
    private bool _stateDirty;
    private bool _fencedOut;
    private long _lastSaveMs;
    private bool _validKey;

    private string Id => this.GetPrimaryKeyString();

    private bool Leased => _lease is not null && !_fencedOut;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _validKey = FieldMerge.IsValidId(Id);
        _lastSaveMs = Now();
        if (!_validKey) return;

        // Rows written after the last state save (or by the old system) are newer per field.
        (await table.ReadAsync(Id, cancellationToken))?.MergeInto(state.State);
        await TryTakeLeaseAsync(cancellationToken, reload: false);

        // One timer per activation (memory: 100,000 of them per silo): minute, state save and lease.
        var tick = options.Value.MinuteTickInterval < locks.Ttl / 3 ? options.Value.MinuteTickInterval : locks.Ttl / 3;
        this.RegisterGrainTimer(OnTickAsync, new GrainTimerCreationOptions(tick, tick) { Interleave = false, KeepAlive = false });
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (Leased && _stateDirty) await SaveStateAsync();
        if (_lease is { } lease)
        {
            locks.Untrack(Id);
            await locks.ReleaseAsync(lease);
            _lease = null;
        }

        // Accepted here but never saved (no lease, or fenced out): the next owner takes them.
        HandOver();
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

    public async Task<bool> Persist()
    {
        if (!_validKey) return true;
        if (!Leased && !_fencedOut) await TryTakeLeaseAsync(CancellationToken.None);
        if (!Leased) return false;
        Write(["persist"]);
        await SaveStateAsync();
        return Leased && !_stateDirty;
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
            FenceToken = _lease?.FenceToken,
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
        var extrasBefore = MatchStateExtras.Of(s);
        var now = Now();
        var outcome = FieldMerge.Apply(s, update, now);
        var minuteChanged = MinuteClock.Recompute(s, now);

        Count(outcome.Result, source);
        Report(outcome, source);

        var regressionChanged = !ReferenceEquals(regressionBefore, s.Regression);
        if (outcome.Result.AnyApplied || regressionChanged) _unsaved.Add(update);
        // The row carries every value; only what it lacks needs a state save.
        if (MatchStateExtras.Of(s) != extrasBefore) _stateDirty = true;

        if (outcome.Result.AnyApplied || minuteChanged)
        {
            var fields = outcome.Result.Fields.Where(f => f.Outcome == FieldOutcome.Applied).Select(f => f.Field);
            Write(minuteChanged ? fields.Concat(MinuteFields) : fields);
        }

        // A pending confirmation lives only in grain state: keep it across reactivation.
        saveNow = regressionChanged && Leased;
        return outcome.Result;
    }

    /// <summary>Hands the current row to the write-behind, if this activation may write.</summary>
    private void Write(IEnumerable<string> fields)
    {
        if (!Leased) return;
        if (_leaseState!.Lost || locks.Clock.GetUtcNow().ToUnixTimeMilliseconds() >= _leaseState.ValidUntilMs)
        {
            LoseLease(_leaseState.Lost ? "renewal refused" : "expired before renewal");
            return;
        }

        var row = TsMatchRow.From(Id, state.State, _lease!.FenceToken);
        var values = row.ValuesHash();
        var valuesChanged = _lastValues != values; // a collision only delays the write to the confirmation delay
        _lastValues = values;
        writer.Enqueue(row, fields, valuesChanged);
        // Under a valid lease nobody else can take over before this row is written: nothing to hand over.
        _unsaved.Clear();
    }

    private async Task OnTickAsync(CancellationToken ct)
    {
        if (locks.Clock.GetUtcNow().ToUnixTimeMilliseconds() >= _nextLeaseTickMs)
        {
            _nextLeaseTickMs = locks.Clock.GetUtcNow().ToUnixTimeMilliseconds() + (long)(locks.Ttl / 3).TotalMilliseconds;
        _leaseRetryMs = 0;
            await OnLeaseTickAsync(ct);
        }

        RecomputeMinute();
        if (Leased && _stateDirty && Now() - _lastSaveMs >= (long)options.Value.StateSaveInterval.TotalMilliseconds)
        {
            await SaveStateAsync();
        }
    }

    private async Task OnLeaseTickAsync(CancellationToken ct)
    {
        if (_fencedOut) return;
        if (_staleLease is { } stale)
        {
            // Ours no more to use, but maybe still ours in Redis: free it so a lease can be had again.
            _staleLease = null;
            await locks.ReleaseAsync(stale);
        }

        if (_lease is { } lease)
        {
            if (writer.WasFencedOut(Id, lease.FenceToken))
            {
                FencedOut("ts_matches");
                return;
            }

            // The silo's renewer keeps the lease; here it is only checked.
            if (!_leaseState!.Lost && locks.Clock.GetUtcNow().ToUnixTimeMilliseconds() < _leaseState.ValidUntilMs) return;
            LoseLease(_leaseState.Lost ? "renewal refused" : "expired before renewal");
        }

        await TryTakeLeaseAsync(ct);
    }

    /// <summary>
    /// Takes a lease, then reloads the newest stored state, replays what was accepted meanwhile,
    /// and registers the new epoch with a state write: from then on the storage refuses writes
    /// of any older activation (its state version is outdated, its epoch is lower).
    /// </summary>
    private async Task TryTakeLeaseAsync(CancellationToken ct, bool reload = true)
    {
        using var slot = await locks.SetupSlotAsync(ct);
        var lease = await locks.TryAcquireAsync(Id, ct);
        if (lease is null)
        {
            BackOffLeaseAttempts();
            return;
        }

        try
        {
            for (var attempt = 0; ; attempt++)
            {
                // At activation the state and row were just read; later, another activation may have
                // written since: read both and fold in what this one knows (in memory, maybe unwritten).
                if (reload || attempt > 0)
                {
                    var known = state.State;
                    await state.ReadStateAsync();
                    (await table.ReadAsync(Id, ct))?.MergeInto(state.State);
                    MatchStateFold.Into(state.State, known);
                }

                var now = Now();
                foreach (var u in _unsaved) FieldMerge.Apply(state.State, u, now);
                MinuteClock.Recompute(state.State, now);
                state.State.FenceToken = lease.FenceToken;
                try
                {
                    await state.WriteStateAsync();
                    break;
                }
                catch (InconsistentStateException) when (attempt < 3)
                {
                    // Another activation saved in between: read again.
                }
            }
        }
        catch (Exception ex)
        {
            LogLeaseSetupFailed(ex, Id);
            await locks.ReleaseAsync(lease);
            BackOffLeaseAttempts();
            return;
        }

        _lease = lease;
        _leaseState = locks.Track(lease);
        _nextLeaseTickMs = locks.Clock.GetUtcNow().ToUnixTimeMilliseconds() + (long)(locks.Ttl / 3).TotalMilliseconds;
        _leaseRetryMs = 0;
        _unsaved.Clear();
        _stateDirty = false;
        _lastSaveMs = Now();
        var row = TsMatchRow.From(Id, state.State, lease.FenceToken);
        _lastValues = row.ValuesHash();
        writer.Enqueue(row, ["lease"], valuesChanged: true);
    }

    /// <summary>Spaces out the next lease attempt: doubling, jittered, at most <see cref="MatchLocks.MaxRetryInterval"/>.</summary>
    private void BackOffLeaseAttempts()
    {
        _leaseRetryMs = Math.Min(Math.Max(_leaseRetryMs * 2, (long)(locks.Ttl / 3).TotalMilliseconds), (long)locks.MaxRetryInterval.TotalMilliseconds);
        _nextLeaseTickMs = locks.Clock.GetUtcNow().ToUnixTimeMilliseconds() + _leaseRetryMs / 2 + Random.Shared.NextInt64(_leaseRetryMs / 2 + 1);
    }

    private void LoseLease(string why)
    {
        metrics.LeaseRenewalsLost.Add(1);
        LogLeaseLost(Id, why);
        locks.Untrack(Id);
        _staleLease = _lease;
        _lease = null;
    }

    private void FencedOut(string target)
    {
        if (_fencedOut) return;
        _fencedOut = true;
        locks.Untrack(Id);
        _lease = null;
        metrics.FencedOutWrites.Add(1, new KeyValuePair<string, object?>("target", target));
        LogFencedOut(Id, target, _unsaved.Count);
        this.DeactivateOnIdle();
    }

    private void HandOver()
    {
        if (_unsaved.Count == 0) return;
        var updates = _unsaved.ToList();
        _unsaved.Clear();
        var factory = GrainFactory;
        var id = Id;
        LogHandOver(id, updates.Count);
        // After this activation is gone, calls to the id reach the current (or a new) owner.
        _ = Task.Run(async () =>
        {
            for (var attempt = 1; attempt <= 10; attempt++)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt));
                    await factory.GetGrain<IMatchGrain>(id).ApplyMany(updates);
                    return;
                }
                catch (Exception ex) when (attempt < 10)
                {
                    LogHandOverRetry(ex, id, attempt);
                }
            }
        });
    }

    private bool RecomputeMinute()
    {
        if (!MinuteClock.Recompute(state.State, Now())) return false;
        Write(MinuteFields);
        return true;
    }

    private async Task SaveStateAsync()
    {
        if (!Leased) return;
        try
        {
            state.State.FenceToken = _lease!.FenceToken;
            await state.WriteStateAsync();
            _stateDirty = false;
            _unsaved.Clear();
            _lastSaveMs = Now();
        }
        catch (InconsistentStateException)
        {
            // A newer activation registered its epoch: this one is fenced out.
            FencedOut("grain_state");
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
                case KickoffChanged k:
                    metrics.KickoffChanges.Add(1, new KeyValuePair<string, object?>("field", k.Field));
                    LogKickoffChanged(Id, k.Field, k.From, k.To, source);
                    break;
                case UnconfirmedRegression r:
                    metrics.StatusRegressions.Add(1, new KeyValuePair<string, object?>("outcome", "unconfirmed"));
                    LogRegression(Id, r.From, r.To, source, "unconfirmed; re-poll requested");
                    if (jobs.Value.Enabled) GrainFactory.GetGrain<IWatchdogJobGrain>(FeedJobs.Key).RequestRepoll(Id).Ignore();
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

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Match {MatchId}: grain state save failed; kept in memory and retried")]
    private partial void LogStateSaveFailed(Exception ex, string matchId);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Match {MatchId}: fenced out by a newer epoch ({Target}); stopping writes, handing over {Unsaved} unsaved updates")]
    private partial void LogFencedOut(string matchId, string target, int unsaved);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Match {MatchId}: lease lost ({Why}); accepting in memory until a lease is had again")]
    private partial void LogLeaseLost(string matchId, string why);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Match {MatchId}: lease taken but state reload failed; released, retrying")]
    private partial void LogLeaseSetupFailed(Exception ex, string matchId);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Information, Message = "Match {MatchId}: handing {Count} unsaved updates to the current owner")]
    private partial void LogHandOver(string matchId, int count);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Match {MatchId}: hand-over attempt {Attempt} failed; retrying")]
    private partial void LogHandOverRetry(Exception ex, string matchId, int attempt);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Warning, Message = "Match {MatchId}: kick-off {Field} changed {From} -> {To} by {Source}")]
    private partial void LogKickoffChanged(string matchId, string field, long from, long to, string source);
}
