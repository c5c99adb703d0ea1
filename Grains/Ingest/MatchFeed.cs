using Microsoft.Extensions.Logging;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>What one delivery of parsed updates did.</summary>
public readonly record struct FeedCounts(int Matches, int Updates, int FieldsApplied, int FieldsRejected, int InputRejected)
{
    public static FeedCounts operator +(FeedCounts a, FeedCounts b) => new(a.Matches + b.Matches, a.Updates + b.Updates,
        a.FieldsApplied + b.FieldsApplied, a.FieldsRejected + b.FieldsRejected, a.InputRejected + b.InputRejected);

    public override string ToString() =>
        $"matches={Matches} updates={Updates} fields_applied={FieldsApplied} fields_rejected={FieldsRejected} input_rejected={InputRejected}";
}

/// <summary>Some matches of a delivery failed (the others were delivered): the job run fails and is retried.</summary>
public sealed class FeedDeliveryException(string origin, int failed, Exception first)
    : Exception($"{origin}: {failed} matches could not be delivered: {first.Message}", first);

/// <summary>What a paged read delivered: counts, requests made, the newest <c>updated_at</c> read.</summary>
public sealed record PagedDelivery(FeedCounts Counts, int Requests, long NewestUpdate);

/// <summary>
/// Hands parsed provider input to the match grains: one <see cref="IMatchGrain.ApplyMany"/> per match,
/// a bounded number in flight. What the edge refused is counted (<c>goalgpt.fields.rejected</c>) and
/// logged once per delivery with the first reasons.
/// </summary>
public sealed partial class MatchFeed(IGrainFactory grains, GoalGptMetrics metrics, ILogger<MatchFeed> logger)
{
    // Matches delivered to at once. A delivery after a silo took over (or started) activates its matches: with 64 in
    // flight 10,000 took over 5 s, each waiting for its batched state read, lease claim and state write in turn.
    private const int MaxInFlight = 512;

    public async Task<FeedCounts> DeliverAsync(string origin, UpdateSource source, ParsedBatch batch, CancellationToken ct,
        Func<string, bool>? include = null)
    {
        RecordRejections(origin, source, batch);
        var byMatch = batch.Updates
            .Where(u => include is null || include(u.MatchId))
            .GroupBy(u => u.MatchId, StringComparer.Ordinal)
            .Select(g => (Id: g.Key, Updates: (IReadOnlyList<MatchUpdate>)g.Select(u => u.Update).ToList()))
            .ToList();

        var applied = 0;
        var rejected = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<(string Id, Exception Error)>();
        // Every match on its own: one failing grain call must not keep the rest of the batch from their grains.
        await Parallel.ForEachAsync(byMatch, new ParallelOptions { MaxDegreeOfParallelism = MaxInFlight, CancellationToken = ct }, async (m, _) =>
        {
            try
            {
                var results = await grains.GetGrain<IMatchGrain>(m.Id).ApplyMany(m.Updates).ConfigureAwait(false);
                Interlocked.Add(ref applied, results.Sum(r => r.Fields.Count(f => f.Outcome == FieldOutcome.Applied)));
                Interlocked.Add(ref rejected, results.Sum(r => r.Rejected.Count()));
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                failures.Enqueue((m.Id, ex));
            }
        }).ConfigureAwait(false);

        if (!failures.IsEmpty)
        {
            // The run fails (its cursor stays, the next run delivers again: re-applying is a no-op in the grain),
            // after every other match got its updates.
            metrics.DeliveryFailures.Add(failures.Count, new KeyValuePair<string, object?>("origin", origin));
            var (firstId, firstError) = failures.First();
            LogDeliveryFailed(firstError, origin, failures.Count, byMatch.Count, firstId);
            throw new FeedDeliveryException(origin, failures.Count, firstError);
        }

        return new FeedCounts(byMatch.Count, byMatch.Sum(m => m.Updates.Count), applied, rejected, batch.Rejections.Count);
    }

    /// <summary>
    /// Reads <c>recent/list</c> from <paramref name="since"/> page by page until an empty page (at most
    /// <paramref name="maxPages"/>, or until <paramref name="more"/> says enough) and delivers each page.
    /// </summary>
    public async Task<PagedDelivery> DeliverRecentListAsync(ProviderClient provider, string origin, UpdateSource source, long since, int maxPages,
        CancellationToken ct, Func<string, bool>? include = null, Func<ParsedBatch, bool>? more = null)
    {
        var counts = default(FeedCounts);
        var requests = 0;
        var newest = since;
        for (var page = 1; page <= maxPages; page++)
        {
            var answer = await provider.RecentListAsync(since, page, source, ct).ConfigureAwait(false);
            requests++;
            if (answer.Batch.Elements == 0) break;
            counts += await DeliverAsync(origin, source, answer.Batch, ct, include).ConfigureAwait(false);
            newest = Math.Max(newest, answer.Batch.Updates.Select(u => u.Update.ProviderUpdateTime ?? 0).DefaultIfEmpty(0).Max());
            if (more is not null && !more(answer.Batch)) break;
        }

        return new(counts, requests, newest);
    }

    /// <summary>Counts and logs (once) what the edge refused in <paramref name="batch"/>.</summary>
    public void RecordRejections(string origin, UpdateSource source, ParsedBatch batch)
    {
        if (batch.Rejections.Count == 0) return;
        foreach (var r in batch.Rejections)
        {
            metrics.FieldsRejected.Add(1, new("source", source.ToWire()), new("field", r.Field), new("reason", r.Reason));
        }

        LogInputRejected(origin, batch.Rejections.Count, string.Join("; ", batch.Rejections.Take(3).Select(r => $"{r.Field}:{r.Reason} ({r.Detail})")));
    }

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning, Message = "{Origin}: {Count} input fields refused at the edge, first: {First}")]
    private partial void LogInputRejected(string origin, int count, string first);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "{Origin}: {Failed} of {Matches} matches could not be delivered (first {MatchId}); the others were, the run is retried")]
    private partial void LogDeliveryFailed(Exception ex, string origin, int failed, int matches, string matchId);
}
