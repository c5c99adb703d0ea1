namespace Orleans.GoalGpt.Grains;

/// <summary>Names of the grain storage providers.</summary>
public static class StorageNames
{
    /// <summary>AdoNet storage on PostgreSQL for match grains (and pollers).</summary>
    public const string Matches = "matches";
}
