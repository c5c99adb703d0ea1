using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>An audit event is written once: not again on a retry after a lost commit acknowledgement, and never with another activation's row.</summary>
[Collection(RealServers.Name)]
public sealed class AuditEventsOnceTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static TsMatchesWriter Writer(TsMatchesTable table) => new(table, TimeProvider.System, new GoalGptMetrics(new TestMeterFactory()),
        Options.Create(new WriteBehindOptions()), NullLogger<TsMatchesWriter>.Instance);

    private static AuditEvent Goal(string id, int to, long at) => new(id, AuditKinds.ValueChanged, "home_score", (to - 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
        to.ToString(System.Globalization.CultureInfo.InvariantCulture), "mqtt", at);

    [Fact]
    public async Task A_flush_retried_after_its_commit_is_not_recorded_twice()
    {
        var row = new TsMatchRow { ExternalId = "once-a", FenceToken = 1, HomeScore = 2, HomeScoreSource = "mqtt", HomeScoreTimestamp = 2_000 };
        List<AuditEvent> events = [Goal("once-a", 1, 1_000), Goal("once-a", 2, 2_000)];
        Assert.Empty(await _db.Table.UpsertAsync([row], events, mayBeWritten: false));
        // The acknowledgement was lost: the write-behind sends the same rows and events again.
        Assert.Empty(await _db.Table.UpsertAsync([row], events, mayBeWritten: true));
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'once-a'"));
    }

    [Fact]
    public async Task The_write_behind_retrying_a_flush_whose_commit_acknowledgement_was_lost_records_its_events_once()
    {
        // Forced: PostgreSQL commits the flush, the relay drops its ReadyForQuery and cuts the connection. The writer
        // cannot know it committed and sends the rows and events again (with a newer row of the same match queued
        // meanwhile): only a look-up on that retry keeps the history from showing each goal twice.
        await using var relay = new LostAcknowledgementRelay(_db.ConnectionString);
        await using var dataSource = Npgsql.NpgsqlDataSource.Create(relay.ConnectionString);
        await using var writer = Writer(new TsMatchesTable(dataSource));
        var cursor = new WriteCursor();
        TsMatchRow Row(int score) => new() { ExternalId = "once-c", FenceToken = 1, HomeScore = score, HomeScoreSource = "mqtt", HomeScoreTimestamp = score * 1_000 };
        writer.Enqueue(Row(1), ["home_score"], true, cursor, 1, false, [Goal("once-c", 1, 1_000)]);
        Assert.True(await writer.WriteBatchAsync()); // the connection opened and its types loaded: the next statement is the flush

        writer.Enqueue(Row(3), ["home_score"], true, cursor, 2, false, [Goal("once-c", 2, 2_000), Goal("once-c", 3, 3_000)]);
        relay.Arm();
        Assert.False(await writer.WriteBatchAsync());
        Assert.Equal(1, relay.Dropped);
        Assert.Equal(3, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'once-c'")); // it did commit
        Assert.Equal(1, cursor.WrittenVersion);

        writer.Enqueue(Row(4), ["home_score"], true, cursor, 3, false, [Goal("once-c", 4, 4_000)]);
        Assert.True(await writer.WriteBatchAsync());
        Assert.Equal(3, cursor.WrittenVersion);
        Assert.Equal(4, await _db.ScalarAsync("SELECT home_score FROM ts_matches WHERE external_id = 'once-c'"));
        Assert.Equal(4, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'once-c'"));
        Assert.Equal(4, await _db.ScalarAsync("SELECT count(DISTINCT new_value) FROM match_events WHERE external_id = 'once-c'"));
    }

    [Fact]
    public async Task Events_decided_again_from_a_hand_over_are_not_recorded_twice_when_the_first_activations_flush_committed()
    {
        // The older activation's flush committed (its acknowledgement lost), its retry was fenced out, and it handed
        // its updates over: the next activation decides them again (Adopt) and records events already there.
        await using var writer = Writer(_db.Table);
        var rejected = Goal("once-d", 7, 1_000) with { Kind = AuditKinds.InputRejected, Reason = "out_of_range" };
        Assert.Empty(await _db.Table.UpsertAsync([new TsMatchRow { ExternalId = "once-d", FenceToken = 1 }], [rejected], mayBeWritten: false));

        writer.Enqueue(new TsMatchRow { ExternalId = "once-d", FenceToken = 2, HomeScore = 1, HomeScoreSource = "mqtt", HomeScoreTimestamp = 2_000 },
            ["home_score"], true, new WriteCursor(), 1, false, [rejected with { MayExist = true }, Goal("once-d", 1, 2_000)]);
        Assert.True(await writer.WriteBatchAsync());
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'once-d'"));
    }

    [Fact]
    public async Task Events_of_an_older_activation_do_not_ride_with_the_next_activations_row()
    {
        await using var writer = Writer(_db.Table);
        var (older, newer) = (new WriteCursor(), new WriteCursor());
        // The older activation's row is still queued when the next one (a newer epoch) hands over its own.
        writer.Enqueue(new TsMatchRow { ExternalId = "once-b", FenceToken = 1, HomeScore = 1, HomeScoreSource = "mqtt", HomeScoreTimestamp = 1_000 },
            ["home_score"], true, older, 1, false, [Goal("once-b", 1, 1_000)]);
        writer.Enqueue(new TsMatchRow { ExternalId = "once-b", FenceToken = 2, HomeScore = 0, HomeScoreSource = "api", HomeScoreTimestamp = 500 },
            ["home_score"], true, newer, 1, false, [Goal("once-b", 0, 500) with { Kind = AuditKinds.InputRejected }]);
        Assert.True(await writer.WriteBatchAsync());

        Assert.Equal(1, newer.WrittenVersion);
        Assert.Equal(1, older.RefusedToken); // refused as the database would refuse its epoch: its activation hands its updates over
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'once-b'"));
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'once-b' AND kind = 'value_changed'"));
    }

}
