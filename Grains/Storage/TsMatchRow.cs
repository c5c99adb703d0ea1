using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>One row of <c>ts_matches</c>, as the grain writes it and reads it back.</summary>
public sealed record TsMatchRow
{
    public required string ExternalId { get; init; }
    public string? CompetitionId { get; init; }
    public string? HomeTeamId { get; init; }
    public string? AwayTeamId { get; init; }
    public long? MatchTime { get; init; }
    public long? MetadataTimestamp { get; init; }
    public int? StatusId { get; init; }
    public string? StatusSource { get; init; }
    public long? StatusTimestamp { get; init; }
    public int? HomeScore { get; init; }
    public string? HomeScoreSource { get; init; }
    public long? HomeScoreTimestamp { get; init; }
    public int? AwayScore { get; init; }
    public string? AwayScoreSource { get; init; }
    public long? AwayScoreTimestamp { get; init; }
    public int[]? HomeScores { get; init; }
    public int[]? AwayScores { get; init; }
    public int? HomePenaltyScore { get; init; }
    public int? AwayPenaltyScore { get; init; }
    public long? RawScoresTimestamp { get; init; }
    public int? Minute { get; init; }
    public string? MinuteText { get; init; }
    public string? MinuteSource { get; init; }
    public long? MinuteTimestamp { get; init; }
    public long? FirstHalfKickoffTs { get; init; }
    public string? FirstHalfKickoffSource { get; init; }
    public long? SecondHalfKickoffTs { get; init; }
    public string? SecondHalfKickoffSource { get; init; }
    public long? OvertimeKickoffTs { get; init; }
    public string? OvertimeKickoffSource { get; init; }
    public long? ProviderUpdateTime { get; init; }

    /// <summary>
    /// The earliest observation of provider time <see cref="ProviderUpdateSeenTime"/>, as the writer knew it (null: not known).
    /// Folded in while that is still <see cref="ProviderUpdateTime"/> (a silo of an earlier version moves the provider time
    /// without these two), it places the row's provider time for a replay older by provider time (<see cref="ProviderTimes.FirstSeenAfter"/>).
    /// </summary>
    public long? ProviderUpdateSeenMs { get; init; }

    /// <summary>The provider time <see cref="ProviderUpdateSeenMs"/> belongs to.</summary>
    public long? ProviderUpdateSeenTime { get; init; }
    public long? FirstHalfKickoffTimestamp { get; init; }
    public long? SecondHalfKickoffTimestamp { get; init; }
    public long? OvertimeKickoffTimestamp { get; init; }

    /// <summary>The status was reached by a confirmed regression (or is an admin value): the database lets it move backwards.</summary>
    public bool StatusConfirmed { get; init; }

    /// <summary>Read only: a stored raw score array was unusable (a legacy row with nulls or the wrong length) and was left out.</summary>
    public bool RawArraysDiscarded { get; init; }

    /// <summary>The writer's fencing epoch; the database refuses the row when a newer one was issued.</summary>
    public long? FenceToken { get; init; }

    /// <summary>
    /// The home score's value was set by a lower polled score that rule 1 held as a lagging snapshot
    /// and two polls 10 s apart confirmed: the database may let it land within 30 s of a pushed one.
    /// </summary>
    public bool HomeScoreDropConfirmed { get; init; }

    public bool AwayScoreDropConfirmed { get; init; }

    /// <summary>Unix seconds since the watchdog found the live match gone from the provider (null: fresh).</summary>
    public long? StaleSince { get; init; }

    /// <summary>
    /// A hash of every value and source, observation times left out: two rows with the same hash
    /// differ (but for a hash collision) at most in observation times, a poll that confirmed what was known.
    /// </summary>
    public int ValuesHash()
    {
        var values = this with
        {
            MetadataTimestamp = null, StatusTimestamp = null, HomeScoreTimestamp = null, AwayScoreTimestamp = null,
            RawScoresTimestamp = null, MinuteTimestamp = null, HomeScores = null, AwayScores = null,
        };
        var h = new HashCode();
        h.Add(values);
        foreach (var v in HomeScores ?? []) h.Add(v);
        h.Add(HomeScores?.Length ?? -1);
        foreach (var v in AwayScores ?? []) h.Add(v);
        h.Add(AwayScores?.Length ?? -1);
        return h.ToHashCode();
    }


    /// <summary>The row that represents <paramref name="s"/>.</summary>
    public static TsMatchRow From(string externalId, MatchState s, long? fenceToken = null)
    {
        // When the stored provider time was first observed, if this state knows: written with the time it belongs to.
        var seen = s.ProviderUpdateTime is long put ? ProviderTimes.SeenAt(s, put) : null;
        return new()
        {
            ExternalId = externalId,
            FenceToken = fenceToken,
            CompetitionId = s.CompetitionId?.Value,
            HomeTeamId = s.HomeTeamId?.Value,
            AwayTeamId = s.AwayTeamId?.Value,
            MatchTime = s.MatchTime?.Value,
            MetadataTimestamp = Max(s.CompetitionId?.ObservedAtMs, s.HomeTeamId?.ObservedAtMs, s.AwayTeamId?.ObservedAtMs, s.MatchTime?.ObservedAtMs),
            StatusId = s.Status?.Value,
            StatusSource = s.Status?.Source.ToWire(),
            StatusTimestamp = s.Status?.ObservedAtMs,
            HomeScore = s.HomeScore?.Value,
            HomeScoreSource = s.HomeScore?.Source.ToWire(),
            HomeScoreTimestamp = s.HomeScore?.ObservedAtMs,
            AwayScore = s.AwayScore?.Value,
            AwayScoreSource = s.AwayScore?.Source.ToWire(),
            AwayScoreTimestamp = s.AwayScore?.ObservedAtMs,
            HomeScores = s.HomeScores?.Value,
            AwayScores = s.AwayScores?.Value,
            HomePenaltyScore = s.HomeScores?.Value[6],
            AwayPenaltyScore = s.AwayScores?.Value[6],
            RawScoresTimestamp = Max(s.HomeScores?.ObservedAtMs, s.AwayScores?.ObservedAtMs),
            Minute = s.Minute?.Value,
            MinuteText = s.MinuteText,
            MinuteSource = s.Minute?.Source.ToWire(),
            MinuteTimestamp = s.Minute?.ObservedAtMs,
            FirstHalfKickoffTs = s.FirstHalfKickoff?.Value,
            FirstHalfKickoffSource = s.FirstHalfKickoff?.Source.ToWire(),
            SecondHalfKickoffTs = s.SecondHalfKickoff?.Value,
            SecondHalfKickoffSource = s.SecondHalfKickoff?.Source.ToWire(),
            OvertimeKickoffTs = s.OvertimeKickoff?.Value,
            OvertimeKickoffSource = s.OvertimeKickoff?.Source.ToWire(),
            FirstHalfKickoffTimestamp = s.FirstHalfKickoff?.ObservedAtMs,
            SecondHalfKickoffTimestamp = s.SecondHalfKickoff?.ObservedAtMs,
            OvertimeKickoffTimestamp = s.OvertimeKickoff?.ObservedAtMs,
            StatusConfirmed = s.StatusConfirmed,
            ProviderUpdateTime = s.ProviderUpdateTime,
            ProviderUpdateSeenMs = seen,
            ProviderUpdateSeenTime = seen is null ? null : s.ProviderUpdateTime,
            // The database's rule-1 guard compares a lower polled score with the row, which may be several grain decisions
            // behind (the write-behind writes the newest state, not each step: a push of the lower score, then a poll
            // repeating it, arrive as one row whose score is the poll's). Every score the grain holds passed rule 1 against
            // everything it saw, so its rows mark the score decided; the guard still stops writers that do not decide by
            // the rules (the original system's jobs, tools), whose rows leave the mark false.
            HomeScoreDropConfirmed = s.HomeScore is not null,
            AwayScoreDropConfirmed = s.AwayScore is not null,
            StaleSince = s.StaleSince,
        };
    }

    /// <summary>
    /// Folds this row into <paramref name="s"/>: a register takes the row's value where the row's
    /// observation is newer (a flush that landed after the grain state was last saved, or a row the
    /// old system wrote). Rows without provenance count as observed at time 0 by the API.
    /// </summary>
    public void MergeInto(MatchState s)
    {
        // On an exact tie of time the source of higher priority is the newer, as in the grain and the upsert.
        static Provenanced<T>? Pick<T>(Provenanced<T>? current, T value, string? source, long? ts, Func<UpdateSource, int>? priority = null)
        {
            var observed = ts ?? 0;
            UpdateSourceNames.TryParse(source, out var src);
            if (current is not null && (current.ObservedAtMs > observed
                || (current.ObservedAtMs == observed && (priority is null || priority(src) <= priority(current.Source))))) return current;
            return new Provenanced<T>(value, src, observed);
        }

        static Provenanced<T>? Newer<T>(Provenanced<T>? current, T? value, string? source, long? ts, Func<UpdateSource, int>? priority = null)
            where T : struct => value is T v ? Pick(current, v, source, ts, priority) : current;

        static Provenanced<T>? NewerRef<T>(Provenanced<T>? current, T? value, string? source, long? ts)
            where T : class => value is not null ? Pick(current, value, source, ts) : current;

        var status = Newer(s.Status, StatusId, StatusSource, StatusTimestamp, SourcePriority.ForStatus);
        if (!ReferenceEquals(status, s.Status))
        {
            // A newer status was written after the state was saved: as when the grain sets a status, a
            // regression candidate seen before it is void (else one more snapshot could "confirm" it).
            s.StatusConfirmed = StatusConfirmed;
            if (s.Regression is { } candidate && candidate.FirstSeenMs <= (StatusTimestamp ?? 0)) s.Regression = null;
        }

        s.Status = status;
        // The row's drop marks are not read back: every row the grain writes carries them (see From).
        s.HomeScore = Newer(s.HomeScore, HomeScore, HomeScoreSource, HomeScoreTimestamp, SourcePriority.ForScore);
        s.AwayScore = Newer(s.AwayScore, AwayScore, AwayScoreSource, AwayScoreTimestamp, SourcePriority.ForScore);
        s.HomeScores = NewerRef(s.HomeScores, HomeScores, "api", RawScoresTimestamp);
        s.AwayScores = NewerRef(s.AwayScores, AwayScores, "api", RawScoresTimestamp);
        s.MatchTime = Newer(s.MatchTime, MatchTime, "api", MetadataTimestamp);
        s.CompetitionId = NewerRef(s.CompetitionId, CompetitionId, "api", MetadataTimestamp);
        s.HomeTeamId = NewerRef(s.HomeTeamId, HomeTeamId, "api", MetadataTimestamp);
        s.AwayTeamId = NewerRef(s.AwayTeamId, AwayTeamId, "api", MetadataTimestamp);
        s.FirstHalfKickoff = KickoffRegister.Merge(s.FirstHalfKickoff, Kickoff(FirstHalfKickoffTs, FirstHalfKickoffSource, FirstHalfKickoffTimestamp));
        s.SecondHalfKickoff = KickoffRegister.Merge(s.SecondHalfKickoff, Kickoff(SecondHalfKickoffTs, SecondHalfKickoffSource, SecondHalfKickoffTimestamp));
        s.OvertimeKickoff = KickoffRegister.Merge(s.OvertimeKickoff, Kickoff(OvertimeKickoffTs, OvertimeKickoffSource, OvertimeKickoffTimestamp));
        if (ProviderUpdateTime is long put && (s.ProviderUpdateTime is null || put > s.ProviderUpdateTime))
        {
            s.ProviderUpdateTime = put;
        }

        // With it, when that snapshot was first observed: a replay older by provider time is then decided by whether it was
        // observed before that snapshot, instead of being superseded as a whole for want of knowing.
        if (ProviderUpdateTime is long taken && taken == s.ProviderUpdateTime && ProviderUpdateSeenTime == taken && ProviderUpdateSeenMs is long seen)
        {
            ProviderTimes.Seen(s, taken, seen);
        }

        // The row is written within a flush of every change of the flag, grain state only every minute: the row's is the newer.
        s.StaleSince = StaleSince;

        if (MinuteTimestamp is long mts && (s.Minute is null || mts > s.Minute.ObservedAtMs))
        {
            UpdateSourceNames.TryParse(MinuteSource, out var src);
            s.Minute = new Provenanced<int?>(Minute, MinuteSource is null ? UpdateSource.Computed : src, mts);
            s.MinuteText = MinuteText;
            if (Minute is int m && StatusId is int st)
            {
                s.MinutePhase = st;
                s.MinuteHighWater = Math.Max(s.MinuteHighWater, m);
            }
        }
    }

    private static Provenanced<long>? Kickoff(long? value, string? source, long? observedAtMs)
    {
        if (value is not long v) return null;
        UpdateSourceNames.TryParse(source, out var src);
        return new Provenanced<long>(v, src, observedAtMs ?? 0);
    }

    private static long? Max(params long?[] values)
    {
        long? max = null;
        foreach (var v in values)
        {
            if (v is long x && (max is null || x > max)) max = x;
        }

        return max;
    }
}
