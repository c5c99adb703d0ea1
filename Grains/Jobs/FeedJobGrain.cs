using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Grains.Jobs;

/// <summary>What every feed job needs besides its own parts.</summary>
public sealed class FeedJobServices(TimeProvider time, GoalGptMetrics metrics, IOptionsMonitor<JobOptions> options, ILoggerFactory loggers)
{
    public TimeProvider Time { get; } = time;
    public GoalGptMetrics Metrics { get; } = metrics;
    public IOptionsMonitor<JobOptions> Options { get; } = options;
    public ILoggerFactory Loggers { get; } = loggers;
}

/// <summary>
/// A timer-driven feed job: one activation cluster-wide, runs never overlap (the timer does not
/// interleave and waits for a run to end), its cursor is saved after each successful run, and each
/// run logs one line with its counts and records its duration and last success.
/// </summary>
public abstract partial class FeedJobGrain(string name, IPersistentState<JobCursor> cursor, FeedJobServices services) : Grain, IFeedJobGrain
{
    private readonly ILogger _logger = services.Loggers.CreateLogger("Orleans.GoalGpt.Grains.Jobs." + name);

    protected JobCursor Cursor => cursor.State;

    protected JobOptions Options => services.Options.Get(name);

    protected TimeProvider Time => services.Time;

    protected FeedJobServices Services => services;

    protected long NowMs => Time.GetUtcNow().ToUnixTimeMilliseconds();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var interval = Options.Interval;
        this.RegisterGrainTimer(async ct => await RunOnceAsync(ct), new GrainTimerCreationOptions(FirstDue(Cursor.LastSuccessMs, NowMs, interval), interval) { Interleave = false, KeepAlive = true });
        LogStarted(name, interval);
        return Task.CompletedTask;
    }

    public Task Start() => Task.CompletedTask;

    /// <summary>
    /// When the first run of an activation is due: the rest of the interval since the last successful
    /// run (saved with the cursor), so a restart or a move to another silo keeps the schedule, and a
    /// job that never ran, or not for an interval, runs at once.
    /// </summary>
    public static TimeSpan FirstDue(long lastSuccessMs, long nowMs, TimeSpan interval)
    {
        var rest = lastSuccessMs + (long)interval.TotalMilliseconds - nowMs;
        return rest <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Min(rest, (long)interval.TotalMilliseconds));
    }

    public Task<JobRunReport> RunNow() => RunOnceAsync(CancellationToken.None);

    /// <summary>One run; returns its counts for the log line.</summary>
    protected abstract Task<string> RunAsync(CancellationToken ct);

    private async Task<JobRunReport> RunOnceAsync(CancellationToken ct)
    {
        var label = JobNames.Label(name);
        if (!Options.Enabled) return new(label, false, "", "disabled", 0);
        var started = Time.GetTimestamp();
        try
        {
            var counts = await RunAsync(ct);
            Cursor.LastSuccessMs = NowMs;
            await cursor.WriteStateAsync(ct);
            var ms = Time.GetElapsedTime(started).TotalMilliseconds;
            services.Metrics.JobDuration.Record(ms, new("job_name", label), new("outcome", "ok"));
            services.Metrics.JobSucceeded(label, Cursor.LastSuccessMs / 1000.0);
            LogRunSucceeded(label, ms, counts);
            return new(label, true, counts, null, ms);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            var ms = Time.GetElapsedTime(started).TotalMilliseconds;
            services.Metrics.JobDuration.Record(ms, new("job_name", label), new("outcome", "failed"));
            LogRunFailed(label, ms, ex.Message);
            return new(label, false, "", ex.Message, ms);
        }
    }

    [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message = "Job {Job} active here, every {Interval}")]
    private partial void LogStarted(string job, TimeSpan interval);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Information, Message = "Job {Job} ok in {DurationMs:F0} ms: {Counts}")]
    private partial void LogRunSucceeded(string job, double durationMs, string counts);

    [LoggerMessage(EventId = 4203, Level = LogLevel.Warning, Message = "Job {Job} failed after {DurationMs:F0} ms: {Error}; next run retries")]
    private partial void LogRunFailed(string job, double durationMs, string error);
}
