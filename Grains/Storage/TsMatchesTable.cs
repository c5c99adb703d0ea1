using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// The SQL of <c>ts_matches</c>: one multi-row upsert per batch, and the read of one row. The upsert
/// guards every field itself, so the database holds the invariants even when two writers race:
/// a value with an older <c>*_timestamp</c> never replaces a newer one, and a set kick-off time is
/// replaced only by an admin correction.
/// </summary>
public sealed class TsMatchesTable(NpgsqlDataSource dataSource)
{
    // A register's value, source and timestamp move together, decided by the timestamp.
    private static string Guarded(string ts, params string[] columns) => string.Join(",\n    ", columns.Select(c =>
        $"{c} = CASE WHEN EXCLUDED.{ts} IS NOT NULL AND (t.{ts} IS NULL OR EXCLUDED.{ts} >= t.{ts}) THEN EXCLUDED.{c} ELSE t.{c} END"));

    private static string SetOnce(string column, string source) =>
        $"{column} = CASE WHEN t.{column} IS NULL OR (EXCLUDED.{source} = 'admin' AND EXCLUDED.{column} IS NOT NULL) THEN COALESCE(EXCLUDED.{column}, t.{column}) ELSE t.{column} END,\n    " +
        $"{source} = CASE WHEN t.{column} IS NULL OR (EXCLUDED.{source} = 'admin' AND EXCLUDED.{column} IS NOT NULL) THEN COALESCE(EXCLUDED.{source}, t.{source}) ELSE t.{source} END";

    private static readonly string UpsertSql = $"""
        INSERT INTO ts_matches AS t (
            external_id, competition_id, home_team_id, away_team_id, match_time, metadata_timestamp,
            status_id, status_source, status_timestamp,
            home_score, home_score_source, home_score_timestamp,
            away_score, away_score_source, away_score_timestamp,
            home_scores, away_scores, home_penalty_score, away_penalty_score, raw_scores_timestamp,
            minute, minute_text, minute_source, minute_timestamp,
            first_half_kickoff_ts, first_half_kickoff_source, second_half_kickoff_ts, second_half_kickoff_source,
            overtime_kickoff_ts, overtime_kickoff_source, provider_update_time, fence_token, updated_at)
        SELECT external_id, competition_id, home_team_id, away_team_id, match_time, metadata_timestamp,
            status_id, status_source, status_timestamp,
            home_score, home_score_source, home_score_timestamp,
            away_score, away_score_source, away_score_timestamp,
            home_scores::jsonb, away_scores::jsonb, home_penalty_score, away_penalty_score, raw_scores_timestamp,
            minute, minute_text, minute_source, minute_timestamp,
            first_half_kickoff_ts, first_half_kickoff_source, second_half_kickoff_ts, second_half_kickoff_source,
            overtime_kickoff_ts, overtime_kickoff_source, provider_update_time, fence_token, now()
        FROM unnest(
            @external_id, @competition_id, @home_team_id, @away_team_id, @match_time, @metadata_timestamp,
            @status_id, @status_source, @status_timestamp,
            @home_score, @home_score_source, @home_score_timestamp,
            @away_score, @away_score_source, @away_score_timestamp,
            @home_scores, @away_scores, @home_penalty_score, @away_penalty_score, @raw_scores_timestamp,
            @minute, @minute_text, @minute_source, @minute_timestamp,
            @first_half_kickoff_ts, @first_half_kickoff_source, @second_half_kickoff_ts, @second_half_kickoff_source,
            @overtime_kickoff_ts, @overtime_kickoff_source, @provider_update_time, @fence_token)
          AS s(external_id, competition_id, home_team_id, away_team_id, match_time, metadata_timestamp,
            status_id, status_source, status_timestamp,
            home_score, home_score_source, home_score_timestamp,
            away_score, away_score_source, away_score_timestamp,
            home_scores, away_scores, home_penalty_score, away_penalty_score, raw_scores_timestamp,
            minute, minute_text, minute_source, minute_timestamp,
            first_half_kickoff_ts, first_half_kickoff_source, second_half_kickoff_ts, second_half_kickoff_source,
            overtime_kickoff_ts, overtime_kickoff_source, provider_update_time, fence_token)
        WHERE COALESCE(s.fence_token, 0) >= COALESCE((SELECT f.token FROM match_fences f WHERE f.external_id = s.external_id), 0)
        ORDER BY s.external_id
        ON CONFLICT (external_id) DO UPDATE SET
            {Guarded("metadata_timestamp", "competition_id", "home_team_id", "away_team_id", "match_time", "metadata_timestamp")},
            {Guarded("status_timestamp", "status_id", "status_source", "status_timestamp")},
            {Guarded("home_score_timestamp", "home_score", "home_score_source", "home_score_timestamp")},
            {Guarded("away_score_timestamp", "away_score", "away_score_source", "away_score_timestamp")},
            {Guarded("raw_scores_timestamp", "home_scores", "away_scores", "home_penalty_score", "away_penalty_score", "raw_scores_timestamp")},
            {Guarded("minute_timestamp", "minute", "minute_text", "minute_source", "minute_timestamp")},
            {SetOnce("first_half_kickoff_ts", "first_half_kickoff_source")},
            {SetOnce("second_half_kickoff_ts", "second_half_kickoff_source")},
            {SetOnce("overtime_kickoff_ts", "overtime_kickoff_source")},
            provider_update_time = GREATEST(t.provider_update_time, EXCLUDED.provider_update_time),
            fence_token = GREATEST(t.fence_token, EXCLUDED.fence_token),
            updated_at = now()
        WHERE COALESCE(EXCLUDED.fence_token, 0) >= COALESCE((SELECT f.token FROM match_fences f WHERE f.external_id = t.external_id), 0)
        RETURNING t.external_id
        """;

    private const string SelectColumns = """
        external_id, competition_id, home_team_id, away_team_id, match_time, metadata_timestamp,
        status_id, status_source, status_timestamp, home_score, home_score_source, home_score_timestamp,
        away_score, away_score_source, away_score_timestamp, home_scores::text, away_scores::text,
        home_penalty_score, away_penalty_score, raw_scores_timestamp, minute, minute_text, minute_source, minute_timestamp,
        first_half_kickoff_ts, first_half_kickoff_source, second_half_kickoff_ts, second_half_kickoff_source,
        overtime_kickoff_ts, overtime_kickoff_source, provider_update_time, fence_token
        """;

    /// <summary>
    /// Writes <paramref name="rows"/> (one per match) in one statement; returns the ids the
    /// database refused because their fencing epoch is outdated.
    /// </summary>
    public async Task<IReadOnlyList<string>> UpsertAsync(IReadOnlyList<TsMatchRow> rows, CancellationToken ct = default)
    {
        if (rows.Count == 0) return [];
        await using var cmd = dataSource.CreateCommand(UpsertSql);
        var p = cmd.Parameters;
        Add(p, "external_id", NpgsqlDbType.Text, rows.Select(r => r.ExternalId));
        Add(p, "competition_id", NpgsqlDbType.Text, rows.Select(r => r.CompetitionId));
        Add(p, "home_team_id", NpgsqlDbType.Text, rows.Select(r => r.HomeTeamId));
        Add(p, "away_team_id", NpgsqlDbType.Text, rows.Select(r => r.AwayTeamId));
        Add(p, "match_time", NpgsqlDbType.Bigint, rows.Select(r => r.MatchTime));
        Add(p, "metadata_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.MetadataTimestamp));
        Add(p, "status_id", NpgsqlDbType.Smallint, rows.Select(r => (short?)r.StatusId));
        Add(p, "status_source", NpgsqlDbType.Text, rows.Select(r => r.StatusSource));
        Add(p, "status_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.StatusTimestamp));
        Add(p, "home_score", NpgsqlDbType.Integer, rows.Select(r => r.HomeScore));
        Add(p, "home_score_source", NpgsqlDbType.Text, rows.Select(r => r.HomeScoreSource));
        Add(p, "home_score_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.HomeScoreTimestamp));
        Add(p, "away_score", NpgsqlDbType.Integer, rows.Select(r => r.AwayScore));
        Add(p, "away_score_source", NpgsqlDbType.Text, rows.Select(r => r.AwayScoreSource));
        Add(p, "away_score_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.AwayScoreTimestamp));
        Add(p, "home_scores", NpgsqlDbType.Text, rows.Select(r => Json(r.HomeScores)));
        Add(p, "away_scores", NpgsqlDbType.Text, rows.Select(r => Json(r.AwayScores)));
        Add(p, "home_penalty_score", NpgsqlDbType.Integer, rows.Select(r => r.HomePenaltyScore));
        Add(p, "away_penalty_score", NpgsqlDbType.Integer, rows.Select(r => r.AwayPenaltyScore));
        Add(p, "raw_scores_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.RawScoresTimestamp));
        Add(p, "minute", NpgsqlDbType.Integer, rows.Select(r => r.Minute));
        Add(p, "minute_text", NpgsqlDbType.Text, rows.Select(r => r.MinuteText));
        Add(p, "minute_source", NpgsqlDbType.Text, rows.Select(r => r.MinuteSource));
        Add(p, "minute_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.MinuteTimestamp));
        Add(p, "first_half_kickoff_ts", NpgsqlDbType.Bigint, rows.Select(r => r.FirstHalfKickoffTs));
        Add(p, "first_half_kickoff_source", NpgsqlDbType.Text, rows.Select(r => r.FirstHalfKickoffSource));
        Add(p, "second_half_kickoff_ts", NpgsqlDbType.Bigint, rows.Select(r => r.SecondHalfKickoffTs));
        Add(p, "second_half_kickoff_source", NpgsqlDbType.Text, rows.Select(r => r.SecondHalfKickoffSource));
        Add(p, "overtime_kickoff_ts", NpgsqlDbType.Bigint, rows.Select(r => r.OvertimeKickoffTs));
        Add(p, "overtime_kickoff_source", NpgsqlDbType.Text, rows.Select(r => r.OvertimeKickoffSource));
        Add(p, "provider_update_time", NpgsqlDbType.Bigint, rows.Select(r => r.ProviderUpdateTime));
        Add(p, "fence_token", NpgsqlDbType.Bigint, rows.Select(r => r.FenceToken));
        var written = new HashSet<string>(StringComparer.Ordinal);
        await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false)) written.Add(reader.GetString(0));
        }

        return written.Count == rows.Count ? [] : rows.Select(r => r.ExternalId).Where(id => !written.Contains(id)).ToList();
    }

    /// <summary>The row of one match, or null.</summary>
    public async Task<TsMatchRow?> ReadAsync(string externalId, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT {SelectColumns} FROM ts_matches WHERE external_id = @id");
        cmd.Parameters.AddWithValue("id", externalId);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadRow(reader) : null;
    }

    /// <summary>Every row, by id (tests, benchmarks and checks).</summary>
    public async Task<Dictionary<string, TsMatchRow>> ReadAllAsync(CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT {SelectColumns} FROM ts_matches");
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var rows = new Dictionary<string, TsMatchRow>(StringComparer.Ordinal);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var row = ReadRow(reader);
            rows[row.ExternalId] = row;
        }

        return rows;
    }

    /// <summary>Every live match (status 2, 3, 4, 5, 7) with its minute (the partial live index).</summary>
    public async Task<IReadOnlyList<(string ExternalId, int StatusId, int? Minute)>> ReadLiveAsync(CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("SELECT external_id, status_id, minute FROM ts_matches WHERE status_id IN (2, 3, 4, 5, 7)");
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var live = new List<(string, int, int?)>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            live.Add((reader.GetString(0), reader.GetInt16(1), reader.IsDBNull(2) ? null : reader.GetInt32(2)));
        }

        return live;
    }

    /// <summary>
    /// Live matches the watchdog must re-poll: no provider observation (status or scores) for
    /// <paramref name="staleAfter"/> (<paramref name="staleAfterHalfTime"/> at half-time), or still
    /// live <paramref name="overdueAfterKickoff"/> after kick-off (the scheduled one when unknown).
    /// </summary>
    public async Task<IReadOnlyList<(string ExternalId, string Reason, long? ProviderUpdateTime)>> ReadWatchdogCandidatesAsync(
        long nowMs, TimeSpan staleAfter, TimeSpan staleAfterHalfTime, TimeSpan overdueAfterKickoff, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT external_id,
                   CASE WHEN COALESCE(first_half_kickoff_ts, match_time) < @now_s - @overdue_s THEN 'overdue' ELSE 'stale' END,
                   provider_update_time
            FROM ts_matches
            WHERE status_id IN (2, 3, 4, 5, 7)
              AND (COALESCE(GREATEST(status_timestamp, home_score_timestamp, away_score_timestamp, raw_scores_timestamp), 0)
                     < @now_ms - CASE WHEN status_id = 3 THEN @stale_ht_ms ELSE @stale_ms END
                   OR COALESCE(first_half_kickoff_ts, match_time) < @now_s - @overdue_s)
            """);
        cmd.Parameters.AddWithValue("now_ms", nowMs);
        cmd.Parameters.AddWithValue("now_s", nowMs / 1000);
        cmd.Parameters.AddWithValue("stale_ms", (long)staleAfter.TotalMilliseconds);
        cmd.Parameters.AddWithValue("stale_ht_ms", (long)staleAfterHalfTime.TotalMilliseconds);
        cmd.Parameters.AddWithValue("overdue_s", (long)overdueAfterKickoff.TotalSeconds);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var candidates = new List<(string, string, long?)>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            candidates.Add((reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2)));
        }

        return candidates;
    }

    private static TsMatchRow ReadRow(NpgsqlDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        long? L(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
        int? I(int i) => r.IsDBNull(i) ? null : Convert.ToInt32(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
        int[]? A(int i) => r.IsDBNull(i) ? null : JsonSerializer.Deserialize<int[]>(r.GetString(i));
        return new TsMatchRow
        {
            ExternalId = r.GetString(0), CompetitionId = S(1), HomeTeamId = S(2), AwayTeamId = S(3), MatchTime = L(4),
            MetadataTimestamp = L(5), StatusId = I(6), StatusSource = S(7), StatusTimestamp = L(8),
            HomeScore = I(9), HomeScoreSource = S(10), HomeScoreTimestamp = L(11),
            AwayScore = I(12), AwayScoreSource = S(13), AwayScoreTimestamp = L(14),
            HomeScores = A(15), AwayScores = A(16), HomePenaltyScore = I(17), AwayPenaltyScore = I(18), RawScoresTimestamp = L(19),
            Minute = I(20), MinuteText = S(21), MinuteSource = S(22), MinuteTimestamp = L(23),
            FirstHalfKickoffTs = L(24), FirstHalfKickoffSource = S(25), SecondHalfKickoffTs = L(26), SecondHalfKickoffSource = S(27),
            OvertimeKickoffTs = L(28), OvertimeKickoffSource = S(29), ProviderUpdateTime = L(30), FenceToken = L(31),
        };
    }

    private static string? Json(int[]? values) => values is null ? null : JsonSerializer.Serialize(values);

    private static void Add<T>(NpgsqlParameterCollection p, string name, NpgsqlDbType type, IEnumerable<T> values) =>
        p.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | type) { Value = values.ToArray() });
}
