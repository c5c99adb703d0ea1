using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Changes;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Silo.Api;

/// <summary>
/// The public read side of the HTTP API (docs: read-api.md): matches served from their grains, the change
/// stream, the live board and the OpenAPI document generated from these endpoints' metadata.
/// </summary>
public static partial class ReadApi
{
    private const string Tag = "matches";

    public static WebApplicationBuilder AddGoalGptReadApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<StreamOptions>().BindConfiguration(StreamOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<KnownMatches>();
        services.AddSingleton<StreamHub>();
        services.AddHostedService(sp => sp.GetRequiredService<StreamHub>());
        services.AddSingleton<ApiMetrics>();
        services.AddOpenApi();
        return builder;
    }

    public static WebApplication MapGoalGptReadApi(this WebApplication app)
    {
        app.Services.GetRequiredService<MatchChanges>().AttachLocalHub(app.Services.GetRequiredService<StreamHub>());
        _ = app.Services.GetRequiredService<ApiMetrics>();
        app.MapOpenApi();

        var matches = app.MapGroup("/v1").WithTags(Tag);
        matches.MapGet("/matches/live", LiveAsync)
            .WithName("ListLiveMatches")
            .WithSummary("Every live match (status 2, 3, 4, 5, 7) as its grain holds it; ?competition_id= filters.")
            .Produces<LiveMatchesJson>()
            .Produces<ErrorJson>(StatusCodes.Status400BadRequest);
        matches.MapGet("/matches/{external_id}", MatchAsync)
            .WithName("GetMatch")
            .WithSummary("One match as its grain holds it now, every field with its source and observation time.")
            .Produces<MatchJson>()
            .Produces<ErrorJson>(StatusCodes.Status400BadRequest)
            .Produces<ErrorJson>(StatusCodes.Status404NotFound);
        matches.MapGet("/stream", StreamAsync)
            .WithName("StreamChanges")
            .WithSummary("Server-Sent Events: one 'match' event per change (data: external_id, changed, match); ?match=id1,id2 filters, else every live match; ': ping' every 15 s; Last-Event-ID resumes or gets 'resync'.")
            .Produces<StreamEventJson>(StatusCodes.Status200OK, "text/event-stream")
            .Produces<ErrorJson>(StatusCodes.Status400BadRequest);

        app.MapGet("/", () => Board("index.html", "text/html; charset=utf-8"))
            .WithName("LiveBoard").WithSummary("The live board: live matches, updated from /v1/stream.").Produces(StatusCodes.Status200OK, contentType: "text/html");
        app.MapGet("/board.js", () => Board("board.js", "text/javascript; charset=utf-8")).ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> LiveAsync(HttpContext http, IGrainFactory grains, TsMatchesTable table, StreamHub hub, ApiMetrics metrics, ILoggerFactory logs)
    {
        if (Unexpected(http, "competition_id") is { } unknown) return Bad(http, metrics, logs, unknown, "unknown_parameter", $"unknown query parameter '{unknown}'");
        string? competition = null;
        if (http.Request.Query.TryGetValue("competition_id", out var values))
        {
            competition = values.Count == 1 ? values[0] : null;
            if (!FieldMerge.IsValidId(competition)) return Bad(http, metrics, logs, "competition_id", "malformed", "competition_id must be 1..64 characters of [A-Za-z0-9_-], given once");
        }

        var ids = (await table.ReadLiveAsync(http.RequestAborted)).Select(r => r.ExternalId).ToHashSet(StringComparer.Ordinal);
        ids.UnionWith(hub.LiveIds);
        var snapshots = await Task.WhenAll(ids.Select(id => grains.GetGrain<IMatchGrain>(id).GetSnapshot()));
        var live = snapshots
            .Where(s => MatchJson.IsLive(s.Status?.Value) && (competition is null || s.CompetitionId == competition))
            .OrderBy(s => s.MatchTime ?? long.MaxValue).ThenBy(s => s.ExternalId, StringComparer.Ordinal)
            .Select(MatchJson.From)
            .ToList();
        return Results.Json(new LiveMatchesJson(live), ApiJson.Options);
    }

    private static async Task<IResult> MatchAsync(string external_id, HttpContext http, IGrainFactory grains, KnownMatches known, ApiMetrics metrics, ILoggerFactory logs)
    {
        if (Unexpected(http) is { } unknown) return Bad(http, metrics, logs, unknown, "unknown_parameter", $"unknown query parameter '{unknown}'");
        if (!FieldMerge.IsValidId(external_id)) return Bad(http, metrics, logs, "external_id", "malformed", "external_id must be 1..64 characters of [A-Za-z0-9_-]");
        if (!await known.IsKnownAsync(external_id, http.RequestAborted))
        {
            metrics.UnknownMatches.Add(1);
            return Results.Json(new ErrorJson("unknown match"), ApiJson.Options, statusCode: StatusCodes.Status404NotFound);
        }

        var snapshot = await grains.GetGrain<IMatchGrain>(external_id).GetSnapshot();
        return Results.Json(MatchJson.From(snapshot), ApiJson.Options);
    }

    private static async Task StreamAsync(HttpContext http, StreamHub hub, ApiMetrics metrics, ILoggerFactory logs)
    {
        if (Unexpected(http, "match") is { } unknown)
        {
            await Bad(http, metrics, logs, unknown, "unknown_parameter", $"unknown query parameter '{unknown}'").ExecuteAsync(http);
            return;
        }

        HashSet<string>? filter = null;
        if (http.Request.Query.TryGetValue("match", out var values))
        {
            filter = new HashSet<string>(StringComparer.Ordinal);
            foreach (var id in values.SelectMany(v => (v ?? "").Split(',')))
            {
                if (!FieldMerge.IsValidId(id))
                {
                    await Bad(http, metrics, logs, "match", "malformed", "match must be a comma-separated list of ids of 1..64 characters of [A-Za-z0-9_-]").ExecuteAsync(http);
                    return;
                }

                filter.Add(id);
            }
        }

        (long, long)? lastEventId = null;
        if (http.Request.Headers.TryGetValue("Last-Event-ID", out var last) && last.Count > 0 && !string.IsNullOrEmpty(last[0]))
        {
            if (!EventBuffer.TryParseId(last[0], out var ms, out var seq))
            {
                await Bad(http, metrics, logs, "Last-Event-ID", "malformed", "Last-Event-ID must be an event id this API sent (<ms>-<seq>)").ExecuteAsync(http);
                return;
            }

            lastEventId = (ms, seq);
        }

        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        var client = hub.Subscribe(filter, lastEventId, http.Abort, out var resume);
        var body = http.Response.Body;
        var ct = http.RequestAborted;
        try
        {
            // The first bytes at once: the client knows it is connected before any change comes.
            await body.WriteAsync(Connected, ct);
            if (resume.Resync) await body.WriteAsync(StreamHub.Resync, ct);
            foreach (var e in resume.Missed) await body.WriteAsync(e.Frame, ct);
            await body.FlushAsync(ct);
            var reader = client.Queue.Reader;
            while (await reader.WaitToReadAsync(ct))
            {
                while (reader.TryRead(out var frame)) await body.WriteAsync(frame, ct);
                await body.FlushAsync(ct);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The client went away, or was dropped for falling behind.
        }
        finally
        {
            hub.Unsubscribe(client);
        }
    }

    private static readonly byte[] Connected = Encoding.UTF8.GetBytes(": connected\nretry: 2000\n\n");

    /// <summary>The first query parameter that is not one of <paramref name="allowed"/>, or null.</summary>
    private static string? Unexpected(HttpContext http, params string[] allowed) =>
        http.Request.Query.Keys.FirstOrDefault(k => !allowed.Contains(k, StringComparer.Ordinal));

    /// <summary>A <c>400</c> naming the field and the reason; counted and logged once.</summary>
    private static IResult Bad(HttpContext http, ApiMetrics metrics, ILoggerFactory logs, string field, string reason, string error)
    {
        var endpoint = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? http.Request.Path.Value ?? "";
        metrics.BadRequests.Add(1, new("endpoint", endpoint), new("field", field), new("reason", reason));
        LogBadRequest(logs.CreateLogger("Orleans.GoalGpt.Silo.Api"), endpoint, field, reason);
        return Results.Json(new ErrorJson(error, field, reason), ApiJson.Options, statusCode: StatusCodes.Status400BadRequest);
    }

    private static IResult Board(string file, string contentType)
    {
        var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"board/{file}")
            ?? throw new InvalidOperationException($"board/{file} is not embedded in the silo assembly");
        return Results.Stream(stream, contentType);
    }

    [LoggerMessage(EventId = 7210, Level = LogLevel.Information, Message = "Bad request to {Endpoint}: {Field} {Reason}")]
    private static partial void LogBadRequest(ILogger logger, string endpoint, string field, string reason);
}
