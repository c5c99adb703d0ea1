using System.Collections.Immutable;

namespace Orleans.GoalGpt.Simulator.Model;

/// <summary>An incident as the provider lists it (informational).</summary>
public sealed record Incident(int Type, int Position, int Time, long Ts, int VarResult = 0, int AddTime = 0);

/// <summary>What a match really is from <see cref="UpdatedAt"/> on, until its next state.</summary>
public sealed record MatchTruth(
    int StatusId,
    ImmutableArray<int> Home,
    ImmutableArray<int> Away,
    long? FirstHalfKickoff,
    long? SecondHalfKickoff,
    long? OvertimeKickoff,
    long UpdatedAt,
    ImmutableList<Incident> Incidents,
    int VarCancellations)
{
    public int HomeScore => Home[5] > 0 ? Home[5] : Home[0];

    public int AwayScore => Away[5] > 0 ? Away[5] : Away[0];

    /// <summary>The kick-off of the phase named by the status (the score array's <c>phase_kickoff_ts</c>); 0 when none.</summary>
    public long PhaseKickoff => StatusId switch
    {
        2 => FirstHalfKickoff ?? 0,
        4 => SecondHalfKickoff ?? 0,
        5 => OvertimeKickoff ?? 0,
        _ => 0,
    };

    public bool IsLive => StatusId is 2 or 3 or 4 or 5 or 7;

    /// <summary>The minute at <paramref name="now"/> by the domain rules (kick-off times known).</summary>
    public (int? Minute, string? Text) MinuteAt(long now)
    {
        (int? Minute, string? Text) Clamp(long kickoff, int offset, int cap)
        {
            var raw = (int)(Math.Max(0, now - kickoff) / 60) + offset;
            return raw > cap ? (cap, $"{cap}+{raw - cap}") : (raw, raw.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return StatusId switch
        {
            2 => Clamp(FirstHalfKickoff!.Value, 1, 45),
            3 => (45, "HT"),
            4 => Clamp(SecondHalfKickoff!.Value, 46, 90),
            5 => Clamp(OvertimeKickoff!.Value, 91, 120),
            7 => (120, "PEN"),
            8 => (null, "FT"),
            _ => (null, null),
        };
    }
}

/// <summary>One match's whole life, generated from a seed: metadata and its states in time order.</summary>
public sealed class MatchScript
{
    private readonly long[] _times;
    private readonly MatchTruth[] _states;

    public MatchScript(string id, string competitionId, string homeTeamId, string awayTeamId, long matchTime, IReadOnlyList<(long Ts, MatchTruth State)> timeline)
    {
        Id = id;
        CompetitionId = competitionId;
        HomeTeamId = homeTeamId;
        AwayTeamId = awayTeamId;
        MatchTime = matchTime;
        _times = timeline.Select(t => t.Ts).ToArray();
        _states = timeline.Select(t => t.State).ToArray();
        EndedAt = timeline.FirstOrDefault(t => t.State.StatusId == 8).Ts;
    }

    public string Id { get; }
    public string CompetitionId { get; }
    public string HomeTeamId { get; }
    public string AwayTeamId { get; }

    /// <summary>Scheduled kick-off (unix s).</summary>
    public long MatchTime { get; }

    /// <summary>When the provider first lists the match.</summary>
    public long CreatedAt => _times[0];

    /// <summary>When it ended (status 8); 0 if never.</summary>
    public long EndedAt { get; }

    public IReadOnlyList<MatchTruth> States => _states;

    /// <summary>The index of the state at <paramref name="t"/>; -1 before the match is listed.</summary>
    public int IndexAt(long t)
    {
        var i = Array.BinarySearch(_times, t);
        if (i < 0) i = ~i - 1;
        else while (i + 1 < _times.Length && _times[i + 1] == t) i++;
        return i;
    }

    public MatchTruth? StateAt(long t) => IndexAt(t) is var i and >= 0 ? _states[i] : null;

    /// <summary>The real VAR cancellations of the script, in time order: a displayed score that goes down.</summary>
    public IEnumerable<VarCancellation> VarCancellations()
    {
        for (var i = 1; i < _states.Length; i++)
        {
            var (before, after) = (_states[i - 1], _states[i]);
            if (after.VarCancellations == before.VarCancellations) continue;
            if (after.HomeScore < before.HomeScore) yield return new(Id, "home", _times[i], before.HomeScore, after.HomeScore);
            if (after.AwayScore < before.AwayScore) yield return new(Id, "away", _times[i], before.AwayScore, after.AwayScore);
        }
    }
}

/// <summary>A goal cancelled by VAR: the side's displayed score went from <see cref="From"/> to <see cref="To"/> at <see cref="At"/> (unix s).</summary>
public sealed record VarCancellation(string Id, string Side, long At, int From, int To);
