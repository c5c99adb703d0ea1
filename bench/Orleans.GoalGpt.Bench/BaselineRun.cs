using System.Diagnostics;
using Npgsql;
using Orleans.GoalGpt.Abstractions;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Bench;

/// <summary>
/// The original design, re-created as the baseline: one worker per job writing straight to the table. Per
/// update: take the Redis lock <c>lock:match:{id}</c> (<c>SET NX EX 5</c>, retry while busy), read the row,
/// resolve (the update's values replace the row's; a score array's kick-off goes to the phase its status
/// names), <c>UPDATE</c> (or <c>INSERT</c>), release (<c>DEL</c>). The minute worker is the original's job:
/// each cycle reads the live matches the table holds and ticks every one of them (lock, read, derive the
/// minute from the row's kick-off of the current phase, <c>UPDATE</c>, release), cycle after cycle. Its minute
/// is NULL exactly where the original's is: the row does not have the current phase's kick-off (the feed
/// sent none: a <c>recent/list</c> row, or a 0 "unknown").
/// </summary>
public static class BaselineRun
{
    private static readonly ProducerKind[] Writers = Workload.Producers.Where(k => k != ProducerKind.MinuteClock).ToArray();

    public static async Task<RunResult> RunAsync(Workload workload, Database db, IConnectionMultiplexer redis, Histograms hist, ProcessCpu cpu, TimeSpan duration)
    {
        hist.Reset();
        var statementsBefore = await db.StatementsAsync();
        var delivered = new Dictionary<ProducerKind, int>();
        long lockWaits = 0, ticks = 0;
        var start = cpu.Read(0);
        var clock = Stopwatch.StartNew();

        async Task<string> LockAsync(string matchId)
        {
            var started = Stopwatch.GetTimestamp();
            var key = $"lock:match:{matchId}";
            var owner = Guid.NewGuid().ToString("N");
            while (!await redis.GetDatabase().StringSetAsync(key, owner, TimeSpan.FromSeconds(5), When.NotExists))
            {
                Interlocked.Increment(ref lockWaits);
                await Task.Delay(1);
            }

            hist.Record("baseline.lock", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return key;
        }

        var workers = Writers.Select(kind => Task.Run(async () =>
        {
            var i = 0;
            for (; i < workload.Length && clock.Elapsed < duration; i++)
            {
                var item = workload.Item(kind, i);
                var started = Stopwatch.GetTimestamp();
                var key = await LockAsync(item.MatchId);
                await ResolveAndWriteAsync(db.Source, item.MatchId, item.Update!);
                await redis.GetDatabase().KeyDeleteAsync(key);
                hist.Record("baseline.call", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            lock (delivered) delivered[kind] = i;
        })).ToList();
        workers.Add(Task.Run(async () =>
        {
            while (clock.Elapsed < duration)
            {
                var live = await LiveMatchesAsync(db.Source);
                if (live.Count == 0) await Task.Delay(10);
                foreach (var id in live)
                {
                    if (clock.Elapsed >= duration) break;
                    var key = await LockAsync(id);
                    await TickMinuteAsync(db.Source, id);
                    await redis.GetDatabase().KeyDeleteAsync(key);
                    ticks++;
                }
            }
        }));
        await Task.WhenAll(workers);

        var seconds = clock.Elapsed.TotalSeconds;
        var end = cpu.Read(0);
        var statements = await db.StatementsAsync() - statementsBefore;
        var updates = delivered.Sum(d => (long)d.Value);
        var check = await ServiceRun.Compare(db, Model.Of(workload, delivered));
        var used = ProcessCpu.Delta(start, end);
        return new RunResult
        {
            Design = "baseline (lock per write)",
            Matches = workload.Ids.Length,
            Seconds = seconds,
            Updates = updates,
            MinuteTicks = ticks,
            CallP50Ms = hist.P("baseline.call", 50),
            CallP99Ms = hist.P("baseline.call", 99),
            CallP999Ms = hist.P("baseline.call", 99.9),
            // Written synchronously: the row is committed before the call returns, so the lag is the call's time.
            LagP50Ms = hist.P("baseline.call", 50),
            LagP99Ms = hist.P("baseline.call", 99),
            StatementsPer1000Updates = statements * 1000.0 / Math.Max(1, updates),
            LockP50Ms = hist.P("baseline.lock", 50),
            LockP99Ms = hist.P("baseline.lock", 99),
            LockWaits = lockWaits,
            // The workers are the writers: their process is the "load generator" column; there is no silo.
            CpuPercent = ServiceRun.Percent(used with { LoadGenerator = used.Silo, Silo = double.NaN }, seconds),
            WrongFields = check.Wrong,
            FieldsChecked = check.Fields,
            MatchesChecked = check.Matches,
            LiveWithNullMinute = check.NullMinute,
            WrongExamples = check.Examples,
        };
    }

    private static async Task<List<string>> LiveMatchesAsync(NpgsqlDataSource source)
    {
        await using var cmd = source.CreateCommand("SELECT external_id FROM ts_matches WHERE status_id IN (2, 3, 4, 5, 7)");
        await using var r = await cmd.ExecuteReaderAsync();
        var ids = new List<string>();
        while (await r.ReadAsync()) ids.Add(r.GetString(0));
        return ids;
    }

    private static async Task TickMinuteAsync(NpgsqlDataSource source, string id)
    {
        await using var connection = await source.OpenConnectionAsync();
        int? status;
        long? first, second;
        await using (var read = new NpgsqlCommand("SELECT status_id, first_half_kickoff_ts, second_half_kickoff_ts FROM ts_matches WHERE external_id = @id", connection))
        {
            read.Parameters.AddWithValue("id", id);
            await using var r = await read.ExecuteReaderAsync();
            if (!await r.ReadAsync()) return;
            status = r.IsDBNull(0) ? null : r.GetInt16(0);
            first = r.IsDBNull(1) ? null : r.GetInt64(1);
            second = r.IsDBNull(2) ? null : r.GetInt64(2);
        }

        var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var now = nowMs / 1000;
        // The original's derivation: from the row's kick-off of the current phase; NULL when the row has none.
        int? minute = status switch
        {
            2 when first is long f => (int)Math.Min(45, (now - f) / 60 + 1),
            3 => 45,
            4 when second is long s => (int)Math.Min(90, (now - s) / 60 + 46),
            _ => null,
        };
        await using var tick = new NpgsqlCommand("UPDATE ts_matches SET minute = @m, minute_source = 'computed', minute_timestamp = @t, updated_at = now() WHERE external_id = @id", connection);
        tick.Parameters.AddWithValue("id", id);
        tick.Parameters.AddWithValue("m", (object?)minute ?? DBNull.Value);
        tick.Parameters.AddWithValue("t", nowMs);
        await tick.ExecuteNonQueryAsync();
    }

    private static async Task ResolveAndWriteAsync(NpgsqlDataSource source, string id, MatchUpdate u)
    {
        await using var connection = await source.OpenConnectionAsync();
        long? first, second;
        bool exists;
        await using (var read = new NpgsqlCommand("SELECT first_half_kickoff_ts, second_half_kickoff_ts FROM ts_matches WHERE external_id = @id", connection))
        {
            read.Parameters.AddWithValue("id", id);
            await using var r = await read.ExecuteReaderAsync();
            exists = await r.ReadAsync();
            first = exists && !r.IsDBNull(0) ? r.GetInt64(0) : null;
            second = exists && !r.IsDBNull(1) ? r.GetInt64(1) : null;
        }

        var k = u.PhaseKickoffTs is > 0 ? u.PhaseKickoffTs : null;
        if (u.StatusId == 2 && k is not null) first = k;
        if (u.StatusId == 4 && k is not null) second = k;
        // The update's values replace the row's, with the source and time of the update (the original's columns).
        var sql = exists
            ? """
              UPDATE ts_matches SET status_id = @s, status_id_source = @src, status_id_timestamp = @t,
                home_score = @h, home_score_source = @src, home_score_timestamp = @t,
                away_score = @a, away_score_source = @src, away_score_timestamp = @t,
                home_scores = @hs::jsonb, away_scores = @as::jsonb,
                first_half_kickoff_ts = @f, second_half_kickoff_ts = @k2,
                match_time = COALESCE(@mt, match_time), competition_id = COALESCE(@c, competition_id),
                provider_update_time = COALESCE(@put, provider_update_time), updated_at = now()
              WHERE external_id = @id
              """
            : """
              INSERT INTO ts_matches (external_id, status_id, status_id_source, status_id_timestamp, home_score, home_score_source, home_score_timestamp,
                away_score, away_score_source, away_score_timestamp, home_scores, away_scores, first_half_kickoff_ts, second_half_kickoff_ts,
                match_time, competition_id, provider_update_time)
              VALUES (@id, @s, @src, @t, @h, @src, @t, @a, @src, @t, @hs::jsonb, @as::jsonb, @f, @k2, @mt, @c, @put)
              """;
        await using var write = new NpgsqlCommand(sql, connection);
        write.Parameters.AddWithValue("id", id);
        write.Parameters.AddWithValue("s", (short)u.StatusId!.Value);
        write.Parameters.AddWithValue("src", u.Source.ToWire());
        write.Parameters.AddWithValue("t", u.ObservedAtMs);
        write.Parameters.AddWithValue("h", u.HomeScores![0]);
        write.Parameters.AddWithValue("a", u.AwayScores![0]);
        write.Parameters.AddWithValue("hs", "[" + string.Join(',', u.HomeScores) + "]");
        write.Parameters.AddWithValue("as", "[" + string.Join(',', u.AwayScores!) + "]");
        write.Parameters.AddWithValue("f", (object?)first ?? DBNull.Value);
        write.Parameters.AddWithValue("k2", (object?)second ?? DBNull.Value);
        write.Parameters.Add(new NpgsqlParameter<long?>("mt", u.MatchTime));
        write.Parameters.Add(new NpgsqlParameter<string?>("c", u.CompetitionId));
        write.Parameters.Add(new NpgsqlParameter<long?>("put", u.ProviderUpdateTime));
        await write.ExecuteNonQueryAsync();
    }
}
