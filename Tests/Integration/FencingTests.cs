using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.Runtime;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>A stale writer can never win: the lock keeps writers apart, the epoch fences the late one.</summary>
[Collection(RealServers.Name)]
public sealed class FencingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private ConnectionMultiplexer _redis = null!;

    public async Task InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync();
        _redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);
    }

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        await _db.DisposeAsync();
    }

    private MatchLocks Locks(TimeSpan ttl) => new(_redis, _db.DataSource,
        Options.Create(new LockOptions { LeaseTtl = ttl, AcquireTimeout = TimeSpan.FromSeconds(5) }),
        new GoalGptMetrics(new TestMeterFactory()), NullLogger<MatchLocks>.Instance);

    private static TsMatchRow Row(string id, long token, int home, long ts) => new()
    {
        ExternalId = id, FenceToken = token,
        HomeScore = home, HomeScoreSource = "api", HomeScoreTimestamp = ts,
        StatusId = 2, StatusSource = "api", StatusTimestamp = ts,
    };

    [Fact]
    public async Task A_write_with_epoch_n_after_one_with_n_plus_1_is_refused_and_changes_nothing()
    {
        var id = $"fence-{Guid.NewGuid():N}"[..20];
        var locks = Locks(TimeSpan.FromSeconds(10));
        var first = (await locks.TryAcquireAsync(id))!;
        await locks.ReleaseAsync(first);
        var second = (await locks.TryAcquireAsync(id))!;
        Assert.Equal(first.FenceToken + 1, second.FenceToken);

        Assert.Empty(await _db.Table.UpsertAsync([Row(id, second.FenceToken, home: 2, ts: 1_000)]));
        // n arrives after n+1, even with a newer observation: refused whole.
        Assert.Equal([id], await _db.Table.UpsertAsync([Row(id, first.FenceToken, home: 5, ts: 9_000)]));

        var row = (await _db.Table.ReadAsync(id))!;
        Assert.Equal((2, 1_000L, second.FenceToken), (row.HomeScore, row.HomeScoreTimestamp!.Value, row.FenceToken!.Value));
    }

    [Fact]
    public async Task A_writer_paused_past_its_lock_expiry_is_fenced_out_when_it_resumes()
    {
        var id = $"pause-{Guid.NewGuid():N}"[..20];
        // A TTL of 3 s: renewals every second keep the new owner's lease even on a busy box.
        var locks = Locks(TimeSpan.FromSeconds(3));
        var paused = (await locks.TryAcquireAsync(id))!;
        Assert.Empty(await _db.Table.UpsertAsync([Row(id, paused.FenceToken, home: 1, ts: 1_000)]));

        // The writer stalls (GC pause, VM freeze) past its lease; another takes over and writes.
        var takeover = (await locks.TryAcquireAsync(id))!;
        var held = locks.Track(takeover); // the silo's renewer keeps the new owner's lease
        Assert.True(takeover.FenceToken > paused.FenceToken);
        Assert.Empty(await _db.Table.UpsertAsync([Row(id, takeover.FenceToken, home: 2, ts: 2_000)]));

        Assert.False(await locks.RenewAsync(paused));
        Assert.Equal([id], await _db.Table.UpsertAsync([Row(id, paused.FenceToken, home: 7, ts: 3_000)]));
        Assert.Equal(2, (await _db.Table.ReadAsync(id))!.HomeScore);
        await locks.ReleaseAsync(paused); // not its lock any more: must not free the new owner's
        await Task.Delay(TimeSpan.FromSeconds(4.5)); // longer than the TTL: only renewals keep it
        Assert.Equal(takeover.Owner, (string?)await _redis.GetDatabase().StringGetAsync(MatchLocks.Key(id)));
        Assert.False(held.Lost);
        locks.Dispose();
    }

    [Fact]
    public async Task Two_clusters_activating_the_same_matches_at_once_end_in_the_models_state()
    {
        using var totals = new MetricTotals();
        var settings = new Dictionary<string, string?> { ["Locks:AcquireTimeout"] = "00:00:00.200" };
        await using var one = await GoalGptCluster.StartAsync(silos: 1, settings, serviceId: "dup", database: _db, ownsDatabase: false);
        await using var two = await GoalGptCluster.StartAsync(silos: 1, settings, serviceId: "dup", database: _db, ownsDatabase: false);

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scripts = Scenario.Build("dup", matches: 30, updatesPerMatch: 30, now, seed: 404);
        var queue = Scenario.Distribute(scripts, seed: 8).Values.SelectMany(q => q).ToList();

        // Every update goes to one cluster or the other: two live activations per match.
        await Task.WhenAll(queue.Chunk(32).Select((batch, i) => Task.WhenAll(batch.Select(x =>
            (i % 2 == 0 ? one : two).Grains.GetGrain<IMatchGrain>(x.Id).Apply(x.Update)))));

        // Resolve the duplicates as the runtime would, one side at a time: an activation that goes away
        // saves and releases, or hands what it could not write to the match's next activation, which
        // writes once it holds the lease. Alternate the side that persists first until nothing is left.
        var ids = scripts.Select(s => s.Id).ToList();
        for (var round = 0; round < 20 && !Expectations.Matches(await _db.Table.ReadAllAsync(), scripts); round++)
        {
            var (first, second) = round % 2 == 0 ? (one, two) : (two, one);
            await second.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
            await first.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
            await Task.Delay(500);
            await Task.WhenAll(ids.Select(id => first.Grains.GetGrain<IMatchGrain>(id).Persist()));
            await first.FlushAsync();
            await second.FlushAsync();
        }

        Expectations.RowsMatchModel(await _db.Table.ReadAllAsync(), scripts);
        output.WriteLine($"fenced-out writes: {totals["goalgpt.fencing.fenced_out"]}, lock busy: {totals["goalgpt.lock.busy"]}, renewals lost: {totals["goalgpt.lock.renewals_lost"]}");
    }

    [Fact]
    public async Task Redis_stopped_for_ten_seconds_no_write_without_the_lock_and_every_update_lands()
    {
        var settings = new Dictionary<string, string?> { ["Locks:LeaseTtl"] = "00:00:03" };
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1, settings, database: _db, ownsDatabase: false);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scripts = Scenario.Build("rd", matches: 20, updatesPerMatch: 30, now, seed: 77);
        var queue = Scenario.Distribute(scripts, seed: 2).Values.SelectMany(q => q).ToList();
        var firstHalf = queue.Take(queue.Count / 3).ToList();
        await Task.WhenAll(firstHalf.Select(x => cluster.Grains.GetGrain<IMatchGrain>(x.Id).Apply(x.Update)));
        await cluster.PersistAndFlushAsync(scripts.Select(s => s.Id));

        await RedisServer.StopAsync();
        DateTimeOffset leasesGone;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(4)); // leases (3 s) have expired
            leasesGone = DateTimeOffset.UtcNow;
            foreach (var x in queue.Skip(firstHalf.Count))
            {
                await cluster.Grains.GetGrain<IMatchGrain>(x.Id).Apply(x.Update);
            }

            await Task.Delay(TimeSpan.FromSeconds(6));
            await cluster.FlushAsync();
            var writtenWithoutLock = await _db.ScalarAsync(
                $"SELECT count(*) FROM ts_matches WHERE external_id LIKE 'rd-%' AND updated_at > to_timestamp({leasesGone.ToUnixTimeMilliseconds() / 1000.0:F3})");
            Assert.Equal(0, writtenWithoutLock);
        }
        finally
        {
            await RedisServer.StartAsync();
        }

        await cluster.PersistAndFlushAsync(scripts.Select(s => s.Id));
        Expectations.RowsMatchModel(await _db.Table.ReadAllAsync(), scripts);
    }

}
