using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Ownership;
using Orleans.GoalGpt.Grains.Storage;

namespace Orleans.GoalGpt.Silo;

/// <summary>
/// Joins the silo lifecycle: refuses to start on an unmigrated database (or migrates, when asked),
/// starts the write-behind before grains run, and drains it after they are deactivated on stop.
/// </summary>
internal sealed partial class SiloStartup(
    SchemaMigrator migrator,
    TsMatchesWriter writer,
    HandOvers handOvers,
    MatchLocks locks, // resolved here so that Redis is connected at start, not in the first grain activation

    IOptions<DatabaseOptions> database,
    ILogger<SiloStartup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe<SiloStartup>(ServiceLifecycleStage.RuntimeInitialize, CheckSchemaAsync);
        // Stops run in reverse stage order: this one after grains were deactivated and flushed to the writer.
        lifecycle.Subscribe<SiloStartup>(ServiceLifecycleStage.RuntimeStorageServices, StartWriterAsync, StopWriterAsync);
        lifecycle.Subscribe<SiloStartup>(ServiceLifecycleStage.Active, ReadyAsync);
    }

    private async Task CheckSchemaAsync(CancellationToken ct)
    {
        if (database.Value.MigrateOnStart)
        {
            await migrator.MigrateAsync(ct);
            return;
        }

        var pending = migrator.Pending();
        if (pending.Count > 0)
        {
            throw new InvalidOperationException(
                $"The database is not migrated ({pending.Count} pending: {string.Join(", ", pending)}); {SchemaMigrator.MigrateHint}.");
        }
    }

    private Task StartWriterAsync(CancellationToken ct)
    {
        _ = locks.Ttl;
        writer.Start();
        return Task.CompletedTask;
    }

    // Hand-overs first (they carry acknowledged updates to other silos while messaging still runs), then the rows.
    private async Task StopWriterAsync(CancellationToken ct)
    {
        await handOvers.DrainAsync(ct);
        await writer.StopAsync(ct);
    }

    private Task ReadyAsync(CancellationToken ct)
    {
        LogReady();
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Match orchestrator ready: silo active, write-behind to ts_matches running")]
    private partial void LogReady();
}
