using System.ComponentModel.DataAnnotations;

namespace Orleans.GoalGpt.Grains;

/// <summary>Cadences of a match grain (section <c>MatchGrain</c>).</summary>
public sealed class MatchGrainOptions
{
    public const string Section = "MatchGrain";

    /// <summary>How often a live match's minute is recomputed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan MinuteTickInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longest a changed grain state waits before it is saved to grain storage. <c>ts_matches</c>
    /// is written far sooner; on reactivation the grain folds in newer values from its row, so this
    /// only bounds how much rule state (pending confirmations) a crash can cost.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan StateSaveInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Most updates an activation without a lease holds unwritten; beyond it further updates are refused
    /// (<c>backlog_full</c>, retryable) instead of acknowledged, so memory stays bounded while Redis is out.
    /// </summary>
    [Range(10, 1_000_000)]
    public int MaxUnwrittenUpdates { get; set; } = 1_000;

    /// <summary>
    /// How long a match activation may go without a call (ticks do not count) before it goes (its row written, its lease
    /// released: the deactivation of <c>docs/design.md</c>, durability item 2); checked at each tick (<see cref="MatchTicker"/>).
    /// A live match is called all the time (polls, pushes, the minute clock); one that ended or has not started gives its
    /// memory and its lease back, and the next call activates it again from its row. With the jobs on it must exceed the
    /// match sync's diary cadence by 2 minutes (the diary calls every match of today and tomorrow; checked at start).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:02", "7.00:00:00")]
    public TimeSpan IdleCollectionAge { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>How long a deactivating activation waits for its own row to be written before it hands over.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan DeactivationWriteTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
