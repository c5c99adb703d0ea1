using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Lease acquisitions are batched silo-wide (issue 13: one Lua script and one epoch statement per batch). What a
/// batch must not change: one lease per lock however the claims meet, one new epoch per lease, nothing held for a
/// claim nobody waits for, and a failed epoch draw frees the locks it won.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class LeaseClaimTests : IAsyncLifetime
{
    private ConnectionMultiplexer _redis = null!;

    public async Task InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    private MatchLocks Locks(TestDatabase db, TimeSpan? acquireTimeout = null) =>
        new(_redis, db.DataSource, Options.Create(new LockOptions { AcquireTimeout = acquireTimeout ?? TimeSpan.FromSeconds(2) }),
            new GoalGptMetrics(new TestMeterFactory()), NullLogger<MatchLocks>.Instance);

    private static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task Claims_made_together_each_get_their_lock_and_the_next_epoch_with_the_row_as_the_draw_left_it()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var locks = Locks(db);
        var ids = Enumerable.Range(0, 600).Select(_ => NewId("claim")).ToArray();
        // Half the matches have a row with an epoch already (5): theirs must come back as 6, the new ones as 1.
        foreach (var id in ids.Where((_, i) => i % 2 == 0))
        {
            await using var cmd = db.DataSource.CreateCommand("INSERT INTO ts_matches (external_id, fence_token, home_score) VALUES (@id, 5, 3)");
            cmd.Parameters.AddWithValue("id", id);
            await cmd.ExecuteNonQueryAsync();
        }

        var leases = await Task.WhenAll(ids.Select(id => locks.TryAcquireAsync(id)));

        for (var i = 0; i < ids.Length; i++)
        {
            var lease = leases[i];
            Assert.NotNull(lease);
            Assert.Equal(ids[i], lease.MatchId);
            Assert.Equal(i % 2 == 0 ? 6 : 1, lease.FenceToken);
            Assert.Equal(lease.FenceToken, lease.Row!.FenceToken);
            Assert.Equal(i % 2 == 0 ? 3 : null, lease.Row.HomeScore);
            Assert.Equal(lease.Owner, (string?)await _redis.GetDatabase().StringGetAsync(MatchLocks.Key(ids[i])));
            Assert.Equal(lease.FenceToken, (await db.Table.ReadAsync(ids[i]))!.FenceToken);
        }

        Assert.Equal(ids.Length, leases.Select(l => l!.Owner).Distinct().Count());
    }

    [Fact]
    public async Task Two_claims_of_one_match_at_once_get_one_lease_and_the_other_waits_until_it_is_released()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var locks = Locks(db, TimeSpan.FromMinutes(1));
        var id = NewId("twice");

        // Both asked before either is answered: in one batch (the script's second SET NX finds the first's key)
        // or in two; either way one lease, and the other claim keeps retrying while the first holds the lock.
        var first = locks.TryAcquireAsync(id);
        var second = locks.TryAcquireAsync(id);
        var winner = await Task.WhenAny(first, second);
        var held = (await winner)!;
        var other = winner == first ? second : first;
        await Task.Delay(500);
        Assert.False(other.IsCompleted, "the second claim got an answer while the first holds the lock");
        Assert.Equal(1, held.FenceToken);

        await locks.ReleaseAsync(held);
        var next = await other;
        Assert.NotNull(next);
        Assert.Equal(2, next.FenceToken);
        Assert.NotEqual(held.Owner, next.Owner);
    }

    [Fact]
    public async Task A_claim_busy_past_its_bound_gets_no_lease_and_the_others_of_its_batch_get_theirs()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var locks = Locks(db, TimeSpan.FromMilliseconds(300));
        var busy = NewId("busy");
        await _redis.GetDatabase().StringSetAsync(MatchLocks.Key(busy), "someone-else", TimeSpan.FromMinutes(1));
        var free = Enumerable.Range(0, 20).Select(_ => NewId("free")).ToArray();

        var leases = await Task.WhenAll(free.Prepend(busy).Select(id => locks.TryAcquireAsync(id)));

        Assert.Null(leases[0]);
        Assert.Equal("someone-else", (string?)await _redis.GetDatabase().StringGetAsync(MatchLocks.Key(busy)));
        Assert.Null(await db.Table.ReadAsync(busy)); // no epoch drawn for a lock not won
        Assert.All(leases.Skip(1), l => Assert.Equal(1, l!.FenceToken));
    }

    [Fact]
    public async Task A_failed_epoch_draw_frees_the_locks_its_batch_won_and_gives_no_lease()
    {
        // The epoch statement fails (the table is gone for the moment) after the script won every lock: no claim
        // may get a lease, and no lock may stay set for the TTL (the next owner would wait for nothing).
        await using var db = await TestDatabase.CreateAsync();
        using var locks = Locks(db);
        var ids = Enumerable.Range(0, 30).Select(_ => NewId("nodb")).ToArray();
        await using (var rename = db.DataSource.CreateCommand("ALTER TABLE ts_matches RENAME TO ts_matches_away")) await rename.ExecuteNonQueryAsync();
        MatchLease?[] leases;
        try
        {
            leases = await Task.WhenAll(ids.Select(id => locks.TryAcquireAsync(id)));
        }
        finally
        {
            await using var back = db.DataSource.CreateCommand("ALTER TABLE ts_matches_away RENAME TO ts_matches");
            await back.ExecuteNonQueryAsync();
        }

        Assert.All(leases, Assert.Null);
        foreach (var id in ids) Assert.False(await _redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id)), $"{id}: lock left set");
        var again = await locks.TryAcquireAsync(ids[0]);
        Assert.Equal(1, again!.FenceToken);
    }

    [Fact]
    public async Task A_claim_whose_epoch_committed_with_its_acknowledgement_lost_gives_no_lease_frees_its_lock_and_the_next_draws_past_it()
    {
        // The epoch statement runs on the claim thread's own session, committed on its own: a relay drops PostgreSQL's
        // ReadyForQuery after the INSERT committed, and the session breaks. The claim cannot know its epoch was drawn:
        // no lease (nobody writes with that epoch), the lock freed, and the next claim draws the epoch after it.
        await using var db = await TestDatabase.CreateAsync();
        await using var relay = new LostAcknowledgementRelay(db.ConnectionString);
        await using var dataSource = NpgsqlDataSource.Create(relay.ConnectionString);
        using var locks = new MatchLocks(_redis, dataSource, Options.Create(new LockOptions { AcquireTimeout = TimeSpan.FromSeconds(2) }),
            new GoalGptMetrics(new TestMeterFactory()), NullLogger<MatchLocks>.Instance);
        var id = NewId("lostack");
        relay.Arm("INSERT");
        Assert.Null(await locks.TryAcquireAsync(id));
        Assert.Equal(1, relay.Dropped);
        Assert.Equal(1, (await db.Table.ReadAsync(id))!.FenceToken); // drawn and committed, held by nobody
        await EventuallyAsync(async () => !await _redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id)), "the lock freed");

        var lease = await locks.TryAcquireAsync(id);
        Assert.Equal(2, lease!.FenceToken);
        Assert.Equal(2, lease.Row!.FenceToken);
        Assert.Equal(2, (await db.Table.ReadAsync(id))!.FenceToken);
    }

    [Fact]
    public async Task A_claim_cancelled_while_its_epoch_draw_waits_leaves_no_lock_behind()
    {
        // The epoch statement waits for the row, locked from a second connection; the claim's caller gives up
        // meanwhile. When the draw completes, the lock it won belongs to nobody: it must be freed at once.
        await using var db = await TestDatabase.CreateAsync();
        using var locks = Locks(db);
        var id = NewId("cancel");
        await using (var insert = db.DataSource.CreateCommand($"INSERT INTO ts_matches (external_id, fence_token) VALUES ('{id}', 1)")) await insert.ExecuteNonQueryAsync();
        await using var blocker = await db.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var rowLock = new NpgsqlCommand($"SELECT 1 FROM ts_matches WHERE external_id = '{id}' FOR UPDATE", blocker, tx)) await rowLock.ExecuteNonQueryAsync();

        using var cancel = new CancellationTokenSource();
        var claim = locks.TryAcquireAsync(id, cancel.Token);
        await EventuallyAsync(async () => await _redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id)), "the claim won the lock");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => claim);
        await tx.CommitAsync();

        await EventuallyAsync(async () => !await _redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id)), "the unused lock freed");
        Assert.Equal(2, (await db.Table.ReadAsync(id))!.FenceToken); // the draw happened; a newer epoch only fences more
    }

    [Fact]
    public async Task An_epoch_draw_waiting_for_a_row_lock_holds_up_its_own_batch_not_the_next_claims()
    {
        // Claim A's epoch statement waits for its row, locked from a second connection; claim B comes after A's
        // batch was taken (A's key is set): B must get its lease while A still waits.
        await using var db = await TestDatabase.CreateAsync();
        using var locks = Locks(db);
        var a = NewId("held");
        var b = NewId("next");
        await using (var insert = db.DataSource.CreateCommand($"INSERT INTO ts_matches (external_id, fence_token) VALUES ('{a}', 1)")) await insert.ExecuteNonQueryAsync();
        await using var blocker = await db.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var rowLock = new NpgsqlCommand($"SELECT 1 FROM ts_matches WHERE external_id = '{a}' FOR UPDATE", blocker, tx)) await rowLock.ExecuteNonQueryAsync();

        var first = locks.TryAcquireAsync(a);
        await EventuallyAsync(async () => await _redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(a)), "A's batch sent its script");
        var second = await locks.TryAcquireAsync(b);

        Assert.NotNull(second);
        Assert.False(first.IsCompleted, "A's draw finished although its row is locked");
        await tx.CommitAsync();
        Assert.Equal(2, (await first)!.FenceToken);
    }

    [Fact]
    public async Task A_claim_and_a_flush_of_the_same_rows_lock_them_in_one_order_whatever_the_databases_collation()
    {
        // In a database whose collation orders "a…" before "B…" (ICU en-US; byte order puts "B…" first), a flush
        // and a claim of both rows would deadlock if each locked them in its own order. Forced: a third connection
        // holds "a…"; the flush queues first, then the claim; then "a…" is let go.
        await using var db = await TestDatabase.CreateAsync(createOptions: "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'");
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var (lower, upper) = ($"a{suffix}", $"B{suffix}");
        Assert.Equal(lower, await db.ScalarTextAsync($"SELECT x FROM (VALUES ('{upper}'), ('{lower}')) v(x) ORDER BY x LIMIT 1")); // the collation differs from byte order
        await db.ExecuteAsync($"INSERT INTO ts_matches (external_id, fence_token) VALUES ('{lower}', 1), ('{upper}', 1)");
        await using var blocker = await db.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var rowLock = new NpgsqlCommand($"SELECT 1 FROM ts_matches WHERE external_id = '{lower}' FOR UPDATE", blocker, tx)) await rowLock.ExecuteNonQueryAsync();

        var rows = new[] { lower, upper }.Select(id => TsMatchRow.From(id, new Orleans.GoalGpt.Grains.Merge.MatchState(), 1)).ToList();
        var flush = db.Table.UpsertAsync(rows);
        await EventuallyAsync(async () => await WaitingAsync(db) >= 1, "the flush waits for the held row");
        await using var session = await db.DataSource.OpenConnectionAsync();
        TsMatchesTable.SetLockTimeout(session, TimeSpan.FromSeconds(30));
        var claim = Task.Run(() => TsMatchesTable.ClaimMany(session, [lower, upper]));
        await EventuallyAsync(async () => await WaitingAsync(db) >= 2, "the claim waits too");
        await tx.CommitAsync();

        Assert.Empty(await flush); // neither was chosen as a deadlock victim (PostgreSQL would have failed one with 40P01)
        var drawn = await claim;
        Assert.Equal(2, drawn[lower].FenceToken);
        Assert.Equal(2, drawn[upper].FenceToken);
    }

    [Fact]
    public async Task A_row_locked_past_the_claim_bound_fails_its_own_claim_and_the_rest_of_its_batch_get_leases()
    {
        // Row X stays locked from a second connection for longer than a claim waits (0.5 s here): X gets no lease
        // and its key is freed; Y and Z, asked at the same moment (in X's batch or not), get theirs.
        await using var db = await TestDatabase.CreateAsync();
        using var locks = Locks(db, TimeSpan.FromMilliseconds(500));
        var (x, y, z) = (NewId("lockx"), NewId("locky"), NewId("lockz"));
        await db.ExecuteAsync($"INSERT INTO ts_matches (external_id, fence_token) VALUES ('{x}', 1), ('{y}', 1), ('{z}', 1)");
        await using var blocker = await db.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var rowLock = new NpgsqlCommand($"SELECT 1 FROM ts_matches WHERE external_id = '{x}' FOR UPDATE", blocker, tx)) await rowLock.ExecuteNonQueryAsync();

        var leases = await Task.WhenAll(new[] { x, y, z }.Select(id => locks.TryAcquireAsync(id)));

        Assert.Null(leases[0]);
        Assert.False(await _redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(x)), "the key of the claim without an epoch stayed set");
        Assert.Equal(2, leases[1]!.FenceToken);
        Assert.Equal(2, leases[2]!.FenceToken);
        await tx.CommitAsync();
        Assert.Equal(1, (await db.Table.ReadAsync(x))!.FenceToken); // the timed-out draw changed nothing
    }

    private static async Task<long> WaitingAsync(TestDatabase db) =>
        await db.ScalarAsync("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var until = DateTimeOffset.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTimeOffset.UtcNow > until) throw new Xunit.Sdk.XunitException($"not within 20 s: {what}");
            await Task.Delay(20);
        }
    }
}
