using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.Runtime;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>Redis answers a PING (membership and locks live there).</summary>
internal sealed class RedisReady(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var rtt = await redis.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"Redis answered in {rtt.TotalMilliseconds:F1} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"Redis unreachable: {ex.Message}");
        }
    }
}

/// <summary>PostgreSQL answers a query (ts_matches and grain state live there).</summary>
internal sealed class PostgresReady(NpgsqlDataSource database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            await using var cmd = database.CreateCommand("SELECT 1");
            cmd.CommandTimeout = 3;
            await cmd.ExecuteScalarAsync(ct);
            return HealthCheckResult.Healthy("PostgreSQL answered");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy($"PostgreSQL unreachable: {ex.Message}");
        }
    }
}

/// <summary>This silo is an active member of the cluster.</summary>
internal sealed class SiloJoined(ISiloStatusOracle oracle) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        Task.FromResult(oracle.CurrentStatus == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {oracle.SiloAddress} active")
            : HealthCheckResult.Unhealthy($"silo {oracle.SiloAddress} is {oracle.CurrentStatus}, not active in the cluster"));
}

/// <summary>Every migration is applied (checked against the journal until it is, then remembered).</summary>
internal sealed class MigrationsApplied(SchemaMigrator migrator) : IHealthCheck
{
    private volatile bool _applied;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (_applied) return Task.FromResult(HealthCheckResult.Healthy("migrations applied"));
        try
        {
            var pending = migrator.Pending();
            _applied = pending.Count == 0;
            return Task.FromResult(_applied
                ? HealthCheckResult.Healthy("migrations applied")
                : HealthCheckResult.Unhealthy($"migrations pending: {string.Join(", ", pending)}"));
        }
        catch (Exception ex)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"migrations cannot be checked: {ex.Message}"));
        }
    }
}

/// <summary>The health endpoints' body: overall status and each check, so the failing part is named.</summary>
internal static class HealthResponse
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var failing = report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).Select(e => e.Key).ToList();
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            failing,
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description }),
        }));
    }
}
