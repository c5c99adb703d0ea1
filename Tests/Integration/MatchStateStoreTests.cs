using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// The match grains' batched state store (issue 13: cold start): what batching must not change is the
/// optimistic concurrency every caller relies on (an activation that lost its lease is fenced out by it). Each
/// refusal is forced: the row locked from a second connection while the write waits, the two writes in one batch.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class MatchStateStoreTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(MatchState).Assembly).AddAssembly(typeof(Provenanced<>).Assembly))
        .BuildServiceProvider().GetRequiredService<Serializer>();

    private static MatchStateStore Store(TestDatabase db) => new(db.DataSource, Serializer, NullLogger<MatchStateStore>.Instance);

    private static GrainId NewGrain(string prefix) => GrainId.Create("match", $"{prefix}-{Guid.NewGuid():N}"[..24]);

    private static GrainState<MatchState> State(int status) =>
        new() { State = new MatchState { Status = new Provenanced<int>(status, UpdateSource.Api, 1_000 + status) } };

    [Fact]
    public async Task A_state_round_trips_its_version_counts_its_writes_and_a_missing_one_reads_as_new()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var store = Store(db);
        var id = NewGrain("rt");

        var missing = new GrainState<MatchState>();
        await store.ReadStateAsync("match", id, missing);
        Assert.False(missing.RecordExists);
        Assert.Null(missing.ETag);
        Assert.NotNull(missing.State);

        var state = State(2);
        await store.WriteStateAsync("match", id, state);
        Assert.Equal("1", state.ETag);
        state.State!.HomeScore = new Provenanced<int>(1, UpdateSource.Mqtt, 2_000);
        await store.WriteStateAsync("match", id, state);
        Assert.Equal("2", state.ETag);

        var read = new GrainState<MatchState>();
        await store.ReadStateAsync("match", id, read);
        Assert.True(read.RecordExists);
        Assert.Equal("2", read.ETag);
        Assert.Equal(2, read.State!.Status?.Value);
        Assert.Equal((1, UpdateSource.Mqtt, 2_000L), (read.State!.HomeScore!.Value, read.State!.HomeScore.Source, read.State!.HomeScore.ObservedAtMs));
    }

    [Fact]
    public async Task A_cleared_state_keeps_counting_its_version_so_an_old_etag_never_matches_again()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var store = Store(db);
        var id = NewGrain("clr");
        var state = State(2);
        await store.WriteStateAsync("match", id, state);
        var old = new GrainState<MatchState> { State = State(5).State, ETag = "1" };
        await store.ClearStateAsync("match", id, state);
        Assert.Equal(("2", false), (state.ETag, state.RecordExists));

        var read = new GrainState<MatchState>();
        await store.ReadStateAsync("match", id, read);
        Assert.Equal(("2", false), (read.ETag, read.RecordExists));
        await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteStateAsync("match", id, old));
        await store.WriteStateAsync("match", id, read);
        Assert.Equal("3", read.ETag);
    }

    [Fact]
    public async Task A_write_with_an_old_version_or_a_second_first_write_is_refused_and_changes_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var store = Store(db);
        var id = NewGrain("old");
        var mine = State(2);
        await store.WriteStateAsync("match", id, mine);
        var theirs = new GrainState<MatchState>();
        await store.ReadStateAsync("match", id, theirs);
        theirs.State!.Status = new Provenanced<int>(3, UpdateSource.Api, 5_000);
        await store.WriteStateAsync("match", id, theirs); // version 2

        mine.State!.Status = new Provenanced<int>(8, UpdateSource.Api, 9_000);
        await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteStateAsync("match", id, mine));
        var fresh = State(8); // no ETag: "this grain has no state yet", but it has
        await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteStateAsync("match", id, fresh));

        var read = new GrainState<MatchState>();
        await store.ReadStateAsync("match", id, read);
        Assert.Equal(("2", 3), (read.ETag, read.State!.Status?.Value));
    }

    [Fact]
    public async Task A_write_waiting_for_a_row_another_writer_holds_is_checked_against_the_version_that_writer_commits()
    {
        // The interleaving: this write reads version 1 as expected, another writer (a new activation elsewhere)
        // commits version 2 while this statement waits for the row; a check against the statement's snapshot
        // would let the old activation overwrite the new one's state.
        await using var db = await TestDatabase.CreateAsync();
        using var store = Store(db);
        var id = NewGrain("race");
        var old = State(2);
        await store.WriteStateAsync("match", id, old); // version 1

        await using var other = await db.DataSource.OpenConnectionAsync();
        await using var tx = await other.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("UPDATE match_state SET version = version + 1, state = state WHERE grain_id = @id", other, tx))
        {
            hold.Parameters.AddWithValue("id", MatchStateStore.Key("match", id));
            Assert.Equal(1, await hold.ExecuteNonQueryAsync());
        }

        old.State!.Status = new Provenanced<int>(8, UpdateSource.Api, 9_000);
        var write = store.WriteStateAsync("match", id, old);
        await WaitUntilBlockedAsync(db, "match_state");
        Assert.False(write.IsCompleted);
        await tx.CommitAsync();

        await Assert.ThrowsAsync<InconsistentStateException>(() => write);
        var read = new GrainState<MatchState>();
        await store.ReadStateAsync("match", id, read);
        Assert.Equal(("2", 2), (read.ETag, read.State!.Status?.Value));
    }

    [Fact]
    public async Task Two_writes_of_one_state_that_meet_in_a_batch_are_decided_one_after_the_other()
    {
        // Two activations of one match (one moving) both write from version 1 at the same moment, and their writes
        // land in one batch: in one statement both would "update" the row, and both would be told they won.
        await using var db = await TestDatabase.CreateAsync();
        using var store = Store(db);
        var id = NewGrain("dup");
        var seed = State(2);
        await store.WriteStateAsync("match", id, seed);

        // Both store threads wait on rows held elsewhere, so that what is queued next goes as one batch.
        var blockers = new[] { NewGrain("b1"), NewGrain("b2") };
        var held = new List<GrainState<MatchState>>();
        foreach (var b in blockers)
        {
            var s = State(1);
            await store.WriteStateAsync("match", b, s);
            held.Add(s);
        }

        await using var other = await db.DataSource.OpenConnectionAsync();
        await using var tx = await other.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT 1 FROM match_state WHERE grain_id = ANY(@ids) FOR UPDATE", other, tx))
        {
            hold.Parameters.AddWithValue("ids", blockers.Select(b => MatchStateStore.Key("match", b)).ToArray());
            await hold.ExecuteNonQueryAsync();
        }

        var blocked = new List<Task>();
        for (var i = 0; i < 2; i++)
        {
            blocked.Add(store.WriteStateAsync("match", blockers[i], held[i]));
            await WaitUntilBlockedAsync(db, "match_state", i + 1);
        }

        var a = new GrainState<MatchState> { State = new MatchState { Status = new Provenanced<int>(3, UpdateSource.Api, 3_000) }, ETag = "1" };
        var b2 = new GrainState<MatchState> { State = new MatchState { Status = new Provenanced<int>(4, UpdateSource.Api, 4_000) }, ETag = "1" };
        var first = Outcome(store.WriteStateAsync("match", id, a));
        var second = Outcome(store.WriteStateAsync("match", id, b2));
        await tx.CommitAsync();
        await Task.WhenAll(blocked);

        var outcomes = await Task.WhenAll(first, second);
        Assert.Equal(1, outcomes.Count(o => o));
        var winner = outcomes[0] ? a : b2;
        var read = new GrainState<MatchState>();
        await store.ReadStateAsync("match", id, read);
        Assert.Equal(("2", winner.State!.Status!.Value), (read.ETag, read.State!.Status?.Value));

        static async Task<bool> Outcome(Task write)
        {
            try
            {
                await write;
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        }
    }

    [Fact]
    public async Task Many_states_read_and_written_at_once_each_get_their_own_answer_and_a_stale_one_among_them_alone_is_refused()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var store = Store(db);
        var ids = Enumerable.Range(0, 2_000).Select(_ => NewGrain("many")).ToArray();
        var states = ids.Select((_, i) => State(i % 8 + 1)).ToArray();
        await Task.WhenAll(ids.Select((id, i) => store.WriteStateAsync("match", id, states[i])));
        Assert.All(states, s => Assert.Equal("1", s.ETag));

        states[7].ETag = "5"; // stale (or from the future): refused
        var writes = ids.Select((id, i) => store.WriteStateAsync("match", id, states[i])).ToArray();
        var reads = ids.Select(_ => new GrainState<MatchState>()).ToArray();
        await Assert.ThrowsAsync<InconsistentStateException>(() => writes[7]);
        await Task.WhenAll(writes.Where((_, i) => i != 7));
        await Task.WhenAll(ids.Select((id, i) => store.ReadStateAsync("match", id, reads[i])));
        for (var i = 0; i < ids.Length; i++)
        {
            Assert.Equal(i == 7 ? "1" : "2", reads[i].ETag);
            Assert.Equal(i % 8 + 1, reads[i].State!.Status?.Value);
        }
    }

    [Fact]
    public async Task A_state_the_previous_version_kept_in_orleansstorage_is_moved_once_and_the_grain_starts_from_it()
    {
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1);
        var silo = cluster.Cluster.Silos.OfType<InProcessSiloHandle>().First().SiloHost.Services;
        var legacy = silo.GetRequiredKeyedService<IGrainStorage>(StorageNames.Matches);
        var matchId = $"legacy-{Guid.NewGuid():N}"[..24];
        // A key that reads as a number: the AdoNet provider keeps it in its numeric columns, not as text.
        var hexId = Guid.NewGuid().ToString("N")[..12];
        await cluster.Database.ExecuteAsync($"INSERT INTO ts_matches (external_id) VALUES ('{hexId}')");
        var t = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000;
        // No row holds these values: what the grain shows comes from the moved state.
        var old = new GrainState<MatchState>
        {
            State = new MatchState
            {
                Status = new Provenanced<int>(4, UpdateSource.Api, t),
                HomeScore = new Provenanced<int>(3, UpdateSource.Mqtt, t),
            },
        };
        await legacy.WriteStateAsync("match", GrainId.Create("match", matchId), old);
        await legacy.WriteStateAsync("match", GrainId.Create("match", hexId), new GrainState<MatchState>
        {
            State = new MatchState { Status = new Provenanced<int>(3, UpdateSource.Api, t) },
        });
        Assert.Equal(1L, await cluster.Database.ScalarAsync($"SELECT count(*) FROM orleansstorage WHERE grainidextensionstring = '{matchId}'"));
        Assert.Equal(1L, await cluster.Database.ScalarAsync("SELECT count(*) FROM orleansstorage WHERE graintypestring = 'match' AND grainidextensionstring IS NULL"));

        // Two silos starting together: both find work, both wait for the import's lock (held here until both wait);
        // the one that gets it second must find nothing left to move.
        var import = silo.GetRequiredService<MatchStateImport>();
        await using var holder = await cluster.Database.DataSource.OpenConnectionAsync();
        await using (var hold = new NpgsqlCommand($"SELECT pg_advisory_lock({MatchStateImport.AdvisoryLockKey})", holder)) await hold.ExecuteNonQueryAsync();
        var imports = new[] { import.ImportAsync(CancellationToken.None), import.ImportAsync(CancellationToken.None) };
        for (var i = 0; await cluster.Database.ScalarAsync($"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = {MatchStateImport.AdvisoryLockKey & 0xFFFF_FFFF}") < 2; i++)
        {
            Assert.True(i < 1_000, "the two imports never waited for the lock");
            await Task.Delay(10);
        }

        await using (var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({MatchStateImport.AdvisoryLockKey})", holder)) await release.ExecuteNonQueryAsync();
        Assert.Equal([0, 2], (await Task.WhenAll(imports)).Order());
        Assert.Equal(0, await import.ImportAsync(CancellationToken.None)); // and nothing at the next start
        Assert.Equal(2L, await cluster.Database.ScalarAsync($"SELECT count(*) FROM match_state WHERE grain_id IN ('match/{matchId}', 'match/{hexId}')"));
        Assert.Equal(0L, await cluster.Database.ScalarAsync("SELECT count(*) FROM orleansstorage WHERE graintypestring = 'match' AND payloadbinary IS NOT NULL"));

        var snapshot = await cluster.Grains.GetGrain<IMatchGrain>(matchId).GetSnapshot();
        Assert.Equal(4, snapshot.Status?.Value);
        Assert.Equal(3, snapshot.HomeScore?.Value);
        Assert.Equal(3, (await cluster.Grains.GetGrain<IMatchGrain>(hexId).GetSnapshot()).Status?.Value);
    }

    /// <summary>Waits until <paramref name="count"/> sessions wait for a lock on <paramref name="table"/>.</summary>
    private static async Task WaitUntilBlockedAsync(TestDatabase db, string table, int count = 1)
    {
        for (var i = 0; i < 2_000; i++)
        {
            var waiting = await db.ScalarAsync(
                $"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%{table}%'");
            if (waiting >= count) return;
            await Task.Delay(10);
        }

        throw new InvalidOperationException($"no write waited for a lock on {table}");
    }
}
