using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Changes;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Jobs;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Ownership;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.Runtime;
using Orleans.Storage;

namespace Orleans.GoalGpt.Grains;

/// <summary>
/// The single writer of one match. Decides every update field by field (<see cref="FieldMerge"/>),
/// keeps the minute current while the match is live (<see cref="MinuteClock"/>), and writes behind
/// through its <see cref="MatchOwnership"/>, which holds the lease, the fencing epoch and every
/// accepted update until a row containing it is in <c>ts_matches</c>. Grain storage keeps only what
/// the row lacks (pending confirmations).
/// </summary>
[RedisReachableFilter] // placed only on silos that can take its lease (see RedisReach)
public sealed partial class MatchGrain(
    MatchGrainServices services,
    ILogger<MatchGrain> logger) : Grain, IMatchGrain, IMatchTick, ITicked, IGrainMigrationParticipant
{
    private const string CarriedKey = "goalgpt.unwritten";
    private static readonly string[] MinuteFields = ["minute"];

    private MatchOwnership _owner = null!;
    private bool _stateDirty;
    private long _lastSaveMs;
    private bool _validKey;
    private bool _rehydrated;
    private List<MatchUpdate>? _carried;
    private long _lastCall; // IdleClock timestamp
    private bool _called;
    private int _tickSlot = -1;
    private long _tickClaimed; // ticker timestamp of the tick on its way or running; 0: none

    private string? _id;
    private MatchStateHolder _state = null!;

    // One string for the match's id, shared by this activation, its ownership and the ticker (GetPrimaryKeyString makes a new one each call).
    private string Id => _id ??= this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _state = new MatchStateHolder(services.StateStorage, this.GetGrainId());
        _validKey = FieldMerge.IsValidId(Id);
        _lastSaveMs = Now();
        if (!_validKey) return;

        _owner = new MatchOwnership(Id, _state, services, logger);
        // What is stored; also for a migrated activation: it brings the old one's memory, decided without a lease, and
        // starts from what is stored instead, deciding the old one's unwritten updates again (below), in order, before any call.
        await _state.ReadStateAsync();
        // Taking the lease folds in the row (newer per field than a state saved earlier, or the old system's).
        // On a silo that does not reach Redis (activated here all the same, e.g. through a stale directory entry)
        // it is not tried: it would only wait for Redis' timeouts; the first tick moves the activation if it can.
        if (!services.Reach.Self || !await _owner.TakeAsync(reload: false, cancellationToken))
        {
            // No lease for now (busy, Redis down): start from the row all the same.
            var row = await services.Table.ReadAsync(Id, cancellationToken);
            if (row?.RawArraysDiscarded == true) services.Metrics.LegacyRowsRepaired.Add(1);
            row?.MergeInto(_state.State);
        }

        if (_carried is { Count: > 0 } carried)
        {
            _carried = null;
            await ApplyAllAsync(carried, bounded: false);
        }

        // Minute, state save, lease and idleness: the silo's ticker sends the tick (no timer per activation: memory).
        _lastCall = services.Ticker.IdleClock.GetTimestamp();
        // Not when Orleans gave this activation up meanwhile (its deactivation will not run to take it out again).
        if (!cancellationToken.IsCancellationRequested) _tickSlot = services.Ticker.Add(Id, this);
    }

    long ITicked.ClaimTick(long now, long notBefore) => MatchTicker.Claim(ref _tickClaimed, now, notBefore);

    bool ITicked.Gone => GrainContext.Deactivated.IsCompleted;

    /// <summary>Stops the ticks to this activation: before it goes, so that no tick is forwarded to a next activation.</summary>
    private void StopTicks()
    {
        if (_tickSlot < 0) return;
        services.Ticker.Remove(Id, _tickSlot, this);
        _tickSlot = -1;
    }

    /// <summary>A call other than a tick: the activation is in use (its idleness counts from here).</summary>
    private void Called()
    {
        _lastCall = services.Ticker.IdleClock.GetTimestamp();
        _called = true;
    }

    void IGrainMigrationParticipant.OnDehydrate(IDehydrationContext dehydrationContext)
    {
        // What the deactivation just handed over (Adopt) travels with the migration too, so that the new activation
        // decides it before the calls queued here; the Adopt that follows repeats it, and a repeat changes nothing.
        if (_validKey && _owner.LastHandOver is { Count: > 0 } handed) dehydrationContext.TryAddValue(CarriedKey, handed);
    }

    void IGrainMigrationParticipant.OnRehydrate(IRehydrationContext rehydrationContext)
    {
        _rehydrated = true;
        if (rehydrationContext.TryGetValue<List<MatchUpdate>>(CarriedKey, out var carried)) _carried = carried;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        StopTicks();
        if (!_validKey) return;
        if (_owner.Leased && _stateDirty) await SaveStateAsync();
        await _owner.EndAsync(GrainFactory, cancellationToken);
    }

    public async Task<ApplyResult> Apply(MatchUpdate update)
    {
        Called();
        var started = services.Time.GetTimestamp();
        var result = ApplyOne(update, bounded: true, out var saveNow);
        if (saveNow) await SaveStateAsync();
        services.Metrics.ApplyLatency.Record(services.Time.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    public Task<IReadOnlyList<ApplyResult>> ApplyMany(IReadOnlyList<MatchUpdate> updates)
    {
        Called();
        return ApplyAllAsync(updates, bounded: true);
    }

    // A migration carried these already (or a hand-over was retried): a repeat is neither kept twice nor audited twice.
    public Task Adopt(IReadOnlyList<MatchUpdate> updates)
    {
        Called();
        return ApplyAllAsync(updates.Where(u => !_validKey || !_owner.Holds(u)).ToList(), bounded: false);
    }

    private async Task<IReadOnlyList<ApplyResult>> ApplyAllAsync(IReadOnlyList<MatchUpdate> updates, bool bounded)
    {
        var results = new List<ApplyResult>(updates.Count);
        var save = false;
        foreach (var u in updates)
        {
            var started = services.Time.GetTimestamp();
            results.Add(ApplyOne(u, bounded, out var saveNow));
            save |= saveNow;
            services.Metrics.ApplyLatency.Record(services.Time.GetElapsedTime(started).TotalMilliseconds);
        }

        if (save) await SaveStateAsync();
        return results;
    }

    public async Task<bool> Persist()
    {
        Called();
        if (!_validKey) return true;
        if (!_owner.Leased && !_owner.FencedOut && services.Reach.Self) await _owner.TakeAsync(reload: true, CancellationToken.None);
        if (!_owner.Write(["persist"])) return false;
        await SaveStateAsync();
        return _owner.Leased && !_stateDirty;
    }

    public Task<bool> RefreshMinute()
    {
        Called();
        return Task.FromResult(_validKey && RecomputeMinute());
    }

    public async Task<CorrectionResult> Correct(AdminCorrection correction, string reason, string keyName, TimeSpan writeTimeout)
    {
        Called();
        var s = _state.State;
        // A correction never creates a match: an id mistyped by an operator must not become a row the jobs then keep live.
        if (!_validKey || (s.Status is null && s.MatchTime is null && s.HomeScore is null && s.AwayScore is null && s.FirstHalfKickoff is null))
        {
            return new CorrectionResult(new ApplyResult([]), CorrectionWrite.UnknownMatch);
        }

        if (!_owner.Leased && !_owner.FencedOut && services.Reach.Self) await _owner.TakeAsync(reload: true, CancellationToken.None);
        if (!_owner.Leased) return new CorrectionResult(new ApplyResult([]), CorrectionWrite.NoLease);

        var update = new MatchUpdate
        {
            Source = UpdateSource.Admin,
            ObservedAtMs = AdminObservedAt(s),
            StatusId = correction.StatusId,
            HomeScores = WithDisplayedScore(s.HomeScores?.Value, correction.HomeScore),
            AwayScores = WithDisplayedScore(s.AwayScores?.Value, correction.AwayScore),
            FirstHalfKickoffTs = correction.FirstHalfKickoffTs,
            SecondHalfKickoffTs = correction.SecondHalfKickoffTs,
            OvertimeKickoffTs = correction.OvertimeKickoffTs,
            Minute = correction.Minute,
            CorrectionReason = reason,
            CorrectionKeyName = keyName,
        };
        var result = ApplyOne(update, bounded: true, out _);
        if (result.Fields.Any(f => f.Reason == RejectReasons.BacklogFull)) return new CorrectionResult(result, CorrectionWrite.NoLease);
        // What only grain state keeps (a carried minute) is saved before the answer too.
        if (_stateDirty) await SaveStateAsync();
        if (!_owner.Write(["correction"], urgent: true)) return new CorrectionResult(result, CorrectionWrite.Refused);
        services.Writer.Wake();
        var written = await _owner.WaitWrittenAsync(writeTimeout);
        return new CorrectionResult(result, written switch
        {
            true => CorrectionWrite.Written,
            false => CorrectionWrite.Refused,
            null => CorrectionWrite.NotWrittenInTime,
        });
    }

    /// <summary>
    /// A correction is made now, and is newer than every value stored: one stamped by a silo whose clock is ahead of
    /// this one must not beat it (within the 5 minutes every observation is allowed to be ahead).
    /// </summary>
    private long AdminObservedAt(MatchState s)
    {
        var now = Now();
        var newest = new[]
        {
            s.Status?.ObservedAtMs, s.HomeScore?.ObservedAtMs, s.AwayScore?.ObservedAtMs, s.HomeScores?.ObservedAtMs, s.AwayScores?.ObservedAtMs,
            s.FirstHalfKickoff?.ObservedAtMs, s.SecondHalfKickoff?.ObservedAtMs, s.OvertimeKickoff?.ObservedAtMs, s.CarriedMinute?.ObservedAtMs,
        }.Max() ?? 0;
        return Math.Clamp(newest + 1, now, now + FieldMerge.FutureToleranceSeconds * 1000);
    }

    /// <summary>
    /// The stored raw array with the displayed score replaced (element 5 when the overtime score is shown, else 0):
    /// a score correction must not wipe the cards, corners and penalties the provider sent.
    /// </summary>
    private static int[]? WithDisplayedScore(int[]? stored, int? score)
    {
        if (score is not int v) return null;
        var raw = stored is { Length: 7 } ? (int[])stored.Clone() : new int[7];
        if (raw[5] > 0 && v > 0)
        {
            raw[5] = v;
        }
        else
        {
            raw[0] = v;
            raw[5] = 0; // a 0 shown during overtime: no overtime score either
        }

        return raw;
    }

    public Task<bool> MarkStale(TimeSpan quiet)
    {
        Called();
        var s = _state.State;
        if (!_validKey || s.StaleSince is not null || !MatchPhases.IsLive(s.Status?.Value)) return Task.FromResult(false);
        var now = Now();
        // The watchdog read a row; this grain may have seen the provider change the match since. Unchanged
        // re-listings do not count (rule 6: stale is "not changed for the threshold, or no longer returned").
        var lastSeen = s.LastProviderChangeMs
            ?? new[] { s.Status?.ObservedAtMs, s.HomeScore?.ObservedAtMs, s.AwayScore?.ObservedAtMs, s.HomeScores?.ObservedAtMs, s.AwayScores?.ObservedAtMs }.Max() ?? 0;
        if (lastSeen >= now - (long)quiet.TotalMilliseconds) return Task.FromResult(false);
        var tracked = TrackedFields.Of(s);
        s.StaleSince = now / 1000;
        PublishChange(tracked);
        _owner.Record([new AuditEvent(Id, AuditKinds.StaleFlagged, "stale_since", null, AuditValues.Text(s.StaleSince), UpdateSource.Watchdog.ToWire(), now)]);
        _owner.Write(["stale_since"]);
        LogStale(Id, lastSeen);
        return Task.FromResult(true);
    }

    public Task<MatchSnapshot> GetSnapshot()
    {
        Called();
        return Task.FromResult(Snapshot());
    }

    private MatchSnapshot Snapshot()
    {
        var s = _state.State;
        return new MatchSnapshot
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
            FenceToken = _validKey ? _owner.FenceToken : null,
            StaleSince = s.StaleSince,
            FirstHalfKickoff = s.FirstHalfKickoff,
            SecondHalfKickoff = s.SecondHalfKickoff,
            OvertimeKickoff = s.OvertimeKickoff,
        };
    }

    /// <summary>Publishes the match to the change stream when a tracked value differs from <paramref name="before"/> (never waits).</summary>
    private void PublishChange(in TrackedFields before)
    {
        if (TrackedFields.Changed(before, TrackedFields.Of(_state.State)) is { } changed) services.Changes.Publish(new MatchChange(changed, Snapshot()));
    }

    private ApplyResult ApplyOne(MatchUpdate update, bool bounded, out bool saveNow)
    {
        saveNow = false;
        // A correction carries its reason and key: the activation that finally writes it (after a hand-over) records them.
        var (correctionReason, keyName) = update.Source == UpdateSource.Admin ? (update.CorrectionReason, update.CorrectionKeyName) : (null, null);
        var source = update.Source.ToWire();
        services.Metrics.UpdatesReceived.Add(1, new KeyValuePair<string, object?>("source", source));
        if (!_validKey)
        {
            var rejected = new ApplyResult([new FieldResult("external_id", FieldOutcome.Rejected, RejectReasons.Malformed)]);
            Count(rejected, source);
            LogRejected(Id, source, "external_id:malformed");
            return rejected;
        }

        if (bounded && _owner.Full())
        {
            services.Metrics.UpdatesRefused.Add(1);
            var names = FieldMerge.PresentFields(update).DefaultIfEmpty("observed_at");
            return new ApplyResult(names.Select(n => new FieldResult(n, FieldOutcome.Rejected, RejectReasons.BacklogFull)).ToList());
        }

        var s = _state.State;
        var tracked = TrackedFields.Of(s);
        var regressionBefore = s.Regression;
        var extrasBefore = MatchStateExtras.Of(s);
        var auditBefore = AuditValues.Of(s);
        var now = Now();
        var outcome = FieldMerge.Apply(s, update, now, replay: !bounded); // unbounded: a hand-over or a migration decides it again
        var audit = AuditEvents.Of(Id, update, auditBefore, s, outcome, correctionReason, keyName);
        _owner.Record(bounded ? audit : audit.ConvertAll(e => e with { MayExist = true }));
        var minuteChanged = MinuteClock.Recompute(s, now, out var corrected);

        Count(outcome.Result, source);
        Report(outcome, source);
        ReportMinute(services.Metrics, logger, Id, corrected, source);

        // The row carries every value; only what it lacks needs a state save.
        var extrasChanged = MatchStateExtras.Of(s) != extrasBefore;
        if (extrasChanged) _stateDirty = true;
        // A correction is kept until written even when it changed nothing: its answer waits for that row.
        // An adopted update (bounded: false, a hand-over) is kept whatever it changed here: it may tie with this
        // activation's memory and still be missing from what a reload reads back. What is kept is decided again on
        // other state (a reload, a hand-over): an answered update without the kick-offs it was refused here, an
        // adopted one as handed over (its answer was given where it was first decided).
        if ((outcome.Result.AnyApplied || extrasChanged || correctionReason is not null || !bounded) && (bounded ? outcome.Replayable : update) is { } kept)
        {
            _owner.Accepted(kept, extrasChanged);
        }

        if (!bounded && !outcome.Result.AnyApplied && !minuteChanged)
        {
            // An adopted update that changed nothing here is kept until a row is written: write one, so that it goes.
            _owner.Write(["adopt"]);
        }
        else if (outcome.Result.AnyApplied || minuteChanged)
        {
            var fields = outcome.Result.Fields.Where(f => f.Outcome == FieldOutcome.Applied).Select(f => f.Field);
            _owner.Write(minuteChanged ? fields.Concat(MinuteFields) : fields);
        }
        else if (_owner.AuditHeld > 0)
        {
            // Events of an update that changed nothing (a blocked overwrite, a held regression) ride with the unchanged row.
            _owner.Write(["audit"]);
        }

        PublishChange(tracked);

        // A pending confirmation lives only in grain state: keep it across reactivation.
        saveNow = !ReferenceEquals(regressionBefore, s.Regression) && _owner.Leased;
        return outcome.Result;
    }

    async Task IMatchTick.Tick(long claim)
    {
        try
        {
            if (_validKey && _tickSlot >= 0) await OnTickAsync(CancellationToken.None);
        }
        finally
        {
            MatchTicker.Finished(ref _tickClaimed, claim); // the next one may be sent
        }
    }

    private async Task OnTickAsync(CancellationToken ct)
    {
        // Idle for IdleCollectionAge (ticks do not count), or started by a tick meant for an activation that went
        // (a migrated one brought its calls): go, as Orleans' collection would (the row is written on the way out).
        if ((!_called && !_rehydrated) || services.Ticker.IdleClock.GetElapsedTime(_lastCall) >= services.Options.IdleCollectionAge)
        {
            Leave();
            return;
        }

        await _owner.TickAsync(ct);
        if (_owner.FencedOut)
        {
            Leave();
            return;
        }

        if (_owner.Stranded)
        {
            // Migrated, not just deactivated: the directory then names the new activation (placed on a silo that
            // reaches Redis) before this one goes, and calls queued here follow it. A plain deactivation left calls
            // addressed to this silo from its own stale directory entry, which activated the match here again.
            StopTicks();
            this.MigrateOnIdle();
            return;
        }

        RecomputeMinute();
        if (_owner.Leased && _stateDirty && Now() - _lastSaveMs >= (long)services.Options.StateSaveInterval.TotalMilliseconds)
        {
            await SaveStateAsync();
        }
    }

    private void Leave()
    {
        StopTicks();
        this.DeactivateOnIdle();
    }

    private bool RecomputeMinute()
    {
        var tracked = TrackedFields.Of(_state.State);
        var changed = MinuteClock.Recompute(_state.State, Now(), out var corrected);
        ReportMinute(services.Metrics, logger, Id, corrected, "computed");
        if (!changed) return false;
        _owner.Write(MinuteFields);
        PublishChange(tracked);
        return true;
    }

    private async Task SaveStateAsync()
    {
        if (!_owner.Leased) return;
        try
        {
            _state.State.FenceToken = _owner.FenceToken!.Value;
            await _state.WriteStateAsync();
            _owner.StateSaved();
            _stateDirty = false;
            _lastSaveMs = Now();
        }
        catch (InconsistentStateException)
        {
            // A newer activation registered its epoch: this one is fenced out.
            _owner.FenceOut("grain_state");
            Leave();
        }
        catch (Exception ex)
        {
            // PostgreSQL unreachable: the update stays accepted in memory; the timer retries.
            services.Metrics.StateWriteFailures.Add(1);
            LogStateSaveFailed(ex, Id);
        }
    }

    private void Count(ApplyResult result, string source)
    {
        foreach (var f in result.Fields)
        {
            if (f.Outcome == FieldOutcome.Applied)
            {
                services.Metrics.FieldsApplied.Add(1, new("source", source), new("field", f.Field));
            }
            else if (f.Outcome == FieldOutcome.Rejected)
            {
                services.Metrics.FieldsRejected.Add(1, new("source", source), new("field", f.Field), new("reason", f.Reason));
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
                    services.Metrics.VarCorrections.Add(1, new KeyValuePair<string, object?>("field", v.Field));
                    LogVarCorrection(Id, v.Field, v.From, v.To, source);
                    break;
                case KickoffOverwriteBlocked k:
                    services.Metrics.KickoffOverwritesBlocked.Add(1, new KeyValuePair<string, object?>("field", k.Field));
                    LogKickoffBlocked(Id, k.Field, k.Stored, k.Attempted, source);
                    break;
                case KickoffChanged k:
                    services.Metrics.KickoffChanges.Add(1, new KeyValuePair<string, object?>("field", k.Field));
                    LogKickoffChanged(Id, k.Field, k.From, k.To, source);
                    break;
                case UnconfirmedRegression r:
                    services.Metrics.StatusRegressions.Add(1, new KeyValuePair<string, object?>("outcome", "unconfirmed"));
                    LogRegression(Id, r.From, r.To, source, "unconfirmed; re-poll requested");
                    if (services.Jobs.Enabled) GrainFactory.GetGrain<IWatchdogJobGrain>(FeedJobs.Key).RequestRepoll(Id).Ignore();
                    break;
                case ConfirmedRegression r:
                    services.Metrics.StatusRegressions.Add(1, new KeyValuePair<string, object?>("outcome", "confirmed"));
                    LogRegression(Id, r.From, r.To, source, "confirmed");
                    break;
                case UnconfirmedScoreDrop d:
                    services.Metrics.UnconfirmedScoreDrops.Add(1, new KeyValuePair<string, object?>("field", d.Field));
                    LogScoreDrop(Id, d.Field, d.From, d.To, source, "held as a lagging snapshot; re-poll requested");
                    if (services.Jobs.Enabled) GrainFactory.GetGrain<IWatchdogJobGrain>(FeedJobs.Key).RequestRepoll(Id).Ignore();
                    break;
                case ConfirmedScoreDrop d:
                    services.Metrics.ConfirmedScoreDrops.Add(1, new KeyValuePair<string, object?>("field", d.Field));
                    LogScoreDrop(Id, d.Field, d.From, d.To, source, "confirmed by two polls");
                    break;
            }
        }

        var rejected = outcome.Result.Rejected
            .Where(f => f.Reason is not (RejectReasons.Stale or RejectReasons.UnconfirmedRegression or RejectReasons.KickoffOverwriteBlocked or RejectReasons.UnconfirmedScoreDrop or RejectReasons.AdminHeld))
            .Select(f => $"{f.Field}:{f.Reason}")
            .ToList();
        if (rejected.Count > 0)
        {
            LogRejected(Id, source, string.Join(' ', rejected));
        }
    }

    /// <summary>A minute recomputed from a kick-off that became known (or was corrected): counted and logged.</summary>
    internal static void ReportMinute(GoalGptMetrics metrics, ILogger logger, string matchId, MinuteCorrected? c, string trigger)
    {
        if (c is null) return;
        metrics.MinuteCorrected.Add(1, new("basis", c.Basis == MinuteBasis.Kickoff ? "kickoff" : "carried"), new("direction", c.To < c.From ? "down" : "up"));
        LogMinuteCorrected(logger, matchId, c.Phase, c.From, c.To, c.Basis, trigger);
    }

    private long Now() => services.Time.GetUtcNow().ToUnixTimeMilliseconds();

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

    [LoggerMessage(EventId = 3030, Level = LogLevel.Information, Message = "Match {MatchId}: {Field} {From} -> {To} from {Source} soon after a push: {Outcome}")]
    private partial void LogScoreDrop(string matchId, string field, int from, int to, string source, string outcome);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Match {MatchId}: minute_corrected in status {Phase}: {From} -> {To} (counted from {Basis}; on {Trigger})")]
    private static partial void LogMinuteCorrected(ILogger logger, string matchId, int phase, int from, int to, MinuteBasis basis, string trigger);

    [LoggerMessage(EventId = 3040, Level = LogLevel.Warning, Message = "Match {MatchId}: live and not changed by the provider since {LastSeenMs} ms, or gone from it; flagged stale, not ended")]
    private partial void LogStale(string matchId, long lastSeenMs);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Warning, Message = "Match {MatchId}: kick-off {Field} changed {From} -> {To} by {Source}")]
    private partial void LogKickoffChanged(string matchId, string field, long from, long to, string source);
}
