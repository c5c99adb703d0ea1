using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Integration;
using Xunit;

namespace Orleans.GoalGpt.Tests.Admin;

/// <summary>The retention job against the real table.</summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class AuditRetentionTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Retention_deletes_the_events_older_than_the_setting_and_keeps_the_rest()
    {
        var now = DateTimeOffset.UtcNow;
        await _db.ExecuteAsync($"""
            INSERT INTO match_events (external_id, kind, field, observed_at, recorded_at) VALUES
              ('r1', 'value_changed', 'home_score', 1, now() - interval '31 days'),
              ('r1', 'value_changed', 'home_score', 2, now() - interval '29 days'),
              ('r2', 'var_correction', 'away_score', 3, now() - interval '15 days'),
              ('r2', 'admin_correction', null, 4, now())
            """);
        using var meters = new TestMeterFactory();
        var retention = new AuditRetention(new MatchEventsTable(_db.DataSource), Options.Create(new AuditOptions { Retention = TimeSpan.FromDays(30) }),
            new FakeTimeProvider(now), new GoalGptMetrics(meters), NullLogger<AuditRetention>.Instance);
        Assert.Equal(1, await retention.RunOnceAsync());
        Assert.Equal([2L, 3L, 4L], await ObservedAsync());
        Assert.Equal(0, await retention.RunOnceAsync());

        var fourteen = new AuditRetention(new MatchEventsTable(_db.DataSource), Options.Create(new AuditOptions()),
            new FakeTimeProvider(now), new GoalGptMetrics(meters), NullLogger<AuditRetention>.Instance);
        Assert.Equal(2, await fourteen.RunOnceAsync());
        Assert.Equal([4L], await ObservedAsync());
    }

    /// <summary>recorded_at is the database's now(): the cutoff is the database's too, whatever the silo's clock says.</summary>
    [Fact]
    public async Task A_silo_clock_far_ahead_deletes_nothing_recent()
    {
        await _db.ExecuteAsync("""
            INSERT INTO match_events (external_id, kind, field, observed_at, recorded_at) VALUES
              ('c1', 'value_changed', 'home_score', 1, now() - interval '31 days'),
              ('c1', 'value_changed', 'home_score', 2, now() - interval '1 day'),
              ('c1', 'admin_correction', null, 3, now())
            """);
        using var meters = new TestMeterFactory();
        var ahead = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(365));
        var retention = new AuditRetention(new MatchEventsTable(_db.DataSource), Options.Create(new AuditOptions { Retention = TimeSpan.FromDays(30) }),
            ahead, new GoalGptMetrics(meters), NullLogger<AuditRetention>.Instance);

        Assert.Equal(1, await retention.RunOnceAsync()); // only the one older than 30 days by the database's clock
        Assert.Equal([2L, 3L], await ObservedAsync());
    }

    [Fact]
    public async Task Migration_0007_is_idempotent_and_rolls_back()
    {
        var sql = Path.Combine(AppContext.BaseDirectory, "sql");
        await _db.ExecuteAsync("INSERT INTO match_events (external_id, kind, observed_at) VALUES ('m', 'value_changed', 1)");
        await _db.ExecuteAsync("INSERT INTO ts_matches (external_id, status_id, stale_since) VALUES ('m', 2, 1795960000)");
        await _db.ExecuteAsync(await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(sql, "migrations"), "0007_*.sql").Single())); // again: nothing changes
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM match_events"));
        Assert.Equal(1795960000, (await _db.Table.ReadAsync("m"))!.StaleSince);

        await _db.Migrator().RollbackAsync("0007");
        await _db.ExecuteAsync(await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(sql, "rollback"), "0007_*.sql").Single())); // twice: idempotent
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM information_schema.tables WHERE table_name = 'match_events'"));
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM information_schema.columns WHERE table_name = 'ts_matches' AND column_name = 'stale_since'"));
        Assert.Equal(["migrations.0007_match_events_stale_since.sql"], _db.Migrator().Pending());

        await _db.Migrator().MigrateAsync();
        Assert.Null((await _db.Table.ReadAsync("m"))!.StaleSince);
        Assert.Equal(2, (await _db.Table.ReadAsync("m"))!.StatusId);
    }

    private async Task<List<long>> ObservedAsync()
    {
        await using var cmd = _db.DataSource.CreateCommand("SELECT observed_at FROM match_events ORDER BY observed_at");
        await using var r = await cmd.ExecuteReaderAsync();
        var list = new List<long>();
        while (await r.ReadAsync()) list.Add(r.GetInt64(0));
        return list;
    }

}
