using System.Collections.Concurrent;
using Npgsql;

namespace Orleans.GoalGpt.Silo.Api;

/// <summary>
/// Whether a match was ever seen, asked before a read reaches its grain: activating the grain of an id never
/// seen would take a lease in Redis and draw an epoch that inserts a row into ts_matches, so a flood of made-up
/// ids would grow memory, Redis and the database. Seen = a row with a value in ts_matches, or a change event of
/// it on this silo (a match not flushed yet). Positive answers are kept (bounded by the real matches); a negative
/// one costs one primary-key lookup and leaves nothing.
/// </summary>
public sealed class KnownMatches(NpgsqlDataSource database)
{
    private const int MaxRemembered = 1_000_000;
    private readonly ConcurrentDictionary<string, byte> _known = new(StringComparer.Ordinal);

    public void Remember(string id)
    {
        // A bound against an unforeseen growth: forgetting only costs a lookup.
        if (_known.Count >= MaxRemembered) _known.Clear();
        _known.TryAdd(id, 0);
    }

    public async ValueTask<bool> IsKnownAsync(string id, CancellationToken ct)
    {
        if (_known.ContainsKey(id)) return true;
        // An epoch draw alone (a row with nothing but its fence token) is not a sighting of the match.
        await using var cmd = database.CreateCommand("""
            SELECT EXISTS (SELECT 1 FROM ts_matches WHERE external_id = @id
              AND (status_id IS NOT NULL OR match_time IS NOT NULL OR home_score IS NOT NULL OR away_score IS NOT NULL
                   OR competition_id IS NOT NULL OR home_scores IS NOT NULL))
            """);
        cmd.Parameters.AddWithValue("id", id);
        var known = (bool)(await cmd.ExecuteScalarAsync(ct))!;
        if (known) Remember(id);
        return known;
    }
}
