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

    /// <summary>
    /// The last few provider times this state took, each with the earliest observation that brought it, as pairs
    /// <c>[time, seenAtMs, …]</c> in ascending time (<see cref="ProviderTimes"/>). A replayed update older by provider time
    /// is decided field by field only when it was observed before every snapshot newer than it (FieldMerge.Apply). Not a
    /// reason to save the state: it is saved with what is.
    /// </summary>
    [Id(72)] public long[]? ProviderTimesSeen { get; set; }

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

    /// <summary>The status was reached by a confirmed regression or an admin value (the database's guard lets it move backwards).</summary>
    [Id(50)] public bool StatusConfirmed { get; set; }

    /// <summary>A lower home score polled soon after a push (a lagging snapshot?), waiting for confirmation.</summary>
    [Id(30)] public ScoreDropCandidate? HomeScoreDrop { get; set; }

    [Id(31)] public ScoreDropCandidate? AwayScoreDrop { get; set; }

    /// <summary>The last push of the home score's value (and the value it replaced), kept while polls only confirm it.</summary>
    [Id(32)] public ScorePush? HomeScorePush { get; set; }

    [Id(33)] public ScorePush? AwayScorePush { get; set; }

    /// <summary>The home score register written by a confirmed lagging-snapshot drop, kept while its value stands.</summary>
    [Id(34)] public Provenanced<int>? HomeScoreConfirmedDrop { get; set; }

    [Id(35)] public Provenanced<int>? AwayScoreConfirmedDrop { get; set; }

    /// <summary>Whether the stored home score's value was set by a lagging-snapshot drop confirmed by two polls.</summary>
    public bool HomeScoreDropConfirmed => IsConfirmedDrop(HomeScore, HomeScoreConfirmedDrop);

    public bool AwayScoreDropConfirmed => IsConfirmedDrop(AwayScore, AwayScoreConfirmedDrop);

    private static bool IsConfirmedDrop(Provenanced<int>? score, Provenanced<int>? confirmed) =>
        score is not null && confirmed is not null && score.Value == confirmed.Value && score.ObservedAtMs >= confirmed.ObservedAtMs;

    /// <summary>The last observation (ms) of the match not started (status 1, or 9 "delay" before it ever ran): the first-half estimate's floor.</summary>
    [Id(40)] public long? LastNotStartedMs { get; set; }

    /// <summary>What the minute high-water mark was counted from, and its key (start in unix s, or a carried minute's observation time).</summary>
    [Id(41)] public MinuteBasis MinuteBasis { get; set; }
    [Id(42)] public long MinuteBasisKey { get; set; }

    /// <summary>Unix seconds since the watchdog found this live match gone from the provider; null: fresh (also a ts_matches column).</summary>
    [Id(60)] public long? StaleSince { get; set; }

    /// <summary>
    /// When (observation time, ms) the provider last showed a change of the match: a newer provider_update_time or a
    /// changed value (null: not seen since activation). Unchanged re-listings leave it: the watchdog's stale test.
    /// </summary>
    [Id(61)] public long? LastProviderChangeMs { get; set; }
}

/// <summary>
/// A push that showed a side's score <paramref name="Value"/> at <paramref name="AtMs"/>, and the value the
/// last push that changed it replaced (null when a poll, not a push, set the value before).
/// </summary>
[GenerateSerializer, Immutable, Alias("goalgpt.ScorePush")]
public sealed record ScorePush(
    [property: Id(0)] int Value,
    [property: Id(1)] int? Replaced,
    [property: Id(2)] long AtMs);

/// <summary>A score seen in fresh polls soon after a push and held as a lagging snapshot, waiting for confirmation (rule 1).</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.ScoreDropCandidate")]
public sealed record ScoreDropCandidate(
    [property: Id(0)] int Score,
    [property: Id(1)] long FirstSeenMs,
    [property: Id(2)] long LastSeenMs);

/// <summary>A status regression seen in fresh snapshots, waiting for confirmation.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.RegressionCandidate")]
public sealed record RegressionCandidate(
    [property: Id(0)] int Status,
    [property: Id(1)] long FirstSeenMs,
    [property: Id(2)] long LastSeenMs);

/// <summary>What grain state holds that the ts_matches row does not: only these make a state save necessary.</summary>
public sealed record MatchStateExtras(RegressionCandidate? Regression, Provenanced<int>? CarriedMinute, long? PhaseEnteredAtMs, bool RepollRequested,
    ScoreDropCandidate? HomeScoreDrop = null, ScoreDropCandidate? AwayScoreDrop = null,
    Provenanced<int>? HomeScoreConfirmedDrop = null, Provenanced<int>? AwayScoreConfirmedDrop = null,
    long? LastNotStartedMs = null, MinuteBasis MinuteBasis = MinuteBasis.None, long MinuteBasisKey = 0)
{
    /// <summary>
    /// The push times of the scores are left out: every push would cost a state save, and a row folded
    /// in after a reactivation tells the last push whenever push wrote the score last.
    /// The phase entry time counts only while the phase's kick-off is unknown (it is what the minute is
    /// then estimated from): otherwise every match's first update would cost a state save.
    /// </summary>
    public static MatchStateExtras Of(MatchState s) => new(s.Regression, s.CarriedMinute,
        PhaseKickoffKnown(s) ? null : s.PhaseEnteredAtMs, s.RepollRequested,
        s.HomeScoreDrop, s.AwayScoreDrop, s.HomeScoreConfirmedDrop, s.AwayScoreConfirmedDrop,
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
