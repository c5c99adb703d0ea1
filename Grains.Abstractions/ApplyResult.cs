namespace Orleans.GoalGpt.Abstractions;

/// <summary>What happened to one field of an update.</summary>
public enum FieldOutcome
{
    /// <summary>The value was written.</summary>
    Applied = 0,

    /// <summary>Nothing to do: the same observation is already stored (a replay), or 0 = unknown.</summary>
    Unchanged = 1,

    /// <summary>Refused; <see cref="FieldResult.Reason"/> says why.</summary>
    Rejected = 2,
}

/// <summary>The decision on one field.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.FieldResult")]
public sealed record FieldResult(
    [property: Id(0)] string Field,
    [property: Id(1)] FieldOutcome Outcome,
    [property: Id(2)] string? Reason = null);

/// <summary>The per-field decisions on one update.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.ApplyResult")]
public sealed record ApplyResult([property: Id(0)] IReadOnlyList<FieldResult> Fields)
{
    public bool AnyApplied => Fields.Any(f => f.Outcome == FieldOutcome.Applied);

    public IEnumerable<FieldResult> Rejected => Fields.Where(f => f.Outcome == FieldOutcome.Rejected);
}

/// <summary>Reasons a field is rejected; they are the <c>reason</c> label of the rejection counter.</summary>
public static class RejectReasons
{
    public const string Malformed = "malformed";
    public const string OutOfRange = "out_of_range";
    public const string UnknownStatus = "unknown_status";
    public const string Stale = "stale";
    public const string ImplausibleKickoff = "implausible_kickoff";
    public const string UnconfirmedRegression = "unconfirmed_regression";
    public const string KickoffOverwriteBlocked = "kickoff_overwrite_blocked";
    public const string SourceNotAllowed = "source_not_allowed";
    public const string UnconfirmedScoreDrop = "unconfirmed_score_drop";

    /// <summary>An admin value stands: the observation shows no provider change since the correction.</summary>
    public const string AdminHeld = "admin_held";

    /// <summary>Retryable: the match holds its most unwritten updates and has no lease (nothing of the update was applied).</summary>
    public const string BacklogFull = "backlog_full";
}

/// <summary>Whether an admin correction's row reached <c>ts_matches</c> before the answer.</summary>
public enum CorrectionWrite
{
    /// <summary>A row holding the correction (and its audit event) is in ts_matches.</summary>
    Written = 0,

    /// <summary>Applied in the match's memory, not written within the time given (PostgreSQL slow or down): written later like any acknowledged update.</summary>
    NotWrittenInTime = 1,

    /// <summary>The match holds no lease now (Redis down, another owner): nothing was applied.</summary>
    NoLease = 2,

    /// <summary>The row was refused (a newer owner took the match, or PostgreSQL refused the row): applied here, handed to the next owner.</summary>
    Refused = 3,

    /// <summary>The match was never seen: nothing was applied (a correction does not create a match).</summary>
    UnknownMatch = 4,
}

/// <summary>What an admin correction did: the per-field decisions and whether its row was written.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.CorrectionResult")]
public sealed record CorrectionResult(
    [property: Id(0)] ApplyResult Result,
    [property: Id(1)] CorrectionWrite Write);
