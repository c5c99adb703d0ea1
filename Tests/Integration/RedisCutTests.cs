using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.Runtime;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;
using U = Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// One silo cut from Redis only (issue 14): it stays a cluster member (its peers still reach it), so Orleans
/// keeps its activations. Without a lease they could only accept into memory until Redis came back.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class RedisCutTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan OutageTtl = TimeSpan.FromSeconds(7);

    [Fact]
    public async Task A_silo_cut_from_redis_only_hands_its_matches_to_one_that_reaches_it_and_loses_no_acknowledged_update()
    {
        // The interleaving: the silo's leases lapse while it keeps receiving updates for its matches; without the
        // move they stay there, refused a lease on every attempt, until the cut heals.
        var (host, port) = Endpoint(ConfigurationOptions.Parse(TestEnvironment.Redis));
        await using var relay = new TcpRelay(host, port);
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2, new Dictionary<string, string?>
        {
            ["Locks:LeaseTtl"] = Ttl.ToString(),
            [GoalGptCluster.RedisOf("Secondary_0")] = Through(relay),
        });
        var cut = cluster.Cluster.SecondarySilos[0].SiloAddress;
        var cutRedis = ((Orleans.TestingHost.InProcessSiloHandle)cluster.Cluster.SecondarySilos[0]).SiloHost.Services.GetRequiredService<IConnectionMultiplexer>();
        Assert.Contains($":{relay.Port}", cutRedis.Configuration, StringComparison.Ordinal); // the silo reaches Redis through the relay
        var ids = Enumerable.Range(0, 40).Select(i => $"rc{i}-{Guid.NewGuid():N}"[..20]).ToArray();
        var newest = new Dictionary<string, int>();
        var home = 0;

        await SendRoundAsync(cluster, ids, ++home, newest);
        var onCut = (await PerSiloAsync(cluster, ids)).Where(p => p.Value.Contains(cut)).Select(p => p.Key).ToList();
        Assert.NotEmpty(onCut);

        relay.Cut();
        var started = DateTimeOffset.UtcNow;
        List<string> left;
        do
        {
            await Task.Delay(500);
            await SendRoundAsync(cluster, ids, ++home, newest);
            var now = await PerSiloAsync(cluster, ids);
            left = onCut.Where(id => !now.TryGetValue(id, out var silos) || silos.Contains(cut)).ToList();
            var reach = ((Orleans.TestingHost.InProcessSiloHandle)cluster.Cluster.SecondarySilos[0]).SiloHost.Services.GetRequiredService<Orleans.GoalGpt.Grains.Ownership.RedisReach>();
            output.WriteLine($"{(DateTimeOffset.UtcNow - started).TotalSeconds:F1} s: {left.Count} left; cut silo reaches Redis {reach.Self}, should move {reach.ShouldMove}, {reach.Answer.SinceRenewerReachedMs} ms since its renewer last reached it");
            if (DateTimeOffset.UtcNow - started > TimeSpan.FromSeconds(60))
            {
                Assert.Fail($"{left.Count}/{onCut.Count} matches of the cut silo still there 60 s into the cut");
            }
        }
        while (left.Count > 0);

        var movedAfter = DateTimeOffset.UtcNow - started;
        // Placed on the silo that reaches Redis, they take their leases and write while the cut lasts.
        for (var i = 0; i < 4; i++) await SendRoundAsync(cluster, ids, ++home, newest);
        await cluster.FlushAsync();
        var duringCut = 0;
        foreach (var id in onCut)
        {
            var row = await cluster.Database.Table.ReadAsync(id);
            if (row?.HomeScore == newest[id]) duringCut++;
        }

        relay.Heal();
        await cluster.PersistAndFlushAsync(ids);
        foreach (var id in ids)
        {
            var row = await cluster.Database.Table.ReadAsync(id);
            Assert.True(row?.HomeScore == newest[id], $"{id}: row home {row?.HomeScore}, newest acknowledged {newest[id]}");
        }

        output.WriteLine($"{onCut.Count}/{ids.Length} matches on the cut silo; all on the other {movedAfter.TotalSeconds:F1} s into the cut " +
                         $"(lease TTL {Ttl.TotalSeconds:0} s); {duringCut}/{onCut.Count} written with their newest update before the heal");
        Assert.Equal(onCut.Count, duringCut);
    }

    [Fact]
    public async Task A_redis_outage_seen_by_every_silo_moves_no_match_and_loses_no_acknowledged_update()
    {
        // The interleaving the move must not take: Redis down for every silo; each one, no longer reaching it, could
        // send its matches to a peer that can take no lease either (and back), for as long as the outage lasts.
        var (host, port) = Endpoint(ConfigurationOptions.Parse(TestEnvironment.Redis));
        await using var relay0 = new TcpRelay(host, port);
        await using var relay1 = new TcpRelay(host, port);
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2, new Dictionary<string, string?>
        {
            ["Locks:LeaseTtl"] = OutageTtl.ToString(), // the default: the margins as in production
            [GoalGptCluster.RedisOf("Secondary_1")] = Through(relay0),
            [GoalGptCluster.RedisOf("Secondary_0")] = Through(relay1),
        });
        output.WriteLine(string.Join(", ", cluster.Cluster.Silos.Select(s => s.Name)));
        foreach (var silo in cluster.Cluster.Silos)
        {
            var redis = ((Orleans.TestingHost.InProcessSiloHandle)silo).SiloHost.Services.GetRequiredService<IConnectionMultiplexer>();
            Assert.True(redis.Configuration.Contains($":{relay0.Port}", StringComparison.Ordinal) || redis.Configuration.Contains($":{relay1.Port}", StringComparison.Ordinal),
                $"silo {silo.Name} reaches Redis through a relay");
        }

        var ids = Enumerable.Range(0, 40).Select(i => $"ro{i}-{Guid.NewGuid():N}"[..20]).ToArray();
        var newest = new Dictionary<string, int>();
        var home = 0;
        await SendRoundAsync(cluster, ids, ++home, newest);
        var before = await PerSiloAsync(cluster, ids);
        Assert.True(before.Values.SelectMany(s => s).Distinct().Count() == 2, "matches on both silos before the outage");

        relay0.Cut();
        relay1.Cut();
        var started = DateTimeOffset.UtcNow;
        var moved = new HashSet<string>();
        while (DateTimeOffset.UtcNow - started < OutageTtl * 2.5) // past the TTL and two renewal periods a move waits for, and its probes
        {
            await Task.Delay(500);
            await SendRoundAsync(cluster, ids, ++home, newest);
            var now = await PerSiloAsync(cluster, ids);
            foreach (var id in ids.Where(id => !now.TryGetValue(id, out var s) || !s.SequenceEqual(before[id]))) moved.Add(id);
        }

        relay0.Heal();
        relay1.Heal();
        await cluster.PersistAndFlushAsync(ids);
        foreach (var id in ids)
        {
            var row = await cluster.Database.Table.ReadAsync(id);
            Assert.True(row?.HomeScore == newest[id], $"{id}: row home {row?.HomeScore}, newest acknowledged {newest[id]}");
        }

        output.WriteLine($"{(OutageTtl * 2.5).TotalSeconds:0} s of Redis down for both silos: {moved.Count}/{ids.Length} matches changed silo");
        Assert.Empty(moved);
    }

    private static (string Host, int Port) Endpoint(ConfigurationOptions options) => options.EndPoints[0] switch
    {
        DnsEndPoint d => (d.Host, d.Port),
        IPEndPoint i => (i.Address.ToString(), i.Port),
        var other => throw new InvalidOperationException($"unexpected endpoint {other}"),
    };

    private static string Through(TcpRelay relay)
    {
        var options = ConfigurationOptions.Parse(TestEnvironment.Redis);
        options.EndPoints.Clear();
        options.EndPoints.Add(IPAddress.Loopback, relay.Port);
        return options.ToString(includePassword: true);
    }

    private static async Task SendRoundAsync(GoalGptCluster cluster, string[] ids, int home, Dictionary<string, int> newest)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var results = await Task.WhenAll(ids.Select(id => cluster.Grains.GetGrain<IMatchGrain>(id).Apply(U.Score(UpdateSource.Api, now, 2, home, 0))));
        for (var i = 0; i < ids.Length; i++)
        {
            if (results[i].AnyApplied) newest[ids[i]] = home;
        }
    }

    private static async Task<Dictionary<string, List<SiloAddress>>> PerSiloAsync(GoalGptCluster cluster, string[] ids)
    {
        var wanted = ids.ToHashSet();
        // Silos named: without them the management grain reads the membership table, from Redis, which the cut silo cannot.
        var silos = cluster.Cluster.GetActiveSilos().Select(s => s.SiloAddress).ToArray();
        var stats = await cluster.Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(hostsIds: silos);
        return stats.Where(s => wanted.Contains(s.GrainId.Key.ToString()!))
            .GroupBy(s => s.GrainId.Key.ToString()!)
            .ToDictionary(g => g.Key, g => g.Select(s => s.SiloAddress).ToList());
    }
}
