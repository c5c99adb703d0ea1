using Microsoft.Extensions.Logging;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.Runtime;
using Orleans.Storage;

namespace Orleans.GoalGpt.Grains.Ownership;

/// <summary>
/// The lease life-cycle of one match activation: taking the lease (epoch into the row), reloading what
/// other activations wrote and replaying what this one accepted since its last written row, writing
/// behind only while the lease is valid, noticing a lapse or a fence-out, and at the end writing its
/// own row before the lease goes, or handing what is unwritten to the match's next activation.
/// <para>
/// Durability: every accepted update stays here (<see cref="Accepted"/>) until a row that contains it
/// is in <c>ts_matches</c> (<see cref="WriteCursor.WrittenVersion"/>); a reload never folds memory into
/// stored state by timestamps, it replays those updates through the merge rules.
/// </para>
/// </summary>
public sealed partial class MatchOwnership(
    string matchId,
    IPersistentState<MatchState> state,
    MatchGrainServices services,
    ILogger logger)
{
    private static readonly TimeSpan HandOverBudget = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxHandOverDelay = TimeSpan.FromSeconds(5);
    private readonly List<(MatchUpdate Update, long Version)> _unwritten = [];
    private readonly LeaseBackoff _backoff = new(services.Locks.Ttl / 3, services.Locks.MaxRetryInterval);
    private LeaseState? _lease;
    private MatchLease? _lapsed;
    private long _version;
    private long? _unsavedStateFrom;
    private int? _lastValues;
    private bool _refusing;
    private AuditTrail? _audit; // only while it holds something (memory per match)

    /// <summary>What the write-behind did with this activation's rows.</summary>
    public WriteCursor Cursor { get; } = new();

    /// <summary>A newer epoch was issued for the match: this activation must not write again.</summary>
    public bool FencedOut { get; private set; }

    public bool Leased => _lease is not null && !FencedOut;

    /// <summary>
    /// No valid lease, and none can be had on this silo (it cannot reach Redis) while another silo can take
    /// one: the activation should go (<see cref="EndAsync"/> hands what it holds to the next activation,
    /// which the placement filter puts on a silo that reaches Redis).
    /// </summary>
    public bool Stranded { get; private set; }

    public long? FenceToken => _lease?.Lease.FenceToken;

    /// <summary>Accepted updates not yet in a written row.</summary>
    public int Unwritten => _unwritten.Count;

    /// <summary>
    /// True when no further update may be accepted: this activation holds
    /// <see cref="MatchGrainOptions.MaxUnwrittenUpdates"/> unwritten ones already (no lease, or PostgreSQL
    /// down): memory stays bounded, and the caller gets a retryable refusal instead of an acknowledgement
    /// it could not keep. Also true while the silo's write-behind backlog is at its bound and this match has
    /// no row waiting (<see cref="TsMatchesWriter.Admits"/>).
    /// </summary>
    public bool Full()
    {
        if (!services.Writer.Admits(matchId)) return true; // the silo's write-behind is at its bound: push back on the caller
        Trim();
        var full = _unwritten.Count >= services.Options.MaxUnwrittenUpdates;
        if (full && !_refusing) LogRefusing(matchId, _unwritten.Count);
        _refusing = full;
        return full;
    }

    /// <summary>
    /// Keeps <paramref name="update"/> until a row containing it is written, and, when it changed what only
    /// grain state holds (<paramref name="stateChanged"/>: a pending confirmation, a carried minute), until
    /// that state is saved too.
    /// </summary>
    public void Accepted(MatchUpdate update, bool stateChanged)
    {
        Trim();
        _unwritten.Add((update, ++_version));
        if (stateChanged) _unsavedStateFrom ??= _version;
    }

    /// <summary>An update equal to <paramref name="update"/> is held unwritten here (a hand-over repeating what a migration carried).</summary>
    public bool Holds(MatchUpdate update)
    {
        if (_unwritten.Count == 0) return false;
        var key = System.Text.Json.JsonSerializer.Serialize(update);
        return _unwritten.Any(x => x.Update.ObservedAtMs == update.ObservedAtMs && x.Update.Source == update.Source
            && System.Text.Json.JsonSerializer.Serialize(x.Update) == key);
    }

    /// <summary>The grain state was saved with everything accepted so far.</summary>
    public void StateSaved() => _unsavedStateFrom = null;

    /// <summary>Hands the current row to the write-behind, if this activation may write now.</summary>
    public bool Write(IEnumerable<string> fields, bool urgent = false)
    {
        if (!CanWrite()) return false;
        var row = TsMatchRow.From(matchId, state.State, _lease!.Lease.FenceToken);
        var values = row.ValuesHash();
        var valuesChanged = _lastValues != values; // a collision only delays the write to the confirmation delay
        _lastValues = values;
        var events = _audit?.Take();
        if (_audit?.IsEmpty == true) _audit = null;
        services.Writer.Enqueue(row, fields, valuesChanged, Cursor, _version, urgent, events);
        return true;
    }

    /// <summary>Audit events of this activation's decisions: they ride with the next row it writes.</summary>
    public void Record(List<AuditEvent> events)
    {
        if (events.Count == 0) return;
        var dropped = (_audit ??= new()).Add(events);
        if (dropped > 0) services.Metrics.AuditEventsLost.Add(dropped, new KeyValuePair<string, object?>("reason", "bound"));
    }

    /// <summary>Audit events held for the next row.</summary>
    public int AuditHeld => _audit?.Held ?? 0;

    /// <summary>
    /// Waits (at most <paramref name="timeout"/>) until a row holding everything accepted so far is in ts_matches:
    /// true when written, false when refused (fenced out) or quarantined, null when the time ran out or no lease is held.
    /// </summary>
    public async Task<bool?> WaitWrittenAsync(TimeSpan timeout)
    {
        if (_lease is not { } held) return null;
        using var bound = new CancellationTokenSource(timeout, services.Time);
        try
        {
            var written = await Cursor.WaitWrittenAsync(_version, held.Lease.FenceToken, bound.Token);
            if (!written) CheckFence();
            return written;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>On the grain's timer: drops what is written, notices a lapse or a fence-out, re-takes a lost lease when due.</summary>
    public async Task TickAsync(CancellationToken ct)
    {
        Trim();
        // Memory: the list keeps the capacity of its busiest moment; a match with nothing unwritten gives it back.
        if (_unwritten.Count == 0 && _unwritten.Capacity > 0) _unwritten.Capacity = 0;
        if (FencedOut) return;
        if (_lapsed is { } lapsed)
        {
            // Ours no more to use, but maybe still ours in Redis: free it so that a lease can be had again.
            _lapsed = null;
            await ReleaseLapsedAsync(lapsed);
        }

        if (Leased && CanWrite()) return;
        if (FencedOut) return;
        if (services.Reach.ShouldMove && (Stranded || services.Reach.TryStartMove()))
        {
            if (!Stranded) LogStranded(matchId, _unwritten.Count);
            Stranded = true;
            return;
        }

        Stranded = false;
        // Not reaching Redis (and not moving, or not yet): a lease attempt would only wait for Redis' timeouts,
        // holding this grain's turn and a set-up slot; the renewer says when Redis answers again.
        if (!services.Reach.Self || !_backoff.Due) return;
        await TakeAsync(reload: true, ct);
    }

    /// <summary>
    /// Takes the lease: the lock, then the next epoch (written into the match's row by the same statement,
    /// which returns the row: every older writer is refused from then on). Then reads the newest stored state
    /// (unless <paramref name="reload"/> is false: at activation the grain just read it), folds in the row,
    /// replays the unwritten updates through the rules, registers the epoch with a state write (an older
    /// activation's state writes fail from then on), and writes the row.
    /// </summary>
    public async Task<bool> TakeAsync(bool reload, CancellationToken ct)
    {
        using var slot = await services.Locks.SetupSlotAsync(ct);
        var lease = await services.Locks.TryAcquireAsync(matchId, ct);
        if (lease is null)
        {
            if (await services.Locks.RemainingAsync(matchId) is { } remaining && remaining < services.Locks.MaxRetryInterval) _backoff.HeldFor(remaining);
            else _backoff.Failed();
            return false;
        }

        var known = state.State;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                if (reload || attempt > 0) await state.ReadStateAsync();
                // A set-up slower than the lease (a stalled silo) may find that a newer owner took the match and saved:
                // its state must not be overwritten with this older epoch.
                if (state.State.FenceToken > lease.FenceToken)
                {
                    throw new InvalidOperationException($"a newer owner (epoch {state.State.FenceToken}) saved the state of {matchId}; this lease's epoch is {lease.FenceToken}");
                }

                // The row as the epoch draw left it: nothing an older epoch writes can land after that.
                if (lease.Row is { } row)
                {
                    if (row.RawArraysDiscarded) services.Metrics.LegacyRowsRepaired.Add(1);
                    row.MergeInto(state.State);
                }

                var now = services.Time.GetUtcNow().ToUnixTimeMilliseconds();
                foreach (var (u, _) in _unwritten) FieldMerge.Apply(state.State, u, now, replay: true);
                MinuteClock.Recompute(state.State, now, out var corrected);
                MatchGrain.ReportMinute(services.Metrics, logger, matchId, corrected, "reload");
                state.State.FenceToken = lease.FenceToken;
                try
                {
                    await state.WriteStateAsync();
                    StateSaved();
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
            state.State = known;
            LogLeaseSetupFailed(ex, matchId);
            await services.Locks.ReleaseAsync(lease);
            _backoff.Failed();
            return false;
        }

        _lease = services.Locks.Track(lease);
        _backoff.Succeeded();
        _lastValues = null;
        Write(["lease"]);
        return true;
    }

    /// <summary>
    /// At deactivation: writes this activation's own row and waits for it (bounded) before the lease is
    /// released, so that the next owner starts from a row holding everything acknowledged here; what could
    /// not be written (no lease, fenced out, PostgreSQL down) is handed to the match's next activation.
    /// </summary>
    public async Task EndAsync(IGrainFactory grains, CancellationToken ct)
    {
        if (Leased && _unwritten.Count > 0 && Write(["deactivate"], urgent: true))
        {
            services.Writer.Wake();
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(services.Options.DeactivationWriteTimeout);
            try
            {
                if (!await Cursor.WaitWrittenAsync(_version, _lease!.Lease.FenceToken, bound.Token)) CheckFence();
            }
            catch (OperationCanceledException)
            {
                LogRowNotWritten(matchId, _unwritten.Count, services.Options.DeactivationWriteTimeout);
            }

            Trim();
        }

        if (_lease is { } held)
        {
            services.Locks.Untrack(matchId);
            _lease = null;
            await services.Locks.ReleaseAsync(held.Lease);
        }

        if (_lapsed is { } lapsed)
        {
            _lapsed = null;
            await ReleaseLapsedAsync(lapsed);
        }

        HandOver(grains);
    }

    /// <summary>
    /// Frees a lapsed lock if it is still ours; not awaited when Redis does not answer this silo (the call would
    /// only hold the grain for its timeout, and the lock expires by itself).
    /// </summary>
    private async Task ReleaseLapsedAsync(MatchLease lapsed)
    {
        if (services.Locks.ReachesRedis) await services.Locks.ReleaseAsync(lapsed);
        else services.Locks.ReleaseAsync(lapsed).Ignore();
    }

    private bool CanWrite()
    {
        if (!Leased) return false;
        if (!CheckFence()) return false;
        if (_lease!.IsValid) return true;
        Lose(_lease.Lost ? "renewal refused" : "expired before renewal");
        return false;
    }

    /// <summary>False (and fenced out) when the database refused a row of the current epoch.</summary>
    private bool CheckFence()
    {
        if (_lease is null || Cursor.RefusedToken < _lease.Lease.FenceToken) return true;
        FenceOut("ts_matches");
        return false;
    }

    /// <summary>Stops every write of this activation for good: a newer epoch exists.</summary>
    public void FenceOut(string target)
    {
        if (FencedOut) return;
        FencedOut = true;
        services.Metrics.FencedOutWrites.Add(1, new KeyValuePair<string, object?>("target", target));
        LogFencedOut(matchId, target, _unwritten.Count);
        if (_lease is not { } held) return;
        services.Locks.Untrack(matchId);
        _lease = null;
        // Compare-and-delete: frees the lock if it is still ours, so the next owner need not wait a TTL.
        services.Locks.ReleaseAsync(held.Lease).Ignore();
    }

    private void Lose(string why)
    {
        services.Metrics.LeaseRenewalsLost.Add(1);
        LogLeaseLost(matchId, why);
        services.Locks.Untrack(matchId);
        _lapsed = _lease!.Lease;
        _lease = null;
    }

    /// <summary>
    /// Forgets the updates in a written row, except those whose grain state is not saved yet. A quarantined
    /// row's updates are kept: the next row tries again, and a hand-over carries them.
    /// </summary>
    private void Trim()
    {
        var done = Math.Min(Cursor.WrittenVersion, (_unsavedStateFrom ?? long.MaxValue) - 1);
        var n = 0;
        while (n < _unwritten.Count && _unwritten[n].Version <= done) n++;
        if (n > 0) _unwritten.RemoveRange(0, n);
    }

    /// <summary>The updates the last <see cref="EndAsync"/> handed to the next activation (a migration carries them too).</summary>
    public List<MatchUpdate>? LastHandOver { get; private set; }

    private void HandOver(IGrainFactory grains)
    {
        Trim();
        if (_unwritten.Count == 0) return;
        var updates = _unwritten.ConvertAll(x => x.Update);
        LastHandOver = updates;
        _unwritten.Clear();
        LogHandOver(matchId, updates.Count);
        var id = matchId;
        // After this activation is gone, calls to the id reach the current (or a new) owner. The silo's stop
        // waits for this (HandOvers), while messages can still be sent.
        services.HandOvers.Run(async () =>
        {
            // Retried for a minute (the next activation may wait for Redis or PostgreSQL to come back).
            var delay = TimeSpan.FromMilliseconds(100);
            var until = MatchLocks.Now + (long)(HandOverBudget.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await Task.Delay(delay);
                    await grains.GetGrain<IMatchGrain>(id).Adopt(updates);
                    services.Metrics.HandedOver.Add(updates.Count, new KeyValuePair<string, object?>("outcome", "delivered"));
                    return;
                }
                catch (Exception ex)
                {
                    LogHandOverRetry(ex, id, attempt);
                    if (MatchLocks.Now > until) break;
                    delay = delay * 2 > MaxHandOverDelay ? MaxHandOverDelay : delay * 2;
                }
            }

            services.Metrics.HandedOver.Add(updates.Count, new KeyValuePair<string, object?>("outcome", "failed"));
            LogHandOverFailed(id, updates.Count);
        });
    }

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Match {MatchId}: fenced out by a newer epoch ({Target}); stopping writes, {Unwritten} unwritten updates go to the next activation")]
    private partial void LogFencedOut(string matchId, string target, int unwritten);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Match {MatchId}: lease lost ({Why}); accepting in memory until a lease is had again")]
    private partial void LogLeaseLost(string matchId, string why);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Match {MatchId}: lease taken but state reload failed; released, retrying")]
    private partial void LogLeaseSetupFailed(Exception ex, string matchId);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Information, Message = "Match {MatchId}: handing {Count} unwritten updates to the match's next activation")]
    private partial void LogHandOver(string matchId, int count);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Match {MatchId}: hand-over attempt {Attempt} failed")]
    private partial void LogHandOverRetry(Exception ex, string matchId, int attempt);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Error, Message = "Match {MatchId}: {Count} acknowledged updates could not be handed to the next activation; the pollers deliver them again")]
    private partial void LogHandOverFailed(string matchId, int count);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Warning, Message = "Match {MatchId}: no lease, and this silo cannot reach Redis while another can; migrating, {Unwritten} unwritten updates go to the next activation")]
    private partial void LogStranded(string matchId, int unwritten);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Match {MatchId}: {Count} updates unwritten and no lease; refusing further updates (retryable) until a lease is had")]
    private partial void LogRefusing(string matchId, int count);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Match {MatchId}: row not written within {Timeout} at deactivation; {Count} updates handed to the next activation")]
    private partial void LogRowNotWritten(string matchId, int count, TimeSpan timeout);
}
