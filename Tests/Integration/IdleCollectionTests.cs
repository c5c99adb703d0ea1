using Orleans.GoalGpt.Abstractions;
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
}
