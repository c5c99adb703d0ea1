using Orleans.GoalGpt.Grains.Jobs;
using Xunit;

namespace Orleans.GoalGpt.Tests.Ingest;

/// <summary>When a job activation's first run is due (the schedule survives restarts and moves).</summary>
public sealed class JobScheduleTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromSeconds(60);

    [Fact]
    public void A_job_that_never_ran_runs_at_once() =>
        Assert.Equal(TimeSpan.Zero, FeedJobGrain.FirstDue(lastSuccessMs: 0, nowMs: 1_800_000_000_000, Minute));

    [Fact]
    public void A_job_that_last_ran_longer_than_an_interval_ago_runs_at_once() =>
        Assert.Equal(TimeSpan.Zero, FeedJobGrain.FirstDue(lastSuccessMs: 1_000_000, nowMs: 1_000_000 + 90_000, Minute));

    [Fact]
    public void A_job_that_ran_recently_waits_for_the_rest_of_its_interval() =>
        Assert.Equal(TimeSpan.FromSeconds(35), FeedJobGrain.FirstDue(lastSuccessMs: 1_000_000, nowMs: 1_000_000 + 25_000, Minute));

    [Fact]
    public void A_last_run_in_the_future_clock_skew_waits_at_most_one_interval() =>
        Assert.Equal(Minute, FeedJobGrain.FirstDue(lastSuccessMs: 2_000_000, nowMs: 1_000_000, Minute));
}
