using System.Diagnostics;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Bench;

/// <summary>This machine's limits for the parts of the write path.</summary>
public sealed record Limits(double UpsertRowsPerSecond, double NoOpGrainCallsPerSecond, double RedisLockRoundTripsPerSecond);

public static class LimitsRun
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    public static async Task<Limits> RunAsync(Database db, BenchSilo silo, IConnectionMultiplexer redis, string[] warmIds) => new(
        await UpsertRowsAsync(db),
        await GrainCallsAsync(silo, warmIds),
        await LockRoundTripsAsync(redis));

    private static async Task<double> UpsertRowsAsync(Database db)
    {
        var clock = Stopwatch.StartNew();
        long rows = 0;
        var round = 0;
        while (clock.Elapsed < Window)
        {
            var ts = 1_000 + round++;
            var batch = Enumerable.Range(0, 5_000).Select(i => new TsMatchRow
            {
                ExternalId = $"lim-{i}", StatusId = 2, StatusSource = "api", StatusTimestamp = ts,
                HomeScore = round % 5, HomeScoreSource = "api", HomeScoreTimestamp = ts,
                AwayScore = 0, AwayScoreSource = "api", AwayScoreTimestamp = ts,
                Minute = 10, MinuteText = "10", MinuteSource = "computed", MinuteTimestamp = ts,
            }).ToList();
            await db.Table.UpsertAsync(batch);
            rows += batch.Count;
        }

        return rows / clock.Elapsed.TotalSeconds;
    }

    private static async Task<double> GrainCallsAsync(BenchSilo silo, string[] ids)
    {
        var clock = Stopwatch.StartNew();
        long calls = 0;
        await Task.WhenAll(Enumerable.Range(0, 256).Select(w => Task.Run(async () =>
        {
            var i = w;
            while (clock.Elapsed < Window)
            {
                await silo.Grains.GetGrain<IMatchGrain>(ids[i++ % ids.Length]).RefreshMinute();
                Interlocked.Increment(ref calls);
            }
        })));
        return calls / clock.Elapsed.TotalSeconds;
    }

    private static async Task<double> LockRoundTripsAsync(IConnectionMultiplexer redis)
    {
        const string Release = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
        var clock = Stopwatch.StartNew();
        long pairs = 0;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(w => Task.Run(async () =>
        {
            var db = redis.GetDatabase();
            var i = 0;
            while (clock.Elapsed < Window)
            {
                RedisKey key = $"lock:bench:{w}:{i++ % 100}";
                var owner = Guid.NewGuid().ToString("N");
                await db.StringSetAsync(key, owner, TimeSpan.FromSeconds(5), When.NotExists);
                await db.ScriptEvaluateAsync(Release, [key], [owner]);
                Interlocked.Increment(ref pairs);
            }
        })));
        return pairs / clock.Elapsed.TotalSeconds;
    }
}
