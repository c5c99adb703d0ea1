using Npgsql;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Invariant 8: the upsert's guard holds the rules on its own, whatever a writer sends: epochs checked on
/// the row it locks, ties by source priority, no unconfirmed status regression, no lagging score drop, and
/// kick-offs set once with admin corrections ordered by their own observation time.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class DatabaseGuardTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    private async Task<long> NextEpochAsync(string id, NpgsqlConnection? connection = null, NpgsqlTransaction? tx = null)
    {
        await using var cmd = connection is null ? _db.DataSource.CreateCommand(TsMatchesTable.NextEpochSql) : new NpgsqlCommand(TsMatchesTable.NextEpochSql, connection, tx);
        cmd.Parameters.AddWithValue("id", id);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static TsMatchRow Row(string id, long token) => new() { ExternalId = id, FenceToken = token };

    private async Task<TsMatchRow> WrittenAsync(params TsMatchRow[] rows)
    {
        foreach (var r in rows) Assert.Empty(await _db.Table.UpsertAsync([r]));
        return (await _db.Table.ReadAsync(rows[0].ExternalId))!;
    }

    [Fact]
    public async Task A_stale_upsert_waiting_on_the_row_lock_while_a_new_epoch_commits_is_refused()
    {
        // The interleaving of issue 10 item 1: the stale writer's statement starts (and takes its snapshot)
        // before the new epoch is committed, waits for the row lock, then runs against the newest row.
        var id = NewId("race");
        var old = await NextEpochAsync(id);
        await WrittenAsync(Row(id, old) with { HomeScore = 1, HomeScoreSource = "api", HomeScoreTimestamp = 1_000 });

        await using var owner = await _db.DataSource.OpenConnectionAsync();
        await using var tx = await owner.BeginTransactionAsync();
        var epoch = await NextEpochAsync(id, owner, tx); // row locked, epoch in it, not yet committed
        Assert.Equal(old + 1, epoch);

        var stale = _db.Table.UpsertAsync([Row(id, old) with { HomeScore = 7, HomeScoreSource = "api", HomeScoreTimestamp = 9_000 }]);
        await WaitUntilBlockedOnLockAsync();
        await tx.CommitAsync();

        Assert.Equal([id], await stale); // refused: its epoch is older than the row it locked
        var row = (await _db.Table.ReadAsync(id))!;
        Assert.Equal((1, epoch), (row.HomeScore, row.FenceToken));

        // The new owner writes.
        row = await WrittenAsync(Row(id, epoch) with { HomeScore = 2, HomeScoreSource = "api", HomeScoreTimestamp = 10_000 });
        Assert.Equal(2, row.HomeScore);
    }

    private async Task WaitUntilBlockedOnLockAsync()
    {
        for (var i = 0; i < 600; i++)
        {
            if (await _db.ScalarAsync($"SELECT count(*) FROM pg_stat_activity WHERE datname = '{_db.Name}' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO ts_matches%'") > 0) return;
            await Task.Delay(50);
        }

        throw new InvalidOperationException("the stale upsert never waited for the row lock");
    }

    [Fact]
    public async Task An_exact_timestamp_tie_is_decided_by_source_priority_not_by_arrival()
    {
        var id = NewId("tie");
        var epoch = await NextEpochAsync(id);
        await WrittenAsync(Row(id, epoch) with
        {
            StatusId = 3, StatusSource = "api", StatusTimestamp = 5_000,
            HomeScore = 1, HomeScoreSource = "mqtt", HomeScoreTimestamp = 5_000,
        });

        // Same observation time, lower priority (status: api > mqtt; score: mqtt > api): nothing changes.
        var row = await WrittenAsync(Row(id, epoch) with
        {
            StatusId = 4, StatusSource = "mqtt", StatusTimestamp = 5_000,
            HomeScore = 2, HomeScoreSource = "api", HomeScoreTimestamp = 5_000,
        });
        Assert.Equal((3, "api", 1, "mqtt"), (row.StatusId, row.StatusSource, row.HomeScore, row.HomeScoreSource));

        // Same time, higher priority: replaced.
        row = await WrittenAsync(Row(id, epoch) with { HomeScore = 3, HomeScoreSource = "admin", HomeScoreTimestamp = 5_000 });
        Assert.Equal((3, "admin"), (row.HomeScore, row.HomeScoreSource));
    }

    [Fact]
    public async Task A_backward_status_lands_only_confirmed_or_from_admin()
    {
        var id = NewId("back");
        var epoch = await NextEpochAsync(id);
        await WrittenAsync(Row(id, epoch) with { StatusId = 8, StatusSource = "api", StatusTimestamp = 1_000 });

        var row = await WrittenAsync(Row(id, epoch) with { StatusId = 4, StatusSource = "api", StatusTimestamp = 2_000 });
        Assert.Equal(8, row.StatusId); // newer, but an unconfirmed regression

        row = await WrittenAsync(Row(id, epoch) with { StatusId = 10, StatusSource = "mqtt", StatusTimestamp = 2_500 });
        Assert.Equal(10, row.StatusId); // a side state is not backward

        row = await WrittenAsync(Row(id, epoch) with { StatusId = 8, StatusSource = "api", StatusTimestamp = 2_600 });
        row = await WrittenAsync(Row(id, epoch) with { StatusId = 4, StatusSource = "api", StatusTimestamp = 3_000, StatusConfirmed = true });
        Assert.Equal((4, true), (row.StatusId, row.StatusConfirmed));

        row = await WrittenAsync(Row(id, epoch) with { StatusId = 2, StatusSource = "admin", StatusTimestamp = 4_000 });
        Assert.Equal(2, row.StatusId);
    }

    [Fact]
    public async Task A_pushed_lower_score_a_poll_repeated_before_the_next_flush_lands_although_the_row_holds_the_higher_push()
    {
        // Issue 13's sweep found it (3 wrong fields in most steps): the row holds 2, pushed at 100 s; the grain then
        // applies a push of 1 (a VAR cancellation) and a poll repeating 1 before its next flush, so its one row says
        // (1, watchdog, 100.2 s), which against the row looks like a lagging snapshot. The grain decided it under
        // rule 1 with the push in view: the row must take it.
        var id = NewId("coal");
        var epoch = await NextEpochAsync(id);
        var state = new MatchState();
        const long t = Merge.Updates.Now;
        FieldMerge.Apply(state, Merge.Updates.Score(UpdateSource.Mqtt, t, 2, 2, 0), t + 300);
        Assert.Equal(2, (await WrittenAsync(TsMatchRow.From(id, state, epoch))).HomeScore);
        FieldMerge.Apply(state, Merge.Updates.Score(UpdateSource.Mqtt, t + 100, 2, 1, 0), t + 300);
        FieldMerge.Apply(state, Merge.Updates.Score(UpdateSource.Watchdog, t + 200, 2, 1, 0), t + 300);

        var row = await WrittenAsync(TsMatchRow.From(id, state, epoch));

        Assert.Equal((1, "watchdog", t + 200), (row.HomeScore, row.HomeScoreSource, row.HomeScoreTimestamp));
    }

    [Fact]
    public async Task A_lower_polled_score_within_30_s_of_a_pushed_one_lands_only_when_confirmed()
    {
        var id = NewId("lag");
        var epoch = await NextEpochAsync(id);
        await WrittenAsync(Row(id, epoch) with { HomeScore = 1, HomeScoreSource = "mqtt", HomeScoreTimestamp = 100_000 });

        var row = await WrittenAsync(Row(id, epoch) with { HomeScore = 0, HomeScoreSource = "api", HomeScoreTimestamp = 106_000 });
        Assert.Equal(1, row.HomeScore); // a lagging snapshot

        row = await WrittenAsync(Row(id, epoch) with { HomeScore = 0, HomeScoreSource = "api", HomeScoreTimestamp = 112_000, HomeScoreDropConfirmed = true });
        Assert.Equal(0, row.HomeScore); // confirmed by the grain

        await WrittenAsync(Row(id, epoch) with { HomeScore = 1, HomeScoreSource = "mqtt", HomeScoreTimestamp = 200_000 });
        row = await WrittenAsync(Row(id, epoch) with { HomeScore = 0, HomeScoreSource = "watchdog", HomeScoreTimestamp = 231_000 });
        Assert.Equal(0, row.HomeScore); // more than 30 s after the push: a real correction
    }

    [Fact]
    public async Task A_kickoff_is_set_once_and_an_admin_correction_replaces_only_an_older_one()
    {
        var id = NewId("kick");
        var epoch = await NextEpochAsync(id);
        TsMatchRow Kickoff(long value, string source, long ts) =>
            Row(id, epoch) with { FirstHalfKickoffTs = value, FirstHalfKickoffSource = source, FirstHalfKickoffTimestamp = ts };

        var row = await WrittenAsync(Kickoff(1_700_000_000, "api", 1_000));
        row = await WrittenAsync(Kickoff(1_700_000_060, "mqtt", 2_000));
        Assert.Equal(1_700_000_000, row.FirstHalfKickoffTs); // set once

        row = await WrittenAsync(Kickoff(1_700_000_120, "admin", 5_000));
        Assert.Equal((1_700_000_120L, "admin"), (row.FirstHalfKickoffTs!.Value, row.FirstHalfKickoffSource));

        row = await WrittenAsync(Kickoff(1_700_000_180, "admin", 4_000)); // an older correction, delivered late
        Assert.Equal(1_700_000_120, row.FirstHalfKickoffTs);

        row = await WrittenAsync(Kickoff(1_700_000_240, "admin", 6_000));
        Assert.Equal((1_700_000_240L, 6_000L), (row.FirstHalfKickoffTs!.Value, row.FirstHalfKickoffTimestamp!.Value));
    }

    [Fact]
    public async Task A_legacy_row_with_null_elements_or_a_short_array_reads_without_them()
    {
        await _db.ExecuteAsync("""
            INSERT INTO ts_matches (external_id, status_id, home_score, home_scores, away_scores)
            VALUES ('legacy-null', 2, 1, '[1,null,0,0,0,0,0]', '[0,0,0,0,0,0,0]'), ('legacy-short', 2, 1, '[1,0]', '"x"')
            """);
        var withNull = (await _db.Table.ReadAsync("legacy-null"))!;
        Assert.True(withNull.RawArraysDiscarded);
        Assert.Null(withNull.HomeScores);
        Assert.Equal([0, 0, 0, 0, 0, 0, 0], withNull.AwayScores!);
        var shortOne = (await _db.Table.ReadAsync("legacy-short"))!;
        Assert.Equal((true, (int[]?)null, (int[]?)null, 1), (shortOne.RawArraysDiscarded, shortOne.HomeScores, shortOne.AwayScores, shortOne.HomeScore));
    }
}
