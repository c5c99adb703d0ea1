using System.Collections.Concurrent;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Five jobs hammer the same 50 matches on a two-silo cluster (real Redis membership, real AdoNet
/// storage, real ts_matches): interleaved, conflicting, duplicated and out-of-order updates.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class ConcurrentWritersTests : IAsyncLifetime
{
    private GoalGptCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await GoalGptCluster.StartAsync(silos: 2);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Five_concurrent_jobs_end_in_the_reference_models_state_with_invariants_held_throughout()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var scripts = Scenario.Build("cw", matches: 50, updatesPerMatch: 40, now, seed: 2026);
        var jobs = Scenario.Distribute(scripts, seed: 11);
        var violations = new ConcurrentQueue<string>();

        using var stopSampling = new CancellationTokenSource();
        var sampler = SampleInvariantsAsync(violations, stopSampling.Token);

        var writers = jobs.Select(job => job.Key == JobKind.MinuteClock
            ? RunMinuteClockAsync(scripts, jobs)
            : RunJobAsync(job.Value)).ToList();
        await Task.WhenAll(writers);

        // Set-once: every other source's attempt to change a kick-off time is refused.
        foreach (var s in scripts)
        {
            var grain = _cluster.Grains.GetGrain<IMatchGrain>(s.Id);
            var attempt = await grain.Apply(new MatchUpdate
            {
                Source = UpdateSource.Api, ObservedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                FirstHalfKickoffTs = s.Kickoff1 - 120, SecondHalfKickoffTs = s.Kickoff2 + 120,
            });
            Assert.DoesNotContain(attempt.Fields, f => f.Outcome == FieldOutcome.Applied);
        }

        await _cluster.PersistAndFlushAsync(scripts.Select(s => s.Id));
        stopSampling.Cancel();
        await sampler;

        Assert.Empty(violations);
        Expectations.RowsMatchModel(await _cluster.Database.Table.ReadAllAsync(), scripts);
    }

    private async Task RunJobAsync(List<(string Id, MatchUpdate Update)> queue)
    {
        foreach (var (id, update) in queue)
        {
            await _cluster.Grains.GetGrain<IMatchGrain>(id).Apply(update);
        }
    }

    private async Task RunMinuteClockAsync(List<MatchScript> scripts, Dictionary<JobKind, List<(string, MatchUpdate)>> jobs)
    {
        var rounds = Math.Max(3, jobs.Values.Max(q => q.Count) / scripts.Count);
        for (var round = 0; round < rounds; round++)
        {
            foreach (var s in scripts)
            {
                await _cluster.Grains.GetGrain<IMatchGrain>(s.Id).RefreshMinute();
            }
        }
    }

    private async Task SampleInvariantsAsync(ConcurrentQueue<string> violations, CancellationToken ct)
    {
        var firstSeen = new Dictionary<string, (long? First, long? Second)>();
        while (!ct.IsCancellationRequested)
        {
            foreach (var row in (await _cluster.Database.Table.ReadAllAsync(CancellationToken.None)).Values)
            {
                if (row.StatusId is 2 or 3 or 4 or 5 or 7 && (row.Minute is null || row.MinuteSource is null))
                {
                    violations.Enqueue($"{row.ExternalId}: live (status {row.StatusId}) with NULL minute");
                }

                if (firstSeen.TryGetValue(row.ExternalId, out var seen))
                {
                    if (seen.First is not null && seen.First != row.FirstHalfKickoffTs) violations.Enqueue($"{row.ExternalId}: first-half kick-off changed");
                    if (seen.Second is not null && seen.Second != row.SecondHalfKickoffTs) violations.Enqueue($"{row.ExternalId}: second-half kick-off changed");
                }

                firstSeen[row.ExternalId] = (row.FirstHalfKickoffTs, row.SecondHalfKickoffTs);
            }

            try
            {
                await Task.Delay(100, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
