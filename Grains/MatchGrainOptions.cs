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
}
