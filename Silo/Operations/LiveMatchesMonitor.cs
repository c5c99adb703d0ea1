using Npgsql;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>
/// Reads the live set from ts_matches (the partial index on status 2, 3, 4, 5, 7) every 15 s and
/// publishes it as gauges: live matches by status and live matches with a NULL minute, the
/// original system's headline figure, measured where the app reads it.
/// </summary>
internal sealed partial class LiveMatchesMonitor(NpgsqlDataSource database, GoalGptMetrics metrics, ILogger<LiveMatchesMonitor> logger)
    : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(15);
    private string? _lastSummary;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period);
        do
        {
            try
            {
                var live = await ReadAsync(stoppingToken);
                metrics.LiveMatches = live;
                var summary = string.Join(", ", live.Where(l => l.Value.Live > 0).Select(l => $"status {l.Key}: {l.Value.Live}"));
                if (summary != _lastSummary) LogLive(live.Sum(l => l.Value.Live), summary, live.Sum(l => l.Value.NullMinute));
                _lastSummary = summary;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                LogReadFailed(ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task<IReadOnlyDictionary<int, (long Live, long NullMinute)>> ReadAsync(CancellationToken ct)
    {
        await using var cmd = database.CreateCommand("""
            SELECT status_id, count(*), count(*) FILTER (WHERE minute IS NULL OR minute_source IS NULL)
            FROM ts_matches WHERE status_id IN (2, 3, 4, 5, 7) GROUP BY status_id
            """);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var live = new Dictionary<int, (long, long)> { [2] = (0, 0), [3] = (0, 0), [4] = (0, 0), [5] = (0, 0), [7] = (0, 0) };
        while (await reader.ReadAsync(ct)) live[reader.GetInt16(0)] = (reader.GetInt64(1), reader.GetInt64(2));
        return live;
    }

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "ts_matches: {Live} live matches ({ByStatus}), {NullMinute} with a NULL minute")]
    private partial void LogLive(long live, string byStatus, long nullMinute);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Live match gauges not refreshed: PostgreSQL unreachable")]
    private partial void LogReadFailed(Exception ex);
}
