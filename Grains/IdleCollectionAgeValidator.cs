using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Jobs;

namespace Orleans.GoalGpt.Grains;

/// <summary>
/// <see cref="MatchGrainOptions.IdleCollectionAge"/> against the match sync's diary: the diary calls every match of today
/// and tomorrow every <see cref="JobOptions.DiaryInterval"/>; an age within that cadence (+ the job's interval + 2 minutes
/// of slack for the run and the tick at which an activation checks its idleness) would collect and re-activate them all every cycle.
/// </summary>
public sealed class IdleCollectionAgeValidator(IOptions<JobsOptions> jobs, IOptionsMonitor<JobOptions> job) : IValidateOptions<MatchGrainOptions>
{
    public ValidateOptionsResult Validate(string? name, MatchGrainOptions options)
    {
        if (!jobs.Value.Enabled || job.Get(JobNames.MatchSync) is not { Enabled: true } sync) return ValidateOptionsResult.Success;
        var floor = sync.DiaryInterval + sync.Interval + TimeSpan.FromMinutes(2);
        return options.IdleCollectionAge > floor
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"MatchGrain:IdleCollectionAge ({options.IdleCollectionAge}) must exceed Jobs:MatchSync:DiaryInterval + " +
                $"Jobs:MatchSync:Interval + 2 minutes ({floor}): the diary calls every match of today and tomorrow that often, and a " +
                "shorter age would collect and re-activate them all each time");
    }
}
