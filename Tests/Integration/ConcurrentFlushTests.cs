using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
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

    private TsMatchesWriter Writer(TimeSpan? interval = null, ILogger<TsMatchesWriter>? logger = null) => new(_db.Table, TimeProvider.System,
        new GoalGptMetrics(new TestMeterFactory()),
        Options.Create(new WriteBehindOptions { FlushInterval = interval ?? TimeSpan.FromMilliseconds(20), MaxFlushesInFlight = 2, MaxRetryDelay = TimeSpan.FromMilliseconds(200) }),
        logger ?? NullLogger<TsMatchesWriter>.Instance);

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

    private const string Waiting = "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO ts_matches%'";

    private Task<bool> AFlushWaitsOnTheRowLockAsync() => FlushesWaitAsync(1);

    private async Task<bool> FlushesWaitAsync(int count) => await _db.ScalarAsync($"SELECT count(*) {Waiting}") == count;

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

    [Fact]
    public async Task A_flush_that_was_writing_when_another_failed_does_not_announce_the_recovery()
    {
        // Flush 1 (os-a) waits on a row lock; flush 2 (os-b) waits on another and its session is killed: the outage is
        // logged. Flush 1 then succeeds, but it started before the failure: only os-b's retry, after it, ends the outage.
        // (The retry waits for flush 1 to end: after a failure the loop writes one flush at a time.)
        var logger = new Recording();
        await using var writer = Writer(logger: logger);
        var (first, firstTx) = await HoldRowAsync("os-a");
        await using var closeFirst = first;
        var (second, secondTx) = await HoldRowAsync("os-b");
        await using var closeSecond = second;
        var (a, b) = (new WriteCursor(), new WriteCursor());
        writer.Start();
        writer.Enqueue(Row("os-a", 1), ["home_score"], true, a, 1);
        await WaitUntilAsync(() => FlushesWaitAsync(1), "os-a's flush waiting");
        var firstPid = await _db.ScalarAsync($"SELECT min(pid) {Waiting}");
        writer.Enqueue(Row("os-b", 1), ["home_score"], true, b, 1);
        await WaitUntilAsync(() => FlushesWaitAsync(2), "os-b's flush waiting too");
        Assert.Equal(1, await _db.ScalarAsync($"SELECT count(pg_terminate_backend(pid)) {Waiting} AND pid <> {firstPid}"));
        await WaitUntilAsync(() => Task.FromResult(logger.Ids.Contains(2002)), "the failure logged");

        // Flush 1 ends first (with success); os-b's retry, alone after it, waits on os-b's lock: the outage goes on.
        await firstTx.RollbackAsync();
        await WaitUntilAsync(() => Task.FromResult(a.WrittenVersion == 1), "flush 1 written");
        await WaitUntilAsync(AFlushWaitsOnTheRowLockAsync, "os-b's retry waiting (it starts once flush 1 has ended)");
        Assert.Equal([2002], logger.Ids);

        await secondTx.RollbackAsync();
        await WaitUntilAsync(() => Task.FromResult(b.WrittenVersion == 1), "os-b written");
        await WaitUntilAsync(() => Task.FromResult(logger.Ids.Contains(2003)), "the recovery logged");
        Assert.Equal([2002, 2003], logger.Ids);
        Assert.EndsWith("; 0 matches still pending", logger.Messages[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_row_someone_waits_for_that_a_flush_passed_over_is_written_when_its_match_is_free_not_at_the_next_interval()
    {
        // A deactivation hands over its last row and wakes the loop while the match's previous row is still being
        // written: the wake-up finds nothing else to write. The row must go when the match is free, not an interval later.
        await using var writer = Writer(interval: TimeSpan.FromHours(1));
        var (blocker, tx) = await HoldRowAsync("ur-a");
        await using var closing = blocker;
        var cursor = new WriteCursor();
        writer.Start();
        writer.Enqueue(Row("ur-a", 1), ["home_score"], true, cursor, 1);
        writer.Wake();
        await WaitUntilAsync(AFlushWaitsOnTheRowLockAsync, "the first row's flush waiting");
        var other = new WriteCursor();
        writer.Enqueue(Row("ur-a", 2), ["deactivate"], false, cursor, 2, urgent: true);
        writer.Enqueue(Row("ur-b", 1), ["home_score"], true, other, 1);
        writer.Wake();
        // The wake-up's flush wrote ur-b and passed ur-a over (its previous row still being written).
        await WaitUntilAsync(() => Task.FromResult(other.WrittenVersion == 1), "the wake-up's flush of the other match");
        Assert.Equal(0, cursor.WrittenVersion);
        await tx.RollbackAsync();

        await WaitUntilAsync(() => Task.FromResult(cursor.WrittenVersion == 2), "the urgent row written once its match is free");
        Assert.Equal(2, (await _db.Table.ReadAllAsync())["ur-a"].HomeScore);
    }

    /// <summary>Records the writer's log events (id and message), in order.</summary>
    private sealed class Recording : ILogger<TsMatchesWriter>
    {
        private readonly ConcurrentQueue<(int Id, string Message)> _logged = new();

        public List<int> Ids => [.. _logged.Select(l => l.Id)];

        public List<string> Messages => [.. _logged.Select(l => l.Message)];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) _logged.Enqueue((eventId.Id, formatter(state, exception)));
        }
    }
}
