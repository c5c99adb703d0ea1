using Npgsql;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>Migrations are idempotent, reversible and backfill rows that existed before them.</summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class MigrationTests : IAsyncLifetime
{
    private static readonly string SqlDir = Path.Combine(AppContext.BaseDirectory, "sql");
    private const string MetadataColumns = "'home_score_source', 'home_score_timestamp', 'away_score_source', 'away_score_timestamp', " +
        "'minute_source', 'minute_timestamp', 'status_id_source', 'status_id_timestamp'";

    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync(migrate: false);

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private Task<long> ColumnCountAsync(string like) =>
        _db.ScalarAsync($"SELECT count(*) FROM information_schema.columns WHERE table_name = 'ts_matches' AND column_name LIKE '{like}'");

    [Fact]
    public async Task Backfill_applies_to_old_rows_then_migrate_twice_rollback_and_migrate_again()
    {
        // The original schema, with rows the old system wrote.
        await _db.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(SqlDir, "migrations", "0001_ts_matches.sql")));
        await _db.ExecuteAsync("""
            INSERT INTO ts_matches (external_id, status_id, home_score, away_score, minute, updated_at)
            VALUES ('old1', 4, 2, 1, 67, '2026-05-01T12:00:00Z'), ('old2', 1, NULL, NULL, NULL, '2026-05-01T12:00:00Z')
            """);

        var migrator = _db.Migrator();
        Assert.NotEmpty(migrator.Pending());
        await migrator.MigrateAsync();
        Assert.Empty(migrator.Pending());

        var old1 = (await _db.Table.ReadAsync("old1"))!;
        var expectedTs = DateTimeOffset.Parse("2026-05-01T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        Assert.Equal(("api", expectedTs), (old1.StatusSource, old1.StatusTimestamp));
        Assert.Equal(("api", expectedTs), (old1.HomeScoreSource, old1.HomeScoreTimestamp));
        Assert.Equal(("computed", expectedTs), (old1.MinuteSource, old1.MinuteTimestamp));
        var old2 = (await _db.Table.ReadAsync("old2"))!;
        Assert.Equal("api", old2.StatusSource);
        Assert.Null(old2.HomeScoreSource); // nothing to attribute

        // Again: nothing to apply, nothing fails; and every script re-run by hand changes nothing.
        Assert.Empty(await migrator.MigrateAsync());
        foreach (var script in Directory.GetFiles(Path.Combine(SqlDir, "migrations"), "*.sql").Order())
        {
            await _db.ExecuteAsync(await File.ReadAllTextAsync(script));
        }

        Assert.Equal(8, await _db.ScalarAsync($"SELECT count(*) FROM information_schema.columns WHERE table_name = 'ts_matches' AND column_name IN ({MetadataColumns})"));
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM pg_indexes WHERE tablename = 'ts_matches' AND indexdef LIKE '%status_id = ANY%'"));

        await migrator.RollbackAsync("0002");
        Assert.Equal(0, await _db.ScalarAsync($"SELECT count(*) FROM information_schema.columns WHERE table_name = 'ts_matches' AND column_name IN ({MetadataColumns})"));
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM pg_indexes WHERE tablename = 'ts_matches' AND indexname LIKE 'ix_ts_matches_live%'"));
        Assert.Equal(["migrations.0002_field_metadata.sql"], migrator.Pending());

        await migrator.MigrateAsync();
        Assert.Equal(1, await ColumnCountAsync("status_id_source"));
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM pg_indexes WHERE tablename = 'ts_matches' AND indexname LIKE 'ix_ts_matches_live%'"));
        Assert.Equal("api", (await _db.Table.ReadAsync("old1"))!.StatusSource);
    }

    [Fact]
    public async Task The_status_provenance_columns_get_the_original_names_and_keep_their_values_and_the_rollback_restores_them()
    {
        // A database migrated while 0002 named them status_source / status_timestamp.
        await _db.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(SqlDir, "migrations", "0001_ts_matches.sql")));
        await _db.ExecuteAsync("""
            ALTER TABLE ts_matches ADD COLUMN status_source varchar(16), ADD COLUMN status_timestamp bigint, ADD COLUMN fence_token bigint;
            INSERT INTO ts_matches (external_id, status_id, status_source, status_timestamp) VALUES ('named', 4, 'mqtt', 1234);
            """);
        var script = Directory.GetFiles(Path.Combine(SqlDir, "migrations"), "0006_*.sql").Single();
        await _db.ExecuteAsync(await File.ReadAllTextAsync(script));
        await _db.ExecuteAsync(await File.ReadAllTextAsync(script)); // idempotent
        Assert.Equal(0, await ColumnCountAsync("status_source"));
        Assert.Equal(("mqtt", 1234L), (await _db.ScalarTextAsync("SELECT status_id_source FROM ts_matches"), await _db.ScalarAsync("SELECT status_id_timestamp FROM ts_matches")));

        await _db.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(SqlDir, "rollback", Path.GetFileName(script))));
        Assert.Equal(0, await ColumnCountAsync("status_id_source"));
        Assert.Equal("mqtt", await _db.ScalarTextAsync("SELECT status_source FROM ts_matches"));

        // Both names present (0002 re-applied after the rename): values merge into the original's column.
        await _db.ExecuteAsync("ALTER TABLE ts_matches ADD COLUMN status_id_source varchar(16), ADD COLUMN status_id_timestamp bigint");
        await _db.ExecuteAsync(await File.ReadAllTextAsync(script));
        Assert.Equal("mqtt", await _db.ScalarTextAsync("SELECT status_id_source FROM ts_matches"));
        Assert.Equal(0, await ColumnCountAsync("status_timestamp"));
    }

    [Fact]
    public async Task Two_migrators_starting_together_do_not_collide()
    {
        var results = await Task.WhenAll(_db.Migrator().MigrateAsync(), _db.Migrator().MigrateAsync());
        Assert.Equal(Directory.GetFiles(Path.Combine(SqlDir, "migrations"), "*.sql").Length, results.Sum(r => r.Count));
        Assert.Empty(_db.Migrator().Pending());
    }
}
