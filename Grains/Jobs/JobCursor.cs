namespace Orleans.GoalGpt.Grains.Jobs;

/// <summary>
/// Where a feed job stands, kept in grain storage so that a restart resumes where it stopped.
/// Each job uses the parts it needs, under a state name of its own (<c>job.detail_live</c>, ...):
/// the AdoNet storage keys state by state name and grain key, and every job's key is the same.
/// </summary>
[GenerateSerializer, Alias("goalgpt.JobCursor")]
public sealed class JobCursor
{
    /// <summary>match sync: the newest <c>updated_at</c> read from <c>recent/list</c> (unix s).</summary>
    [Id(0)] public long RecentListTime { get; set; }

    /// <summary>match sync: when the diary was last read (unix ms).</summary>
    [Id(1)] public long LastDiaryMs { get; set; }

    /// <summary>data update: the newest <c>update_time</c> handled per match, for the last minutes.</summary>
    [Id(2)] public Dictionary<string, long> HandledUpdates { get; set; } = new(StringComparer.Ordinal);

    /// <summary>watchdog: matches whose re-poll was asked for and not done yet.</summary>
    [Id(3)] public HashSet<string> PendingRepolls { get; set; } = new(StringComparer.Ordinal);

    /// <summary>When the job last succeeded (unix ms).</summary>
    [Id(4)] public long LastSuccessMs { get; set; }
}
