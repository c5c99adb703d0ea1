using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.Runtime;

namespace Orleans.GoalGpt.Grains.Audit;

/// <summary>
/// Deletes audit events older than <see cref="AuditOptions.Retention"/> every <see cref="AuditOptions.RetentionInterval"/>,
/// on every silo while it is active (a delete of what another silo already deleted finds nothing: no coordination needed).
/// </summary>
public sealed partial class AuditRetention(
    MatchEventsTable events,
    IOptions<AuditOptions> options,
    TimeProvider time,
    GoalGptMetrics metrics,
    ILogger<AuditRetention> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe<AuditRetention>(ServiceLifecycleStage.Active, _ =>
        {
            _loop = Task.Run(LoopAsync);
            return Task.CompletedTask;
        }, async _ =>
        {
            await _stopping.CancelAsync();
            if (_loop is not null) await _loop;
        });

    /// <summary>One retention pass now; the number of events deleted.</summary>
    public async Task<long> RunOnceAsync(CancellationToken ct = default)
    {
        var deleted = await events.DeleteOlderThanAsync(options.Value.Retention, ct).ConfigureAwait(false);
        if (deleted > 0)
        {
            metrics.AuditEventsDeleted.Add(deleted);
            LogDeleted(deleted, options.Value.Retention);
        }

        return deleted;
    }

    private async Task LoopAsync()
    {
        var failing = false;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(_stopping.Token).ConfigureAwait(false);
                failing = false;
                await Task.Delay(options.Value.RetentionInterval, time, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // PostgreSQL away: the events stay a little longer; logged once per outage.
                if (!failing) LogFailed(ex);
                failing = true;
                try
                {
                    await Task.Delay(options.Value.RetentionInterval, time, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(EventId = 3050, Level = LogLevel.Information, Message = "Audit retention: {Deleted} events written more than {Retention} ago (database clock) deleted")]
    private partial void LogDeleted(long deleted, TimeSpan retention);

    [LoggerMessage(EventId = 3051, Level = LogLevel.Warning, Message = "Audit retention failed; retried at the next interval")]
    private partial void LogFailed(Exception ex);
}
