using System.Buffers;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Silo.Admin;

/// <summary>
/// Admin corrections and the audit history (read-api.md, "Correcting" and "Audit"). Both need an admin key
/// (<c>Authorization: Bearer &lt;key&gt;</c>): none is 401, a key that is not an admin key 403.
/// </summary>
public static partial class AdminEndpoints
{
    public const int DefaultHistoryLimit = 100;
    public const int MaxHistoryLimit = 1000;

    public static WebApplication MapGoalGptAdmin(this WebApplication app)
    {
        app.MapPost("/v1/admin/matches/{external_id}/corrections", CorrectAsync)
            .WithName("CorrectMatch")
            .WithSummary("Corrects a match as an admin; answered once the row is in ts_matches")
            .Accepts<CorrectionBody>("application/json")
            .Produces<CorrectionAnswer>(StatusCodes.Status200OK)
            .Produces<BadInputAnswer>(StatusCodes.Status400BadRequest)
            .Produces(StatusCodes.Status401Unauthorized)
            .Produces(StatusCodes.Status403Forbidden)
            .Produces<ErrorAnswer>(StatusCodes.Status404NotFound)
            .Produces<CorrectionAnswer>(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/v1/matches/{external_id}/history", HistoryAsync)
            .WithName("GetMatchHistory")
            .WithSummary("The match's audit events, newest first (admin key)")
            .Produces<HistoryAnswer>(StatusCodes.Status200OK)
            .Produces<BadInputAnswer>(StatusCodes.Status400BadRequest)
            .Produces(StatusCodes.Status401Unauthorized)
            .Produces(StatusCodes.Status403Forbidden)
            .Produces<ErrorAnswer>(StatusCodes.Status404NotFound);
        return app;
    }

    // The shapes of the answers (OpenAPI metadata; the JSON names are the contract's).
    public sealed record CorrectionBody(string Reason, Dictionary<string, long> Fields);

    public sealed record FieldAnswer(string Outcome, string? Reason = null, string? Detail = null);

    public sealed record CorrectionAnswer(string ExternalId, bool Written, Dictionary<string, FieldAnswer> Fields, string? Error = null);

    public sealed record BadInputAnswer(string Error, Dictionary<string, FieldAnswer> Fields);

    public sealed record ErrorAnswer(string Error);

    public sealed record HistoryEvent(string Kind, string? Field, string? Old, string? New, string? Source, long ObservedAt, string? Reason, string? KeyName, long RecordedAt);

    public sealed record HistoryAnswer(string ExternalId, IReadOnlyList<HistoryEvent> Events);

    private static readonly System.Text.Json.JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private static async Task<IResult> CorrectAsync(string external_id, HttpContext http, AdminKeys keys, IGrainFactory grains,
        TsMatchesTable table, GoalGptMetrics metrics, TimeProvider time, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Orleans.GoalGpt.Silo.Admin");
        if (Authorize(http, keys, metrics) is { } refused) return refused;
        var keyName = (string)http.Items[KeyNameItem]!;

        var body = await ReadBodyAsync(http.Request);
        var (correction, reason, errors) = body is null
            ? (null, null, new Dictionary<string, FieldError> { ["body"] = new(RejectReasons.OutOfRange, $"larger than {CorrectionRequest.MaxBodyBytes} bytes") })
            : CorrectionRequest.Parse(body, time.GetUtcNow().ToUnixTimeMilliseconds());
        if (!FieldMerge.IsValidId(external_id)) errors["external_id"] = new(RejectReasons.Malformed, "1..64 characters of [A-Za-z0-9_-]");
        if (errors.Count > 0) return BadInput(errors, "correction", external_id, keyName, metrics, logger);

        if (!await table.KnownAsync(external_id, http.RequestAborted))
        {
            metrics.AdminCorrections.Add(1, new KeyValuePair<string, object?>("outcome", "not_found"));
            return Results.Json(new ErrorAnswer("unknown match"), Json, statusCode: StatusCodes.Status404NotFound);
        }

        var result = await grains.GetGrain<IMatchGrain>(external_id).Correct(correction!, reason!, keyName, keys.CorrectionWriteTimeout);
        var fields = CorrectionRequest.Named(correction!).ToDictionary(n => n, n =>
        {
            var f = CorrectionRequest.OutcomeOf(n, result.Result);
            return new FieldAnswer(f.Outcome.ToString().ToLowerInvariant(), f.Reason);
        });
        var outcome = result.Write switch
        {
            CorrectionWrite.Written => "applied",
            CorrectionWrite.UnknownMatch => "not_found",
            _ => "not_written",
        };
        metrics.AdminCorrections.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        LogCorrection(logger, external_id, keyName, result.Write, string.Join(' ', fields.Select(f => $"{f.Key}:{f.Value.Reason ?? f.Value.Outcome}")), reason!);
        return result.Write switch
        {
            CorrectionWrite.Written => Results.Json(new CorrectionAnswer(external_id, true, fields), Json),
            CorrectionWrite.UnknownMatch => Results.Json(new ErrorAnswer("unknown match"), Json, statusCode: StatusCodes.Status404NotFound),
            CorrectionWrite.NoLease => Unavailable(http, new CorrectionAnswer(external_id, false, [],
                "the match has no owner that can write right now (Redis or PostgreSQL unreachable); nothing was applied, retry")),
            CorrectionWrite.Refused => Unavailable(http, new CorrectionAnswer(external_id, false, fields,
                "the row was refused (the match's owner changed while writing, or PostgreSQL refused the row); the fields listed were applied in memory and go to the next owner or with the match's next row; read the match or retry")),
            _ => Unavailable(http, new CorrectionAnswer(external_id, false, fields,
                $"the row was not written within {keys.CorrectionWriteTimeout.TotalSeconds:0.#} s (PostgreSQL slow or down); the fields listed were applied in memory and are written when it can; retrying is safe")),
        };
    }

    private static async Task<IResult> HistoryAsync(string external_id, HttpContext http, AdminKeys keys, MatchEventsTable events,
        TsMatchesTable table, GoalGptMetrics metrics, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Orleans.GoalGpt.Silo.Admin");
        if (Authorize(http, keys, metrics) is { } refused) return refused;
        var errors = new Dictionary<string, FieldError>(StringComparer.Ordinal);
        if (!FieldMerge.IsValidId(external_id)) errors["external_id"] = new(RejectReasons.Malformed, "1..64 characters of [A-Za-z0-9_-]");
        var limit = DefaultHistoryLimit;
        var raw = http.Request.Query["limit"];
        if (raw.Count > 1 || (raw.Count == 1 && (!int.TryParse(raw[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxHistoryLimit)))
        {
            errors["limit"] = new(RejectReasons.OutOfRange, $"a whole number 1..{MaxHistoryLimit} (default {DefaultHistoryLimit})");
        }

        if (errors.Count > 0) return BadInput(errors, "history", external_id, (string)http.Items[KeyNameItem]!, metrics, logger);

        var list = await events.ReadAsync(external_id, limit, http.RequestAborted);
        if (list.Count == 0 && !await table.KnownAsync(external_id, http.RequestAborted))
        {
            return Results.Json(new ErrorAnswer("unknown match"), Json, statusCode: StatusCodes.Status404NotFound);
        }

        return Results.Json(new HistoryAnswer(external_id, list.Select(e => new HistoryEvent(e.Kind, e.Field, e.Old, e.New, e.Source, e.ObservedAtMs,
            e.Reason, e.KeyName, e.RecordedAt.ToUnixTimeMilliseconds())).ToList()), Json);
    }

    private const string KeyNameItem = "goalgpt.admin_key";

    /// <summary>Null when the request carries an admin key (its name is kept in the request's items); else the refusal.</summary>
    private static IResult? Authorize(HttpContext http, AdminKeys keys, GoalGptMetrics metrics)
    {
        var header = http.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || header.Length == Scheme.Length)
        {
            metrics.AdminCorrections.Add(1, new KeyValuePair<string, object?>("outcome", "unauthorized"));
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Results.Json(new ErrorAnswer("an admin key is required: Authorization: Bearer <key>"), Json, statusCode: StatusCodes.Status401Unauthorized);
        }

        if (keys.Match(header[Scheme.Length..].Trim()) is not { } name)
        {
            metrics.AdminCorrections.Add(1, new KeyValuePair<string, object?>("outcome", "forbidden"));
            return Results.Json(new ErrorAnswer("not an admin key"), Json, statusCode: StatusCodes.Status403Forbidden);
        }

        http.Items[KeyNameItem] = name;
        return null;
    }

    /// <summary>The body, or null when it is larger than the limit (read no further than the limit + 1 byte).</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request)
    {
        if (request.ContentLength > CorrectionRequest.MaxBodyBytes) return null;
        var buffer = ArrayPool<byte>.Shared.Rent(CorrectionRequest.MaxBodyBytes + 1);
        try
        {
            var read = 0;
            int n;
            while (read <= CorrectionRequest.MaxBodyBytes
                   && (n = await request.Body.ReadAsync(buffer.AsMemory(read, CorrectionRequest.MaxBodyBytes + 1 - read), request.HttpContext.RequestAborted)) > 0)
            {
                read += n;
            }

            return read > CorrectionRequest.MaxBodyBytes ? null : buffer.AsSpan(0, read).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static IResult BadInput(Dictionary<string, FieldError> errors, string what, string matchId, string keyName, GoalGptMetrics metrics, ILogger logger)
    {
        metrics.AdminCorrections.Add(1, new KeyValuePair<string, object?>("outcome", "bad_input"));
        foreach (var (field, e) in errors)
        {
            metrics.FieldsRejected.Add(1, new("source", "admin"), new("field", field), new("reason", e.Reason));
        }

        LogBadInput(logger, what, matchId.Length > 64 ? matchId[..64] : matchId, keyName, errors.Count,
            string.Join("; ", errors.Take(3).Select(e => $"{e.Key}:{e.Value.Reason} ({e.Value.Detail})")));
        return Results.Json(new BadInputAnswer("bad input; nothing was applied",
            errors.ToDictionary(e => e.Key, e => new FieldAnswer("rejected", e.Value.Reason, e.Value.Detail))), Json, statusCode: StatusCodes.Status400BadRequest);
    }

    private static IResult Unavailable(HttpContext http, CorrectionAnswer answer)
    {
        http.Response.Headers.RetryAfter = "1";
        return Results.Json(answer, Json, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    [LoggerMessage(EventId = 5201, Level = LogLevel.Warning, Message = "Admin {What} of match {MatchId} by key {KeyName} refused: {Count} bad fields, first: {First}; nothing applied")]
    private static partial void LogBadInput(ILogger logger, string what, string matchId, string keyName, int count, string first);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Information, Message = "Admin correction of match {MatchId} by key {KeyName}: {Write}; {Fields}; reason: {Reason}")]
    private static partial void LogCorrection(ILogger logger, string matchId, string keyName, CorrectionWrite write, string fields, string reason);
}
