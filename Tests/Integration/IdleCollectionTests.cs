using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;
using U = Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// A match nobody calls goes after <c>MatchGrain:IdleCollectionAge</c> (the memory and the lease of an ended match are
/// given back), through the deactivation that writes its row before the lease goes; the next call starts from that row.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class IdleCollectionTests
{
    [Fact]
    public async Task An_ended_match_left_idle_is_collected_with_its_row_written_and_its_lease_released_and_comes_back_from_its_row()
    {
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1, new Dictionary<string, string?>
        {
            ["MatchGrain:IdleCollectionAge"] = "00:00:03",
            [GoalGptCluster.CollectionQuantumSetting] = "00:00:01",
        });
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);
        var id = $"idle-{Guid.NewGuid():N}"[..20];
        var grain = cluster.Grains.GetGrain<IMatchGrain>(id);
        var t = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 10_000;
        // Full time, 2-1: answered Applied; the activation holds the lease (epoch 1).
        var final = await grain.Apply(U.Score(UpdateSource.Api, t, 8, 2, 1));
        Assert.Equal(FieldOutcome.Applied, Assert.Single(final.Fields, f => f.Field == "status_id").Outcome);
        Assert.True(await redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id)), "leased while active");
        var epoch = (await grain.GetSnapshot()).FenceToken;

        // Nobody calls it: Orleans collects it, and only its deactivation releases the lease (it is renewed while active).
        var released = false;
        for (var i = 0; i < 300 && !released; i++)
        {
            await Task.Delay(100);
            released = !await redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id));
        }

        Assert.True(released, "collected within 30 s of idleness (age 3 s, quantum 1 s)");
        var row = (await cluster.Database.Table.ReadAsync(id))!;
        Assert.Equal((8, 2, 1, t), (row.StatusId, row.HomeScore, row.AwayScore, row.StatusTimestamp));

        // The next call activates it again from its row, under a newer epoch.
        var after = await grain.Apply(U.Score(UpdateSource.Api, t + 1_000, 8, 2, 1));
        Assert.DoesNotContain(after.Fields, f => f.Outcome == FieldOutcome.Rejected);
        var snapshot = await grain.GetSnapshot();
        Assert.Equal((8, 2, 1), (snapshot.Status!.Value, snapshot.HomeScore!.Value, snapshot.AwayScore!.Value));
        Assert.True(snapshot.FenceToken > epoch, $"epoch {snapshot.FenceToken} after {epoch}");
    }

    /// <summary>
    /// The interleaving: the silo's ticker sends a match its tick, and the activation goes before the tick is delivered
    /// (collected, migrated, the silo stopping); Orleans forwards the tick to a new activation of the match. Forced here by
    /// sending the tick to a match that has no activation. Without the guard that activation would hold a lease and its
    /// memory for the whole idle age (20 min here), kept by its own ticks.
    /// </summary>
    [Fact]
    public async Task An_activation_started_by_a_tick_and_not_by_a_call_goes_at_once_and_releases_its_lease()
    {
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);
        var id = $"tick-{Guid.NewGuid():N}"[..20];
        await cluster.Grains.GetGrain<IMatchGrain>(id).Apply(U.Score(UpdateSource.Api, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 5_000, 8, 1, 0));
        Assert.True(await cluster.Grains.GetGrain<IMatchGrain>(id).Persist(), "written");
        await cluster.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await WaitAsync(async () => !await redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id)), "the called activation collected");
        var before = (await cluster.Database.Table.ReadAsync(id))!.FenceToken;

        await cluster.Grains.GetGrain<IMatchTick>(id).Tick(claim: 1);

        // The tick started an activation (a newer epoch drawn into the row), which went at that tick: its lease is released.
        await WaitAsync(async () => (await cluster.Database.Table.ReadAsync(id))!.FenceToken > before, "the tick activated the match");
        await WaitAsync(async () => !await redis.GetDatabase().KeyExistsAsync(MatchLocks.Key(id)), "the activation the tick started went");
        var started = (await cluster.Database.Table.ReadAsync(id))!.FenceToken;
        var snapshot = await cluster.Grains.GetGrain<IMatchGrain>(id).GetSnapshot();
        Assert.True(snapshot.FenceToken > started, $"a call activates it again (epoch {snapshot.FenceToken} after {started})");
        Assert.Equal((8, 1, 0), (snapshot.Status!.Value, snapshot.HomeScore!.Value, snapshot.AwayScore!.Value));
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        for (var i = 0; i < 300; i++)
        {
            if (await condition()) return;
            await Task.Delay(100);
        }

        Assert.Fail($"not within 30 s: {what}");
    }
}
