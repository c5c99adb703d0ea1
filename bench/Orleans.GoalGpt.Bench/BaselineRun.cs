using System.Diagnostics;
using Npgsql;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Bench;

/// <summary>
/// The original design, re-created as the baseline: five workers (one per job); per update take
/// the Redis lock <c>lock:match:{id}</c> (<c>SET NX EX 5</c>, retry while busy), read the row,
/// resolve (the update's values replace the row's; a score array's kick-off goes to the phase its
/// status names), <c>UPDATE</c> (or <c>INSERT</c>), release (<c>DEL</c>).
/// </summary>
public static class BaselineRun
{
    public static async Task<RunResult> RunAsync(Workload workload, Database db, IConnectionMultiplexer redis, Histograms hist, TimeSpan duration)
    {
        hist.Reset();
        var statementsBefore = await db.StatementsAsync();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var delivered = new Dictionary<ProducerKind, int>();
        long lockWaits = 0;
        var clock = Stopwatch.StartNew();

        var workers = Workload.Producers.Select(kind => Task.Run(async () =>
        {
            var i = 0;
            for (; i < workload.Length && clock.Elapsed < duration; i++)
            {
                var item = workload.Item(kind, i);
                var started = Stopwatch.GetTimestamp();
                var key = $"lock:match:{item.MatchId}";
                var owner = Guid.NewGuid().ToString("N");
                while (!await redis.GetDatabase().StringSetAsync(key, owner, TimeSpan.FromSeconds(5), When.NotExists))
                {
                    Interlocked.Increment(ref lockWaits);
                    await Task.Delay(1);
                }

                hist.Record("baseline.lock", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                await ResolveAndWriteAsync(db.Source, item);
                await redis.GetDatabase().KeyDeleteAsync(key);
                hist.Record("baseline.call", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            lock (delivered) delivered[kind] = i;
        })).ToList();
        await Task.WhenAll(workers);

        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        var statements = await db.StatementsAsync() - statementsBefore;
        var updates = delivered.Where(d => d.Key != ProducerKind.MinuteClock).Sum(d => (long)d.Value);
        var (wrong, nullMinute, checkedCount) = await ServiceRun.Compare(db, Model.Of(workload, delivered));
        return new RunResult
        {
            Design = "baseline (lock per write)",
            Matches = workload.Ids.Length,
            Seconds = seconds,
            Updates = updates,
            MinuteTicks = delivered[ProducerKind.MinuteClock],
            LatencyP50Ms = hist.P("baseline.call", 50),
            LatencyP99Ms = hist.P("baseline.call", 99),
            LatencyP999Ms = hist.P("baseline.call", 99.9),
            LagP50Ms = 0, // written synchronously
            LagP99Ms = 0,
            StatementsPer1000Updates = statements * 1000.0 / Math.Max(1, updates),
            LockP50Ms = hist.P("baseline.lock", 50),
            LockP99Ms = hist.P("baseline.lock", 99),
            LockWaits = lockWaits,
            CpuPercent = cpu / seconds / Environment.ProcessorCount * 100,
            LostOrRegressed = wrong,
            LiveWithNullMinute = nullMinute,
            Checked = checkedCount,
        };
    }

    private static async Task ResolveAndWriteAsync(NpgsqlDataSource source, WorkItem item)
    {
        await using var connection = await source.OpenConnectionAsync();
        int? status;
        long? first, second;
        bool exists;
        await using (var read = new NpgsqlCommand("SELECT status_id, first_half_kickoff_ts, second_half_kickoff_ts FROM ts_matches WHERE external_id = @id", connection))
        {
            read.Parameters.AddWithValue("id", item.MatchId);
            await using var r = await read.ExecuteReaderAsync();
            exists = await r.ReadAsync();
            status = exists && !r.IsDBNull(0) ? r.GetInt16(0) : null;
            first = exists && !r.IsDBNull(1) ? r.GetInt64(1) : null;
            second = exists && !r.IsDBNull(2) ? r.GetInt64(2) : null;
        }

        if (item.Update is not { } u)
        {
            // The original minute job: derive from the row's kick-off (NULL when unknown: its known bug).
            if (!exists) return;
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            int? minute = status switch { 2 when first is long f => (int)((now - f) / 60) + 1, 3 => 45, 4 when second is long s => (int)((now - s) / 60) + 46, _ => null };
            await using var tick = new NpgsqlCommand("UPDATE ts_matches SET minute = @m, updated_at = now() WHERE external_id = @id", connection);
            tick.Parameters.AddWithValue("id", item.MatchId);
            tick.Parameters.AddWithValue("m", (object?)minute ?? DBNull.Value);
            await tick.ExecuteNonQueryAsync();
            return;
        }

        var k = u.PhaseKickoffTs is > 0 ? u.PhaseKickoffTs : null;
        if (u.StatusId == 2 && k is not null) first = k;
        if (u.StatusId == 4 && k is not null) second = k;
        var sql = exists
            ? "UPDATE ts_matches SET status_id = @s, home_score = @h, away_score = @a, first_half_kickoff_ts = @f, second_half_kickoff_ts = @k2, updated_at = now() WHERE external_id = @id"
            : "INSERT INTO ts_matches (external_id, status_id, home_score, away_score, first_half_kickoff_ts, second_half_kickoff_ts) VALUES (@id, @s, @h, @a, @f, @k2)";
        await using var write = new NpgsqlCommand(sql, connection);
        write.Parameters.AddWithValue("id", item.MatchId);
        write.Parameters.AddWithValue("s", (short)u.StatusId!.Value);
        write.Parameters.AddWithValue("h", u.HomeScores![0]);
        write.Parameters.AddWithValue("a", u.AwayScores![0]);
        write.Parameters.AddWithValue("f", (object?)first ?? DBNull.Value);
        write.Parameters.AddWithValue("k2", (object?)second ?? DBNull.Value);
        await write.ExecuteNonQueryAsync();
    }
}
