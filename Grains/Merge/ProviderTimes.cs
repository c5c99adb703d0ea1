namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>
/// <see cref="MatchState.ProviderTimesSeen"/>: the last <see cref="Kept"/> provider times a state took, each with the earliest
/// observation that brought it. Bounded: when a newer one comes, the oldest goes, and with it what the state knew of it.
/// <para>
/// Why it goes and does not fold into the next one (as it once did): folded, the next one's observation became the oldest's,
/// so a replay between the two, observed before the next one was, counted as observed after it and was superseded as a
/// whole although no newer snapshot had been seen when it was observed (the two-clusters fault scenario lost acknowledged
/// status refreshes so, at four kept). Dropped, a replay older than every kept time is checked against the oldest kept only:
/// laxer for a lagging answer more than <see cref="Kept"/> snapshots behind, which a provider lagging by seconds does not give.
/// </para>
/// </summary>
public static class ProviderTimes
{
    public const int Kept = 16;

    /// <summary>A snapshot with provider time <paramref name="time"/>, observed at <paramref name="seenAtMs"/>, was taken.</summary>
    /// <remarks>On every update with a provider time: in place, one array per match ([time, seenAtMs] pairs ascending, unused
    /// pairs at the front as <see cref="long.MinValue"/>), no allocation after the first (a state saved with fewer pairs keeps them).</remarks>
    public static void Seen(MatchState state, long time, long seenAtMs)
    {
        var pairs = state.ProviderTimesSeen;
        if (pairs is not { Length: Kept * 2 })
        {
            var grown = new long[Kept * 2];
            Array.Fill(grown, long.MinValue);
            if (pairs is { Length: > 0 })
            {
                var keep = Math.Min(pairs.Length / 2 * 2, grown.Length);
                Array.Copy(pairs, pairs.Length / 2 * 2 - keep, grown, grown.Length - keep, keep);
            }

            state.ProviderTimesSeen = pairs = grown;
        }

        for (var i = 0; i < pairs.Length; i += 2)
        {
            if (pairs[i] != time) continue;
            if (seenAtMs < pairs[i + 1]) pairs[i + 1] = seenAtMs;
            return;
        }

        // Insert in order: shift the lower ones one pair to the front; the lowest goes.
        var at = 0;
        while (at < pairs.Length && pairs[at] < time) at += 2;
        if (at == 0) return; // older than every kept one while all are kept (not reached: an older provider time is refused before it is taken)
        Array.Copy(pairs, 2, pairs, 0, at - 2);
        pairs[at - 2] = time;
        pairs[at - 1] = seenAtMs;
    }

    /// <summary>The earliest observation kept for provider time <paramref name="time"/>; null when not kept.</summary>
    public static long? SeenAt(MatchState state, long time)
    {
        if (state.ProviderTimesSeen is not { } pairs) return null;
        for (var i = 0; i < pairs.Length; i += 2)
        {
            if (pairs[i] == time) return pairs[i + 1];
        }

        return null;
    }

    /// <summary>
    /// The earliest observation of a snapshot newer than <paramref name="time"/>; null when not known: the newest provider
    /// time <paramref name="stored"/> is not among those kept (it came from a row that does not say when it was observed).
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
