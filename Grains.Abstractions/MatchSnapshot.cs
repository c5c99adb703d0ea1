namespace Orleans.GoalGpt.Abstractions;

/// <summary>A value with where it came from and when it was observed (unix ms).</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.Provenanced")]
public sealed record Provenanced<T>(
    [property: Id(0)] T Value,
    [property: Id(1)] UpdateSource Source,
    [property: Id(2)] long ObservedAtMs);

/// <summary>The current state of a match, with provenance, as the grain holds it.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.MatchSnapshot")]
public sealed record MatchSnapshot
{
    [Id(0)] public required string ExternalId { get; init; }
    [Id(1)] public Provenanced<int>? Status { get; init; }
    [Id(2)] public Provenanced<int>? HomeScore { get; init; }
    [Id(3)] public Provenanced<int>? AwayScore { get; init; }
    [Id(4)] public Provenanced<int?>? Minute { get; init; }
    [Id(5)] public string? MinuteText { get; init; }
    [Id(6)] public long? FirstHalfKickoffTs { get; init; }
    [Id(7)] public long? SecondHalfKickoffTs { get; init; }
    [Id(8)] public long? OvertimeKickoffTs { get; init; }
    [Id(9)] public long? MatchTime { get; init; }
    [Id(10)] public string? CompetitionId { get; init; }
    [Id(11)] public string? HomeTeamId { get; init; }
    [Id(12)] public string? AwayTeamId { get; init; }
    [Id(13)] public IReadOnlyList<int>? HomeScores { get; init; }
    [Id(14)] public IReadOnlyList<int>? AwayScores { get; init; }
    [Id(15)] public long? ProviderUpdateTime { get; init; }
    [Id(16)] public int? PendingRegressionStatus { get; init; }
    [Id(17)] public bool RepollRequested { get; init; }

    /// <summary>The fencing epoch of the activation's lease; null while it holds none.</summary>
    [Id(18)] public long? FenceToken { get; init; }

    /// <summary>Unix seconds since the watchdog flagged the live match stale (the provider stopped returning it); null: fresh.</summary>
    [Id(19)] public long? StaleSince { get; init; }
    // The kick-offs with provenance (read API). High ids: lower ones are left to other additions.
    [Id(40)] public Provenanced<long>? FirstHalfKickoff { get; init; }
    [Id(41)] public Provenanced<long>? SecondHalfKickoff { get; init; }
    [Id(42)] public Provenanced<long>? OvertimeKickoff { get; init; }
}
