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

    private static AuditEvent Goal(string id, int to, long at) => new(id, AuditKinds.ValueChanged, "home_score", (to - 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
        to.ToString(System.Globalization.CultureInfo.InvariantCulture), "mqtt", at);

    [Fact]
    public async Task A_flush_retried_after_its_commit_is_not_recorded_twice()
    {
        var row = new TsMatchRow { ExternalId = "once-a", FenceToken = 1, HomeScore = 2, HomeScoreSource = "mqtt", HomeScoreTimestamp = 2_000 };
        List<AuditEvent> events = [Goal("once-a", 1, 1_000), Goal("once-a", 2, 2_000)];
        Assert.Empty(await _db.Table.UpsertAsync([row], events));
        // The acknowledgement was lost: the write-behind sends the same rows and events again.
        Assert.Empty(await _db.Table.UpsertAsync([row], events));
        Assert.Equal(2, await _db.ScalarAsync("SELECT count(*) FROM match_events WHERE external_id = 'once-a'"));
    }

    [Fact]
    public async Task Events_of_an_older_activation_do_not_ride_with_the_next_activations_row()
    {
        var metrics = new GoalGptMetrics(new TestMeterFactory());
        await using var writer = new TsMatchesWriter(_db.Table, TimeProvider.System, metrics,
            Options.Create(new WriteBehindOptions()), NullLogger<TsMatchesWriter>.Instance);
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
