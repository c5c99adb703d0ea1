using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Integration;
using Xunit;

namespace Orleans.GoalGpt.Tests.Admin;

/// <summary>recorded_at is the database's now(): the cutoff is the database's too, whatever the silo's clock says.</summary>
[Collection(RealServers.Name)]
public sealed class AuditRetentionClockTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task A_silo_clock_far_ahead_deletes_nothing_recent()
    {
        await _db.ExecuteAsync("""
            INSERT INTO match_events (external_id, kind, field, observed_at, recorded_at) VALUES
              ('c1', 'value_changed', 'home_score', 1, now() - interval '31 days'),
              ('c1', 'value_changed', 'home_score', 2, now() - interval '1 day'),
              ('c1', 'admin_correction', null, 3, now())
            """);
        var meters = new NoMeters();
        var ahead = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(365));
        var retention = new AuditRetention(new MatchEventsTable(_db.DataSource), Options.Create(new AuditOptions { Retention = TimeSpan.FromDays(30) }),
            ahead, new GoalGptMetrics(meters), NullLogger<AuditRetention>.Instance);

        Assert.Equal(1, await retention.RunOnceAsync()); // only the one older than 30 days by the database's clock
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM match_events"));
    }

    private sealed class NoMeters : System.Diagnostics.Metrics.IMeterFactory
    {
        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
