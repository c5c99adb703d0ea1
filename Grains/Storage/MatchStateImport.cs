using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// Moves the match grains' states that a previous version kept in the AdoNet provider's <c>orleansstorage</c> into
/// <c>match_state</c> (migration 0008), at the silo's start and before any grain runs: read through that provider
/// (its format), written in this store's, then cleared there through the provider (version-checked). Under an
/// advisory lock, so that silos starting together move each state once; a state already in <c>match_state</c> is
/// kept. A state the old provider cannot read is left where it is and logged; the grain then starts from its row.
/// Every silo of the previous version must be stopped first (as for 0006): one still running writes there.
/// </summary>
public sealed partial class MatchStateImport(
    NpgsqlDataSource db,
    IServiceProvider services,
    Serializer serializer,
    IOptions<ClusterOptions> cluster,
    ILogger<MatchStateImport> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>The advisory lock the import runs under (one silo at a time).</summary>
    public const long AdvisoryLockKey = 0x60A1_6971;
    private const int Chunk = 500;

    // After the AdoNet provider has started (ApplicationServices), before the silo takes calls (Active).
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe<MatchStateImport>(ServiceLifecycleStage.ApplicationServices + 1, ct => ImportAsync(ct));

    /// <summary>Moves every legacy match state of this service; returns how many were moved.</summary>
    public async Task<int> ImportAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct).ConfigureAwait(false);
        // Checked before the lock: every start after the first finds nothing and waits for nobody.
        const string Legacy = "FROM orleansstorage WHERE graintypestring = 'match' AND serviceid = @service AND payloadbinary IS NOT NULL";
        await using (var exists = new NpgsqlCommand($"SELECT EXISTS (SELECT 1 {Legacy})", connection))
        {
            exists.Parameters.AddWithValue("service", cluster.Value.ServiceId);
            if (await ExistsAsync(exists, ct).ConfigureAwait(false) is not true) return 0;
        }

        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", connection) { CommandTimeout = 0 })
        {
            lockCmd.Parameters.AddWithValue("key", AdvisoryLockKey);
            await lockCmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        try
        {
            // The AdoNet provider keeps a key that reads as a number or a Guid (e.g. "1234567", "00ff") in its numeric
            // columns, not as text: those matches are found by their rows in ts_matches and read through the provider.
            var ids = new List<string>();
            await using (var list = new NpgsqlCommand($$"""
                SELECT grainidextensionstring {{Legacy}} AND grainidextensionstring IS NOT NULL
                UNION
                SELECT external_id FROM ts_matches
                WHERE EXISTS (SELECT 1 {{Legacy}} AND grainidextensionstring IS NULL)
                  AND (external_id ~ '^[0-9A-Fa-f]{1,16}$' OR external_id ~ '^[0-9A-Fa-f]{32}$')
                """, connection))
            {
                list.Parameters.AddWithValue("service", cluster.Value.ServiceId);
                await using var reader = await list.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false)) ids.Add(reader.GetString(0));
            }

            var legacy = services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Matches);
            var moved = 0;
            foreach (var chunk in ids.Chunk(Chunk))
            {
                var read = new List<(GrainId Id, GrainState<MatchState> State)>(chunk.Length);
                foreach (var id in chunk)
                {
                    var grainId = GrainId.Create("match", id);
                    var state = new GrainState<MatchState>();
                    try
                    {
                        await legacy.ReadStateAsync("match", grainId, state).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        LogUnreadable(ex, id);
                        continue;
                    }

                    if (state.RecordExists && state.State is not null) read.Add((grainId, state));
                }

                // Written here first, then cleared there (version-checked): a crash in between leaves the state in both,
                // and the next start keeps the one here (the grain may have saved a newer one since) and clears the old.
                await using (var insert = new NpgsqlCommand("""
                    INSERT INTO match_state (grain_id, version, state)
                    SELECT u.grain_id, 1, u.state FROM unnest(@keys::text[], @states::bytea[]) AS u(grain_id, state)
                    ON CONFLICT (grain_id) DO NOTHING
                    """, connection))
                {
                    insert.Parameters.AddWithValue("keys", read.Select(r => MatchStateStore.Key("match", r.Id)).ToArray());
                    insert.Parameters.AddWithValue("states", read.Select(r => serializer.SerializeToArray(r.State.State)).ToArray());
                    await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                foreach (var (grainId, state) in read)
                {
                    try
                    {
                        await legacy.ClearStateAsync("match", grainId, state).ConfigureAwait(false);
                        moved++;
                    }
                    catch (InconsistentStateException)
                    {
                        // Written there after it was read: a silo of the previous version is still running (not supported).
                        LogChangedWhileMoved(grainId.Key.ToString()!);
                    }
                }
            }

            LogImported(moved, ids.Count);
            return moved;
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", connection);
            unlock.Parameters.AddWithValue("key", AdvisoryLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<object?> ExistsAsync(NpgsqlCommand command, CancellationToken ct)
    {
        try
        {
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return false; // no AdoNet tables at all: nothing to move
        }
    }

    [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "Match state of {MatchId} in orleansstorage changed while it was moved (a silo of the previous version is running): it was not cleared there")]
    private partial void LogChangedWhileMoved(string matchId);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Match states moved from orleansstorage to match_state: {Moved} of {Found}")]
    private partial void LogImported(int moved, int found);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Error, Message = "Match state of {MatchId} in orleansstorage cannot be read: left there; the grain starts from its row")]
    private partial void LogUnreadable(Exception ex, string matchId);
}
