using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// The silo's write-behind to <c>ts_matches</c>: grains hand over their latest row; one loop
/// writes every dirty match in one upsert per batch, one flush in flight at a time, on a short
/// timer (so small batches never strand) and at once when a batch is full; under a backlog the
/// oldest rows go first. A flush that fails for a connection keeps its rows (a newer row of the
/// same match supersedes them) and retries with jittered backoff; a row PostgreSQL refuses on its
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
    private readonly SemaphoreSlim _oneFlush = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private Task? _loop;
    private bool _outage;
    private int _pendingCount;
    private int _inFlight; // rows taken from _pending by the flush now writing them (under _gate)
    private int _refusing;

    public TsMatchesWriter(TsMatchesTable table, TimeProvider time, GoalGptMetrics metrics,
        IOptions<WriteBehindOptions> options, ILogger<TsMatchesWriter> logger)
    {
        _table = table;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _options = options.Value;
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
    }

    /// <summary>
    /// False when the backlog is at <see cref="WriteBehindOptions.MaxBacklog"/> and <paramref name="matchId"/> has no
    /// row waiting: its update would add a row, so it is refused (retryable) instead. A match already waiting
    /// adds nothing (its newer row replaces the waiting one).
    /// </summary>
    public bool Admits(string matchId)
    {
        if (Volatile.Read(ref _pendingCount) < _options.MaxBacklog) return true;
        bool admits;
        lock (_gate) admits = _pending.Count < _options.MaxBacklog || _pending.ContainsKey(matchId);
        if (!admits)
        {
            _metrics.BacklogRefusals.Add(1);
            if (Interlocked.Exchange(ref _refusing, 1) == 0) LogBacklogFull(_options.MaxBacklog);
        }

        return admits;
    }

    /// <summary>Matches waiting to be written (not counting the batch being written now: <see cref="InFlight"/>).</summary>
    public int Backlog
    {
        get { lock (_gate) return _pending.Count; }
    }

    /// <summary>Matches in the batch being written now (retried with backoff while PostgreSQL is down).</summary>
    public int InFlight
    {
        get { lock (_gate) return _inFlight; }
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
                };
            }
            else
            {
                _pending[row.ExternalId] = new Pending(row, now, valuesChanged || urgent ? now : null, new HashSet<string>(fields, StringComparer.Ordinal), cursor, version)
                {
                    Events = events,
                };
            }

            count = _pending.Count;
            Volatile.Write(ref _pendingCount, count);
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
        // A flush of the loop may hold rows that are no longer pending: "everything written" includes it.
        await _oneFlush.WaitAsync(ct).ConfigureAwait(false);
        _oneFlush.Release();
        while (Backlog > 0 && !ct.IsCancellationRequested)
        {
            if (!await FlushOnceAsync(ct, all: true).ConfigureAwait(false))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Writes one batch now (the oldest rows first when more are pending than a batch holds); false when it failed.</summary>
    public Task<bool> WriteBatchAsync(CancellationToken ct = default) => FlushOnceAsync(ct, all: true);

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

    private async Task RunAsync()
    {
        var delay = TimeSpan.Zero;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await _signal.WaitAsync(delay > TimeSpan.Zero ? delay : _options.FlushInterval, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var ok = await FlushOnceAsync(_stopping.Token).ConfigureAwait(false);
            delay = ok ? TimeSpan.Zero : NextDelay(delay);
        }
    }

    private TimeSpan NextDelay(TimeSpan previous)
    {
        var next = previous == TimeSpan.Zero ? TimeSpan.FromMilliseconds(100) : previous * 2;
        if (next > _options.MaxRetryDelay) next = _options.MaxRetryDelay;
        return next * (0.5 + Random.Shared.NextDouble() / 2);
    }

    private async Task<bool> FlushOnceAsync(CancellationToken ct, bool all = false)
    {
        // One flush in flight at a time: two overlapping upserts of the same rows would deadlock.
        await _oneFlush.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            return await FlushBatchAsync(ct, all).ConfigureAwait(false);
        }
        finally
        {
            _oneFlush.Release();
        }
    }

    private async Task<bool> FlushBatchAsync(CancellationToken ct, bool all)
    {
        List<Pending> batch;
        var now = _time.GetTimestamp();
        var confirmationDue = now - (long)(_options.ConfirmationDelay.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        lock (_gate)
        {
            if (_pending.Count == 0) return true;
            var due = _pending.Values.Where(p => all || p.ChangedTs is not null || p.FirstAcceptedTs <= confirmationDue);
            // Under a backlog the oldest first: otherwise whatever a dictionary yields first goes, and some rows wait for good.
            batch = (_pending.Count > _options.MaxBatchSize ? due.OrderBy(p => p.FirstAcceptedTs) : due)
                .Take(_options.MaxBatchSize)
                .ToList();
            if (batch.Count == 0) return true;
            foreach (var p in batch) _pending.Remove(p.Row.ExternalId);
            _inFlight = batch.Count;
            Volatile.Write(ref _pendingCount, _pending.Count);
            if (_pending.Count < _options.MaxBacklog) Volatile.Write(ref _refusing, 0);
        }

        var started = _time.GetTimestamp();
        // Ordered by id: writers on several silos then lock rows in the same order and cannot deadlock.
        batch.Sort((a, b) => string.CompareOrdinal(a.Row.ExternalId, b.Row.ExternalId));
        (List<Pending> retry, Exception? error) result;
        try
        {
            result = await WriteIsolatingAsync(batch).ConfigureAwait(false);
            if (result.error is not null) Requeue(result.retry);
        }
        finally
        {
            lock (_gate) _inFlight = 0;
        }

        var (retry, error) = result;
        if (error is not null)
        {
            _metrics.FlushFailures.Add(1);
            if (!_outage)
            {
                _outage = true;
                LogFlushFailed(error, retry.Count, Backlog);
            }

            return false;
        }

        var finished = _time.GetTimestamp();
        _metrics.FlushBatchSize.Record(batch.Count);
        _metrics.FlushDuration.Record(_time.GetElapsedTime(started, finished).TotalMilliseconds);
        foreach (var p in batch)
        {
            if (p.ChangedTs is long changed) _metrics.WriteLag.Record(_time.GetElapsedTime(changed, finished).TotalMilliseconds);
        }

        if (_outage)
        {
            _outage = false;
            LogFlushRecovered(Backlog);
        }

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

    private void Requeue(List<Pending> failed)
    {
        lock (_gate)
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

            Volatile.Write(ref _pendingCount, _pending.Count);
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
        _oneFlush.Dispose();
    }

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "ts_matches write-behind backlog at its bound ({MaxBacklog} matches, WriteBehind__MaxBacklog): refusing updates of matches not already waiting (backlog_full, retryable) until it shrinks")]
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
