using Npgsql;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;
using U = Orleans.GoalGpt.Tests.Merge.Updates;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Issue 13: an overloaded silo pushes back instead of queueing without limit, and its leases outlive a
/// starved thread pool. Everything is asserted as counts; the stall and the blocked writes are forced.
/// </summary>
[Collection(RealServers.Name)]
public sealed class BackPressureTests(ITestOutputHelper output)
{
    private const int Matches = 150;
    private const int MaxBacklog = 100;

    [Fact]
    public async Task A_flooded_silo_refuses_retryably_at_its_write_behind_bound_loses_nothing_acknowledged_and_keeps_its_leases_through_a_thread_pool_stall()
    {
        using var totals = new MetricTotals();
        var settings = new Dictionary<string, string?>
        {
            ["WriteBehind:MaxBacklog"] = MaxBacklog.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Locks:LeaseTtl"] = "00:00:03",
        };
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1, settings);
        var ids = Enumerable.Range(0, Matches).Select(i => $"bp{i}-{Guid.NewGuid():N}"[..24]).ToList();
        var t = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000;
        await ApplyUntilAdmittedAsync(cluster, ids, U.Score(UpdateSource.Api, t, 2, 0, 0));
        await cluster.PersistAndFlushAsync(ids);
        var epochs = await FenceTokensAsync(cluster.Database.DataSource, ids);

        // 1. The thread pool stalls for more than two lease lifetimes: far more blockers than threads, each holding
        // its thread until one common moment (the pool adds threads slowly, and they block too). The renewer (a
        // thread of its own, blocking Redis calls answered on the connection's socket threads) must keep every lease.
        var stall = TimeSpan.FromSeconds(8);
        var until = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(stall.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        // PreferFairness: into the pool's global queue, where timer callbacks and I/O completions queue behind them.
        var blockers = Enumerable.Range(0, 2_000).Select(_ => Task.Factory.StartNew(() =>
        {
            var left = System.Diagnostics.Stopwatch.GetElapsedTime(System.Diagnostics.Stopwatch.GetTimestamp(), until);
            if (left > TimeSpan.Zero) Thread.Sleep(left);
        }, CancellationToken.None, TaskCreationOptions.PreferFairness, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(blockers);

        // Every lease is still the first one: a write per match goes through without a take-over.
        await ApplyUntilAdmittedAsync(cluster, ids, U.Score(UpdateSource.Api, t + 5_000, 2, 0, 0));
        await cluster.PersistAndFlushAsync(ids);
        output.WriteLine($"after the stall: leases lost {totals["goalgpt.lock.renewals_lost"]}");
        Assert.Equal(0, totals["goalgpt.lock.renewals_lost"]);
        Assert.Equal(epochs, await FenceTokensAsync(cluster.Database.DataSource, ids));

        // 2. Writes blocked (every row locked): the first match's row is taken by a flush that then waits on its lock;
        // then one update per other match, sequentially (a second flush may take some of them and wait too). The rows
        // not yet written, waiting or in those flushes, fill to the bound; from then on a match without a waiting row
        // is refused, every field with the retryable reason.
        var refused = new List<string>();
        var acknowledged = new List<string>();
        var refusalsBefore = totals["goalgpt.writebehind.backlog_refusals"];
        await using (var blocker = await cluster.Database.DataSource.OpenConnectionAsync())
        {
            await using var tx = await blocker.BeginTransactionAsync();
            await using (var rowLock = new NpgsqlCommand("SELECT 1 FROM ts_matches FOR UPDATE", blocker, tx)) await rowLock.ExecuteNonQueryAsync();
            var writer = cluster.Writers.Single();
            await cluster.Grains.GetGrain<IMatchGrain>(ids[0]).Apply(U.Score(UpdateSource.Mqtt, t + 10_000, 2, 1, 0));
            acknowledged.Add(ids[0]);
            while (writer.Backlog > 0) await Task.Delay(20); // taken by the flush now blocked
            foreach (var id in ids.Skip(1))
            {
                var result = await cluster.Grains.GetGrain<IMatchGrain>(id).Apply(U.Score(UpdateSource.Mqtt, t + 10_000, 2, 1, 0));
                if (result.Fields.Any(f => f.Reason == RejectReasons.BacklogFull))
                {
                    Assert.All(result.Fields, f => Assert.Equal((FieldOutcome.Rejected, RejectReasons.BacklogFull), (f.Outcome, f.Reason)));
                    refused.Add(id);
                }
                else
                {
                    Assert.Contains(result.Fields, f => f.Field == "home_score" && f.Outcome == FieldOutcome.Applied);
                    acknowledged.Add(id);
                }
            }

            await tx.RollbackAsync();
        }

        var refusalsCounted = totals["goalgpt.writebehind.backlog_refusals"] - refusalsBefore;
        output.WriteLine($"acknowledged {acknowledged.Count}, refused {refused.Count}, refusals counted {refusalsCounted}");
        Assert.Equal(MaxBacklog, acknowledged.Count); // the bound, the rows in the blocked flushes counted
        Assert.Equal(Matches - MaxBacklog, refused.Count);
        Assert.Equal(refused.Count, refusalsCounted);

        // 3. The callers send the refused updates again once the writes flow; then every row holds every update.
        await ApplyUntilAdmittedAsync(cluster, refused, U.Score(UpdateSource.Mqtt, t + 10_000, 2, 1, 0));
        await cluster.PersistAndFlushAsync(ids);
        var rows = await Task.WhenAll(ids.Select(id => cluster.Database.Table.ReadAsync(id)));
        Assert.All(rows, r => Assert.Equal((1, "mqtt"), (r!.HomeScore!.Value, r.HomeScoreSource)));

        // No lease lapsed or was taken again through all of it: the epochs are those of the first activation.
        Assert.Equal(0, totals["goalgpt.lock.renewals_lost"]);
        Assert.Equal(epochs, await FenceTokensAsync(cluster.Database.DataSource, ids));
    }

    /// <summary>What a caller does with a retryable refusal: waits for the writes to drain and sends again.</summary>
    private static async Task ApplyUntilAdmittedAsync(GoalGptCluster cluster, List<string> ids, MatchUpdate update)
    {
        var pending = ids;
        for (var round = 0; pending.Count > 0; round++)
        {
            Assert.True(round < 100, $"{pending.Count} updates still refused after 100 rounds");
            var again = new List<string>();
            foreach (var id in pending)
            {
                var result = await cluster.Grains.GetGrain<IMatchGrain>(id).Apply(update);
                if (result.Fields.Any(f => f.Reason == RejectReasons.BacklogFull)) again.Add(id);
            }

            pending = again;
            if (pending.Count > 0) await cluster.FlushAsync();
        }
    }

    private static async Task<Dictionary<string, long>> FenceTokensAsync(NpgsqlDataSource db, List<string> ids)
    {
        await using var cmd = db.CreateCommand("SELECT external_id, fence_token FROM ts_matches WHERE external_id = ANY(@ids)");
        cmd.Parameters.AddWithValue("ids", ids.ToArray());
        await using var r = await cmd.ExecuteReaderAsync();
        var tokens = new Dictionary<string, long>(StringComparer.Ordinal);
        while (await r.ReadAsync()) tokens[r.GetString(0)] = r.GetInt64(1);
        return tokens;
    }
}
