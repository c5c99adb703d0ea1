using System.Globalization;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>What a running phase's minute is counted from (domain rules, rule 4); higher is more trustworthy.</summary>
public enum MinuteBasis
{
    /// <summary>Not known (a fresh state, or one saved before the basis was kept).</summary>
    None = 0,

    /// <summary>Estimated from the moment the match was first seen in the phase.</summary>
    PhaseEntry = 1,

    /// <summary>Estimated from the schedule: <c>match_time</c>, first half + 60 min, second half + 50 min.</summary>
    Estimate = 2,

    /// <summary>A minute carried by an update (an admin's), for 120 s.</summary>
    Carried = 3,

    /// <summary>The phase's real kick-off.</summary>
    Kickoff = 4,

    /// <summary>Half-time and penalties: a fixed minute (45, 120).</summary>
    Fixed = 5,
}

/// <summary>
/// Derives <c>minute</c> and <c>minute_text</c> from status and kick-off times (domain rules,
/// rule 4). Never NULL for a live match. Within a phase the minute never goes backwards while its
/// basis stays the same; when the phase's real kick-off becomes known (or an admin corrects it, or
/// carries a new minute) it is recomputed from that at once, lower or not, and the correction is
/// reported.
/// </summary>
public static class MinuteClock
{
    /// <summary>How long a minute carried by an update is used when the kick-off is unknown.</summary>
    public const long CarriedMinuteValidityMs = 120_000;

    /// <summary>Recomputes the minute at <paramref name="nowMs"/>; true when value, text or source changed.</summary>
    public static bool Recompute(MatchState state, long nowMs) => Recompute(state, nowMs, out _);

    /// <summary>
    /// Recomputes the minute at <paramref name="nowMs"/>; true when value, text or source changed.
    /// <paramref name="corrected"/> is set when a new kick-off (or carried minute) moved the minute off
    /// what the previous basis would show now: the <c>minute_corrected</c> event.
    /// </summary>
    public static bool Recompute(MatchState state, long nowMs, out MinuteCorrected? corrected)
    {
        corrected = null;
        var c = Compute(state, nowMs);
        var status = state.Status?.Value ?? -1;

        if (c.Minute is not null && state.MinutePhase == status)
        {
            var switched = IsAuthoritative(c.Basis) && (c.Basis != state.MinuteBasis || c.BasisKey != state.MinuteBasisKey);
            if (!switched)
            {
                if (c.Raw < state.MinuteHighWater) return false; // the same basis (or a weaker one): never backwards
            }
            else
            {
                // What the previous basis shows now. Unknown (a state saved before it was kept): only a
                // move down is certainly a correction; up may be the time passed since the last write.
                var shown = state.MinuteBasis == MinuteBasis.None
                    ? state.MinuteHighWater
                    : Math.Max(state.MinuteHighWater, PreviousBasisNow(state, nowMs, c.First));
                if (c.Raw != shown && (state.MinuteBasis != MinuteBasis.None || c.Raw < shown))
                {
                    corrected = new MinuteCorrected(status, shown, c.Raw, c.Basis);
                }
            }
        }

        if (c.Minute is not null)
        {
            state.MinutePhase = status;
            state.MinuteHighWater = c.Raw;
            state.MinuteBasis = c.Basis;
            state.MinuteBasisKey = c.BasisKey;
        }
        else
        {
            state.MinutePhase = -1;
            state.MinuteHighWater = 0;
            state.MinuteBasis = MinuteBasis.None;
            state.MinuteBasisKey = 0;
        }

        var current = state.Minute;
        if (current is not null && current.Value == c.Minute && current.Source == c.Source && state.MinuteText == c.Text)
        {
            return false;
        }

        // A match never seen live has no minute at all: no register, nothing to write.
        if (current is null && c.Minute is null && c.Text is null)
        {
            return false;
        }

        state.Minute = new(c.Minute, c.Source, nowMs);
        state.MinuteText = c.Text;
        return true;
    }

    /// <summary>
    /// The minute, its text and source; the uncapped minute (for the high-water mark); what it is
    /// counted from (<see cref="MinuteBasis"/> and its key: the start in unix s, or the carried
    /// minute's observation time) and the phase's first minute.
    /// </summary>
    public static MinuteReading Compute(MatchState state, long nowMs)
    {
        var status = state.Status?.Value;
        return status switch
        {
            MatchPhases.FirstHalf => Running(state, nowMs, state.FirstHalfKickoff?.Value, EstimateFirstHalf(state), NotStartedFloor(state), 1, 45),
            MatchPhases.HalfTime => Fixed(45, "HT"),
            MatchPhases.SecondHalf => Running(state, nowMs, state.SecondHalfKickoff?.Value, state.FirstHalfKickoff?.Value + 60 * 60, null, 46, 90),
            MatchPhases.Overtime => Running(state, nowMs, state.OvertimeKickoff?.Value, state.SecondHalfKickoff?.Value + 50 * 60, null, 91, 120),
            MatchPhases.Penalties => Fixed(120, "PEN"),
            MatchPhases.End => new(null, "FT", UpdateSource.Computed, 0, MinuteBasis.None, 0, 0),
            _ => new(null, null, UpdateSource.Computed, 0, MinuteBasis.None, 0, 0),
        };
    }

    /// <summary>A new kick-off or carried minute replaces what was shown, lower or not; estimates only ever move it on.</summary>
    private static bool IsAuthoritative(MinuteBasis basis) => basis is MinuteBasis.Kickoff or MinuteBasis.Carried;

    private static MinuteReading Fixed(int minute, string text) =>
        new(minute, text, UpdateSource.Computed, minute, MinuteBasis.Fixed, 0, minute);

    private static long? EstimateFirstHalf(MatchState state) => state.MatchTime?.Value;

    /// <summary>
    /// The last moment the match was seen not started (unix s): its first half cannot have begun
    /// before, so an estimate never starts earlier (a late kick-off shows no minute it has not reached).
    /// </summary>
    private static long? NotStartedFloor(MatchState state) => state.LastNotStartedMs / 1000;

    private static int PreviousBasisNow(MatchState state, long nowMs, int first) => state.MinuteBasis switch
    {
        MinuteBasis.Carried or MinuteBasis.Fixed => state.MinuteHighWater, // a carried minute stands still
        _ => FromStart(nowMs, state.MinuteBasisKey, first),
    };

    private static MinuteReading Running(MatchState state, long nowMs, long? kickoff, long? estimate, long? floor, int first, int cap)
    {
        var source = UpdateSource.Computed;
        int raw;
        MinuteBasis basis;
        long key;
        if (kickoff is long k)
        {
            (raw, basis, key) = (FromStart(nowMs, k, first), MinuteBasis.Kickoff, k);
        }
        else if (state.CarriedMinute is { } carried && nowMs - carried.ObservedAtMs <= CarriedMinuteValidityMs)
        {
            (raw, basis, key) = (Math.Max(first, carried.Value), MinuteBasis.Carried, carried.ObservedAtMs);
            source = carried.Source;
        }
        else
        {
            basis = estimate is null ? MinuteBasis.PhaseEntry : MinuteBasis.Estimate;
            var start = estimate ?? (state.PhaseEnteredAtMs ?? nowMs) / 1000;
            if (floor > start) start = floor.Value;
            (raw, key) = (FromStart(nowMs, start, first), start);
        }

        var minute = Math.Min(raw, cap);
        var text = Text(minute, raw, cap);
        return new(minute, text, source, raw, basis, key, first);
    }

    // Every match shows the same few texts: one string each, not one per match and per tick (memory per match: issue 13).
    private static readonly string[] Plain = Enumerable.Range(0, 151).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int Cap, int Added), string> AddedTime = new();

    private static string Text(int minute, int raw, int cap)
    {
        if (raw <= cap) return minute >= 0 && minute < Plain.Length ? Plain[minute] : minute.ToString(CultureInfo.InvariantCulture);
        var added = raw - cap;
        return added <= 60 && cap <= 150
            ? AddedTime.GetOrAdd((cap, added), k => string.Create(CultureInfo.InvariantCulture, $"{k.Cap}+{k.Added}"))
            : string.Create(CultureInfo.InvariantCulture, $"{cap}+{added}");
    }

    private static int FromStart(long nowMs, long startS, int first)
    {
        var elapsed = nowMs / 1000 - startS;
        return elapsed <= 0 ? first : (int)Math.Min(elapsed / 60 + first, 10_000);
    }
}

/// <summary>One reading of the minute clock (see <see cref="MinuteClock.Compute"/>).</summary>
public readonly record struct MinuteReading(int? Minute, string? Text, UpdateSource Source, int Raw, MinuteBasis Basis, long BasisKey, int First);
