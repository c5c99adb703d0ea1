using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// The silo's write-behind to <c>ts_matches</c>: grains hand over their latest row; one loop
/// writes dirty matches in one upsert per batch, on a short timer (so small batches never strand)
/// and at once when a batch is full; under a backlog the oldest rows go first. Up to
/// <see cref="WriteBehindOptions.MaxFlushesInFlight"/> flushes run at once, over disjoint matches: a
/// match whose row is being written is not taken by another flush until that one has finished (and
/// put its rows back if it failed), so a match's rows reach the table in the order they were handed
/// over. A flush that fails for a connection keeps its rows (a newer row of the same match supersedes them) and retries with jittered backoff; a row PostgreSQL refuses on its
/// own is isolated by splitting the batch and quarantined (counted, logged), so it cannot hold up
/// the others. Each row's outcome is reported to its activation's <see cref="WriteCursor"/>.
/// Stopping drains what is pending.
/// </summary>
public sealed partial class TsMatchesWriter : IAsyncDisposable
{
    private readonly TsMatchesTable _table;
    private readonly TimeProvider _time;
    private readonly GoalGptMetrics _metrics;
    private readonly ILogger<TsMatchesWriter> _logger;
    private readonly WriteBehindOptions _options;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly SemaphoreSlim _slots; // a flush in flight holds one
    private readonly SemaphoreSlim _drain = new(1, 1); // one FlushAsync at a time (it takes every slot)
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private Task? _loop;
    private int _outage; // 1 from a failed flush to the next one started after it that succeeds: each logged once (under _gate)
    private long _failures; // failed flushes so far: a flush that started before the last one failed does not end an outage
    private int _unwrittenCount; // rows waiting plus rows being written (_pending.Count + _writing.Count)
    private readonly HashSet<string> _writing = new(StringComparer.Ordinal); // matches of the flushes now writing (under _gate)
    private readonly List<Task> _flushing = []; // the loop's flushes in flight (under _gate)
    private int _refusing;

    private bool InOutage => Volatile.Read(ref _outage) == 1;

    public TsMatchesWriter(TsMatchesTable table, TimeProvider time, GoalGptMetrics metrics,
        IOptions<WriteBehindOptions> options, ILogger<TsMatchesWriter> logger)
    {
        _table = table;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _options = options.Value;
        _slots = new SemaphoreSlim(_options.MaxFlushesInFlight, _options.MaxFlushesInFlight);
        _metrics.Backlog = () => Backlog;
    }

    /// <summary>
    /// A match's newest row, version <see cref="Version"/> of the activation behind <see cref="Cursor"/>;
    /// <see cref="ChangedTs"/> is when a value first changed in it (null: only times moved).
    /// </summary>
    private sealed record Pending(TsMatchRow Row, long FirstAcceptedTs, long? ChangedTs, HashSet<string> Fields, WriteCursor? Cursor, long Version)
    {
        /// <summary>Audit events riding with the row: inserted by the statement that writes it, in order.</summary>
        public List<Audit.AuditEvent>? Events { get; init; }

        /// <summary>
        /// Some of <see cref="Events"/> went with a flush that failed, perhaps after its commit (the acknowledgement
        /// lost): written again only where not there yet.
        /// </summary>
        public bool MayBeWritten { get; init; }

        /// <summary>
        /// Someone waits for this row now (a deactivation, an admin correction): due at the next flush even if only times
        /// moved; passed over because its match was being written, it wakes the loop once that flush has ended.
        /// </summary>
        public bool Urgent { get; init; }
    }

    /// <summary>
    /// False when the rows not yet written (waiting, and being written) are at <see cref="WriteBehindOptions.MaxBacklog"/>
    /// and <paramref name="matchId"/> has no row waiting: its update would add a row, so it is refused (retryable)
    /// instead. A match already waiting adds nothing (its newer row replaces the waiting one).
    /// </summary>
    public bool Admits(string matchId)
    {
        if (Volatile.Read(ref _unwrittenCount) < _options.MaxBacklog) return true;
        bool admits;
        lock (_gate) admits = CountUnwritten() < _options.MaxBacklog || _pending.ContainsKey(matchId);
        if (!admits)
        {
            _metrics.BacklogRefusals.Add(1);
            if (Interlocked.Exchange(ref _refusing, 1) == 0) LogBacklogFull(_options.MaxBacklog);
        }

        return admits;
    }

    /// <summary>Refreshes <see cref="_unwrittenCount"/> (read without the lock by <see cref="Admits"/>); under the lock.</summary>
    private int CountUnwritten()
    {
        var count = _pending.Count + _writing.Count;
        Volatile.Write(ref _unwrittenCount, count);
        return count;
    }

    /// <summary>Matches waiting to be written (not counting the batches being written now: <see cref="InFlight"/>).</summary>
    public int Backlog
    {
        get { lock (_gate) return _pending.Count; }
    }

    /// <summary>Matches in the batches being written now (retried with backoff while PostgreSQL is down).</summary>
    public int InFlight
    {
        get { lock (_gate) return _writing.Count; }
    }

    /// <summary>
    /// Hands over the latest row of a match; <paramref name="fields"/> names what was applied.
    /// <paramref name="valuesChanged"/> false: only observation times moved, so the row may wait
    /// up to <see cref="WriteBehindOptions.ConfirmationDelay"/> to be written with later ones.
    /// </summary>
    public void Enqueue(TsMatchRow row, IEnumerable<string> fields, bool valuesChanged = true, WriteCursor? cursor = null, long version = 0)
    {
        Enqueue(row, fields, valuesChanged, cursor, version, urgent: false);
    }

    /// <summary>As above; <paramref name="urgent"/>: written at the next flush even if only times moved (a deactivation waits for it).</summary>
    public void Enqueue(TsMatchRow row, IEnumerable<string> fields, bool valuesChanged, WriteCursor? cursor, long version, bool urgent)
        => Enqueue(row, fields, valuesChanged, cursor, version, urgent, null);

    /// <summary>As above, with the audit events that ride with the row (<paramref name="events"/>: added to those of a row it supersedes).</summary>
    public void Enqueue(TsMatchRow row, IEnumerable<string> fields, bool valuesChanged, WriteCursor? cursor, long version, bool urgent, List<Audit.AuditEvent>? events)
    {
        var now = _time.GetTimestamp();
        int count;
        lock (_gate)
        {
            if (_pending.TryGetValue(row.ExternalId, out var existing) && !SameActivation(existing, cursor, row))
            {
                if (existing.Row.FenceToken > row.FenceToken)
                {
                    cursor!.Refused(row.FenceToken ?? 0);
                    return;
                }

                _pending.Remove(row.ExternalId);
                existing = null;
            }

            if (existing is not null)
            {
                existing.Fields.UnionWith(fields);
                _pending[row.ExternalId] = existing with
                {
                    Row = row, ChangedTs = existing.ChangedTs ?? (valuesChanged || urgent ? now : null), Cursor = cursor, Version = version,
                    Events = Concat(existing.Events, events),
                    Urgent = existing.Urgent || urgent,
                };
            }
            else
            {
                _pending[row.ExternalId] = new Pending(row, now, valuesChanged || urgent ? now : null, new HashSet<string>(fields, StringComparer.Ordinal), cursor, version)
                {
                    Events = events,
                    Urgent = urgent,
                };
            }

            count = _pending.Count;
            CountUnwritten();
        }

        if (count >= _options.MaxBatchSize) Wake();
    }

    /// <summary>Starts a flush now instead of at the next interval (a deactivating grain waits for its row).</summary>
    public void Wake()
    {
        if (_signal.CurrentCount == 0) _signal.Release();
    }

    /// <summary>Starts the flush loop.</summary>
    public void Start() => _loop ??= Task.Run(RunAsync);

    /// <summary>Writes everything pending now, confirmations included (tests, shutdown).</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        // Every slot: the loop's flushes in flight hold rows that are no longer pending ("everything written" includes
        // them, or they are back in the queue), and none starts while this one drains.
        await AloneAsync(async () =>
        {
            while (Backlog > 0 && !ct.IsCancellationRequested)
            {
                if (!await FlushBatchAsync(TakeBatch(all: true)).ConfigureAwait(false))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(50), ct).ConfigureAwait(false);
                }
            }

            return true;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes one batch now (the oldest rows first when more are pending than a batch holds; none of a match another
    /// flush is writing); false when it failed.
    /// </summary>
    public async Task<bool> WriteBatchAsync(CancellationToken ct = default)
    {
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await FlushBatchAsync(TakeBatch(all: true)).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Stops the loop after draining what is pending (bounded by the shutdown timeout).</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        _stopping.Cancel();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.ShutdownTimeout);
        try
        {
            await FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // fall through to the report below
        }

        if (Backlog > 0) LogShutdownBacklog(Backlog);
    }

    /// <summary>
    /// The loop: at every interval, or at once when a batch is full, a flush of what is due, in a free slot. A flush
    /// that takes longer than the interval does not hold up the next one (up to
    /// <see cref="WriteBehindOptions.MaxFlushesInFlight"/> at once, over disjoint matches). After a failure, until a flush
    /// succeeds again, one flush at a time once the others in flight have ended, and after each failed one a jittered,
    /// doubling wait that wake-ups do not cut short: the rows that failed are retried (the oldest first), and a database
    /// that is down gets one attempt per wait.
    /// </summary>
    private async Task RunAsync()
    {
        var delay = TimeSpan.Zero;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await _signal.WaitAsync(_options.FlushInterval, _stopping.Token).ConfigureAwait(false);
                var slot = false;
                if (!InOutage)
                {
                    await _slots.WaitAsync(_stopping.Token).ConfigureAwait(false);
                    slot = true;
                }

                if (InOutage) // also when a flush failed while this waited for a slot
                {
                    if (slot) _slots.Release();
                    var ok = await AloneAsync(() => FlushBatchAsync(TakeBatch(all: false)), _stopping.Token).ConfigureAwait(false);
                    delay = ok ? TimeSpan.Zero : NextDelay(delay);
                    if (!ok) await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
                    continue;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }

            delay = TimeSpan.Zero;
            var batch = TakeBatch(all: false);
            if (batch is null)
            {
                _slots.Release();
                continue;
            }

            var flush = FlushInSlotAsync(batch);
            lock (_gate)
            {
                _flushing.RemoveAll(t => t.IsCompleted);
                _flushing.Add(flush);
            }
        }

        Task[] running;
        lock (_gate) running = [.. _flushing];
        await Task.WhenAll(running).ConfigureAwait(false);
    }

    /// <summary>A flush of the loop in a slot it took; the loop goes on to its next wait at once.</summary>
    private async Task FlushInSlotAsync(List<Pending> batch)
    {
        try
        {
            await Task.Yield();
            await FlushBatchAsync(batch).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>
    /// Runs <paramref name="flush"/> with every slot held (no other flush in flight), one caller at a time: the loop
    /// after a failure, and <see cref="FlushAsync"/>.
    /// </summary>
    private async Task<bool> AloneAsync(Func<Task<bool>> flush, CancellationToken ct)
    {
        await _drain.WaitAsync(ct).ConfigureAwait(false);
        var held = 0;
        try
        {
            for (; held < _options.MaxFlushesInFlight; held++) await _slots.WaitAsync(ct).ConfigureAwait(false);
            return await flush().ConfigureAwait(false);
        }
        finally
        {
            if (held > 0) _slots.Release(held);
            _drain.Release();
        }
    }

    private TimeSpan NextDelay(TimeSpan previous)
    {
        var next = previous == TimeSpan.Zero ? TimeSpan.FromMilliseconds(100) : previous * 2;
        if (next > _options.MaxRetryDelay) next = _options.MaxRetryDelay;
        return next * (0.5 + Random.Shared.NextDouble() / 2);
    }

    /// <summary>
    /// Takes the rows due (all of them with <paramref name="all"/>, confirmations included) out of the queue for one
    /// flush, at most a batch, the oldest first under a backlog, and none of a match another flush is writing: that
    /// match's newer row waits until the older one is in the table or back in the queue (<see cref="Release"/>), or
    /// it could be written first and then overwritten by the older. Null when nothing is due.
    /// </summary>
    private List<Pending>? TakeBatch(bool all)
    {
        var confirmationDue = _time.GetTimestamp() - (long)(_options.ConfirmationDelay.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        lock (_gate)
        {
            if (_pending.Count == 0) return null;
            var due = _pending.Values.Where(p => (all || p.ChangedTs is not null || p.FirstAcceptedTs <= confirmationDue) && !_writing.Contains(p.Row.ExternalId));
            // Under a backlog the oldest first: otherwise whatever a dictionary yields first goes, and some rows wait for good.
            var batch = (_pending.Count > _options.MaxBatchSize ? due.OrderBy(p => p.FirstAcceptedTs) : due)
                .Take(_options.MaxBatchSize)
                .ToList();
            if (batch.Count == 0) return null;
            foreach (var p in batch)
            {
                _pending.Remove(p.Row.ExternalId);
                _writing.Add(p.Row.ExternalId);
            }

            CountUnwritten();
            return batch;
        }
    }

    /// <summary>
    /// Ends a flush: the rows it could not write go back in the queue, and its matches are free for other flushes, in
    /// one step under the lock (a flush in between must not find a match free while its older row is out of the queue).
    /// A freed match whose newer row someone waits for (a deactivation, a correction: their wake-up may have found it
    /// being written and passed it over) wakes the loop.
    /// </summary>
    private void Release(List<Pending> batch, List<Pending> retry)
    {
        var waiting = false;
        lock (_gate)
        {
            if (retry.Count > 0) Requeue(retry);
            foreach (var p in batch)
            {
                _writing.Remove(p.Row.ExternalId);
                waiting |= retry.Count == 0 && _pending.TryGetValue(p.Row.ExternalId, out var next) && next.Urgent;
            }

            if (CountUnwritten() < _options.MaxBacklog) Volatile.Write(ref _refusing, 0); // the next refusal is a new episode
        }

        if (waiting) Wake();
    }

    /// <summary>Writes a batch taken by <see cref="TakeBatch"/> (true for none); false when it failed and went back in the queue.</summary>
    private async Task<bool> FlushBatchAsync(List<Pending>? batch)
    {
        if (batch is null) return true;
        var failuresBefore = Interlocked.Read(ref _failures);
        var started = _time.GetTimestamp();
        // Ordered by id: writers on several silos then lock rows in the same order and cannot deadlock.
        batch.Sort((a, b) => string.CompareOrdinal(a.Row.ExternalId, b.Row.ExternalId));
        (List<Pending> retry, Exception? error) result = (batch, null);
        try
        {
            result = await WriteIsolatingAsync(batch).ConfigureAwait(false);
        }
        finally
        {
            Release(batch, result.retry);
        }

        var (retry, error) = result;
        if (error is not null)
        {
            _metrics.FlushFailures.Add(1);
            bool began;
            lock (_gate)
            {
                Interlocked.Increment(ref _failures);
                began = _outage == 0;
                _outage = 1;
            }

            if (began) LogFlushFailed(error, retry.Count, Backlog);

            return false;
        }

        var finished = _time.GetTimestamp();
        _metrics.FlushBatchSize.Record(batch.Count);
        _metrics.FlushDuration.Record(_time.GetElapsedTime(started, finished).TotalMilliseconds);
        foreach (var p in batch)
        {
            if (p.ChangedTs is long changed) _metrics.WriteLag.Record(_time.GetElapsedTime(changed, finished).TotalMilliseconds);
        }

        // Only a flush that started after the last failure ends the outage: one that was already writing when another
        // failed says nothing about the database now.
        bool recovered;
        lock (_gate)
        {
            recovered = _outage == 1 && Interlocked.Read(ref _failures) == failuresBefore;
            if (recovered) _outage = 0;
        }

        if (recovered) LogFlushRecovered(Backlog);

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            LogBatchWritten(batch.Count, Describe(batch));
        }

        return true;
    }

    /// <summary>
    /// Writes <paramref name="rows"/> and reports each outcome to its cursor. A row PostgreSQL refuses
    /// (a data or constraint error: SQLSTATE class 22 or 23) is found by halving the batch and set
    /// aside; a connection or server failure returns the rows not yet written, to be retried.
    /// </summary>
    private async Task<(List<Pending> Retry, Exception? Error)> WriteIsolatingAsync(List<Pending> rows)
    {
        try
        {
            var events = rows.SelectMany(p => p.Events ?? []).ToList();
            var fenced = await _table.UpsertAsync(rows.ConvertAll(p => p.Row), events, rows.Exists(p => p.MayBeWritten) || events.Exists(e => e.MayExist), CancellationToken.None).ConfigureAwait(false);
            if (events.Count > 0)
            {
                _metrics.AuditStatements.Add(1);
                _metrics.AuditEvents.Add(events.Count - (fenced.Count == 0 ? 0 : events.Count(e => fenced.Contains(e.MatchId))));
            }

            Completed(rows, fenced);
            return ([], null);
        }
        catch (PostgresException ex) when (IsRowError(ex.SqlState))
        {
            if (rows.Count == 1)
            {
                Quarantine(rows[0], ex);
                return ([], null);
            }

            var half = rows.Count / 2;
            var (retry, error) = await WriteIsolatingAsync(rows[..half]).ConfigureAwait(false);
            if (error is not null) return ([.. retry, .. rows[half..]], error);
            return await WriteIsolatingAsync(rows[half..]).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            return (rows, ex);
        }
    }

    // Data exceptions (22), integrity constraints (23) and errors raised by PL/pgSQL (P0, e.g. a trigger): a
    // row's own fault. Anything else (connection, timeout, a missing column) is retried for the whole batch.
    private static bool IsRowError(string sqlState) =>
        sqlState.StartsWith("22", StringComparison.Ordinal) || sqlState.StartsWith("23", StringComparison.Ordinal) || sqlState.StartsWith("P0", StringComparison.Ordinal);

    private void Completed(List<Pending> rows, IReadOnlyList<string> fenced)
    {
        var refused = fenced.Count == 0 ? null : fenced.ToHashSet(StringComparer.Ordinal);
        foreach (var p in rows)
        {
            if (refused?.Contains(p.Row.ExternalId) == true) p.Cursor?.Refused(p.Row.FenceToken ?? 0);
            else p.Cursor?.Written(p.Version);
        }

        if (refused is null) return;
        _metrics.FencedOutWrites.Add(fenced.Count, new KeyValuePair<string, object?>("target", "ts_matches"));
        LogFencedOut(fenced.Count, string.Join(' ', fenced.Take(20)));
    }

    private static List<Audit.AuditEvent>? Concat(List<Audit.AuditEvent>? first, List<Audit.AuditEvent>? then)
    {
        if (first is null || first.Count == 0) return then;
        if (then is null || then.Count == 0) return first;
        return [.. first, .. then];
    }

    private void Quarantine(Pending p, PostgresException ex)
    {
        if (p.Events is { Count: > 0 } lost) _metrics.AuditEventsLost.Add(lost.Count, new KeyValuePair<string, object?>("reason", "quarantined"));
        _metrics.RowsQuarantined.Add(1, new KeyValuePair<string, object?>("reason", ex.SqlState));
        LogQuarantined(ex, p.Row.ExternalId, ex.SqlState, ex.MessageText);
        p.Cursor?.Quarantined(p.Version);
    }

    /// <summary>
    /// Whether <paramref name="existing"/> (queued) and a row of <paramref name="cursor"/> come from the same activation.
    /// Rows of two activations of one match (a deactivated one's row still queued when the next one's comes) are never
    /// merged: the database would refuse the older epoch's row with its events, so it is refused here, telling its
    /// activation (which hands its updates over), and its events do not ride with the other activation's row.
    /// </summary>
    private static bool SameActivation(Pending existing, WriteCursor? cursor, TsMatchRow row)
    {
        if (existing.Cursor is null || cursor is null || ReferenceEquals(existing.Cursor, cursor)) return true;
        if (existing.Row.FenceToken <= row.FenceToken) existing.Cursor.Refused(existing.Row.FenceToken ?? 0);
        return false;
    }

    /// <summary>Puts a failed flush's rows back in the queue; the caller holds the lock (<see cref="Release"/>).</summary>
    private void Requeue(List<Pending> failed)
    {
        foreach (var p in failed.Select(f => f with { MayBeWritten = true }))
        {
            if (_pending.TryGetValue(p.Row.ExternalId, out var queued) && !SameActivation(queued, p.Cursor, p.Row))
            {
                if (queued.Row.FenceToken > p.Row.FenceToken)
                {
                    p.Cursor!.Refused(p.Row.FenceToken ?? 0);
                    continue;
                }

                _pending[p.Row.ExternalId] = p;
                continue;
            }

            if (_pending.TryGetValue(p.Row.ExternalId, out var newer))
            {
                newer.Fields.UnionWith(p.Fields);
                // The newer row holds everything the older one did (the same activation's later state).
                _pending[p.Row.ExternalId] = newer with
                {
                    Events = Concat(p.Events, newer.Events),
                    MayBeWritten = true,
                    FirstAcceptedTs = Math.Min(newer.FirstAcceptedTs, p.FirstAcceptedTs),
                    ChangedTs = p.ChangedTs is long a && newer.ChangedTs is long b ? Math.Min(a, b) : p.ChangedTs ?? newer.ChangedTs,
                };
            }
            else
            {
                _pending[p.Row.ExternalId] = p;
            }
        }
    }

    private static string Describe(List<Pending> batch)
    {
        const int Shown = 20;
        var parts = batch.Take(Shown).Select(p => $"{p.Row.ExternalId}[{string.Join(',', p.Fields)}]");
        var text = string.Join(' ', parts);
        return batch.Count > Shown ? $"{text} (+{batch.Count - Shown} more)" : text;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested) await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
        _signal.Dispose();
        _slots.Dispose();
        _drain.Dispose();
    }

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "ts_matches write-behind backlog at its bound ({MaxBacklog} rows not yet written, WriteBehind__MaxBacklog): refusing updates of matches not already waiting (backlog_full, retryable) until it shrinks")]
    private partial void LogBacklogFull(int maxBacklog);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "ts_matches batch written: {Count} matches updated: {Matches}")]
    private partial void LogBatchWritten(int count, string matches);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "ts_matches write failed for {Count} matches; keeping {Backlog} pending and retrying with backoff")]
    private partial void LogFlushFailed(Exception ex, int count, int backlog);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "ts_matches writes recovered; {Backlog} matches still pending")]
    private partial void LogFlushRecovered(int backlog);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "ts_matches refused the row of {MatchId} on its own ({SqlState}: {Reason}); set aside, the other rows written")]
    private partial void LogQuarantined(Exception ex, string matchId, string sqlState, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "ts_matches refused {Count} rows from an outdated fencing epoch (fenced out): {Matches}")]
    private partial void LogFencedOut(int count, string matches);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Shutdown left {Backlog} matches unwritten to ts_matches (PostgreSQL unreachable); their activations handed what was unwritten to the matches' next activations where another silo answered; the rest comes back only when the pollers deliver it again")]
    private partial void LogShutdownBacklog(int backlog);
}
