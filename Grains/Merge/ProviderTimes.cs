namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>
/// <see cref="MatchState.ProviderTimesSeen"/>: the last <see cref="Kept"/> provider times a state took, each with the earliest
/// observation that brought it. Bounded: the oldest goes when a newer comes, its observation folded into the next one
/// (an earlier bound, so a replay is refused whole more often, never less).
/// </summary>
public static class ProviderTimes
{
    public const int Kept = 4;

    /// <summary>A snapshot with provider time <paramref name="time"/>, observed at <paramref name="seenAtMs"/>, was taken.</summary>
    public static void Seen(MatchState state, long time, long seenAtMs)
    {
        var pairs = state.ProviderTimesSeen ?? [];
        for (var i = 0; i < pairs.Length; i += 2)
        {
            if (pairs[i] != time) continue;
            if (seenAtMs < pairs[i + 1]) pairs[i + 1] = seenAtMs;
            return;
        }

        var list = new List<long>(pairs.Length + 2);
        var added = false;
        for (var i = 0; i < pairs.Length; i += 2)
        {
            if (!added && time < pairs[i])
            {
                list.Add(time);
                list.Add(seenAtMs);
                added = true;
            }

            list.Add(pairs[i]);
            list.Add(pairs[i + 1]);
        }

        if (!added)
        {
            list.Add(time);
            list.Add(seenAtMs);
        }

        while (list.Count > Kept * 2)
        {
            list[3] = Math.Min(list[1], list[3]);
            list.RemoveRange(0, 2);
        }

        state.ProviderTimesSeen = [.. list];
    }

    /// <summary>
    /// The earliest observation of a snapshot newer than <paramref name="time"/>; null when not known: the newest provider
    /// time <paramref name="stored"/> is not among those kept (it came from a row another owner wrote, without its state).
    /// </summary>
    public static long? FirstSeenAfter(MatchState state, long time, long stored)
    {
        if (state.ProviderTimesSeen is not { } pairs) return null;
        long? first = null;
        var knowsStored = false;
        for (var i = 0; i < pairs.Length; i += 2)
        {
            if (pairs[i] == stored) knowsStored = true;
            if (pairs[i] > time && (first is null || pairs[i + 1] < first)) first = pairs[i + 1];
        }

        return knowsStored ? first : null;
    }
}
