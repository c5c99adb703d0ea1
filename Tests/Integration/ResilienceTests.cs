using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>Nothing accepted is lost when a silo stops or PostgreSQL goes away for a while.</summary>
[Collection(RealServers.Name)]
public sealed class ResilienceTests
{
    [Fact]
    public async Task A_silo_stopped_mid_stream_hands_its_matches_to_the_other_and_nothing_accepted_is_lost()
    {
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scripts = Scenario.Build("ss", matches: 40, updatesPerMatch: 30, now, seed: 7);
        var queue = Scenario.Distribute(scripts, seed: 3).Values.SelectMany(q => q).ToList();
        var half = queue.Count / 2;

        await DeliverAsync(cluster, queue.Take(half));
        await cluster.Cluster.StopSiloAsync(cluster.Cluster.SecondarySilos[0]);
        await DeliverAsync(cluster, queue.Skip(half));
        await cluster.PersistAndFlushAsync(scripts.Select(s => s.Id));

        Expectations.RowsMatchModel(await cluster.Database.Table.ReadAllAsync(), scripts);
    }

    [Fact]
    public async Task PostgreSQL_down_for_ten_seconds_during_writes_loses_no_accepted_update()
    {
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scripts = Scenario.Build("pg", matches: 30, updatesPerMatch: 30, now, seed: 99);
        var queue = Scenario.Distribute(scripts, seed: 5).Values.SelectMany(q => q).ToList();
        var firstSighting = queue.GroupBy(x => x.Id).Select(g => g.First()).ToList();

        // Activate every match while the database is up (activation reads grain state).
        await DeliverAsync(cluster, firstSighting);
        await cluster.FlushAsync();

        await PostgresServer.StopAsync();
        try
        {
            var outage = DateTime.UtcNow;
            await DeliverAsync(cluster, queue);
            var left = TimeSpan.FromSeconds(10) - (DateTime.UtcNow - outage);
            if (left > TimeSpan.Zero) await Task.Delay(left);
            // Queued, or in the batch the write-behind keeps retrying (taken from the queue while an attempt runs).
            Assert.True(cluster.Writers.Sum(w => w.Backlog + w.InFlight) > 0, "updates accepted during the outage wait in memory");
        }
        finally
        {
            await PostgresServer.StartAsync();
        }

        await cluster.PersistAndFlushAsync(scripts.Select(s => s.Id));
        Expectations.RowsMatchModel(await cluster.Database.Table.ReadAllAsync(), scripts);
    }

    private static async Task DeliverAsync(GoalGptCluster cluster, IEnumerable<(string Id, MatchUpdate Update)> queue)
    {
        foreach (var batch in queue.Chunk(64))
        {
            await Task.WhenAll(batch.Select(x => cluster.Grains.GetGrain<IMatchGrain>(x.Id).Apply(x.Update)));
        }
    }
}
