using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using Orleans.GoalGpt.Grains.Changes;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Jobs;
using Orleans.GoalGpt.Grains.Ownership;
using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Grains;

/// <summary>
/// The silo's singletons that every match activation and its <see cref="MatchOwnership"/> use, in one object: each
/// activation holds one reference to it instead of a dozen of its own (memory per match: issue 13).
/// </summary>
public sealed class MatchGrainServices(
    TimeProvider time,
    TsMatchesWriter writer,
    TsMatchesTable table,
    MatchLocks locks,
    HandOvers handOvers,
    RedisReach reach,
    GoalGptMetrics metrics,
    IOptions<MatchGrainOptions> options,
    IOptions<JobsOptions> jobs,
    MatchChanges changes,
    MatchTicker ticker,
    [FromKeyedServices(StorageNames.MatchState)] IGrainStorage stateStorage)
{
    public TimeProvider Time { get; } = time;

    public TsMatchesWriter Writer { get; } = writer;

    public TsMatchesTable Table { get; } = table;

    public MatchLocks Locks { get; } = locks;

    public HandOvers HandOvers { get; } = handOvers;

    public RedisReach Reach { get; } = reach;

    public GoalGptMetrics Metrics { get; } = metrics;

    public MatchGrainOptions Options { get; } = options.Value;

    public JobsOptions Jobs { get; } = jobs.Value;

    public MatchChanges Changes { get; } = changes;

    public MatchTicker Ticker { get; } = ticker;

    /// <summary>The match-state storage (<see cref="MatchStateStore"/>), used through each activation's <see cref="MatchStateHolder"/>.</summary>
    public IGrainStorage StateStorage { get; } = stateStorage;
}
