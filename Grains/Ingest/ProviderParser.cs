using System.Text.Json;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>One match's observation read from the provider.</summary>
public sealed record ParsedUpdate(string MatchId, MatchUpdate Update);

/// <summary>A part of a provider answer or message refused at the edge, with its reason label.</summary>
public sealed record InputRejection(string Field, string Reason, string Detail);

/// <summary>A changed match named by <c>data/update</c>.</summary>
public sealed record ChangedMatch(string MatchId, long UpdateTime);

/// <summary>What was read from one answer or message: updates, and what was refused.</summary>
public sealed class ParsedBatch
{
    public List<ParsedUpdate> Updates { get; } = [];

    public List<InputRejection> Rejections { get; } = [];

    /// <summary>Elements (matches, rows, deltas) the answer held, good or bad.</summary>
    public int Elements { get; set; }

    internal void Reject(string field, string reason, string detail) => Rejections.Add(new(field, reason, detail));
}

/// <summary>
/// Reads the provider contract (<c>shared/docs/provider-contract.md</c>): the envelope, the score
/// array, the HTTP answers and every MQTT message shape. Pure: types and ids are checked here
/// (a wrong type is <c>malformed</c>, a bad id <c>out_of_range</c>); value ranges and the merge
/// rules are the grain's (<see cref="FieldMerge"/>). A bad field is refused alone; the rest of the
/// element still counts.
/// </summary>
public static class ProviderParser
{
    /// <summary>Labels of failed provider answers (the <c>outcome</c> of the provider call counter).</summary>
    public static class Failures
    {
        public const string ErrorBody = "error_body";
        public const string ErrorCode = "error_code";
        public const string RateLimited = "rate_limited";
        public const string MalformedJson = "malformed_json";
    }

    /// <summary>
    /// Checks an HTTP answer's envelope. Returns null when it is a success, else the failure label
    /// and a detail: <c>{"err": ...}</c>, a non-zero <c>code</c> (429 = rate limited), not JSON,
    /// not an object or without <c>results</c>.
    /// </summary>
    public static (string Reason, string Detail)? EnvelopeFailure(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (Failures.MalformedJson, $"answer is a JSON {root.ValueKind}, not an object");
            if (root.TryGetProperty("err", out var err))
            {
                return (Failures.ErrorBody, Truncate(err.ValueKind == JsonValueKind.String ? err.GetString() ?? "" : err.GetRawText()));
            }

            if (root.TryGetProperty("code", out var code) && !(code.ValueKind == JsonValueKind.Number && code.TryGetInt32(out var c) && c == 0))
            {
                var msg = root.TryGetProperty("msg", out var m) ? m.ToString() : "";
                return code.ValueKind == JsonValueKind.Number && code.TryGetInt32(out var c429) && c429 == 429
                    ? (Failures.RateLimited, Truncate($"code 429 {msg}"))
                    : (Failures.ErrorCode, Truncate($"code {code.GetRawText()} {msg}"));
            }

            return root.TryGetProperty("results", out _) ? null : (Failures.MalformedJson, "answer has no results");
        }
        catch (JsonException ex)
        {
            return (Failures.MalformedJson, Truncate(ex.Message));
        }
    }

    /// <summary><c>match/detail_live</c>: a full snapshot per match; each score array becomes an update.</summary>
    public static ParsedBatch DetailLive(JsonElement root, UpdateSource source, long observedAtMs)
    {
        var batch = new ParsedBatch();
        foreach (var element in Results(root, batch))
        {
            batch.Elements++;
            if (MatchId(element, "id", batch) is not { } id) continue;
            if (!element.TryGetProperty("score", out var score))
            {
                batch.Reject("score", RejectReasons.Malformed, $"match {id}: no score array");
                continue;
            }

            if (ScoreArray(score, id, source, observedAtMs, batch) is { } update) batch.Updates.Add(new(id, update));
        }

        return batch;
    }

    /// <summary><c>match/recent/list</c> and <c>match/diary</c>: one row per match with metadata, status and scores.</summary>
    public static ParsedBatch MatchRows(JsonElement root, UpdateSource source, long observedAtMs)
    {
        var batch = new ParsedBatch();
        foreach (var row in Results(root, batch))
        {
            batch.Elements++;
            if (MatchId(row, "id", batch) is not { } id) continue;
            batch.Updates.Add(new(id, new MatchUpdate
            {
                Source = source,
                ObservedAtMs = observedAtMs,
                CompetitionId = OptionalString(row, "competition_id", id, batch),
                HomeTeamId = OptionalString(row, "home_team_id", id, batch),
                AwayTeamId = OptionalString(row, "away_team_id", id, batch),
                StatusId = OptionalInt(row, "status_id", id, batch),
                MatchTime = OptionalLong(row, "match_time", id, batch),
                HomeScores = OptionalScores(row, "home_scores", id, batch),
                AwayScores = OptionalScores(row, "away_scores", id, batch),
                ProviderUpdateTime = ProviderTime(row, "updated_at", id, batch, observedAtMs / 1000),
            }));
        }

        return batch;
    }

    /// <summary><c>data/update</c>: the matches changed lately, by type; a match named twice keeps its newest time.</summary>
    public static (IReadOnlyList<ChangedMatch> Changed, ParsedBatch Batch) DataUpdate(JsonElement root, long nowS)
    {
        var batch = new ParsedBatch();
        var newest = new Dictionary<string, long>(StringComparer.Ordinal);
        if (!root.TryGetProperty("results", out var results) || results.ValueKind != JsonValueKind.Object)
        {
            batch.Reject("results", RejectReasons.Malformed, "results is not an object of update lists");
            return ([], batch);
        }

        foreach (var group in results.EnumerateObject())
        {
            if (group.Value.ValueKind != JsonValueKind.Array)
            {
                batch.Reject("results", RejectReasons.Malformed, $"group {Truncate(group.Name)} is not a list");
                continue;
            }

            foreach (var item in group.Value.EnumerateArray())
            {
                batch.Elements++;
                if (item.ValueKind != JsonValueKind.Object)
                {
                    batch.Reject("update", RejectReasons.Malformed, $"an item of {Truncate(group.Name)} is not an object");
                    continue;
                }

                if (MatchId(item, "match_id", batch) is not { } id) continue;
                if (!item.TryGetProperty("update_time", out var ut) || ut.ValueKind != JsonValueKind.Number || !ut.TryGetInt64(out var time))
                {
                    batch.Reject("update_time", RejectReasons.Malformed, $"match {id}: update_time missing or not an integer");
                    continue;
                }

                if (!IsProviderTime(time, nowS))
                {
                    batch.Reject("update_time", RejectReasons.OutOfRange, $"match {id}: update_time {time} is not unix seconds up to now + 5 min");
                    continue;
                }

                newest[id] = Math.Max(time, newest.GetValueOrDefault(id));
            }
        }

        return (newest.Select(kv => new ChangedMatch(kv.Key, kv.Value)).ToList(), batch);
    }

    /// <summary>
    /// One MQTT message: a JSON array of deltas, an object keyed <c>"0"</c>, <c>"1"</c>, ..., or a
    /// single delta object. A delta's <c>score</c> becomes an update; <c>stats</c>,
    /// <c>incidents</c> and <c>tlive</c> are informational and only checked for shape.
    /// A message that is not JSON or of none of these shapes is refused whole.
    /// </summary>
    public static ParsedBatch MqttMessage(ReadOnlyMemory<byte> payload, long receivedAtMs, int maxBytes = 4 * 1024 * 1024)
    {
        var batch = new ParsedBatch();
        if (payload.Length > maxBytes)
        {
            batch.Reject("message", RejectReasons.Malformed, $"message of {payload.Length} bytes is over the {maxBytes} byte limit");
            return batch;
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload);
        }
        catch (JsonException ex)
        {
            batch.Reject("message", RejectReasons.Malformed, "not JSON: " + Truncate(ex.Message));
            return batch;
        }

        using (doc)
        {
            foreach (var delta in Deltas(doc.RootElement, batch))
            {
                batch.Elements++;
                if (delta.ValueKind != JsonValueKind.Object)
                {
                    batch.Reject("delta", RejectReasons.Malformed, $"a delta is a JSON {delta.ValueKind}, not an object");
                    continue;
                }

                if (MatchId(delta, "id", batch) is not { } id) continue;
                var known = 0;
                foreach (var info in (ReadOnlySpan<string>)["stats", "incidents", "tlive"])
                {
                    if (!delta.TryGetProperty(info, out var value)) continue;
                    known++;
                    if (value.ValueKind != JsonValueKind.Array) batch.Reject(info, RejectReasons.Malformed, $"match {id}: {info} is not a list");
                }

                if (delta.TryGetProperty("score", out var score))
                {
                    known++;
                    if (ScoreArray(score, id, UpdateSource.Mqtt, receivedAtMs, batch) is { } update) batch.Updates.Add(new(id, update));
                }

                if (known == 0) batch.Reject("delta", RejectReasons.Malformed, $"match {id}: none of score, stats, incidents, tlive");
            }
        }

        return batch;
    }

    /// <summary>
    /// <c>[match_id, status_id, home[7], away[7], phase_kickoff_ts, ""]</c>. The kick-off time goes with
    /// the status of the same array; without a readable status it says nothing and is dropped.
    /// </summary>
    public static MatchUpdate? ScoreArray(JsonElement score, string matchId, UpdateSource source, long observedAtMs, ParsedBatch batch)
    {
        if (score.ValueKind != JsonValueKind.Array || score.GetArrayLength() < 5)
        {
            batch.Reject("score", RejectReasons.Malformed, $"match {matchId}: score is not [id, status, home[7], away[7], kickoff, ...]");
            return null;
        }

        if (score[0].ValueKind != JsonValueKind.String || !string.Equals(score[0].GetString(), matchId, StringComparison.Ordinal))
        {
            batch.Reject("score", RejectReasons.Malformed, $"match {matchId}: score array names another match ({Truncate(score[0].GetRawText())})");
            return null;
        }

        int? status = score[1].ValueKind == JsonValueKind.Number && score[1].TryGetInt32(out var s) ? s : null;
        if (status is null) batch.Reject("status_id", RejectReasons.Malformed, $"match {matchId}: status {Truncate(score[1].GetRawText())}");
        var home = Scores(score[2], "home_scores", matchId, batch);
        var away = Scores(score[3], "away_scores", matchId, batch);
        long? phaseKickoff = null;
        if (score[4].ValueKind == JsonValueKind.Number && score[4].TryGetInt64(out var k)) phaseKickoff = status is null ? null : k;
        else batch.Reject("phase_kickoff_ts", RejectReasons.Malformed, $"match {matchId}: kick-off {Truncate(score[4].GetRawText())}");

        return new MatchUpdate
        {
            Source = source,
            ObservedAtMs = observedAtMs,
            StatusId = status,
            HomeScores = home,
            AwayScores = away,
            PhaseKickoffTs = phaseKickoff,
        };
    }

    private static IEnumerable<JsonElement> Results(JsonElement root, ParsedBatch batch)
    {
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("results", out var results) && results.ValueKind == JsonValueKind.Array)
        {
            return results.EnumerateArray().Where(e =>
            {
                if (e.ValueKind == JsonValueKind.Object) return true;
                batch.Elements++;
                batch.Reject("match", RejectReasons.Malformed, $"a result is a JSON {e.ValueKind}, not an object");
                return false;
            });
        }

        batch.Reject("results", RejectReasons.Malformed, "results is not a list");
        return [];
    }

    private static IEnumerable<JsonElement> Deltas(JsonElement root, ParsedBatch batch)
    {
        switch (root.ValueKind)
        {
            case JsonValueKind.Array:
                return root.EnumerateArray().ToList();
            case JsonValueKind.Object when root.TryGetProperty("id", out _):
                return [root];
            case JsonValueKind.Object:
                var keyed = new List<(int Index, JsonElement Delta)>();
                foreach (var p in root.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
                    {
                        batch.Reject("message", RejectReasons.Malformed, $"object key {Truncate(p.Name)} is neither an index nor id");
                        return [];
                    }

                    keyed.Add((index, p.Value.Clone()));
                }

                return keyed.OrderBy(k => k.Index).Select(k => k.Delta).ToList();
            default:
                batch.Reject("message", RejectReasons.Malformed, $"message is a JSON {root.ValueKind}");
                return [];
        }
    }

    private static string? MatchId(JsonElement element, string property, ParsedBatch batch)
    {
        if (!element.TryGetProperty(property, out var value) || value.ValueKind != JsonValueKind.String)
        {
            batch.Reject("external_id", RejectReasons.Malformed, $"{property} missing or not a string");
            return null;
        }

        var id = value.GetString();
        if (FieldMerge.IsValidId(id)) return id;
        batch.Reject("external_id", RejectReasons.OutOfRange, $"{property} {Truncate(id ?? "")} is not 1..64 chars of [A-Za-z0-9_-]");
        return null;
    }

    private static string? OptionalString(JsonElement row, string property, string id, ParsedBatch batch)
    {
        if (!row.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 and <= 64 } s) return s;
        batch.Reject(property, RejectReasons.Malformed, $"match {id}: {property} {Truncate(value.GetRawText())}");
        return null;
    }

    private static int? OptionalInt(JsonElement row, string property, string id, ParsedBatch batch)
    {
        if (!row.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i)) return i;
        batch.Reject(property, RejectReasons.Malformed, $"match {id}: {property} {Truncate(value.GetRawText())}");
        return null;
    }

    /// <summary>
    /// A provider change time: unix seconds from 2000 to now + 5 min. Milliseconds, or a time in the future,
    /// would become a job's cursor and stop incremental sync for good: refused here, before anything sees it.
    /// </summary>
    public static bool IsProviderTime(long value, long nowS) =>
        value >= FieldMerge.Year2000 && value <= nowS + FieldMerge.FutureToleranceSeconds;

    private static long? ProviderTime(JsonElement row, string property, string id, ParsedBatch batch, long nowS)
    {
        if (OptionalLong(row, property, id, batch) is not long value) return null;
        if (IsProviderTime(value, nowS)) return value;
        batch.Reject(property, RejectReasons.OutOfRange, $"match {id}: {property} {value} is not unix seconds up to now + 5 min");
        return null;
    }

    private static long? OptionalLong(JsonElement row, string property, string id, ParsedBatch batch)
    {
        if (!row.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var l)) return l;
        batch.Reject(property, RejectReasons.Malformed, $"match {id}: {property} {Truncate(value.GetRawText())}");
        return null;
    }

    private static int[]? OptionalScores(JsonElement row, string property, string id, ParsedBatch batch) =>
        row.TryGetProperty(property, out var value) && value.ValueKind != JsonValueKind.Null ? Scores(value, property, id, batch) : null;

    private static int[]? Scores(JsonElement value, string field, string id, ParsedBatch batch)
    {
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() <= 16)
        {
            var scores = new int[value.GetArrayLength()];
            var i = 0;
            var ok = true;
            foreach (var v in value.EnumerateArray())
            {
                ok &= v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out scores[i++]);
            }

            if (ok) return scores;
        }

        batch.Reject(field, RejectReasons.Malformed, $"match {id}: {field} {Truncate(value.GetRawText())} is not a list of integers");
        return null;
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "...";
}
