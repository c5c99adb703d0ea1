using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// The silo's write-behind to <c>ts_matches</c>: grains hand over their latest row; one loop
/// writes every dirty match in one upsert per batch, one flush in flight at a time, on a short
/// timer (so small batches never strand) and at once when a batch is full. A failed flush keeps
/// its rows (a newer row of the same match supersedes them) and retries with jittered backoff.
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
    private Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _fencedOut = new(StringComparer.Ordinal);
    private Task? _loop;
    private bool _outage;

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

    /// <summary>A match's newest row; <see cref="ChangedTs"/> is when a value first changed in it (null: only times moved).</summary>
    private sealed record Pending(TsMatchRow Row, long FirstAcceptedTs, long? ChangedTs, HashSet<string> Fields);

    /// <summary>Matches waiting to be written.</summary>
    public int Backlog
    {
        get { lock (_gate) return _pending.Count; }
    }

    /// <summary>
    /// Hands over the latest row of a match; <paramref name="fields"/> names what was applied.
    /// <paramref name="valuesChanged"/> false: only observation times moved, so the row may wait
    /// up to <see cref="WriteBehindOptions.ConfirmationDelay"/> to be written with later ones.
    /// </summary>
    public void Enqueue(TsMatchRow row, IEnumerable<string> fields, bool valuesChanged = true)
    {
        var now = _time.GetTimestamp();
        int count;
        lock (_gate)
        {
            if (_pending.TryGetValue(row.ExternalId, out var existing))
            {
                existing.Fields.UnionWith(fields);
                _pending[row.ExternalId] = existing with { Row = row, ChangedTs = existing.ChangedTs ?? (valuesChanged ? now : null) };
            }
            else
            {
                _pending[row.ExternalId] = new Pending(row, now, valuesChanged ? now : null, new HashSet<string>(fields, StringComparer.Ordinal));
            }

            count = _pending.Count;
        }

        if (count >= _options.MaxBatchSize && _signal.CurrentCount == 0) _signal.Release();
    }

    /// <summary>Starts the flush loop.</summary>
    public void Start() => _loop ??= Task.Run(RunAsync);

    /// <summary>Writes everything pending now, confirmations included (tests, shutdown).</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        while (Backlog > 0 && !ct.IsCancellationRequested)
        {
            if (!await FlushOnceAsync(ct, all: true).ConfigureAwait(false))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), ct).ConfigureAwait(false);
            }
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
            batch = _pending.Values
                .Where(p => all || p.ChangedTs is not null || p.FirstAcceptedTs <= confirmationDue)
                .Take(_options.MaxBatchSize)
                .ToList();
            if (batch.Count == 0) return true;
            foreach (var p in batch) _pending.Remove(p.Row.ExternalId);
        }

        var started = _time.GetTimestamp();
        IReadOnlyList<string> fenced;
        try
        {
            // Ordered by id: writers on several silos then lock rows in the same order and cannot deadlock.
            fenced = await _table.UpsertAsync(batch.Select(p => p.Row).OrderBy(r => r.ExternalId, StringComparer.Ordinal).ToList(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Requeue(batch);
            _metrics.FlushFailures.Add(1);
            if (!_outage)
            {
                _outage = true;
                LogFlushFailed(ex, batch.Count, Backlog);
            }

            return false;
        }

        var finished = _time.GetTimestamp();
        if (fenced.Count > 0) RecordFencedOut(batch, fenced);
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

        if (_logger.IsEnabled(LogLevel.Information))
        {
            LogBatchWritten(batch.Count, Describe(batch));
        }

        return true;
    }

    /// <summary>
    /// True when the database refused a row of <paramref name="matchId"/> written with epoch
    /// <paramref name="fenceToken"/> or older: that writer lost its lease and must stop.
    /// </summary>
    public bool WasFencedOut(string matchId, long fenceToken) =>
        _fencedOut.TryGetValue(matchId, out var refused) && refused >= fenceToken;

    private void RecordFencedOut(List<Pending> batch, IReadOnlyList<string> fenced)
    {
        var ids = fenced.ToHashSet(StringComparer.Ordinal);
        foreach (var p in batch.Where(p => ids.Contains(p.Row.ExternalId)))
        {
            var token = p.Row.FenceToken ?? 0;
            _fencedOut.AddOrUpdate(p.Row.ExternalId, token, (_, old) => Math.Max(old, token));
        }

        _metrics.FencedOutWrites.Add(fenced.Count, new KeyValuePair<string, object?>("target", "ts_matches"));
        LogFencedOut(fenced.Count, string.Join(' ', fenced.Take(20)));
    }

    private void Requeue(List<Pending> batch)
    {
        lock (_gate)
        {
            foreach (var p in batch)
            {
                if (_pending.TryGetValue(p.Row.ExternalId, out var newer))
                {
                    newer.Fields.UnionWith(p.Fields);
                    _pending[p.Row.ExternalId] = newer with
                    {
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

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "ts_matches batch written: {Count} matches updated: {Matches}")]
    private partial void LogBatchWritten(int count, string matches);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "ts_matches write failed for {Count} matches; keeping {Backlog} pending and retrying with backoff")]
    private partial void LogFlushFailed(Exception ex, int count, int backlog);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "ts_matches writes recovered; {Backlog} matches still pending")]
    private partial void LogFlushRecovered(int backlog);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "ts_matches refused {Count} rows from an outdated fencing epoch (fenced out): {Matches}")]
    private partial void LogFencedOut(int count, string matches);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Shutdown left {Backlog} matches unwritten to ts_matches (PostgreSQL unreachable); their grain state holds them")]
    private partial void LogShutdownBacklog(int backlog);
}
