using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Integration;
using Orleans.GoalGpt.Tests.Merge;
using Xunit;

namespace Orleans.GoalGpt.Tests.Admin;

/// <summary>
/// Admin corrections, the audit history and stale matches on one real two-silo cluster (read-api.md,
/// "Correcting", "Audit", "Stale matches"). Every request goes to a silo's HTTP port; updates reach the
/// grains through the gateway as the jobs' do.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed partial class AdminAuditTests(AdminClusterFixture f, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<AdminClusterFixture>
{
    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task A_correction_changes_a_set_kickoff_and_forces_a_status_back_and_the_row_holds_both_when_the_200_arrives()
    {
        const string id = "adm-ko";
        var now = NowMs;
        var nowS = now / 1000;
        var grain = f.Grains.GetGrain<IMatchGrain>(id);
        Assert.True((await grain.Apply(Updates.Score(UpdateSource.Api, now - 3_500_000, 2, 0, 0, phaseKickoff: nowS - 3600))).AnyApplied);
        Assert.True((await grain.Apply(Updates.Score(UpdateSource.Api, now - 60_000, 4, 1, 0, phaseKickoff: nowS - 600))).AnyApplied);
        // A provider trying to move the set kick-off is blocked: only an admin may.
        var blocked = await grain.Apply(Updates.Score(UpdateSource.Api, now - 50_000, 4, 1, 0, phaseKickoff: nowS - 540));
        Assert.Contains(blocked.Fields, x => x.Field == "second_half_kickoff_ts" && x.Reason == RejectReasons.KickoffOverwriteBlocked);
        await WaitAsync(async () => (await f.Db.Table.ReadAsync(id))?.SecondHalfKickoffTs == nowS - 600, "the provider's row");

        // The interleaving forced: the test holds the match's row lock, so the write-behind's upsert of the
        // correction waits on it (seen in pg_stat_activity); the answer must wait too.
        await using var blocker = await f.Db.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var lockRow = new Npgsql.NpgsqlCommand($"SELECT 1 FROM ts_matches WHERE external_id = '{id}' FOR UPDATE", blocker, tx)) await lockRow.ExecuteScalarAsync();
        var post = PostAsync(f.B, id, $$$"""{"reason": "provider sent wrong kick-off", "fields": {"second_half_kickoff_ts": {{{nowS - 540}}}, "status_id": 2}}""", f.Key);
        await WaitAsync(async () => await f.Db.ScalarAsync(
            $"SELECT count(*) FROM pg_stat_activity WHERE datname = '{f.Db.Name}' AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO ts_matches%'") > 0, "the upsert waiting on the row lock");
        Assert.NotSame(post, await Task.WhenAny(post, Task.Delay(TimeSpan.FromSeconds(2)))); // not answered while its row cannot be written
        await tx.RollbackAsync();
        var (status, answer) = await post;
        var row = await f.Db.Table.ReadAsync(id); // read at once: no waiting
        Assert.True(status == HttpStatusCode.OK, answer.ToString());
        Assert.Equal("applied", answer.GetProperty("fields").GetProperty("second_half_kickoff_ts").GetProperty("outcome").GetString());
        Assert.Equal("applied", answer.GetProperty("fields").GetProperty("status_id").GetProperty("outcome").GetString());
        Assert.True(answer.GetProperty("written").GetBoolean());
        Assert.Equal(nowS - 540, row!.SecondHalfKickoffTs);
        Assert.Equal("admin", row.SecondHalfKickoffSource);
        Assert.Equal(2, row.StatusId);
        Assert.Equal("admin", row.StatusSource);
        var snapshot = await grain.GetSnapshot();
        Assert.Equal(2, snapshot.Status!.Value);
        Assert.Equal(nowS - 540, snapshot.SecondHalfKickoffTs);

        var history = await HistoryAsync(f.A, id, f.Key);
        var correction = history.Single(e => e.Kind == "admin_correction");
        Assert.Equal("provider sent wrong kick-off", correction.Reason);
        Assert.Equal("ops", correction.KeyName);
        Assert.Contains(history, e => e is { Kind: "kickoff_changed", Field: "second_half_kickoff_ts" } && e.Old == N(nowS - 600) && e.New == N(nowS - 540) && e.Source == "admin");
        Assert.Contains(history, e => e is { Kind: "status_regression_confirmed", Old: "4", New: "2", Source: "admin" });
        Assert.Contains(history, e => e is { Kind: "kickoff_overwrite_blocked", Field: "second_half_kickoff_ts", Source: "api" } && e.New == N(nowS - 540));
        Assert.Equal(history.OrderByDescending(e => e.ObservedAt).Select(e => e.ObservedAt), history.Select(e => e.ObservedAt));
    }

    [Fact]
    public async Task Corrections_without_a_key_with_a_wrong_key_or_with_bad_fields_change_nothing()
    {
        const string id = "adm-bad";
        var now = NowMs;
        // Not started: no minute ticking, never stale; the row changes only if a correction lands.
        var grain = f.Grains.GetGrain<IMatchGrain>(id);
        Assert.True((await grain.Apply(new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = now - 10_000, StatusId = 1, MatchTime = now / 1000 + 3600, HomeScores = Updates.Side(0), AwayScores = Updates.Side(0) })).AnyApplied);
        await WaitAsync(async () => (await f.Db.Table.ReadAsync(id))?.StatusId == 1, "the row");
        var before = Describe(await f.Db.Table.ReadAsync(id));
        var eventsBefore = await f.Db.ScalarAsync($"SELECT count(*) FROM match_events WHERE external_id = '{id}'");
        var good = """{"reason": "test", "fields": {"status_id": 8}}""";

        var (noKey, _) = await PostAsync(f.A, id, good, key: null);
        Assert.Equal(HttpStatusCode.Unauthorized, noKey);
        var (wrongKey, _) = await PostAsync(f.A, id, good, f.OtherKey);
        Assert.Equal(HttpStatusCode.Forbidden, wrongKey);

        var (unknown, unknownAnswer) = await PostAsync(f.A, id, """{"reason": "test", "fields": {"status_id": 8, "colour": 3}}""", f.Key);
        Assert.Equal(HttpStatusCode.BadRequest, unknown);
        Assert.Equal("unknown_field", Reason(unknownAnswer, "fields.colour"));
        var (range, rangeAnswer) = await PostAsync(f.A, id, """{"reason": "test", "fields": {"home_score": 150, "status_id": 14}}""", f.Key);
        Assert.Equal(HttpStatusCode.BadRequest, range);
        Assert.Equal("out_of_range", Reason(rangeAnswer, "fields.home_score"));
        Assert.Equal("unknown_status", Reason(rangeAnswer, "fields.status_id"));
        var (malformed, malformedAnswer) = await PostAsync(f.A, id, """{"reason": "test", "fields": {"status_id": 8""", f.Key);
        Assert.Equal(HttpStatusCode.BadRequest, malformed);
        Assert.Equal("malformed", Reason(malformedAnswer, "body"));
        var (noReason, noReasonAnswer) = await PostAsync(f.A, id, """{"reason": "  ", "fields": {"status_id": 8}}""", f.Key);
        Assert.Equal(HttpStatusCode.BadRequest, noReason);
        Assert.Equal("out_of_range", Reason(noReasonAnswer, "reason"));
        var huge = $$$"""{"reason": "{{{new string('x', 70_000)}}}", "fields": {"status_id": 8}}""";
        var (oversized, oversizedAnswer) = await PostAsync(f.B, id, huge, f.Key);
        Assert.Equal(HttpStatusCode.BadRequest, oversized);
        Assert.Equal("out_of_range", Reason(oversizedAnswer, "body"));

        // Nothing applied anywhere: the grain, the row, the history.
        Assert.Equal(1, (await grain.GetSnapshot()).Status!.Value);
        Assert.Equal(before, Describe(await f.Db.Table.ReadAsync(id)));
        Assert.Equal(eventsBefore, await f.Db.ScalarAsync($"SELECT count(*) FROM match_events WHERE external_id = '{id}'"));
        // The refusals are counted (per field, source admin).
        var metrics = await f.A.Http.GetStringAsync("/metrics") + await f.B.Http.GetStringAsync("/metrics");
        Assert.Contains("goalgpt_admin_corrections_total{otel_scope_name=\"Orleans.GoalGpt\",outcome=\"bad_input\"}", metrics.Replace("otel_scope_version=\"\",", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // A match never seen is not created by a correction.
        var (missing, _) = await PostAsync(f.A, "adm-never-seen", good, f.Key);
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Null(await f.Db.Table.ReadAsync("adm-never-seen"));
    }

    [Fact]
    public async Task History_shows_what_real_updates_decided_and_its_events_are_written_in_batches_with_the_rows()
    {
        const string id = "adm-hist";
        var t0 = NowMs - 120_000;
        var ko = t0 / 1000 - 600;
        var grain = f.Grains.GetGrain<IMatchGrain>(id);
        await grain.Apply(Updates.Score(UpdateSource.Api, t0, 2, 1, 0, phaseKickoff: ko));
        await grain.Apply(Updates.Score(UpdateSource.Mqtt, t0 + 1_000, 2, 0, 0)); // VAR: the goal is cancelled
        await grain.Apply(Updates.Score(UpdateSource.Api, t0 + 40_000, 2, 0, 0, phaseKickoff: ko + 120)); // a set kick-off: blocked
        await grain.Apply(Updates.Score(UpdateSource.Api, t0 + 41_000, 2, 0, 0, phaseKickoff: ko + 120)); // the same again: no new event
        await grain.Apply(Updates.Status(UpdateSource.Api, t0 + 42_000, 1)); // backwards, seen once: unconfirmed
        await grain.Apply(Updates.Score(UpdateSource.Api, t0 + 43_000, 42, 0, 0)); // bad input
        // A match is known to a correction once its first row is written (within a flush of its first update).
        await WaitAsync(async () => (await f.Db.Table.ReadAsync(id))?.StatusId == 2, "the first row");
        var (status, answer) = await PostAsync(f.A, id, """{"reason": "goal confirmed by the referee", "fields": {"home_score": 1}}""", f.Key);
        Assert.True(status == HttpStatusCode.OK, answer.ToString());

        var history = await HistoryAsync(f.B, id, f.Key);
        Assert.Contains(history, e => e is { Kind: "var_correction", Field: "home_score", Old: "1", New: "0", Source: "mqtt" });
        Assert.Single(history, e => e is { Kind: "kickoff_overwrite_blocked", Field: "first_half_kickoff_ts", Source: "api" } && e.Old == N(ko) && e.New == N(ko + 120));
        Assert.Contains(history, e => e is { Kind: "status_regression_unconfirmed", Old: "2", New: "1", Source: "api" });
        Assert.Contains(history, e => e is { Kind: "input_rejected", Field: "status_id", New: "42", Reason: "unknown_status" });
        Assert.Contains(history, e => e is { Kind: "value_changed", Field: "home_score", Old: "0", New: "1", Source: "admin" });
        Assert.Contains(history, e => e is { Kind: "admin_correction", Reason: "goal confirmed by the referee", KeyName: "ops" });
        Assert.Equal("admin_correction", history[0].Kind); // newest first
        Assert.Equal(3, (await HistoryAsync(f.A, id, f.Key, "?limit=3")).Count);
        var (badLimit, badLimitAnswer) = await GetAsync(f.A, $"/v1/matches/{id}/history?limit=0", f.Key);
        Assert.Equal(HttpStatusCode.BadRequest, badLimit);
        Assert.Equal("out_of_range", Reason(badLimitAnswer, "limit"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(f.A, $"/v1/matches/{id}/history", null)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(f.A, $"/v1/matches/{id}/history", f.OtherKey)).Status);

        // Batches: 20 matches, 10 goals each, delivered as the jobs deliver (one call per match, in parallel).
        // Every event of one statement carries that transaction's now(): distinct times count the statements.
        var ids = Enumerable.Range(0, 20).Select(i => $"adm-batch-{i}").ToList();
        var t1 = NowMs - 60_000;
        await Task.WhenAll(ids.Select(m => f.Grains.GetGrain<IMatchGrain>(m).ApplyMany(
            Enumerable.Range(1, 10).Select(g => Updates.Score(UpdateSource.Mqtt, t1 + g * 100, 2, g, 0)).ToList())));
        var expected = ids.Count * 10L; // a home_score change each (the raw array's change goes with it, no event of its own)
        var list = string.Join(',', ids.Select(m => $"'{m}'"));
        await WaitAsync(async () => await f.Db.ScalarAsync($"SELECT count(*) FROM match_events WHERE external_id IN ({list}) AND field = 'home_score'") == expected, "the goals' events");
        var events = await f.Db.ScalarAsync($"SELECT count(*) FROM match_events WHERE external_id IN ({list})");
        var statements = await f.Db.ScalarAsync($"SELECT count(DISTINCT recorded_at) FROM match_events WHERE external_id IN ({list})");
        output.WriteLine($"{events} events of 20 matches in {statements} statements");
        Assert.Equal(ids.Count * 12L, events); // per match: 10 goals, and at first sight its status and away score
        Assert.True(statements * 10 <= events, $"{events} events in {statements} statements");
        // Each event is in the history of a row that was written with it.
        Assert.Equal(0, await f.Db.ScalarAsync($"SELECT count(*) FROM match_events e WHERE external_id IN ({list}) AND NOT EXISTS (SELECT 1 FROM ts_matches t WHERE t.external_id = e.external_id AND t.home_score = 10)"));
    }

    [Fact]
    public async Task The_watchdog_flags_a_live_match_the_provider_no_longer_returns_and_a_fresh_observation_clears_it()
    {
        const string id = "adm-stale";
        var now = NowMs;
        var grain = f.Grains.GetGrain<IMatchGrain>(id);
        // Live, last observed 10 minutes ago, unknown to the provider (the simulator never had it).
        Assert.True((await grain.Apply(Updates.Score(UpdateSource.Api, now - 600_000, 2, 0, 0, phaseKickoff: now / 1000 - 1200))).AnyApplied);
        TsMatchRow? row = null;
        await WaitAsync(async () => (row = await f.Db.Table.ReadAsync(id))?.StaleSince is not null, "the watchdog's flag");
        Assert.Equal(2, row!.StatusId); // never ended by the clock
        Assert.Equal(row.StaleSince, (await grain.GetSnapshot()).StaleSince);
        Assert.Contains(await HistoryAsync(f.A, id, f.Key), e => e is { Kind: "stale_flagged", Source: "watchdog" });
        var gauge = "";
        await WaitAsync(async () =>
        {
            gauge = await f.A.Http.GetStringAsync("/metrics") + await f.B.Http.GetStringAsync("/metrics");
            return gauge.Split('\n').Any(l => l.StartsWith("goalgpt_matches_stale{", StringComparison.Ordinal) && !l.EndsWith(" 0", StringComparison.Ordinal));
        }, "the stale gauge");

        var fresh = await grain.Apply(Updates.Score(UpdateSource.Api, NowMs, 2, 1, 0)); // a change: a goal
        Assert.Contains(fresh.Fields, x => x is { Field: "stale_since", Outcome: FieldOutcome.Applied });
        Assert.Null((await grain.GetSnapshot()).StaleSince);
        await WaitAsync(async () => (await f.Db.Table.ReadAsync(id))?.StaleSince is null, "the flag cleared in the row");
        Assert.Contains(await HistoryAsync(f.A, id, f.Key), e => e is { Kind: "stale_cleared", Source: "api" });
        Assert.Equal(2, (await f.Db.Table.ReadAsync(id))!.StatusId);
    }

    private sealed record Event(string Kind, string? Field, string? Old, string? New, string? Source, long ObservedAt, string? Reason, string? KeyName);

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Describe(TsMatchRow? r) => r is null ? "none" : string.Join('|',
        r.StatusId, r.StatusSource, r.StatusTimestamp, r.HomeScore, r.HomeScoreSource, r.HomeScoreTimestamp, r.AwayScore, r.AwayScoreTimestamp,
        r.FirstHalfKickoffTs, r.SecondHalfKickoffTs, r.OvertimeKickoffTs, r.Minute, r.MinuteText, r.MatchTime, r.StaleSince, r.StatusConfirmed);

    private static string? Reason(JsonElement answer, string field) =>
        answer.GetProperty("fields").GetProperty(field).GetProperty("reason").GetString();

    private static async Task<(HttpStatusCode Status, JsonElement Answer)> PostAsync(SiloProcess silo, string id, string body, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/admin/matches/{id}/corrections")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await silo.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private static async Task<(HttpStatusCode Status, JsonElement Answer)> GetAsync(SiloProcess silo, string path, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await silo.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private static async Task<List<Event>> HistoryAsync(SiloProcess silo, string id, string key, string query = "")
    {
        var (status, answer) = await GetAsync(silo, $"/v1/matches/{id}/history{query}", key);
        Assert.True(status == HttpStatusCode.OK, $"{status} {answer}");
        string? S(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetString() : null;
        return answer.GetProperty("events").EnumerateArray().Select(e => new Event(e.GetProperty("kind").GetString()!, S(e, "field"), S(e, "old"), S(e, "new"),
            S(e, "source"), e.GetProperty("observed_at").GetInt64(), S(e, "reason"), S(e, "key_name"))).ToList();
    }

    /// <summary>Polls <paramref name="done"/> (bounded: a minute) for what the write-behind or the watchdog does on its own schedule.</summary>
    private static async Task WaitAsync(Func<Task<bool>> done, string what)
    {
        for (var i = 0; i < 600; i++)
        {
            if (await done()) return;
            await Task.Delay(100);
        }

        Assert.Fail($"{what}: not there within a minute");
    }
}
