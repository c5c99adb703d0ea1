using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Integration;
using StackExchange.Redis;
using Xunit;

namespace Orleans.GoalGpt.Tests.Api;

/// <summary>The read API and the change stream on a real cluster of two silo processes (docs: read-api.md).</summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed partial class ReadApiTests(ReadApiCluster cluster) : IClassFixture<ReadApiCluster>
{
    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>A full poll of a match: status, scores, the phase's kick-off, schedule, competition and teams.</summary>
    private static MatchUpdate Poll(long observedMs, int status, int home, int away, string competition, string id)
    {
        var kickoffS = observedMs / 1000 - 600;
        return new MatchUpdate
        {
            Source = UpdateSource.Api,
            ObservedAtMs = observedMs,
            StatusId = status,
            HomeScores = [home, 0, 1, 2, 3, 0, 0],
            AwayScores = [away, 0, 0, 1, 4, 0, 0],
            PhaseKickoffTs = status is 2 or 4 ? kickoffS : 0,
            MatchTime = observedMs / 1000 - 3600,
            CompetitionId = competition,
            HomeTeamId = $"{id}-home",
            AwayTeamId = $"{id}-away",
        };
    }

    private static MatchUpdate Goal(long observedMs, int home, int away) => new()
    {
        Source = UpdateSource.Mqtt,
        ObservedAtMs = observedMs,
        HomeScores = [home, 0, 1, 2, 3, 0, 0],
        AwayScores = [away, 0, 0, 1, 4, 0, 0],
    };

    private async Task<TsMatchRow> RowWhereAsync(string id, Func<TsMatchRow, bool> written)
    {
        for (var i = 0; ; i++)
        {
            if (await cluster.Db.Table.ReadAsync(id) is { } row && written(row)) return row;
            Assert.True(i < 600, $"the row of {id} was not written");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Reads_equal_ts_matches_from_either_silo_bad_input_is_refused_and_unknown_ids_leave_nothing_behind()
    {
        var now = NowMs - 30_000;
        var statuses = new[] { 2, 4, 8, 3, 1, 2 };
        var ids = statuses.Select((_, i) => $"read-{i}").ToList();
        for (var i = 0; i < ids.Count; i++)
        {
            var result = await cluster.Grains.GetGrain<IMatchGrain>(ids[i]).Apply(Poll(now + i, statuses[i], i % 3, 1, i % 2 == 0 ? "c1" : "c2", ids[i]));
            Assert.True(result.AnyApplied);
        }

        // A push after the poll: the score's source differs from the status's.
        Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(ids[0]).Apply(Goal(now + 100, 5, 1))).AnyApplied);

        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            var row = await RowWhereAsync(id, r => r.StatusId == statuses[i] && r.HomeScore == (i == 0 ? 5 : i % 3));
            foreach (var silo in new[] { cluster.A, cluster.B })
            {
                var m = await ReadApiCluster.GetJsonAsync(silo, $"/v1/matches/{id}");
                Assert.Equal(id, m.GetProperty("external_id").GetString());
                AssertRegister(m, "status_id", row.StatusId, row.StatusSource, row.StatusTimestamp);
                AssertRegister(m, "home_score", row.HomeScore, row.HomeScoreSource, row.HomeScoreTimestamp);
                AssertRegister(m, "away_score", row.AwayScore, row.AwayScoreSource, row.AwayScoreTimestamp);
                AssertRegister(m, "first_half_kickoff_ts", row.FirstHalfKickoffTs, row.FirstHalfKickoffSource, row.FirstHalfKickoffTimestamp);
                AssertRegister(m, "second_half_kickoff_ts", row.SecondHalfKickoffTs, row.SecondHalfKickoffSource, row.SecondHalfKickoffTimestamp);
                AssertRegister(m, "overtime_kickoff_ts", row.OvertimeKickoffTs, row.OvertimeKickoffSource, row.OvertimeKickoffTimestamp);
                Assert.Equal(row.HomeScores, m.GetProperty("home_scores").EnumerateArray().Select(e => e.GetInt32()).ToArray());
                Assert.Equal(row.AwayScores, m.GetProperty("away_scores").EnumerateArray().Select(e => e.GetInt32()).ToArray());
                Assert.Equal(row.MatchTime, m.GetProperty("match_time").GetInt64());
                Assert.Equal(row.CompetitionId, m.GetProperty("competition_id").GetString());
                Assert.Equal(row.HomeTeamId, m.GetProperty("home_team_id").GetString());
                Assert.Equal(row.AwayTeamId, m.GetProperty("away_team_id").GetString());
                Assert.Equal(JsonValueKind.Null, m.GetProperty("stale_since").ValueKind);
                // The minute moves on in the grain before its row is written again: never older than the row.
                var minute = m.GetProperty("minute");
                if (minute.ValueKind == JsonValueKind.Null)
                {
                    Assert.Null(row.MinuteTimestamp);
                    continue;
                }

                Assert.True(minute.GetProperty("observed_at").GetInt64() >= row.MinuteTimestamp, $"{id}: minute older than the row");
                if (row.Minute is { } rowMinute) Assert.True(minute.GetProperty("value").GetInt32() >= rowMinute, $"{id}: minute {minute} below the row's {rowMinute}");
                else Assert.Equal(JsonValueKind.Null, minute.GetProperty("value").ValueKind);
                if (row.Minute is null) Assert.Equal(row.MinuteText, minute.GetProperty("text").GetString());
                else Assert.False(string.IsNullOrEmpty(minute.GetProperty("text").GetString()));
            }
        }

        // Live: statuses 2, 3, 4 (5 and 7 too); the filter by competition.
        var live = ids.Where((_, i) => statuses[i] is 2 or 3 or 4 or 5 or 7).Order(StringComparer.Ordinal).ToList();
        foreach (var silo in new[] { cluster.A, cluster.B })
        {
            var all = await ReadApiCluster.GetJsonAsync(silo, "/v1/matches/live");
            Assert.Equal(live, all.GetProperty("matches").EnumerateArray().Select(e => e.GetProperty("external_id").GetString()!).Order(StringComparer.Ordinal));
            var c1 = await ReadApiCluster.GetJsonAsync(silo, "/v1/matches/live?competition_id=c1");
            Assert.Equal(live.Where(id => int.Parse(id[5..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 0),
                c1.GetProperty("matches").EnumerateArray().Select(e => e.GetProperty("external_id").GetString()!).Order(StringComparer.Ordinal));
        }

        // Bad input: 400 with the field and the reason, counted.
        var badBefore = await ReadApiCluster.MetricAsync(cluster.A, "goalgpt_api_bad_requests_total");
        (string Path, string Field)[] bad =
        [
            ("/v1/matches/bad.id", "external_id"),
            ($"/v1/matches/{new string('x', 65)}", "external_id"),
            ("/v1/matches/read-0?x=1", "x"),
            ("/v1/matches/live?competition_id=a%20b", "competition_id"),
            ("/v1/matches/live?competition_id=", "competition_id"),
            ("/v1/matches/live?sort=asc", "sort"),
            ("/v1/stream?match=read-0,,read-1", "match"),
            ("/v1/stream?match=read-0&since=1", "since"),
        ];
        foreach (var (path, field) in bad)
        {
            var error = await ReadApiCluster.GetJsonAsync(cluster.A, path, HttpStatusCode.BadRequest);
            Assert.Equal(field, error.GetProperty("field").GetString());
            Assert.False(string.IsNullOrEmpty(error.GetProperty("reason").GetString()));
            Assert.False(string.IsNullOrEmpty(error.GetProperty("error").GetString()));
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/stream"))
        {
            request.Headers.Add("Last-Event-ID", "not-an-id");
            using var answer = await cluster.A.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
            Assert.Contains("Last-Event-ID", await answer.Content.ReadAsStringAsync());
        }

        Assert.Equal(badBefore + bad.Length + 1, await ReadApiCluster.MetricOnceAsync(cluster.A, "goalgpt_api_bad_requests_total", badBefore + bad.Length + 1));

        // A flood of ids never seen: 404 each, and nothing left behind: no row, no grain state, no lease, no activation.
        async Task<(long Rows, long States, long Locks, int Activations)> Footprint()
        {
            var redis = ConfigurationOptions.Parse(TestEnvironment.Redis);
            await using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
            var locks = 0L;
            await foreach (var _ in connection.GetServer(connection.GetEndPoints()[0]).KeysAsync(redis.DefaultDatabase ?? 0, "lock:match:*")) locks++;
            var view = await ReadApiCluster.GetJsonAsync(cluster.A, "/ops/activations");
            return (await cluster.Db.ScalarAsync("SELECT count(*) FROM ts_matches"), await cluster.Db.ScalarAsync("SELECT (SELECT count(*) FROM orleansstorage) + (SELECT count(*) FROM match_state)"),
                locks, view.GetProperty("silos").EnumerateArray().Sum(s => s.GetProperty("activations").GetInt32()));
        }

        var before = await Footprint();
        var unknownBeforeA = await ReadApiCluster.MetricAsync(cluster.A, "goalgpt_api_unknown_matches_total");
        var unknownBeforeB = await ReadApiCluster.MetricAsync(cluster.B, "goalgpt_api_unknown_matches_total");
        var unknown = Enumerable.Range(0, 400).Select(i => $"never-seen-{i}-{Guid.NewGuid():N}"[..40]).ToList();
        await Parallel.ForEachAsync(unknown, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, _) =>
        {
            var silo = id.GetHashCode() % 2 == 0 ? cluster.A : cluster.B;
            var answer = await ReadApiCluster.GetJsonAsync(silo, $"/v1/matches/{id}", HttpStatusCode.NotFound);
            Assert.Equal("""{"error":"unknown match"}""", answer.GetRawText());
        });
        var after = await Footprint();
        Assert.Equal(before, after);
        var unknownA = await ReadApiCluster.MetricOnceAsync(cluster.A, "goalgpt_api_unknown_matches_total", unknown.Count(id => id.GetHashCode() % 2 == 0) + unknownBeforeA);
        var unknownB = await ReadApiCluster.MetricOnceAsync(cluster.B, "goalgpt_api_unknown_matches_total", unknown.Count(id => id.GetHashCode() % 2 != 0) + unknownBeforeB);
        Assert.Equal(unknownBeforeA + unknownBeforeB + unknown.Count, unknownA + unknownB);

        // The OpenAPI document is generated from these endpoints.
        var openApi = await ReadApiCluster.GetJsonAsync(cluster.B, "/openapi/v1.json");
        var paths = openApi.GetProperty("paths");
        foreach (var path in new[] { "/v1/matches/live", "/v1/matches/{external_id}", "/v1/stream", "/" }) Assert.True(paths.GetProperty(path).TryGetProperty("get", out _), path);
        var getMatch = paths.GetProperty("/v1/matches/{external_id}").GetProperty("get").GetProperty("responses");
        foreach (var code in new[] { "200", "400", "404" }) Assert.True(getMatch.TryGetProperty(code, out _), code);
    }

    private static void AssertRegister<T>(JsonElement match, string field, T? value, string? source, long? observedAt)
        where T : struct
    {
        var e = match.GetProperty(field);
        if (value is null)
        {
            Assert.Equal(JsonValueKind.Null, e.ValueKind);
            return;
        }

        Assert.Equal(Convert.ToInt64(value.Value, System.Globalization.CultureInfo.InvariantCulture), e.GetProperty("value").GetInt64());
        Assert.Equal(source, e.GetProperty("source").GetString());
        Assert.Equal(observedAt, e.GetProperty("observed_at").GetInt64());
    }

    [Fact]
    public async Task A_client_on_one_silo_gets_a_goal_on_a_match_owned_by_the_other_resumes_with_Last_Event_ID_and_gets_resync_when_too_old()
    {
        // Matches until one lives on each silo (placement is Orleans' choice).
        var now = NowMs - 30_000;
        string? onB = null;
        for (var i = 0; onB is null; i++)
        {
            Assert.True(i < 64, "no match was placed on the second silo");
            var id = $"stream-{i}";
            Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(id).Apply(Poll(now, 2, 0, 0, "c9", id))).AnyApplied);
            if (await cluster.OwnerAsync(id) == cluster.B) onB = id;
        }

        // Heartbeats (every second in this cluster), between the events of every live match.
        await using (var ping = await SseClient.ConnectAsync(cluster.A))
        {
            for (var i = 0; (await ping.NextAsync()).Comment != "ping"; i++) Assert.True(i < 100_000, "no ping");
        }

        var seen = new List<SseFrame>();
        string lastId;
        await using (var client = await SseClient.ConnectAsync(cluster.A, $"?match={onB}"))
        {
            Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(onB).Apply(Goal(NowMs, 1, 0))).AnyApplied);
            var e = await NextScoreAsync(client);
            Assert.Equal("match", e.Event);
            Assert.Matches("^[0-9]+-[0-9]+$", e.Id);
            var data = JsonDocument.Parse(e.Data!).RootElement;
            Assert.Equal(onB, data.GetProperty("external_id").GetString());
            Assert.Contains("home_score", data.GetProperty("changed").EnumerateArray().Select(c => c.GetString()));
            Assert.Equal(1, data.GetProperty("match").GetProperty("home_score").GetProperty("value").GetInt32());
            Assert.Equal("mqtt", data.GetProperty("match").GetProperty("home_score").GetProperty("source").GetString());
            lastId = e.Id!;
        }

        // Missed while away: two goals. Back on the same silo: exactly those; on the other silo: those too (placed by time).
        Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(onB).Apply(Goal(NowMs, 2, 0))).AnyApplied);
        Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(onB).Apply(Goal(NowMs, 3, 0))).AnyApplied);
        foreach (var silo in new[] { cluster.A, cluster.B })
        {
            await using var resumed = await SseClient.ConnectAsync(silo, $"?match={onB}", lastId);
            var scores = new List<int>();
            var frames = new List<string>();
            while (!scores.Contains(3))
            {
                var f = await NextScoreAsync(resumed);
                frames.Add($"{f.Id} {f.Data}");
                scores.Add(HomeScore(f));
            }

            // The same silo resumes exactly after the id. The other silo's hub places the id by its time: what came up to
            // a second before it may come again (harmless: an event carries the whole match), nothing after it is missed.
            var again = silo == cluster.A ? 0 : scores.TakeWhile(s => s <= 1).Count();
            Assert.True(scores.Skip(again).SequenceEqual([2, 3]),
                $"from {lastId} on {(silo == cluster.A ? "A" : "B")}: [{string.Join(", ", scores)}]\n{string.Join("\n", frames)}");
        }

        // An id older than the buffer covers: resync, then the live events.
        await using var old = await SseClient.ConnectAsync(cluster.B, $"?match={onB}", "1000-1");
        Assert.Equal("resync", (await old.NextEventAsync()).Event);
        Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(onB).Apply(Goal(NowMs, 4, 0))).AnyApplied);
        Assert.Equal(4, HomeScore(await NextScoreAsync(old)));
        Assert.True(await ReadApiCluster.MetricAsync(cluster.B, "goalgpt_stream_resyncs_total") >= 1);
    }

    /// <summary>A different home score every round, within the rules' range (a lower one is a VAR correction, applied from a push).</summary>
    private static int Score(int round) => round % 90;

    private static string Tail(string output) => output[Math.Max(0, output.Length - 3000)..];

    private static string StreamMetrics(string metrics) => string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("goalgpt_stream", StringComparison.Ordinal)));

    /// <summary>A writer as the jobs are: an update refused as retryable (backlog_full: rows not written yet) is sent again.</summary>
    private async Task WriteAsync(string id, MatchUpdate update)
    {
        for (var attempt = 0; ; attempt++)
        {
            var result = await cluster.Grains.GetGrain<IMatchGrain>(id).Apply(update);
            if (result.AnyApplied) return;
            Assert.True(attempt < 1000 && result.Rejected.All(f => f.Reason == RejectReasons.BacklogFull), $"{id}: not applied: {string.Join(", ", result.Fields)}");
            await Task.Delay(20);
        }
    }

    /// <summary>The next event that changed the home score (the minute may change in between).</summary>
    private static async Task<SseFrame> NextScoreAsync(SseClient client)
    {
        while (true)
        {
            var e = await client.NextEventAsync();
            if (e.Event == "match" && JsonDocument.Parse(e.Data!).RootElement.GetProperty("changed").EnumerateArray().Any(c => c.GetString() == "home_score")) return e;
        }
    }

    private static int HomeScore(SseFrame e) =>
        JsonDocument.Parse(e.Data!).RootElement.GetProperty("match").GetProperty("home_score").GetProperty("value").GetInt32();

    [Fact]
    public async Task A_client_that_never_reads_is_dropped_while_the_writers_and_a_reading_client_go_on()
    {
        var now = NowMs - 60_000;
        var ids = Enumerable.Range(0, 8).Select(i => $"slow-{i}").ToList();
        foreach (var id in ids) Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(id).Apply(Poll(now, 2, 0, 0, "c7", id))).AnyApplied);
        var droppedBefore = await ReadApiCluster.MetricAsync(cluster.A, "goalgpt_stream_clients_dropped_total");

        // Every live match, never read, with the smallest receive window the kernel gives.
        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(IPAddress.Loopback, cluster.A.HttpPort);
        await stalled.SendAsync(Encoding.ASCII.GetBytes($"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{cluster.A.HttpPort}\r\n\r\n"));
        await using var reading = await SseClient.ConnectAsync(cluster.A, $"?match={ids[0]}");
        // What the reading client saw last: the observation time of the home score.
        var readingSeen = 0L;
        var reader = Task.Run(async () =>
        {
            while (true)
            {
                var e = JsonDocument.Parse((await NextScoreAsync(reading)).Data!).RootElement;
                Volatile.Write(ref readingSeen, e.GetProperty("match").GetProperty("home_score").GetProperty("observed_at").GetInt64());
            }
        });

        // Writers: a goal for every match per round, until the silo reports the stalled client dropped.
        var round = 0;
        while (await ReadApiCluster.MetricAsync(cluster.A, "goalgpt_stream_clients_dropped_total") <= droppedBefore)
        {
            Assert.True(round < 3_000, $"the stalled client was never dropped (slow-0 on {((await cluster.OwnerAsync(ids[0])) == cluster.A ? "A" : "B")}, reader at {readingSeen}):\nA: {StreamMetrics(await cluster.A.Http.GetStringAsync("/metrics"))}\nB: {StreamMetrics(await cluster.B.Http.GetStringAsync("/metrics"))}\n{Tail(cluster.A.Output)}\n{Tail(cluster.B.Output)}");
            for (var r = 0; r < 50; r++)
            {
                round++;
                await Task.WhenAll(ids.Select(id => WriteAsync(id, Goal(now + round, Score(round), 0))));
            }
        }

        // The writers go on after the drop, and every update of theirs lands.
        var final = round + 50;
        for (round++; round <= final; round++)
        {
            await Task.WhenAll(ids.Select(id => WriteAsync(id, Goal(now + round, Score(round), 0))));
        }

        foreach (var id in ids) await RowWhereAsync(id, r => r.HomeScore == Score(final) && r.HomeScoreTimestamp == now + final);

        // The reading client was held back by nobody and not dropped: it sees the last goal.
        for (var i = 0; Volatile.Read(ref readingSeen) < now + final; i++)
        {
            Assert.False(reader.IsCompleted, $"the reading client's stream ended: {reader.Exception}");
            Assert.True(i < 1200, $"the reading client saw the goal observed at {readingSeen}, not {now + final}");
            await Task.Delay(50);
        }

        // The stalled client's connection was closed by the silo: reading it now ends (after what was in flight).
        var buffer = new byte[65536];
        try
        {
            using var cut = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            while (await stalled.ReceiveAsync(buffer, SocketFlags.None, cut.Token) > 0)
            {
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Aborted: a reset is as much a close as an end of stream.
        }

        Assert.Equal(droppedBefore + 1, await ReadApiCluster.MetricOnceAsync(cluster.A, "goalgpt_stream_clients_dropped_total", droppedBefore + 1));
    }
}
