using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Two write-behind flushes in flight at once (<see cref="WriteBehindOptions.MaxFlushesInFlight"/>): the second writes other
/// matches while the first waits, and never a newer row of a match the first is writing. The interleaving that would
/// lose an update: flush 1 takes match B's row v1 and waits on a row lock (match A, before B in id order); v2 of B is handed
/// over; flush 2 writes v2; flush 1 then writes v1 over it (the statement's own guard refuses an older observation, not one
/// of the same time: a correction) and its events after v2's. Forced here by holding A's row lock from a second connection.
/// </summary>
[Collection(RealServers.Name)]
public sealed class ConcurrentFlushTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private TsMatchesWriter Writer() => new(_db.Table, TimeProvider.System, new GoalGptMetrics(new TestMeterFactory()),
        Options.Create(new WriteBehindOptions { FlushInterval = TimeSpan.FromMilliseconds(20), MaxFlushesInFlight = 2 }), NullLogger<TsMatchesWriter>.Instance);

    private static TsMatchRow Row(string id, int score, long? observedAt = null) =>
        new() { ExternalId = id, FenceToken = 1, HomeScore = score, HomeScoreSource = "mqtt", HomeScoreTimestamp = observedAt ?? score * 1_000 };

    private static List<AuditEvent> Goal(string id, int to) =>
    [
        new(id, AuditKinds.ValueChanged, "home_score", (to - 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
            to.ToString(System.Globalization.CultureInfo.InvariantCulture), "mqtt", to * 1_000),
    ];

    /// <summary>Holds the row lock of <paramref name="id"/> until disposed (the transaction rolls back).</summary>
    private async Task<(NpgsqlConnection Connection, NpgsqlTransaction Transaction)> HoldRowAsync(string id)
    {
        await _db.ExecuteAsync($"INSERT INTO ts_matches (external_id, fence_token) VALUES ('{id}', 1)");
        var connection = await _db.DataSource.OpenConnectionAsync();
        var tx = await connection.BeginTransactionAsync();
        await using var rowLock = new NpgsqlCommand($"SELECT 1 FROM ts_matches WHERE external_id = '{id}' FOR UPDATE", connection, tx);
        await rowLock.ExecuteNonQueryAsync();
        return (connection, tx);
    }

    private async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        for (var i = 0; i < 3_000; i++)
        {
            if (await condition()) return;
            await Task.Delay(10);
        }

        throw new InvalidOperationException($"not reached within 30 s: {what}");
    }

    private Task<bool> AFlushWaitsOnTheRowLockAsync() => Task.Run(async () =>
        await _db.ScalarAsync("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO ts_matches%'") == 1);

    [Fact]
    public async Task A_second_flush_writes_other_matches_while_the_first_waits_and_never_a_newer_row_of_a_match_the_first_holds()
    {
        await using var writer = Writer();
        var (blocker, tx) = await HoldRowAsync("cf-a");
        await using var closing = blocker; // disposed before the writer: a failed assertion does not leave its flush waiting
        var (a, b, c) = (new WriteCursor(), new WriteCursor(), new WriteCursor());
        writer.Start();
        writer.Enqueue(Row("cf-a", 1), ["home_score"], true, a, 1, false, Goal("cf-a", 1));
        writer.Enqueue(Row("cf-b", 1), ["home_score"], true, b, 1, false, Goal("cf-b", 1));
        await WaitUntilAsync(AFlushWaitsOnTheRowLockAsync, "the first flush (cf-a, cf-b) waiting on cf-a's row lock");

        // v2 corrects v1 at the same observation time: only the order of the writes keeps it.
        writer.Enqueue(Row("cf-b", 2, observedAt: 1_000), ["home_score"], true, b, 2, false, Goal("cf-b", 2));
        writer.Enqueue(Row("cf-c", 1), ["home_score"], true, c, 1, false, Goal("cf-c", 1));
        await WaitUntilAsync(() => Task.FromResult(c.WrittenVersion == 1), "cf-c written by a second flush while the first waits");

        Assert.Equal(0, b.WrittenVersion); // v2 of cf-b waits for the flush that holds v1
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM ts_matches WHERE external_id = 'cf-b'"));
        Assert.Equal(1, writer.Backlog);
        Assert.Equal(2, writer.InFlight);

        await tx.RollbackAsync();
        await writer.FlushAsync();

        Assert.Equal((1L, 2L, 1L), (a.WrittenVersion, b.WrittenVersion, c.WrittenVersion));
        var rows = await _db.Table.ReadAllAsync();
        Assert.Equal(2, rows["cf-b"].HomeScore); // v1 first, then v2: never v1 over v2
        Assert.Equal(1, rows["cf-a"].HomeScore);
        Assert.Equal(1, rows["cf-c"].HomeScore);
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'cf-b'"));
    }

    [Fact]
    public async Task A_flush_that_fails_while_a_newer_row_of_its_match_waits_loses_nothing_and_writes_each_event_once()
    {
        await using var writer = Writer();
        var (blocker, tx) = await HoldRowAsync("cf-fa");
        await using var closing = blocker; // disposed before the writer: a failed assertion does not leave its flush waiting
        var (a, b) = (new WriteCursor(), new WriteCursor());
        writer.Start();
        writer.Enqueue(Row("cf-fa", 1), ["home_score"], true, a, 1, false, Goal("cf-fa", 1));
        writer.Enqueue(Row("cf-fb", 1), ["home_score"], true, b, 1, false, Goal("cf-fb", 1));
        await WaitUntilAsync(AFlushWaitsOnTheRowLockAsync, "the first flush waiting on cf-fa's row lock");
        writer.Enqueue(Row("cf-fb", 2), ["home_score"], true, b, 2, false, Goal("cf-fb", 2));

        // The waiting flush's session is killed: the flush fails; its rows go back in the queue (cf-fb's under its v2).
        Assert.Equal(1, await _db.ScalarAsync(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO ts_matches%'"));
        await tx.RollbackAsync();
        await WaitUntilAsync(() => Task.FromResult(a.WrittenVersion == 1 && b.WrittenVersion == 2), "both matches written after the failure");
        await writer.FlushAsync();

        var rows = await _db.Table.ReadAllAsync();
        Assert.Equal(2, rows["cf-fb"].HomeScore);
        Assert.Equal(1, rows["cf-fa"].HomeScore);
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'cf-fb'"));
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'cf-fa'"));
        Assert.Equal((0, 0), (writer.Backlog, writer.InFlight));
    }
}
