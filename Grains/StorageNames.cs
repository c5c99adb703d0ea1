namespace Orleans.GoalGpt.Grains;

/// <summary>Names of the grain storage providers.</summary>
public static class StorageNames
{
    /// <summary>AdoNet storage on PostgreSQL for the job grains' cursors (and, before 0008, the match grains).</summary>
    public const string Matches = "matches";

    /// <summary>The match grains' state: <see cref="Storage.MatchStateStore"/>, batched (table <c>match_state</c>).</summary>
    public const string MatchState = "match-state";
}
