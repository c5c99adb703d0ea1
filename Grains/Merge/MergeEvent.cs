namespace Orleans.GoalGpt.Grains.Merge;

/// <summary>Something a merge noticed that is counted and logged (not an error).</summary>
public abstract record MergeEvent;

/// <summary>A displayed score went down: a VAR correction.</summary>
public sealed record VarCorrection(string Field, int From, int To) : MergeEvent;

/// <summary>A set kick-off time that a non-admin source tried to change.</summary>
public sealed record KickoffOverwriteBlocked(string Field, long Stored, long Attempted) : MergeEvent;

/// <summary>A set kick-off time replaced by an admin: a real overwrite (counted and alerted on).</summary>
public sealed record KickoffChanged(string Field, long From, long To) : MergeEvent;

/// <summary>A lower status not (yet) confirmed; the watchdog is asked for a re-poll.</summary>
public sealed record UnconfirmedRegression(int From, int To) : MergeEvent;

/// <summary>A lower status confirmed and written.</summary>
public sealed record ConfirmedRegression(int From, int To) : MergeEvent;

/// <summary>
/// A score polled soon after a push, lower than the pushed one (or the value the push replaced), held as
/// a lagging snapshot until two fresh polls confirm it (rule 1); the watchdog is asked for a re-poll.
/// </summary>
public sealed record UnconfirmedScoreDrop(string Field, int From, int To) : MergeEvent;

/// <summary>A score held as a lagging snapshot, confirmed by two fresh polls and written.</summary>
public sealed record ConfirmedScoreDrop(string Field, int From, int To) : MergeEvent;

/// <summary>
/// The decisions on one update and what was noticed on the way. <paramref name="Replayable"/> is the update as its
/// activation keeps it to decide again (a reload at a lease re-take, a hand-over): without the kick-offs refused here;
/// null for an update refused as a whole (nothing of it is kept).
/// A kick-off is set once, so on other state (a row another owner wrote, where the value that blocked it is missing,
/// e.g. because the update that set it is stale as a whole there) a refused value would land for good; every other
/// field is decided again as it should be (last-writer-wins cannot let it beat the newer value that refused it, and a
/// held regression or score drop needs its sighting).
/// </summary>
public sealed record MergeOutcome(Orleans.GoalGpt.Abstractions.ApplyResult Result, IReadOnlyList<MergeEvent> Events,
    Orleans.GoalGpt.Abstractions.MatchUpdate? Replayable);

/// <summary>
/// A phase's minute recomputed from a kick-off (or carried minute) that became known or was
/// corrected: <paramref name="From"/> is what the previous basis shows now, <paramref name="To"/> the new minute (both uncapped).
/// </summary>
public sealed record MinuteCorrected(int Phase, int From, int To, MinuteBasis Basis) : MergeEvent;
