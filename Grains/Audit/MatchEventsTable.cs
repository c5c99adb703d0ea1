using Npgsql;

namespace Orleans.GoalGpt.Grains.Audit;

/// <summary>One stored audit event, as the history endpoint returns it.</summary>
public sealed record StoredEvent(long Id, string Kind, string? Field, string? Old, string? New, string? Source, long ObservedAtMs,
    string? Reason, string? KeyName, DateTimeOffset RecordedAt);

/// <summary>
/// Reads and prunes <c>match_events</c> (the write-behind inserts them with their rows, see
/// <c>TsMatchesTable.UpsertAsync</c>).
/// </summary>
public sealed class MatchEventsTable(NpgsqlDataSource dataSource)
{
    private const int DeleteChunk = 10_000;

    /// <summary>The newest <paramref name="limit"/> events of a match, newest first (by observation time, then as written).</summary>
    public async Task<IReadOnlyList<StoredEvent>> ReadAsync(string externalId, int limit, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT id, kind, field, old_value, new_value, source, observed_at, reason, key_name, recorded_at
            FROM match_events WHERE external_id = @id
            ORDER BY observed_at DESC, id DESC
            LIMIT @limit
            """);
        cmd.Parameters.AddWithValue("id", externalId);
        cmd.Parameters.AddWithValue("limit", limit);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var events = new List<StoredEvent>();
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            events.Add(new(r.GetInt64(0), r.GetString(1), S(2), S(3), S(4), S(5), r.GetInt64(6), S(7), S(8), r.GetFieldValue<DateTimeOffset>(9)));
        }

        return events;
    }

    /// <summary>
    /// Deletes the events written longer than <paramref name="retention"/> ago, in chunks (no long lock); how many.
    /// The cutoff is the database's clock, as recorded_at is: a silo whose clock runs ahead deletes nothing early.
    /// </summary>
    public async Task<long> DeleteOlderThanAsync(TimeSpan retention, CancellationToken ct = default)
    {
        long total = 0;
        while (true)
        {
            await using var cmd = dataSource.CreateCommand(
                "DELETE FROM match_events WHERE id IN (SELECT id FROM match_events WHERE recorded_at < now() - @retention LIMIT @chunk)");
            cmd.Parameters.AddWithValue("retention", retention);
            cmd.Parameters.AddWithValue("chunk", DeleteChunk);
            var deleted = await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            total += deleted;
            if (deleted < DeleteChunk) return total;
        }
    }
}
