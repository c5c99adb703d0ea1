using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Simulator.Model;

namespace Orleans.GoalGpt.Simulator.Feed;

/// <summary>
/// The HTTP side of the provider contract (<c>/v1/football/...</c>), with its faults, plus the
/// simulator's own endpoints: <c>/sim/truth</c> (ground truth at any moment), <c>/sim/var_cancellations</c>
/// (every goal the script cancels by VAR: which side, when, the displayed score before and after) and <c>/sim/requests</c>.
/// </summary>
public static class ProviderApi
{
    public const string BasePath = "/v1/football";

    public static void Map(WebApplication app)
    {
        app.MapGet(BasePath + "/match/detail_live", (HttpContext c, FeedWorld world, Env env) =>
            Serve(c, env, "detail_live", (w, now) => DetailLive(w, world, env, now)));
        app.MapGet(BasePath + "/match/recent/list", (HttpContext c, FeedWorld world, Env env) =>
        {
            if (!long.TryParse(c.Request.Query["time"], CultureInfo.InvariantCulture, out var since)) since = 0;
            if (!int.TryParse(c.Request.Query["page"], CultureInfo.InvariantCulture, out var page) || page < 1) page = 1;
            return Serve(c, env, "recent_list", (w, now) =>
            {
                var rows = world.ChangedSince(since, now).Skip((page - 1) * env.Options.PageSize).Take(env.Options.PageSize).ToList();
                Rows(w, rows);
            });
        });
        app.MapGet(BasePath + "/match/diary", (HttpContext c, FeedWorld world, Env env) =>
        {
            var ok = DateOnly.TryParseExact(c.Request.Query["date"], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day);
            return Serve(c, env, "diary", (w, now) => Rows(w, ok ? world.Diary(day, now).ToList() : []));
        });
        app.MapGet(BasePath + "/data/update", (HttpContext c, FeedWorld world, Env env) =>
            Serve(c, env, "data_update", (w, now) =>
            {
                w.WriteStartObject("results");
                w.WriteStartArray("1");
                foreach (var (m, s) in world.ChangedSince(now - 120, now))
                {
                    w.WriteStartObject();
                    w.WriteString("match_id", m.Id);
                    w.WriteNumber("update_time", s.UpdatedAt);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }));

        app.MapGet("/sim/truth", (HttpContext c, FeedWorld world, Env env) =>
        {
            var at = long.TryParse(c.Request.Query["at"], CultureInfo.InvariantCulture, out var a) ? a : env.Time.GetUtcNow().ToUnixTimeSeconds();
            return Results.Json(world.Matches.Select(m => Truth(m, at)).Where(t => t is not null));
        });
        app.MapGet("/sim/var_cancellations", (FeedWorld world) =>
            Results.Json(world.Matches.SelectMany(m => m.VarCancellations())));
        app.MapGet("/sim/requests", (HttpContext c, RequestLog log) =>
            Results.Json(log.Snapshot(long.TryParse(c.Request.Query["since_ms"], CultureInfo.InvariantCulture, out var s) ? s : 0)));
        app.MapGet("/sim/health", () => Results.Text("ok"));
        app.MapPost("/sim/faults", (FaultOptions faults, FaultDice dice) =>
        {
            dice.Faults = faults;
            return Results.Json(faults);
        });
    }

    /// <summary>The ground truth of one match at <paramref name="at"/> (null before it is listed).</summary>
    public static TruthRow? Truth(MatchScript m, long at)
    {
        if (m.StateAt(at) is not { } s) return null;
        var (minute, text) = s.MinuteAt(at);
        return new TruthRow(m.Id, s.StatusId, s.HomeScore, s.AwayScore, s.FirstHalfKickoff, s.SecondHalfKickoff, s.OvertimeKickoff,
            minute, text, m.MatchTime, m.CompetitionId, m.HomeTeamId, m.AwayTeamId, s.VarCancellations, s.UpdatedAt, [.. s.Home], [.. s.Away]);
    }

    private static async Task Serve(HttpContext c, Env env, string endpoint, Action<Utf8JsonWriter, long> write)
    {
        env.Log.Add(endpoint, TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds()); // real time: what a provider's limiter sees
        var o = env.Options;
        var dice = env.Dice;
        if (dice.Roll(dice.Faults.Slow)) await Task.Delay(dice.Faults.SlowDelay, env.Time, c.RequestAborted);
        c.Response.ContentType = "application/json";
        if (o.User.Length > 0 && (c.Request.Query["user"] != o.User || c.Request.Query["secret"] != o.Secret))
        {
            await c.Response.WriteAsync("""{"err":"Authentication failed: invalid user or secret"}""");
            return;
        }

        if (dice.Roll(dice.Faults.Http5xx))
        {
            c.Response.StatusCode = 503;
            await c.Response.WriteAsync("Service Unavailable");
            return;
        }

        if (dice.Roll(dice.Faults.Http429))
        {
            c.Response.StatusCode = 429;
            return;
        }

        if (dice.Roll(dice.Faults.ErrorBody))
        {
            await c.Response.WriteAsync("""{"err":"Internal error, please retry"}""");
            return;
        }

        if (dice.Roll(dice.Faults.ErrorCode))
        {
            await c.Response.WriteAsync("""{"code":500,"msg":"server busy"}""");
            return;
        }

        if (dice.Roll(dice.Faults.RateLimitCode))
        {
            await c.Response.WriteAsync("""{"code":429,"msg":"Too many requests"}""");
            return;
        }

        var now = (env.Time.GetUtcNow() - dice.Faults.HttpLag).ToUnixTimeSeconds();
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("code", 0);
            write(w, now);
            w.WriteEndObject();
        }

        var body = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (dice.Roll(dice.Faults.MalformedJson)) body = body[..(body.Length / 2)];
        await c.Response.Body.WriteAsync(body, c.RequestAborted);
    }

    private static void DetailLive(Utf8JsonWriter w, FeedWorld world, Env env, long now)
    {
        var dice = env.Dice;
        var listed = world.DetailLive(now).ToList();
        var regress = dice.Roll(dice.Faults.StatusRegression) && listed.Count > 0 ? dice.Next(listed.Count) : -1;
        w.WriteStartArray("results");
        for (var i = 0; i < listed.Count; i++)
        {
            var (m, s) = listed[i];
            if (i == regress && Regressed(s.StatusId) is { } lower) s = s with { StatusId = lower };
            w.WriteStartObject();
            w.WriteString("id", m.Id);
            w.WritePropertyName("score");
            ScoreArray(w, m, s, dice.Roll(dice.Faults.ZeroKickoff));
            w.WriteStartArray("stats");
            Stat(w, 2, s.Home[4], s.Away[4]);
            Stat(w, 3, s.Home[3], s.Away[3]);
            w.WriteEndArray();
            w.WritePropertyName("incidents");
            Incidents(w, s);
            w.WriteStartArray("tlive");
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>The one-poll glitch: the status one phase back.</summary>
    private static int? Regressed(int status) => status switch
    {
        3 => 2,
        4 => 3,
        5 => 4,
        7 => 5,
        8 => 4,
        _ => null,
    };

    public static void ScoreArray(Utf8JsonWriter w, MatchScript m, MatchTruth s, bool zeroKickoff)
    {
        w.WriteStartArray();
        w.WriteStringValue(m.Id);
        w.WriteNumberValue(s.StatusId);
        Ints(w, s.Home);
        Ints(w, s.Away);
        w.WriteNumberValue(zeroKickoff ? 0 : s.PhaseKickoff);
        w.WriteStringValue("");
        w.WriteEndArray();
    }

    public static void Incidents(Utf8JsonWriter w, MatchTruth s)
    {
        w.WriteStartArray();
        foreach (var i in s.Incidents)
        {
            w.WriteStartObject();
            w.WriteNumber("type", i.Type);
            w.WriteNumber("position", i.Position);
            w.WriteNumber("time", i.Time);
            if (i.VarResult != 0) w.WriteNumber("var_result", i.VarResult);
            if (i.AddTime != 0) w.WriteNumber("add_time", i.AddTime);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    public static void Stat(Utf8JsonWriter w, int type, int home, int away)
    {
        w.WriteStartObject();
        w.WriteNumber("type", type);
        w.WriteNumber("home", home);
        w.WriteNumber("away", away);
        w.WriteEndObject();
    }

    private static void Rows(Utf8JsonWriter w, IReadOnlyList<(MatchScript Match, MatchTruth State)> rows)
    {
        w.WriteStartObject("query");
        w.WriteNumber("total", rows.Count);
        w.WriteEndObject();
        w.WriteStartArray("results");
        foreach (var (m, s) in rows)
        {
            w.WriteStartObject();
            w.WriteString("id", m.Id);
            w.WriteString("competition_id", m.CompetitionId);
            w.WriteString("home_team_id", m.HomeTeamId);
            w.WriteString("away_team_id", m.AwayTeamId);
            w.WriteNumber("status_id", s.StatusId);
            w.WriteNumber("match_time", m.MatchTime);
            w.WritePropertyName("home_scores");
            Ints(w, s.Home);
            w.WritePropertyName("away_scores");
            Ints(w, s.Away);
            w.WriteNumber("updated_at", s.UpdatedAt);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void Ints(Utf8JsonWriter w, IEnumerable<int> values)
    {
        w.WriteStartArray();
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}

/// <summary>A match as it really is at a moment: what the service must end up with.</summary>
public sealed record TruthRow(
    string Id, int StatusId, int HomeScore, int AwayScore, long? FirstHalfKickoffTs, long? SecondHalfKickoffTs, long? OvertimeKickoffTs,
    int? Minute, string? MinuteText, long MatchTime, string CompetitionId, string HomeTeamId, string AwayTeamId, int VarCancellations,
    long UpdatedAt, int[] HomeScores, int[] AwayScores);

/// <summary>What the endpoints share.</summary>
public sealed class Env(IOptions<SimulatorOptions> options, FaultDice dice, RequestLog log, TimeProvider time)
{
    public SimulatorOptions Options { get; } = options.Value;
    public FaultDice Dice { get; } = dice;
    public RequestLog Log { get; } = log;
    public TimeProvider Time { get; } = time;
}
