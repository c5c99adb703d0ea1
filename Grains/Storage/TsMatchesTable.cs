using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Orleans.GoalGpt.Grains.Storage;

/// <summary>
/// The SQL of <c>ts_matches</c>: one multi-row upsert per batch, the epoch draw, and reads. The upsert
/// guards every field itself, so the database holds the rules even when two writers race (invariant 8):
/// a register is replaced only by a newer observation or, on a tie, a source of higher priority; a
/// status moves backwards only as admin values or values the grain confirmed, and a pushed score drops on a
/// lagging snapshot only as values the writer marks decided (the grain marks all its scores: its row may be
/// several decisions behind it; docs/design.md); a set kick-off is replaced only by a newer admin correction; and a
/// writer's epoch is checked against the row it locks.
/// </summary>
public sealed class TsMatchesTable(NpgsqlDataSource dataSource)
{
    /// <summary>Domain rule 1: a lower polled score within this long after a pushed one is a lagging snapshot.</summary>
    private const long LaggingPushWindowMs = 30_000;

    // Tie priority of a source per kind of field, as SourcePriority has it (admin > api > watchdog > mqtt for
    // status, metadata and the minute; admin > mqtt > watchdog > api for scores). Unknown sources rank lowest.
    private static string StatusPriority(string source) =>
        $"CASE {source} WHEN 'admin' THEN 4 WHEN 'api' THEN 3 WHEN 'watchdog' THEN 2 WHEN 'mqtt' THEN 1 ELSE 0 END";

    private static string ScorePriority(string source) =>
        $"CASE {source} WHEN 'admin' THEN 4 WHEN 'mqtt' THEN 3 WHEN 'watchdog' THEN 2 WHEN 'api' THEN 1 ELSE 0 END";

    // A register (value, source, timestamp) is replaced by a newer observation, or on an exact tie by a source
    // of higher priority. An equal tie is the writer's own newer row: only the newest epoch reaches this point.
    private static string Wins(string ts, string source, Func<string, string> priority) =>
        $"(EXCLUDED.{ts} IS NOT NULL AND (t.{ts} IS NULL OR EXCLUDED.{ts} > t.{ts} " +
        $"OR (EXCLUDED.{ts} = t.{ts} AND {priority($"EXCLUDED.{source}")} >= {priority($"t.{source}")})))";

    // Groups without a source column (metadata, raw arrays) are decided by the timestamp alone.
    private static string WinsByTime(string ts) => $"(EXCLUDED.{ts} IS NOT NULL AND (t.{ts} IS NULL OR EXCLUDED.{ts} >= t.{ts}))";

    private static string Set(string condition, params string[] columns) => string.Join(",\n    ", columns.Select(c =>
        $"{c} = CASE WHEN {condition} THEN EXCLUDED.{c} ELSE t.{c} END"));

    // Phase order 1 < 2 < 3 < 4 < 5 (= 6) < 7 < 8; side states (0, 9-13) have no rank and are never "backward".
    private static string Rank(string status) => $"(CASE WHEN {status} BETWEEN 1 AND 8 THEN (CASE WHEN {status} = 6 THEN 5 ELSE {status} END) END)";

    // Rule 2: a backward status lands only as an admin value or one the grain marks confirmed.
    private static readonly string StatusWins =
        $"({Wins("status_id_timestamp", "status_id_source", StatusPriority)} AND NOT (COALESCE({Rank("EXCLUDED.status_id")} < {Rank("t.status_id")}, false) " +
        $"AND EXCLUDED.status_id_source IS DISTINCT FROM 'admin' AND NOT EXCLUDED.status_id_confirmed))";

    // Rule 1: a lower api/watchdog score within 30 s of a pushed one is a lagging snapshot unless the grain confirmed it.
    private static string ScoreWins(string side) =>
        $"({Wins($"{side}_score_timestamp", $"{side}_score_source", ScorePriority)} AND NOT COALESCE(EXCLUDED.{side}_score < t.{side}_score " +
        $"AND EXCLUDED.{side}_score_source IN ('api', 'watchdog') AND t.{side}_score_source = 'mqtt' " +
        $"AND EXCLUDED.{side}_score_timestamp - t.{side}_score_timestamp < {LaggingPushWindowMs} AND NOT EXCLUDED.{side}_score_drop_confirmed, false))";

    // Rule 3: set once; only admin changes a set kick-off, and an admin value only replaces an older admin value.
    private static string KickoffWins(string column) =>
        $"(EXCLUDED.{column} IS NOT NULL AND (t.{column} IS NULL OR (EXCLUDED.{Of(column, "source")} = 'admin' AND EXCLUDED.{column} <> t.{column} " +
        $"AND (t.{Of(column, "source")} IS DISTINCT FROM 'admin' OR COALESCE(EXCLUDED.{Of(column, "timestamp")}, 0) > COALESCE(t.{Of(column, "timestamp")}, 0)))))";

    // first_half_kickoff_ts -> first_half_kickoff_source / first_half_kickoff_timestamp
    private static string Of(string kickoffColumn, string part) => kickoffColumn[..^"ts".Length] + part;

    private static string Kickoff(string column) => Set(KickoffWins(column), column, Of(column, "source"), Of(column, "timestamp"));

    private const string Columns = """
            external_id, competition_id, home_team_id, away_team_id, match_time, metadata_timestamp,
            status_id, status_id_source, status_id_timestamp, status_id_confirmed,
            home_score, home_score_source, home_score_timestamp, home_score_drop_confirmed,
            away_score, away_score_source, away_score_timestamp, away_score_drop_confirmed,
            home_scores, away_scores, home_penalty_score, away_penalty_score, raw_scores_timestamp,
            minute, minute_text, minute_source, minute_timestamp,
            first_half_kickoff_ts, first_half_kickoff_source, first_half_kickoff_timestamp,
            second_half_kickoff_ts, second_half_kickoff_source, second_half_kickoff_timestamp,
            overtime_kickoff_ts, overtime_kickoff_source, overtime_kickoff_timestamp,
            provider_update_time, fence_token, stale_since, provider_update_seen_time, provider_update_seen_ms
        """;

    private static readonly string UpsertSql = $"""
        INSERT INTO ts_matches AS t ({Columns}, updated_at)
        SELECT {Columns.Replace("home_scores, away_scores", "home_scores::jsonb, away_scores::jsonb", StringComparison.Ordinal)}, now()
        FROM unnest({string.Join(", ", Columns.Split(',').Select(c => "@" + c.Trim()))}) AS s({Columns})
        ORDER BY s.external_id COLLATE "C"
        ON CONFLICT (external_id) DO UPDATE SET
            {Set(WinsByTime("metadata_timestamp"), "competition_id", "home_team_id", "away_team_id", "match_time", "metadata_timestamp")},
            {Set(StatusWins, "status_id", "status_id_source", "status_id_timestamp", "status_id_confirmed")},
            {Set(ScoreWins("home"), "home_score", "home_score_source", "home_score_timestamp", "home_score_drop_confirmed")},
            {Set(ScoreWins("away"), "away_score", "away_score_source", "away_score_timestamp", "away_score_drop_confirmed")},
            {Set(WinsByTime("raw_scores_timestamp"), "home_scores", "away_scores", "home_penalty_score", "away_penalty_score", "raw_scores_timestamp")},
            {Set(Wins("minute_timestamp", "minute_source", StatusPriority), "minute", "minute_text", "minute_source", "minute_timestamp")},
            {Kickoff("first_half_kickoff_ts")},
            {Kickoff("second_half_kickoff_ts")},
            {Kickoff("overtime_kickoff_ts")},
            provider_update_time = GREATEST(t.provider_update_time, EXCLUDED.provider_update_time),
            -- When the kept provider time was first observed: the writer's, with a newer time; with the same, the earlier of
            -- the two that belong to it (a pair whose time is not the row's, left by an earlier version's silo, does not count).
            provider_update_seen_time = CASE
                WHEN EXCLUDED.provider_update_time IS NULL THEN t.provider_update_seen_time
                WHEN t.provider_update_time IS NULL OR EXCLUDED.provider_update_time > t.provider_update_time THEN EXCLUDED.provider_update_seen_time
                WHEN EXCLUDED.provider_update_time = t.provider_update_time AND EXCLUDED.provider_update_seen_time = EXCLUDED.provider_update_time
                    THEN EXCLUDED.provider_update_seen_time
                ELSE t.provider_update_seen_time END,
            provider_update_seen_ms = CASE
                WHEN EXCLUDED.provider_update_time IS NULL THEN t.provider_update_seen_ms
                WHEN t.provider_update_time IS NULL OR EXCLUDED.provider_update_time > t.provider_update_time THEN EXCLUDED.provider_update_seen_ms
                WHEN EXCLUDED.provider_update_time = t.provider_update_time AND EXCLUDED.provider_update_seen_time = EXCLUDED.provider_update_time
                    THEN CASE WHEN t.provider_update_seen_time = t.provider_update_time
                        THEN LEAST(t.provider_update_seen_ms, EXCLUDED.provider_update_seen_ms) ELSE EXCLUDED.provider_update_seen_ms END
                ELSE t.provider_update_seen_ms END,
            stale_since = EXCLUDED.stale_since,
            updated_at = now()
        -- The fence is checked on the row this statement locked, at its newest version (a sub-select would
        -- read the statement's snapshot, older than a lease taken while this statement waited for the lock).
        WHERE COALESCE(EXCLUDED.fence_token, 0) >= COALESCE(t.fence_token, 0)
        RETURNING t.external_id
        """;

    /// <summary>
    /// Issues the next fencing epoch of a match and puts it in the match's row in one statement: from the
    /// moment it commits, every write with an older epoch is refused, before the new owner writes anything.
    /// The first column returned is the epoch.
    /// </summary>
    public const string NextEpochSql = """
        INSERT INTO ts_matches AS t (external_id, fence_token) VALUES (@id, 1)
        ON CONFLICT (external_id) DO UPDATE SET fence_token = COALESCE(t.fence_token, 0) + 1
        RETURNING fence_token
        """;

    /// <summary>
    /// Draws the next epoch of <paramref name="externalId"/> (see <see cref="NextEpochSql"/>) and returns it with
    /// the row as of that moment: nothing an older epoch writes can land after it, so the row is where the new
    /// owner starts (read before the draw, a duplicate's last row could land in between, unseen).
    /// </summary>
    public async Task<(long Epoch, TsMatchRow Row)> ClaimAsync(string externalId, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand($"{NextEpochSql.TrimEnd()[..^"fence_token".Length]}{SelectColumns}");
        cmd.Parameters.AddWithValue("id", externalId);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        var row = ReadRow(reader);
        return (row.FenceToken!.Value, row);
    }

    /// <summary>Sets the session's <c>lock_timeout</c>: a lease claim thread's session, once (<see cref="ClaimMany"/>).</summary>
    public static void SetLockTimeout(NpgsqlConnection connection, TimeSpan lockTimeout)
    {
        using var set = new NpgsqlCommand($"SET lock_timeout = {(long)Math.Max(1, lockTimeout.TotalMilliseconds)}", connection);
        set.ExecuteNonQuery();
    }

    /// <summary>
    /// <see cref="ClaimAsync"/> for several matches in one statement: each gets its next epoch and comes back with
    /// its row as the draw left it. Rows are locked in byte order (<c>COLLATE "C"</c>), the order the write-behind's
    /// upsert locks them in whatever the database's collation, so that a claim and a flush touching the same rows
    /// cannot deadlock. A row locked elsewhere is waited for at most the session's <c>lock_timeout</c>
    /// (<see cref="SetLockTimeout"/>; then <see cref="PostgresException"/> 55P03, nothing changed). One statement in
    /// its own transaction: one round trip.
    /// </summary>
    /// <remarks>Synchronous: it runs on the lease claim threads (<see cref="MatchLocks"/>), off the thread pool, each on a session it keeps open.</remarks>
    public static Dictionary<string, TsMatchRow> ClaimMany(NpgsqlConnection connection, IReadOnlyCollection<string> externalIds)
    {
        using var claim = new NpgsqlCommand($"""
            INSERT INTO ts_matches AS t (external_id, fence_token)
            SELECT u.id, 1 FROM unnest(@ids::text[]) AS u(id) ORDER BY u.id COLLATE "C"
            ON CONFLICT (external_id) DO UPDATE SET fence_token = COALESCE(t.fence_token, 0) + 1
            RETURNING {SelectColumns}
            """, connection);
        claim.Parameters.AddWithValue("ids", externalIds.ToArray());
        var rows = new Dictionary<string, TsMatchRow>(externalIds.Count, StringComparer.Ordinal);
        using var reader = claim.ExecuteReader();
        while (reader.Read())
        {
            var row = ReadRow(reader);
            rows[row.ExternalId] = row;
        }

        return rows;
    }

    private const string SelectColumns = """
        external_id, competition_id, home_team_id, away_team_id, match_time, metadata_timestamp,
        status_id, status_id_source, status_id_timestamp, home_score, home_score_source, home_score_timestamp,
        away_score, away_score_source, away_score_timestamp, home_scores::text, away_scores::text,
        home_penalty_score, away_penalty_score, raw_scores_timestamp, minute, minute_text, minute_source, minute_timestamp,
        first_half_kickoff_ts, first_half_kickoff_source, second_half_kickoff_ts, second_half_kickoff_source,
        overtime_kickoff_ts, overtime_kickoff_source, provider_update_time, fence_token,
        first_half_kickoff_timestamp, second_half_kickoff_timestamp, overtime_kickoff_timestamp,
        status_id_confirmed, home_score_drop_confirmed, away_score_drop_confirmed, stale_since, provider_update_seen_ms,
        provider_update_seen_time
        """;

    /// <summary>
    /// Writes <paramref name="rows"/> (one per match) in one statement; returns the ids the
    /// database refused because their fencing epoch is outdated.
    /// </summary>
    public async Task<IReadOnlyList<string>> UpsertAsync(IReadOnlyList<TsMatchRow> rows, CancellationToken ct = default)
        => await UpsertAsync(rows, [], mayBeWritten: false, ct).ConfigureAwait(false);

    // The audit events of a flush go in the statement that writes their rows: one multi-row insert, and only
    // for the rows the upsert wrote (a row fenced out takes its events with it).
    private static string UpsertWithEvents(bool mayBeWritten) => $"""
        WITH up AS (
        {UpsertSql}
        ), ev AS (
            INSERT INTO match_events (external_id, kind, field, old_value, new_value, source, observed_at, reason, key_name)
            SELECT e.external_id, e.kind, e.field, e.old_value, e.new_value, e.source, e.observed_at, e.reason, e.key_name
            FROM unnest(@e_external_id, @e_kind, @e_field, @e_old_value, @e_new_value, @e_source, @e_observed_at, @e_reason, @e_key_name)
                AS e(external_id, kind, field, old_value, new_value, source, observed_at, reason, key_name)
            WHERE e.external_id IN (SELECT external_id FROM up)
            {(mayBeWritten ? NotWrittenYet : "")}
        )
        SELECT external_id FROM up
        """;

    // A flush retried after it may have committed (its acknowledgement lost) brings the same events again: written
    // once. No unique index (a migration): the same event is the same match, time, kind, field and values.
    private const string NotWrittenYet = """
        AND NOT EXISTS (SELECT 1 FROM match_events m WHERE m.external_id = e.external_id AND m.observed_at = e.observed_at
                AND m.kind = e.kind AND m.field IS NOT DISTINCT FROM e.field AND m.old_value IS NOT DISTINCT FROM e.old_value
                AND m.new_value IS NOT DISTINCT FROM e.new_value AND m.source IS NOT DISTINCT FROM e.source)
        """;

    private static readonly string UpsertWithEventsSql = UpsertWithEvents(mayBeWritten: false);
    private static readonly string UpsertWithEventsOnceSql = UpsertWithEvents(mayBeWritten: true);

    /// <summary>
    /// As <see cref="UpsertAsync(IReadOnlyList{TsMatchRow}, CancellationToken)"/>, and inserts <paramref name="events"/>
    /// (audit events of those rows) in the same statement, for the rows written. <paramref name="mayBeWritten"/>: some
    /// of these events went with a statement whose outcome is unknown (a flush retried after a failure that may have
    /// come after its commit); each event is then inserted only if the same event is not there yet. A first attempt
    /// skips that look-up (a probe of the history index per event, about a third of the insert's cost).
    /// </summary>
    public async Task<IReadOnlyList<string>> UpsertAsync(IReadOnlyList<TsMatchRow> rows, IReadOnlyList<Audit.AuditEvent> events, bool mayBeWritten, CancellationToken ct = default)
    {
        if (rows.Count == 0) return [];
        await using var cmd = dataSource.CreateCommand(events.Count == 0 ? UpsertSql : mayBeWritten ? UpsertWithEventsOnceSql : UpsertWithEventsSql);
        var p = cmd.Parameters;
        if (events.Count > 0)
        {
            Add(p, "e_external_id", NpgsqlDbType.Text, events.Select(e => e.MatchId));
            Add(p, "e_kind", NpgsqlDbType.Text, events.Select(e => e.Kind));
            Add(p, "e_field", NpgsqlDbType.Text, events.Select(e => e.Field));
            Add(p, "e_old_value", NpgsqlDbType.Text, events.Select(e => e.Old));
            Add(p, "e_new_value", NpgsqlDbType.Text, events.Select(e => e.New));
            Add(p, "e_source", NpgsqlDbType.Text, events.Select(e => e.Source));
            Add(p, "e_observed_at", NpgsqlDbType.Bigint, events.Select(e => e.ObservedAtMs));
            Add(p, "e_reason", NpgsqlDbType.Text, events.Select(e => e.Reason));
            Add(p, "e_key_name", NpgsqlDbType.Text, events.Select(e => e.KeyName));
        }

        Add(p, "external_id", NpgsqlDbType.Text, rows.Select(r => r.ExternalId));
        Add(p, "competition_id", NpgsqlDbType.Text, rows.Select(r => r.CompetitionId));
        Add(p, "home_team_id", NpgsqlDbType.Text, rows.Select(r => r.HomeTeamId));
        Add(p, "away_team_id", NpgsqlDbType.Text, rows.Select(r => r.AwayTeamId));
        Add(p, "match_time", NpgsqlDbType.Bigint, rows.Select(r => r.MatchTime));
        Add(p, "metadata_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.MetadataTimestamp));
        Add(p, "status_id", NpgsqlDbType.Smallint, rows.Select(r => (short?)r.StatusId));
        Add(p, "status_id_source", NpgsqlDbType.Text, rows.Select(r => r.StatusSource));
        Add(p, "status_id_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.StatusTimestamp));
        Add(p, "status_id_confirmed", NpgsqlDbType.Boolean, rows.Select(r => r.StatusConfirmed));
        Add(p, "home_score_drop_confirmed", NpgsqlDbType.Boolean, rows.Select(r => r.HomeScoreDropConfirmed));
        Add(p, "away_score_drop_confirmed", NpgsqlDbType.Boolean, rows.Select(r => r.AwayScoreDropConfirmed));
        Add(p, "first_half_kickoff_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.FirstHalfKickoffTimestamp));
        Add(p, "second_half_kickoff_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.SecondHalfKickoffTimestamp));
        Add(p, "overtime_kickoff_timestamp", NpgsqlDbType.Bigint, rows.Select(r => r.OvertimeKickoffTimestamp));
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
        Add(p, "stale_since", NpgsqlDbType.Bigint, rows.Select(r => r.StaleSince));
        Add(p, "provider_update_seen_time", NpgsqlDbType.Bigint, rows.Select(r => r.ProviderUpdateSeenTime));
        Add(p, "provider_update_seen_ms", NpgsqlDbType.Bigint, rows.Select(r => r.ProviderUpdateSeenMs));
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
              AND (COALESCE(GREATEST(status_id_timestamp, home_score_timestamp, away_score_timestamp, raw_scores_timestamp), 0)
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

    /// <summary>
    /// Live matches not flagged stale whose provider change time is older than the stale threshold (or unknown):
    /// those the provider may be returning frozen. A first cut only: their grains decide from the last change they saw.
    /// </summary>
    public async Task<IReadOnlyList<(string ExternalId, int StatusId)>> ReadFrozenLiveAsync(
        long nowS, TimeSpan staleAfter, TimeSpan staleAfterHalfTime, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT external_id, status_id FROM ts_matches
            WHERE status_id IN (2, 3, 4, 5, 7) AND stale_since IS NULL
              AND COALESCE(provider_update_time, 0) < @now_s - CASE WHEN status_id = 3 THEN @stale_ht_s + @half_time_s ELSE @stale_s END
            """);
        cmd.Parameters.AddWithValue("now_s", nowS);
        cmd.Parameters.AddWithValue("stale_s", (long)staleAfter.TotalSeconds);
        cmd.Parameters.AddWithValue("stale_ht_s", (long)staleAfterHalfTime.TotalSeconds);
        // Nothing changes during a half-time by nature (15 minutes by the laws of the game): frozen only past it.
        cmd.Parameters.AddWithValue("half_time_s", 15L * 60);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var frozen = new List<(string, int)>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false)) frozen.Add((reader.GetString(0), reader.GetInt16(1)));
        return frozen;
    }

    /// <summary>Live matches flagged stale: how many, and the oldest <c>stale_since</c> (unix s).</summary>
    public async Task<(long Count, long? OldestSince)> ReadStaleAsync(CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT count(*), min(stale_since) FROM ts_matches WHERE status_id IN (2, 3, 4, 5, 7) AND stale_since IS NOT NULL");
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt64(1));
    }

    /// <summary>Whether the match was ever seen: its row holds a value (an epoch alone is no sighting).</summary>
    public async Task<bool> KnownAsync(string externalId, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT EXISTS (SELECT 1 FROM ts_matches WHERE external_id = @id
                AND (status_id IS NOT NULL OR match_time IS NOT NULL OR home_score IS NOT NULL OR away_score IS NOT NULL OR first_half_kickoff_ts IS NOT NULL))
            """);
        cmd.Parameters.AddWithValue("id", externalId);
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static TsMatchRow ReadRow(NpgsqlDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        long? L(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
        int? I(int i) => r.IsDBNull(i) ? null : Convert.ToInt32(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
        var discarded = false;
        int[]? A(int i)
        {
            if (r.IsDBNull(i)) return null;
            var raw = ScoreArray(r.GetString(i));
            discarded |= raw is null;
            return raw;
        }

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
            FirstHalfKickoffTimestamp = L(32), SecondHalfKickoffTimestamp = L(33), OvertimeKickoffTimestamp = L(34),
            StatusConfirmed = r.GetBoolean(35), HomeScoreDropConfirmed = r.GetBoolean(36), AwayScoreDropConfirmed = r.GetBoolean(37),
            RawArraysDiscarded = discarded, StaleSince = L(38), ProviderUpdateSeenMs = L(39), ProviderUpdateSeenTime = L(40),
        };
    }

    /// <summary>
    /// A stored score array as the rules know it (seven whole numbers), or null: rows written by the old
    /// system may hold nulls, short arrays or anything else, and one bad row must not make its match unusable.
    /// </summary>
    public static int[]? ScoreArray(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Array || doc.RootElement.GetArrayLength() != 7) return null;
            var values = new int[7];
            var i = 0;
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out values[i++])) return null;
            }

            return values;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Json(int[]? values) => values is null ? null : JsonSerializer.Serialize(values);

    private static void Add<T>(NpgsqlParameterCollection p, string name, NpgsqlDbType type, IEnumerable<T> values) =>
        p.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | type) { Value = values.ToArray() });
}
