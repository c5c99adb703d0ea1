using System.Globalization;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>
/// Derives <c>minute</c> and <c>minute_text</c> from status and kick-off times (domain rules,
/// rule 4). Never NULL for a live match; never backwards within a phase.
/// </summary>
public static class MinuteClock
{
    /// <summary>How long a minute carried by an update is used when the kick-off is unknown.</summary>
    public const long CarriedMinuteValidityMs = 120_000;

    /// <summary>Recomputes the minute at <paramref name="nowMs"/>; true when value, text or source changed.</summary>
    public static bool Recompute(MatchState state, long nowMs)
    {
        var (minute, text, source, raw) = Compute(state, nowMs);
        var status = state.Status?.Value ?? -1;

        if (minute is not null && state.MinutePhase == status && raw < state.MinuteHighWater)
        {
            return false; // within a phase the minute never goes backwards
        }

        if (minute is not null)
        {
            state.MinutePhase = status;
            state.MinuteHighWater = raw;
        }
        else
        {
            state.MinutePhase = -1;
            state.MinuteHighWater = 0;
        }

        var current = state.Minute;
        if (current is not null && current.Value == minute && current.Source == source && state.MinuteText == text)
        {
            return false;
        }

        // A match never seen live has no minute at all: no register, nothing to write.
        if (current is null && minute is null && text is null)
        {
            return false;
        }

        state.Minute = new(minute, source, nowMs);
        state.MinuteText = text;
        return true;
    }

    /// <summary>The minute, its text and source, and the uncapped minute (for the high-water mark).</summary>
    public static (int? Minute, string? Text, UpdateSource Source, int Raw) Compute(MatchState state, long nowMs)
    {
        var status = state.Status?.Value;
        return status switch
        {
            MatchPhases.FirstHalf => Running(state, nowMs, state.FirstHalfKickoff?.Value, EstimateFirstHalf(state), 1, 45),
            MatchPhases.HalfTime => (45, "HT", UpdateSource.Computed, 45),
            MatchPhases.SecondHalf => Running(state, nowMs, state.SecondHalfKickoff?.Value, state.FirstHalfKickoff?.Value + 60 * 60, 46, 90),
            MatchPhases.Overtime => Running(state, nowMs, state.OvertimeKickoff?.Value, state.SecondHalfKickoff?.Value + 50 * 60, 91, 120),
            MatchPhases.Penalties => (120, "PEN", UpdateSource.Computed, 120),
            MatchPhases.End => (null, "FT", UpdateSource.Computed, 0),
            _ => (null, null, UpdateSource.Computed, 0),
        };
    }

    private static long? EstimateFirstHalf(MatchState state) => state.MatchTime?.Value;

    private static (int?, string?, UpdateSource, int) Running(MatchState state, long nowMs, long? kickoff, long? estimate, int first, int cap)
    {
        var source = UpdateSource.Computed;
        int raw;
        if (kickoff is long k)
        {
            raw = FromStart(nowMs, k, first);
        }
        else if (state.CarriedMinute is { } carried && nowMs - carried.ObservedAtMs <= CarriedMinuteValidityMs)
        {
            raw = Math.Max(first, carried.Value);
            source = carried.Source;
        }
        else
        {
            var start = estimate ?? (state.PhaseEnteredAtMs ?? nowMs) / 1000;
            raw = FromStart(nowMs, start, first);
        }

        var minute = Math.Min(raw, cap);
        var text = raw > cap
            ? string.Create(CultureInfo.InvariantCulture, $"{cap}+{raw - cap}")
            : minute.ToString(CultureInfo.InvariantCulture);
        return (minute, text, source, raw);
    }

    private static int FromStart(long nowMs, long startS, int first)
    {
        var elapsed = nowMs / 1000 - startS;
        return elapsed <= 0 ? first : (int)Math.Min(elapsed / 60 + first, 10_000);
    }
}
