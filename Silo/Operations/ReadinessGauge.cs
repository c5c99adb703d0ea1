using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>
/// Publishes the readiness checks (the ones /health/ready runs) as the gauge <c>goalgpt_ready{check}</c>,
/// so that Prometheus can alert on a failing silo without probing it.
/// </summary>
internal sealed class ReadinessGauge(GoalGptMetrics metrics) : IHealthCheckPublisher
{
    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        metrics.Readiness = report.Entries.ToDictionary(e => e.Key, e => e.Value.Status != HealthStatus.Unhealthy, StringComparer.Ordinal);
        return Task.CompletedTask;
    }
}
