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
    /// <remarks>On every update with a provider time: in place, one array per match ([time, seenAtMs] pairs ascending, unused
    /// pairs at the front as <see cref="long.MinValue"/>), no allocation after the first.</remarks>
    public static void Seen(MatchState state, long time, long seenAtMs)
    {
        var pairs = state.ProviderTimesSeen;
        if (pairs is not { Length: Kept * 2 })
        {
            pairs = new long[Kept * 2];
            Array.Fill(pairs, long.MinValue);
            state.ProviderTimesSeen = pairs;
        }

        for (var i = 0; i < pairs.Length; i += 2)
        {
            if (pairs[i] != time) continue;
            if (seenAtMs < pairs[i + 1]) pairs[i + 1] = seenAtMs;
            return;
        }

        // Insert in order: shift the lower ones one pair to the front; the lowest goes, its observation folded into the next.
        var at = 0;
        while (at < pairs.Length && pairs[at] < time) at += 2;
        if (at == 0)
        {
            // Older than every kept one while all are kept (not reached: a provider time older than the stored one is
            // refused before it is taken): its observation bounds every newer one, so it folds into the oldest kept.
            pairs[1] = Math.Min(pairs[1], seenAtMs);
            return;
        }

        if (pairs[0] != long.MinValue && pairs[2] != long.MinValue) pairs[3] = Math.Min(pairs[1], pairs[3]);
        Array.Copy(pairs, 2, pairs, 0, at - 2);
        pairs[at - 2] = time;
        pairs[at - 1] = seenAtMs;
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
            if (pairs[i] == long.MinValue) continue;
            if (pairs[i] == stored) knowsStored = true;
            if (pairs[i] > time && (first is null || pairs[i + 1] < first)) first = pairs[i + 1];
        }

        return knowsStored ? first : null;
    }
}
