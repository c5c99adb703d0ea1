using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Silo.Api;

/// <summary>A value with its provenance: where it came from, observed when (unix ms).</summary>
public sealed record FieldJson<T>(
    [property: JsonPropertyName("value")] T Value,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("observed_at")] long ObservedAt);

/// <summary>The minute: its value (null when not live), its display text, provenance.</summary>
public sealed record MinuteJson(
    [property: JsonPropertyName("value")] int? Value,
    [property: JsonPropertyName("text")] string? Text,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("observed_at")] long ObservedAt);

/// <summary>A match as the read API shows it (docs: read-api.md): column names of ts_matches; kick-offs in unix s.</summary>
public sealed record MatchJson(
    [property: JsonPropertyName("external_id")] string ExternalId,
    [property: JsonPropertyName("status_id")] FieldJson<int>? StatusId,
    [property: JsonPropertyName("home_score")] FieldJson<int>? HomeScore,
    [property: JsonPropertyName("away_score")] FieldJson<int>? AwayScore,
    [property: JsonPropertyName("minute")] MinuteJson? Minute,
    [property: JsonPropertyName("first_half_kickoff_ts")] FieldJson<long>? FirstHalfKickoffTs,
    [property: JsonPropertyName("second_half_kickoff_ts")] FieldJson<long>? SecondHalfKickoffTs,
    [property: JsonPropertyName("overtime_kickoff_ts")] FieldJson<long>? OvertimeKickoffTs,
    [property: JsonPropertyName("home_scores")] IReadOnlyList<int>? HomeScores,
    [property: JsonPropertyName("away_scores")] IReadOnlyList<int>? AwayScores,
    [property: JsonPropertyName("match_time")] long? MatchTime,
    [property: JsonPropertyName("competition_id")] string? CompetitionId,
    [property: JsonPropertyName("home_team_id")] string? HomeTeamId,
    [property: JsonPropertyName("away_team_id")] string? AwayTeamId,
    [property: JsonPropertyName("stale_since")] long? StaleSince)
{
    /// <summary>Statuses the API calls live (first half, half-time, second half, overtime, penalties).</summary>
    public static bool IsLive(int? status) => status is 2 or 3 or 4 or 5 or 7;

    public static MatchJson From(MatchSnapshot s) => new(
        s.ExternalId,
        Field(s.Status),
        Field(s.HomeScore),
        Field(s.AwayScore),
        s.Minute is { } m ? new MinuteJson(m.Value, s.MinuteText, m.Source.ToWire(), m.ObservedAtMs) : null,
        Field(s.FirstHalfKickoff),
        Field(s.SecondHalfKickoff),
        Field(s.OvertimeKickoff),
        s.HomeScores,
        s.AwayScores,
        s.MatchTime,
        s.CompetitionId,
        s.HomeTeamId,
        s.AwayTeamId,
        StaleSince: s.StaleSince);

    private static FieldJson<T>? Field<T>(Provenanced<T>? p) => p is null ? null : new FieldJson<T>(p.Value, p.Source.ToWire(), p.ObservedAtMs);
}

/// <summary><c>GET /v1/matches/live</c>.</summary>
public sealed record LiveMatchesJson([property: JsonPropertyName("matches")] IReadOnlyList<MatchJson> Matches);

/// <summary>An error: what is wrong, and for bad input which field and why.</summary>
public sealed record ErrorJson(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("field"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Field = null,
    [property: JsonPropertyName("reason"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason = null);

/// <summary>The <c>data</c> of one <c>match</c> event of <c>GET /v1/stream</c>.</summary>
public sealed record StreamEventJson(
    [property: JsonPropertyName("external_id")] string ExternalId,
    [property: JsonPropertyName("changed")] IReadOnlyList<string> Changed,
    [property: JsonPropertyName("match")] MatchJson Match);

/// <summary>The serializer settings of every API answer (names come from the attributes; nulls are written).</summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
