using System.ComponentModel.DataAnnotations;

namespace Orleans.GoalGpt.Grains.Jobs;

/// <summary>The feed jobs together (section <c>Jobs</c>).</summary>
public sealed class JobsOptions
{
    public const string Section = "Jobs";

    /// <summary>Run the pollers at all (false: the silo only serves what is pushed to it).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often each silo makes sure every job (and the MQTT subscriber) is active somewhere.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>One job's settings (section <c>Jobs:&lt;JobName&gt;</c>, e.g. <c>Jobs__DetailLive__Interval</c>).</summary>
public sealed class JobOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Time between the end of one run and the start of the next.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan Interval { get; set; }

    /// <summary>match sync: how often the diary (today and tomorrow, UTC) is read.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan DiaryInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>match sync: how far back the first run reads <c>recent/list</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan InitialLookback { get; set; } = TimeSpan.FromDays(1);

    /// <summary>watchdog: a live match with no provider observation for this long is re-polled.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>watchdog: the same at half-time.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan StaleAfterHalfTime { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>watchdog: a match still live this long after kick-off is re-polled.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan OverdueAfterKickoff { get; set; } = TimeSpan.FromMinutes(150);
}

/// <summary>The job names: configuration keys (<c>Jobs:&lt;Name&gt;</c>) and <c>job_name</c> metric labels.</summary>
public static class JobNames
{
    public const string MatchSync = "MatchSync";
    public const string DetailLive = "DetailLive";
    public const string DataUpdate = "DataUpdate";
    public const string MinuteClock = "MinuteClock";
    public const string Watchdog = "Watchdog";

    public static readonly IReadOnlyDictionary<string, TimeSpan> DefaultIntervals = new Dictionary<string, TimeSpan>
    {
        [MatchSync] = TimeSpan.FromSeconds(60),
        [DetailLive] = TimeSpan.FromSeconds(2),
        [DataUpdate] = TimeSpan.FromSeconds(20),
        [MinuteClock] = TimeSpan.FromSeconds(15),
        [Watchdog] = TimeSpan.FromSeconds(10),
    };

    /// <summary>The metric label: <c>match_sync</c>, <c>detail_live</c>, ...</summary>
    public static string Label(string name) => name switch
    {
        MatchSync => "match_sync",
        DetailLive => "detail_live",
        DataUpdate => "data_update",
        MinuteClock => "minute_clock",
        Watchdog => "watchdog",
        _ => name.ToLowerInvariant(),
    };
}
