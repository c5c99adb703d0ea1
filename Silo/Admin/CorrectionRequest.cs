using System.Text.Json;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;

namespace Orleans.GoalGpt.Silo.Admin;

/// <summary>Why one field of a request was refused: <see cref="Reason"/> is the rules' reason label, <see cref="Detail"/> says what is expected.</summary>
public sealed record FieldError(string Reason, string Detail);

/// <summary>
/// The body of a correction, validated per field at the edge (pure): <c>{"reason": "...", "fields": {...}}</c>.
/// Anything wrong (malformed JSON, an unknown field, a value out of range, a missing or empty reason, a body over
/// <see cref="MaxBodyBytes"/>) refuses the whole request with the reason per field: nothing is applied.
/// </summary>
public static class CorrectionRequest
{
    public const int MaxBodyBytes = 64 * 1024;
    public const int MaxReasonLength = 1000;

    private static readonly string[] Fields =
        ["status_id", "home_score", "away_score", "first_half_kickoff_ts", "second_half_kickoff_ts", "overtime_kickoff_ts", "minute"];

    /// <summary>The correction and its reason, or the errors per field (<c>body</c> for the whole body).</summary>
    public static (AdminCorrection? Correction, string? Reason, Dictionary<string, FieldError> Errors) Parse(ReadOnlySpan<byte> body, long nowMs)
    {
        var errors = new Dictionary<string, FieldError>(StringComparer.Ordinal);
        if (body.Length > MaxBodyBytes)
        {
            errors["body"] = new(RejectReasons.OutOfRange, $"larger than {MaxBodyBytes} bytes");
            return (null, null, errors);
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            errors["body"] = new(RejectReasons.Malformed, $"not JSON: {ex.Message.Split('.')[0]}");
            return (null, null, errors);
        }

        using (doc)
        {
            try
            {
                return Read(doc.RootElement, nowMs, errors);
            }
            catch (InvalidOperationException)
            {
                // A property name with a lone surrogate (GetString of a value is handled per field).
                errors.Clear();
                errors["body"] = new(RejectReasons.Malformed, "invalid UTF-16: a lone surrogate");
                return (null, null, errors);
            }
        }
    }

    private static (AdminCorrection? Correction, string? Reason, Dictionary<string, FieldError> Errors) Read(JsonElement root, long nowMs, Dictionary<string, FieldError> errors)
    {
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                errors["body"] = new(RejectReasons.Malformed, "expected an object {\"reason\": ..., \"fields\": {...}}");
                return (null, null, errors);
            }

            string? reason = null;
            JsonElement? fields = null;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "reason":
                        if (p.Value.ValueKind != JsonValueKind.String) errors["reason"] = new(RejectReasons.Malformed, "expected a string");
                        else
                        {
                            reason = ReadText(p.Value, out var textError);
                            if (textError is not null) errors["reason"] = textError;
                        }

                        break;
                    case "fields":
                        if (p.Value.ValueKind != JsonValueKind.Object) errors["fields"] = new(RejectReasons.Malformed, "expected an object");
                        else fields = p.Value;
                        break;
                    default:
                        errors[p.Name] = new("unknown_field", "expected only \"reason\" and \"fields\"");
                        break;
                }
            }

            if (reason is not null && string.IsNullOrWhiteSpace(reason)) errors["reason"] = new(RejectReasons.OutOfRange, "must not be empty");
            else if (reason is { Length: > MaxReasonLength }) errors["reason"] = new(RejectReasons.OutOfRange, $"at most {MaxReasonLength} characters");
            else if (reason is null && !errors.ContainsKey("reason")) errors["reason"] = new("missing", "required: why the match is corrected");

            var c = new AdminCorrection();
            if (fields is { } f)
            {
                var any = false;
                foreach (var p in f.EnumerateObject())
                {
                    any = true;
                    var name = p.Name;
                    if (Array.IndexOf(Fields, name) < 0)
                    {
                        errors[$"fields.{name}"] = new("unknown_field", $"expected one of {string.Join(", ", Fields)}");
                        continue;
                    }

                    if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt64(out var v))
                    {
                        errors[$"fields.{name}"] = new(RejectReasons.Malformed, "expected a whole number");
                        continue;
                    }

                    var error = Check(name, v, nowMs);
                    if (error is not null)
                    {
                        errors[$"fields.{name}"] = error;
                        continue;
                    }

                    c = name switch
                    {
                        "status_id" => c with { StatusId = (int)v },
                        "home_score" => c with { HomeScore = (int)v },
                        "away_score" => c with { AwayScore = (int)v },
                        "first_half_kickoff_ts" => c with { FirstHalfKickoffTs = v },
                        "second_half_kickoff_ts" => c with { SecondHalfKickoffTs = v },
                        "overtime_kickoff_ts" => c with { OvertimeKickoffTs = v },
                        _ => c with { Minute = (int)v },
                    };
                }

                if (!any) errors["fields"] = new(RejectReasons.OutOfRange, "at least one field to correct");
            }
            else if (!errors.ContainsKey("fields"))
            {
                errors["fields"] = new("missing", "required: the fields to correct");
            }

            return errors.Count > 0 ? (null, null, errors) : (c, reason!.Trim(), errors);
        }
    }

    /// <summary>The names <paramref name="correction"/> sets, as the request named them.</summary>
    public static IEnumerable<string> Named(AdminCorrection correction)
    {
        if (correction.StatusId is not null) yield return "status_id";
        if (correction.HomeScore is not null) yield return "home_score";
        if (correction.AwayScore is not null) yield return "away_score";
        if (correction.FirstHalfKickoffTs is not null) yield return "first_half_kickoff_ts";
        if (correction.SecondHalfKickoffTs is not null) yield return "second_half_kickoff_ts";
        if (correction.OvertimeKickoffTs is not null) yield return "overtime_kickoff_ts";
        if (correction.Minute is not null) yield return "minute";
    }

    /// <summary>The decision on a requested field: the rules name the carried minute <c>minute_carried</c>.</summary>
    public static FieldResult OutcomeOf(string requested, ApplyResult result)
    {
        var name = requested == "minute" ? "minute_carried" : requested;
        return result.Fields.LastOrDefault(f => f.Field == name) ?? new FieldResult(requested, FieldOutcome.Unchanged);
    }

    /// <summary>
    /// A string fit to store and log: no control characters (PostgreSQL refuses a NUL; a newline forges log lines)
    /// and no lone surrogate (not encodable as UTF-8).
    /// </summary>
    private static string? ReadText(JsonElement value, out FieldError? error)
    {
        error = null;
        string text;
        try
        {
            text = value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            error = new(RejectReasons.Malformed, "invalid UTF-16: a lone surrogate");
            return null;
        }

        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) error = new(RejectReasons.Malformed, "invalid UTF-16: a lone surrogate");
            else if (char.IsControl(text[i])) error = new(RejectReasons.Malformed, "control characters (U+0000-U+001F, U+007F-U+009F) are not allowed");
            if (error is not null) return null;
        }

        return text;
    }

    private static FieldError? Check(string name, long v, long nowMs)
    {
        var nowS = nowMs / 1000;
        return name switch
        {
            "status_id" when v is < 0 or > 13 => new(RejectReasons.UnknownStatus, "a status id 0..13"),
            "home_score" or "away_score" when v is < 0 or > FieldMerge.MaxScore => new(RejectReasons.OutOfRange, $"0..{FieldMerge.MaxScore}"),
            "minute" when v is < 1 or > 150 => new(RejectReasons.OutOfRange, "1..150"),
            "first_half_kickoff_ts" or "second_half_kickoff_ts" or "overtime_kickoff_ts" when v < FieldMerge.Year2000 || v > nowS + FieldMerge.FutureToleranceSeconds
                => new(RejectReasons.OutOfRange, "unix seconds from 2000-01-01 to now + 5 min"),
            _ => null,
        };
    }
}
