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

    /// <summary>Retryable: the match holds its most unwritten updates and has no lease (nothing of the update was applied).</summary>
    public const string BacklogFull = "backlog_full";
}
