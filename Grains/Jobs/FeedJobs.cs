using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Ingest;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Grains.Jobs;

/// <summary><c>detail_live</c> every 2 s: status, scores and kick-off times of every live match.</summary>
public sealed class DetailLiveJobGrain(
    [PersistentState("job.detail_live", StorageNames.Matches)] IPersistentState<JobCursor> cursor,
    FeedJobServices services,
    ProviderClient provider,
    MatchFeed feed) : FeedJobGrain(JobNames.DetailLive, cursor, services), IDetailLiveJobGrain
{
    protected override async Task<string> RunAsync(CancellationToken ct)
    {
        var answer = await provider.DetailLiveAsync(UpdateSource.Api, ct);
        var counts = await feed.DeliverAsync("detail_live", UpdateSource.Api, answer.Batch, ct);
        return $"requests=1 {counts}";
    }
}

/// <summary>
/// <c>recent/list</c> from the time cursor, page by page until an empty page, then the cursor moves
/// to the newest <c>updated_at</c> read; every <c>DiaryInterval</c> also the diary of today and tomorrow.
/// </summary>
public sealed class MatchSyncJobGrain(
    [PersistentState("job.match_sync", StorageNames.Matches)] IPersistentState<JobCursor> cursor,
    FeedJobServices services,
    ProviderClient provider,
    MatchFeed feed) : FeedJobGrain(JobNames.MatchSync, cursor, services), IMatchSyncJobGrain
{
    protected override async Task<string> RunAsync(CancellationToken ct)
    {
        var now = Time.GetUtcNow();
        var since = Cursor.RecentListTime > 0 ? Cursor.RecentListTime : now.ToUnixTimeSeconds() - (long)Options.InitialLookback.TotalSeconds;
        var read = await feed.DeliverRecentListAsync(provider, "match_sync", UpdateSource.Api, since, provider.MaxPagesPerRun, ct);
        var (counts, requests, newest) = (read.Counts, read.Requests, read.NewestUpdate);
        Cursor.RecentListTime = newest;
        var diary = "";
        if (NowMs - Cursor.LastDiaryMs >= Options.DiaryInterval.TotalMilliseconds)
        {
            var today = DateOnly.FromDateTime(now.UtcDateTime);
            var diaryCounts = default(FeedCounts);
            foreach (var day in new[] { today, today.AddDays(1) })
            {
                var answer = await provider.DiaryAsync(day, ct);
                requests++;
                diaryCounts += await feed.DeliverAsync("diary", UpdateSource.Api, answer.Batch, ct);
            }

            Cursor.LastDiaryMs = NowMs;
            diary = $" diary_matches={diaryCounts.Matches}";
        }

        return $"requests={requests} cursor={newest} {counts}{diary}";
    }
}

/// <summary>
/// <c>data/update</c> every 20 s; the matches it names with a newer <c>update_time</c> than already
/// handled are re-fetched through <c>recent/list</c> from the oldest of those times.
/// </summary>
public sealed class DataUpdateJobGrain(
    [PersistentState("job.data_update", StorageNames.Matches)] IPersistentState<JobCursor> cursor,
    FeedJobServices services,
    ProviderClient provider,
    MatchFeed feed) : FeedJobGrain(JobNames.DataUpdate, cursor, services), IDataUpdateJobGrain
{
    protected override async Task<string> RunAsync(CancellationToken ct)
    {
        var (changed, batch) = await provider.DataUpdateAsync(ct);
        feed.RecordRejections("data_update", UpdateSource.Api, batch);
        var handled = Cursor.HandledUpdates;
        var fresh = changed.Where(c => handled.GetValueOrDefault(c.MatchId) < c.UpdateTime).ToList();
        var requests = 1;
        var counts = default(FeedCounts);
        if (fresh.Count > 0)
        {
            var wanted = fresh.Select(c => c.MatchId).ToHashSet(StringComparer.Ordinal);
            var read = await feed.DeliverRecentListAsync(provider, "data_update", UpdateSource.Api, fresh.Min(c => c.UpdateTime), provider.MaxPagesPerRun, ct, wanted.Contains);
            (counts, requests) = (read.Counts, requests + read.Requests);
            foreach (var c in fresh) handled[c.MatchId] = c.UpdateTime;
        }

        // data/update covers 120 s; older entries can no longer come back.
        var horizon = Time.GetUtcNow().ToUnixTimeSeconds() - 600;
        foreach (var old in handled.Where(h => h.Value < horizon).Select(h => h.Key).ToList()) handled.Remove(old);
        return $"requests={requests} named={changed.Count} refetched={fresh.Count} {counts}";
    }
}

/// <summary>
/// Every live match in <c>ts_matches</c> gets its minute recomputed (activating its grain, whose own
/// timer then keeps it current): no live match is left without a minute, even after a restart.
/// </summary>
public sealed class MinuteClockJobGrain(
    [PersistentState("job.minute_clock", StorageNames.Matches)] IPersistentState<JobCursor> cursor,
    FeedJobServices services,
    TsMatchesTable table,
    IGrainFactory grains) : FeedJobGrain(JobNames.MinuteClock, cursor, services), IMinuteClockJobGrain
{
    protected override async Task<string> RunAsync(CancellationToken ct)
    {
        var live = await table.ReadLiveAsync(ct);
        var changed = 0;
        // The bodies run on the thread pool, outside this activation: through the silo's factory, not this grain's.
        await Parallel.ForEachAsync(live, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (m, _) =>
        {
            if (await grains.GetGrain<IMatchGrain>(m.ExternalId).RefreshMinute()) Interlocked.Increment(ref changed);
        });
        return $"live={live.Count} null_minute_rows={live.Count(m => m.Minute is null)} minute_changed={changed}";
    }
}

/// <summary>
/// Forced re-polls with source <c>watchdog</c>: a live match with no provider observation for
/// <c>StaleAfter</c> (<c>StaleAfterHalfTime</c> at half-time), a match with an unconfirmed status
/// regression (asked by its grain), or a match still live <c>OverdueAfterKickoff</c> after kick-off.
/// One <c>detail_live</c> covers them all; those it lacks are looked up in <c>recent/list</c>.
/// </summary>
public sealed class WatchdogJobGrain(
    [PersistentState("job.watchdog", StorageNames.Matches)] IPersistentState<JobCursor> cursor,
    FeedJobServices services,
    ProviderClient provider,
    MatchFeed feed,
    TsMatchesTable table) : FeedJobGrain(JobNames.Watchdog, cursor, services), IWatchdogJobGrain
{
    private const int MaxLookupPages = 5;

    public Task RequestRepoll(string matchId)
    {
        Cursor.PendingRepolls.Add(matchId);
        return Task.CompletedTask;
    }

    protected override async Task<string> RunAsync(CancellationToken ct)
    {
        var o = Options;
        var candidates = await table.ReadWatchdogCandidatesAsync(NowMs, o.StaleAfter, o.StaleAfterHalfTime, o.OverdueAfterKickoff, ct);
        var asked = Cursor.PendingRepolls.ToList();
        var wanted = candidates.Select(c => c.ExternalId).Concat(asked).ToHashSet(StringComparer.Ordinal);
        // Rule 6: a live match the provider keeps returning unchanged (same status, same updated_at) is stale too;
        // its grain decides from the last change it saw (fresh re-listings keep it off the re-poll list above).
        // Asked after those found gone, which are flagged as such first.
        async Task<int> FlagFrozenAsync()
        {
            var count = 0;
            foreach (var (id, status) in await table.ReadFrozenLiveAsync(NowMs / 1000, o.StaleAfter, o.StaleAfterHalfTime, ct))
            {
                if (await GrainFactory.GetGrain<IMatchGrain>(id).MarkStale(status == MatchPhases.HalfTime ? o.StaleAfterHalfTime : o.StaleAfter)) count++;
            }

            return count;
        }

        if (wanted.Count == 0) return $"requests=0 candidates=0 flagged_frozen={await FlagFrozenAsync()}";

        var answer = await provider.DetailLiveAsync(UpdateSource.Watchdog, ct);
        var requests = 1;
        var counts = await feed.DeliverAsync("watchdog", UpdateSource.Watchdog, answer.Batch, ct, wanted.Contains);
        var missing = wanted.Except(answer.Batch.Updates.Select(u => u.MatchId)).ToHashSet(StringComparer.Ordinal);
        if (missing.Count > 0)
        {
            // Gone from the live snapshot (ended, or lost by the provider): its latest row says what it is.
            var since = candidates.Where(c => missing.Contains(c.ExternalId)).Select(c => c.ProviderUpdateTime ?? 0).DefaultIfEmpty(0).Min();
            if (since <= 0) since = Time.GetUtcNow().ToUnixTimeSeconds() - (long)o.OverdueAfterKickoff.TotalSeconds - 3600;
            var read = await feed.DeliverRecentListAsync(provider, "watchdog", UpdateSource.Watchdog, since, MaxLookupPages, ct, missing.Contains, page =>
            {
                missing.ExceptWith(page.Updates.Select(u => u.MatchId));
                return missing.Count > 0;
            });
            (counts, requests) = (counts + read.Counts, requests + read.Requests);
        }

        foreach (var id in asked) Cursor.PendingRepolls.Remove(id);

        // Rule 6: a live match the provider no longer returns (or returns unchanged, below) is flagged stale, never ended (its grain decides,
        // knowing whether it was observed since the row was read). A fresh observation clears the flag.
        var flagged = 0;
        foreach (var c in candidates.Where(c => missing.Contains(c.ExternalId)))
        {
            if (await GrainFactory.GetGrain<IMatchGrain>(c.ExternalId).MarkStale(o.StaleAfter)) flagged++;
        }

        var frozen = await FlagFrozenAsync();
        var (stale, oldest) = await table.ReadStaleAsync(ct);
        Services.Metrics.StaleRead(stale, oldest, Time);
        return $"requests={requests} candidates={wanted.Count} stale={candidates.Count(c => c.Reason == "stale")} " +
               $"overdue={candidates.Count(c => c.Reason == "overdue")} regression={asked.Count} not_found={missing.Count} " +
               $"flagged_stale={flagged} flagged_frozen={frozen} stale_live={stale} {counts}";
    }
}
