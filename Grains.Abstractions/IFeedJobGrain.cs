using Orleans.Concurrency;

namespace Orleans.GoalGpt.Abstractions;

/// <summary>What one run of a feed job did.</summary>
[GenerateSerializer, Immutable, Alias("goalgpt.JobRunReport")]
public sealed record JobRunReport(
    [property: Id(0)] string Job,
    [property: Id(1)] bool Succeeded,
    [property: Id(2)] string Counts,
    [property: Id(3)] string? Error,
    [property: Id(4)] double DurationMs);

/// <summary>
/// A timer-driven feed job: one activation cluster-wide (key <see cref="FeedJobs.Key"/>), its cursor in
/// grain storage. Every silo calls <see cref="Start"/> periodically, so that a job whose silo died is
/// activated again elsewhere.
/// </summary>
[Alias("goalgpt.IFeedJobGrain")]
public interface IFeedJobGrain : IGrainWithStringKey
{
    /// <summary>Activates the job (its timer starts with the activation); idempotent.</summary>
    [Alias("Start")]
    Task Start();

    /// <summary>Runs once now, in turn with the timer's runs (operators, tests).</summary>
    [Alias("RunNow")]
    Task<JobRunReport> RunNow();
}

/// <summary><c>recent/list</c> by its time cursor with paging, plus <c>diary</c> for the schedule.</summary>
[Alias("goalgpt.IMatchSyncJobGrain")]
public interface IMatchSyncJobGrain : IFeedJobGrain;

/// <summary>The <c>detail_live</c> snapshot: status, scores, kick-off times.</summary>
[Alias("goalgpt.IDetailLiveJobGrain")]
public interface IDetailLiveJobGrain : IFeedJobGrain;

/// <summary><c>data/update</c>: re-fetches the matches it names.</summary>
[Alias("goalgpt.IDataUpdateJobGrain")]
public interface IDataUpdateJobGrain : IFeedJobGrain;

/// <summary>Keeps every live match's minute current.</summary>
[Alias("goalgpt.IMinuteClockJobGrain")]
public interface IMinuteClockJobGrain : IFeedJobGrain;

/// <summary>Forced re-polls (source <c>watchdog</c>) of matches that look stuck.</summary>
[Alias("goalgpt.IWatchdogJobGrain")]
public interface IWatchdogJobGrain : IFeedJobGrain
{
    /// <summary>Asks for a re-poll of one match (an unconfirmed status regression).</summary>
    [Alias("RequestRepoll"), OneWay]
    Task RequestRepoll(string matchId);
}

/// <summary>The MQTT push subscriber: one activation cluster-wide, kept connected.</summary>
[Alias("goalgpt.IMqttFeedGrain")]
public interface IMqttFeedGrain : IGrainWithStringKey
{
    [Alias("Start")]
    Task Start();

    /// <summary>Whether it is connected to the broker now.</summary>
    [Alias("IsConnected")]
    Task<bool> IsConnected();
}

/// <summary>The fixed key of the cluster-wide singleton grains.</summary>
public static class FeedJobs
{
    public const string Key = "cluster";
}
