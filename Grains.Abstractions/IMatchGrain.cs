namespace Orleans.GoalGpt.Abstractions;

/// <summary>
/// The single writer of one match, keyed by the provider's <c>external_id</c>. Every write is
/// decided field by field; the result is written behind to <c>ts_matches</c>.
/// </summary>
[Alias("goalgpt.IMatchGrain")]
public interface IMatchGrain : IGrainWithStringKey
{
    /// <summary>Applies one update; answers, per field, whether it was applied or why not.</summary>
    [Alias("Apply")]
    Task<ApplyResult> Apply(MatchUpdate update);

    /// <summary>Applies several updates in order (one call for a batch from one job).</summary>
    [Alias("ApplyMany")]
    Task<IReadOnlyList<ApplyResult>> ApplyMany(IReadOnlyList<MatchUpdate> updates);

    /// <summary>
    /// Takes over updates another activation of this match acknowledged but could not write (a hand-over at
    /// its deactivation or fence-out): applied like <see cref="ApplyMany"/>, never refused for the bound on
    /// unwritten updates (they were acknowledged already).
    /// </summary>
    [Alias("Adopt")]
    Task Adopt(IReadOnlyList<MatchUpdate> updates);

    /// <summary>Recomputes the minute now (the minute clock job); true when it changed.</summary>
    [Alias("RefreshMinute")]
    Task<bool> RefreshMinute();

    /// <summary>
    /// Saves the state and hands the row to the write-behind now. False while no lease can be had:
    /// the accepted updates are still only in memory (they land once a lease is had).
    /// </summary>
    [Alias("Persist")]
    Task<bool> Persist();

    /// <summary>
    /// An admin correction (source admin, observed now): applied under the rules, then answered only once the
    /// match's row holding it (and its audit event with <paramref name="reason"/> and <paramref name="keyName"/>)
    /// is in ts_matches, or <paramref name="writeTimeout"/> has passed.
    /// </summary>
    [Alias("Correct")]
    Task<CorrectionResult> Correct(AdminCorrection correction, string reason, string keyName, TimeSpan writeTimeout);

    /// <summary>
    /// The watchdog found this live match gone from the provider: flags it stale (<c>stale_since</c> = now) unless
    /// the match is not live, already flagged, or was observed within <paramref name="quiet"/>. True when flagged now.
    /// </summary>
    [Alias("MarkStale")]
    Task<bool> MarkStale(TimeSpan quiet);

    /// <summary>The current state with provenance.</summary>
    [Alias("GetSnapshot")]
    Task<MatchSnapshot> GetSnapshot();
}
