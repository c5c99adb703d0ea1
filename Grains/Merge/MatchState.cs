using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>
/// Everything a <c>MatchGrain</c> knows about its match: every tracked field as a last-writer-wins
/// register with provenance, plus what the rules need between updates (pending regression,
/// phase entry time, carried minute). Persisted as the grain's state.
/// </summary>
[GenerateSerializer, Alias("goalgpt.MatchState")]
public sealed class MatchState
{
    [Id(0)] public Provenanced<int>? Status { get; set; }
    [Id(1)] public Provenanced<int>? HomeScore { get; set; }
    [Id(2)] public Provenanced<int>? AwayScore { get; set; }
    [Id(3)] public Provenanced<int[]>? HomeScores { get; set; }
    [Id(4)] public Provenanced<int[]>? AwayScores { get; set; }
    [Id(5)] public Provenanced<long>? FirstHalfKickoff { get; set; }
    [Id(6)] public Provenanced<long>? SecondHalfKickoff { get; set; }
    [Id(7)] public Provenanced<long>? OvertimeKickoff { get; set; }
    [Id(8)] public Provenanced<long>? MatchTime { get; set; }
    [Id(9)] public Provenanced<string>? CompetitionId { get; set; }
    [Id(10)] public Provenanced<string>? HomeTeamId { get; set; }
    [Id(11)] public Provenanced<string>? AwayTeamId { get; set; }
    [Id(12)] public long? ProviderUpdateTime { get; set; }

    /// <summary>The derived minute: value (NULL when not live), display text, source, computed at.</summary>
    [Id(13)] public Provenanced<int?>? Minute { get; set; }
    [Id(14)] public string? MinuteText { get; set; }

    /// <summary>The phase the minute high-water mark belongs to, and that mark (uncapped).</summary>
    [Id(15)] public int MinutePhase { get; set; }
    [Id(16)] public int MinuteHighWater { get; set; }

    /// <summary>When the match was first seen in its current phase (observation time, ms).</summary>
    [Id(17)] public long? PhaseEnteredAtMs { get; set; }

    /// <summary>A minute carried by an update (admin), used when the phase kick-off is unknown.</summary>
    [Id(18)] public Provenanced<int>? CarriedMinute { get; set; }

    /// <summary>A lower status seen but not yet confirmed.</summary>
    [Id(19)] public RegressionCandidate? Regression { get; set; }

    /// <summary>The watchdog is asked for a re-poll (unconfirmed regression).</summary>
    [Id(20)] public bool RepollRequested { get; set; }

    /// <summary>The fencing epoch of the activation that last saved this state.</summary>
    [Id(22)] public long FenceToken { get; set; }

    /// <summary>The last observation (ms) of the match not started (status 1, or 9 "delay" before it ever ran): the first-half estimate's floor.</summary>
    [Id(40)] public long? LastNotStartedMs { get; set; }

    /// <summary>What the minute high-water mark was counted from, and its key (start in unix s, or a carried minute's observation time).</summary>
    [Id(41)] public MinuteBasis MinuteBasis { get; set; }
    [Id(42)] public long MinuteBasisKey { get; set; }
}

/// <summary>A status regression seen in fresh snapshots, waiting for confirmation.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.RegressionCandidate")]
public sealed record RegressionCandidate(
    [property: Id(0)] int Status,
    [property: Id(1)] long FirstSeenMs,
    [property: Id(2)] long LastSeenMs);

/// <summary>Folding one state into another, register by register (the newer observation wins).</summary>
public static class MatchStateFold
{
    /// <summary>
    /// Brings into <paramref name="target"/> whatever <paramref name="other"/> knows that is newer:
    /// used when a grain reloads stored state while it holds accepted updates in memory.
    /// </summary>
    public static void Into(MatchState target, MatchState other)
    {
        target.Status = Newer(target.Status, other.Status);
        target.HomeScore = Newer(target.HomeScore, other.HomeScore);
        target.AwayScore = Newer(target.AwayScore, other.AwayScore);
        target.HomeScores = Newer(target.HomeScores, other.HomeScores);
        target.AwayScores = Newer(target.AwayScores, other.AwayScores);
        target.MatchTime = Newer(target.MatchTime, other.MatchTime);
        target.CompetitionId = Newer(target.CompetitionId, other.CompetitionId);
        target.HomeTeamId = Newer(target.HomeTeamId, other.HomeTeamId);
        target.AwayTeamId = Newer(target.AwayTeamId, other.AwayTeamId);
        target.CarriedMinute = Newer(target.CarriedMinute, other.CarriedMinute);
        target.FirstHalfKickoff ??= other.FirstHalfKickoff;
        target.SecondHalfKickoff ??= other.SecondHalfKickoff;
        target.OvertimeKickoff ??= other.OvertimeKickoff;
        if (other.ProviderUpdateTime > (target.ProviderUpdateTime ?? long.MinValue)) target.ProviderUpdateTime = other.ProviderUpdateTime;
        if (target.Regression is null && other.Regression is not null && other.Regression.Status != target.Status?.Value) target.Regression = other.Regression;
        target.RepollRequested |= other.RepollRequested;
        if (ReferenceEquals(target.Status, other.Status)) target.PhaseEnteredAtMs = other.PhaseEnteredAtMs;
        if (other.LastNotStartedMs > (target.LastNotStartedMs ?? long.MinValue)) target.LastNotStartedMs = other.LastNotStartedMs;
        if (other.MinuteBasis != MinuteBasis.None && (target.Minute is null || other.Minute?.ObservedAtMs >= target.Minute.ObservedAtMs))
        {
            // The minute's basis belongs with the mark it was counted for: both from the newer minute.
            (target.MinutePhase, target.MinuteHighWater) = (other.MinutePhase, other.MinuteHighWater);
            (target.MinuteBasis, target.MinuteBasisKey) = (other.MinuteBasis, other.MinuteBasisKey);
        }
    }

    private static Provenanced<T>? Newer<T>(Provenanced<T>? a, Provenanced<T>? b) =>
        b is null ? a : a is null || b.ObservedAtMs > a.ObservedAtMs ? b : a;
}

/// <summary>What grain state holds that the ts_matches row does not: only these make a state save necessary.</summary>
public sealed record MatchStateExtras(RegressionCandidate? Regression, Provenanced<int>? CarriedMinute, long? PhaseEnteredAtMs, bool RepollRequested,
    long? LastNotStartedMs = null, MinuteBasis MinuteBasis = MinuteBasis.None, long MinuteBasisKey = 0)
{
    /// <summary>
    /// The phase entry time counts only while the phase's kick-off is unknown (it is what the minute is
    /// then estimated from): otherwise every match's first update would cost a state save.
    /// </summary>
    public static MatchStateExtras Of(MatchState s) => new(s.Regression, s.CarriedMinute,
        PhaseKickoffKnown(s) ? null : s.PhaseEnteredAtMs, s.RepollRequested,
        NotStartedFloorCounts(s) ? s.LastNotStartedMs : null,
        PhaseKickoffKnown(s) ? MinuteBasis.None : s.MinuteBasis,
        PhaseKickoffKnown(s) ? 0 : s.MinuteBasisKey);

    /// <summary>
    /// The last not-started sighting matters only until the first half's kick-off is known, and only
    /// when it is later than the schedule (else the estimate starts at <c>match_time</c> anyway):
    /// a save for every not-started match polled would cost a state write per poll.
    /// </summary>
    private static bool NotStartedFloorCounts(MatchState s) =>
        s.FirstHalfKickoff is null && s.LastNotStartedMs is long seen && (s.MatchTime is null || seen / 1000 > s.MatchTime.Value);

    private static bool PhaseKickoffKnown(MatchState s) => s.Status?.Value switch
    {
        2 => s.FirstHalfKickoff is not null,
        4 => s.SecondHalfKickoff is not null,
        5 or 6 => s.OvertimeKickoff is not null,
        _ => true, // no other phase estimates its minute from the entry time
    };
}
