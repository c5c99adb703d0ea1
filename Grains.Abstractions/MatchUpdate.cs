namespace Orleans.GoalGpt.Abstractions;

/// <summary>
/// One observation of one match from one source. Every field is optional: an absent field did
/// not change and says nothing. <see cref="StatusId"/>, the score arrays and
/// <see cref="PhaseKickoffTs"/> together are the provider's score array: the kick-off time belongs
/// to the phase named by the status of the same update.
/// </summary>
[GenerateSerializer, Immutable, Alias("goalgpt.MatchUpdate")]
public sealed record MatchUpdate
{
    /// <summary>Where it came from.</summary>
    [Id(0)] public required UpdateSource Source { get; init; }

    /// <summary>When it was observed, unix milliseconds (for a poll: when the request was sent).</summary>
    [Id(1)] public required long ObservedAtMs { get; init; }

    /// <summary>Provider change time in unix seconds (<c>updated_at</c>, <c>update_time</c>).</summary>
    [Id(2)] public long? ProviderUpdateTime { get; init; }

    [Id(3)] public int? StatusId { get; init; }

    /// <summary><c>[regular, half_time, red, yellow, corners, overtime, penalty]</c>.</summary>
    [Id(4)] public IReadOnlyList<int>? HomeScores { get; init; }

    [Id(5)] public IReadOnlyList<int>? AwayScores { get; init; }

    /// <summary>Kick-off time of the phase named by <see cref="StatusId"/>, unix seconds; 0 = unknown.</summary>
    [Id(6)] public long? PhaseKickoffTs { get; init; }

    /// <summary>Explicit kick-off times (admin corrections); set-once for every other source.</summary>
    [Id(7)] public long? FirstHalfKickoffTs { get; init; }

    [Id(8)] public long? SecondHalfKickoffTs { get; init; }

    [Id(9)] public long? OvertimeKickoffTs { get; init; }

    /// <summary>Scheduled kick-off, unix seconds.</summary>
    [Id(10)] public long? MatchTime { get; init; }

    [Id(11)] public string? CompetitionId { get; init; }

    [Id(12)] public string? HomeTeamId { get; init; }

    [Id(13)] public string? AwayTeamId { get; init; }

    /// <summary>A minute carried by the update (no provider field has one; an admin correction may).</summary>
    [Id(14)] public int? Minute { get; init; }

    /// <summary>An admin correction's reason and key name: they travel with it (a hand-over) to the activation that writes it.</summary>
    [Id(15)] public string? CorrectionReason { get; init; }

    [Id(16)] public string? CorrectionKeyName { get; init; }
}

/// <summary>
/// What an operator corrects (<c>POST /v1/admin/matches/{id}/corrections</c>): every field optional. The
/// grain turns it into a <see cref="MatchUpdate"/> with source admin, observed now; a score replaces the
/// displayed score only (cards, corners and penalties of the stored raw array stay).
/// </summary>
[GenerateSerializer, Immutable, Alias("goalgpt.AdminCorrection")]
public sealed record AdminCorrection
{
    [Id(0)] public int? StatusId { get; init; }
    [Id(1)] public int? HomeScore { get; init; }
    [Id(2)] public int? AwayScore { get; init; }
    [Id(3)] public long? FirstHalfKickoffTs { get; init; }
    [Id(4)] public long? SecondHalfKickoffTs { get; init; }
    [Id(5)] public long? OvertimeKickoffTs { get; init; }

    /// <summary>A minute to show while the phase's kick-off is unknown (carried for 120 s, domain rule 4).</summary>
    [Id(6)] public int? Minute { get; init; }
}
