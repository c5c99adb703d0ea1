using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Ingest;
using Orleans.Runtime;

namespace Orleans.GoalGpt.Grains.Jobs;

/// <summary>
/// On every silo, from the moment it is active: every <c>KeepAliveInterval</c> it calls
/// <c>Start</c> on each enabled feed job and the MQTT subscriber. The calls are cheap no-ops while
/// the singletons live; after their silo died, the next call activates them on a live silo, where
/// their timers resume from the cursors in grain storage.
/// </summary>
public sealed partial class FeedKeeper(
    IGrainFactory grains,
    IOptions<JobsOptions> jobs,
    IOptionsMonitor<JobOptions> job,
    IOptions<MqttOptions> mqtt,
    TimeProvider time,
    ILogger<FeedKeeper> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe(nameof(FeedKeeper), ServiceLifecycleStage.Active,
        _ =>
        {
            _loop = Task.Run(KeepAliveAsync);
            return Task.CompletedTask;
        },
        async _ =>
        {
            await _stopping.CancelAsync();
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        });

    private async Task KeepAliveAsync()
    {
        using var timer = new PeriodicTimer(jobs.Value.KeepAliveInterval, time);
        do
        {
            try
            {
                await Task.WhenAll(Singletons().Select(start => start()));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException && !_stopping.IsCancellationRequested)
            {
                LogKeepAliveFailed(ex.Message);
            }
        }
        while (await WaitAsync(timer));
    }

    private async Task<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private IEnumerable<Func<Task>> Singletons()
    {
        if (jobs.Value.Enabled)
        {
            if (job.Get(JobNames.MatchSync).Enabled) yield return () => grains.GetGrain<IMatchSyncJobGrain>(FeedJobs.Key).Start();
            if (job.Get(JobNames.DetailLive).Enabled) yield return () => grains.GetGrain<IDetailLiveJobGrain>(FeedJobs.Key).Start();
            if (job.Get(JobNames.DataUpdate).Enabled) yield return () => grains.GetGrain<IDataUpdateJobGrain>(FeedJobs.Key).Start();
            if (job.Get(JobNames.MinuteClock).Enabled) yield return () => grains.GetGrain<IMinuteClockJobGrain>(FeedJobs.Key).Start();
            if (job.Get(JobNames.Watchdog).Enabled) yield return () => grains.GetGrain<IWatchdogJobGrain>(FeedJobs.Key).Start();
        }

        if (mqtt.Value.Enabled) yield return () => grains.GetGrain<IMqttFeedGrain>(FeedJobs.Key).Start();
    }

    [LoggerMessage(EventId = 4204, Level = LogLevel.Warning, Message = "Feed keep-alive failed: {Error}; retried at the next interval")]
    private partial void LogKeepAliveFailed(string error);
}
