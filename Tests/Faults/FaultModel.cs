using System.Text.Json;
using Npgsql;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Tests.Faults;

/// <summary>A register as the model expects it: value (as text), source, observation time, and when its update was acknowledged.</summary>
internal sealed record Reg(string Value, string Source, long Ts, long AckedAtMs);

/// <summary>
/// What the rules pick for one match from the acknowledged updates, computed here from the rules
/// doc (not by calling the product's merge code):
/// <list type="bullet">
/// <item>registers (status, scores, raw arrays, metadata): the newest observation; on an exact tie the
/// higher source priority (status, metadata and raw arrays: admin &gt; api &gt; watchdog &gt; mqtt; scores:
/// admin &gt; mqtt &gt; watchdog &gt; api, the project's documented place for watchdog);</item>
/// <item>status, walked in observation order: a backward move is taken only from admin, or when two
/// api/watchdog snapshots of the same lower status, both newer than the stored status, are &gt;= 5 s apart;
/// a forward or equal observation clears a pending candidate;</item>
/// <item>kick-offs: set once, the first plausible non-zero value in acknowledgement order (the phase named
/// by the status of the same update); only admin changes a set one;</item>
/// <item>metadata: from api/watchdog/admin only.</item>
/// </list>
/// <see cref="History"/> keeps, per field, every value the walk took (the kill scenario needs what
/// was acknowledged and superseded).
/// </summary>
internal sealed class ExpectedRow
{
    public Reg? Status { get; private set; }
    public Reg? Home { get; private set; }
    public Reg? Away { get; private set; }
    public Reg? Raw { get; private set; }
    public Reg? Meta { get; private set; }
    public long? Kickoff1 { get; private set; }
    public long? Kickoff2 { get; private set; }

    /// <summary>The acknowledgements that set the kick-offs (for the report of a missing one).</summary>
    public Ack? Kickoff1Ack { get; private set; }

    public Ack? Kickoff2Ack { get; private set; }

    /// <summary>Lower statuses the walk accepted as confirmed (or admin) moves.</summary>
    public HashSet<int> ConfirmedRegressions { get; } = [];

    /// <summary>Kick-off values an admin set.</summary>
    public HashSet<long> AdminKickoffs { get; } = [];

    public Dictionary<string, List<Reg>> History { get; } = new()
    {
        ["status"] = [], ["home"] = [], ["away"] = [], ["raw"] = [], ["meta"] = [],
    };

    private static string Wire(UpdateSource s) => s.ToString().ToLowerInvariant();

    private static int StatusPriority(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Api => 3, UpdateSource.Watchdog => 2, UpdateSource.Mqtt => 1, _ => 0 };

    private static int ScorePriority(UpdateSource s) => s switch { UpdateSource.Admin => 4, UpdateSource.Mqtt => 3, UpdateSource.Watchdog => 2, UpdateSource.Api => 1, _ => 0 };

    /// <summary>Phase order (5 and 6 are one phase); side states have none.</summary>
    public static int? PhaseOrder(int status) => status switch { 6 => 5, >= 1 and <= 8 => status, _ => null };

    public static bool IsBackward(int from, int to) =>
        PhaseOrder(from) is int a && PhaseOrder(to) is int b && b < a;

    public static string Json(IReadOnlyList<int> values) => "[" + string.Join(',', values) + "]";

    public static ExpectedRow Of(IEnumerable<Ack> acks)
    {
        var e = new ExpectedRow();
        var ordered = acks.OrderBy(a => a.Seq).ToList();
        e.WalkStatus(ordered);
        e.Lww(ordered.Where(a => a.Update.HomeScores is { Count: 7 }), "home", a => Displayed(a.Update.HomeScores!).ToString(System.Globalization.CultureInfo.InvariantCulture), ScorePriority, r => e.Home = r);
        e.Lww(ordered.Where(a => a.Update.AwayScores is { Count: 7 }), "away", a => Displayed(a.Update.AwayScores!).ToString(System.Globalization.CultureInfo.InvariantCulture), ScorePriority, r => e.Away = r);
        e.Lww(ordered.Where(a => a.Update.HomeScores is { Count: 7 } && a.Update.AwayScores is { Count: 7 }), "raw",
            a => Json(a.Update.HomeScores!) + Json(a.Update.AwayScores!), StatusPriority, r => e.Raw = r);
        e.Lww(ordered.Where(a => a.Update.MatchTime is not null && a.Update.Source is UpdateSource.Api or UpdateSource.Watchdog or UpdateSource.Admin), "meta",
            a => $"{a.Update.MatchTime}|{a.Update.CompetitionId}", StatusPriority, r => e.Meta = r);
        e.Kickoffs(ordered);
        return e;
    }

    private static int Displayed(IReadOnlyList<int> a) => a[5] > 0 ? a[5] : a[0];

    private void Lww(IEnumerable<Ack> acks, string field, Func<Ack, string> value, Func<UpdateSource, int> priority, Action<Reg> set)
    {
        Reg? current = null;
        var currentPriority = 0;
        foreach (var a in acks.OrderBy(a => a.Update.ObservedAtMs).ThenBy(a => priority(a.Update.Source)).ThenBy(a => a.Seq))
        {
            var p = priority(a.Update.Source);
            if (current is not null && (a.Update.ObservedAtMs < current.Ts || (a.Update.ObservedAtMs == current.Ts && p <= currentPriority))) continue;
            current = new Reg(value(a), Wire(a.Update.Source), a.Update.ObservedAtMs, a.AckedAtMs);
            currentPriority = p;
            History[field].Add(current);
        }

        if (current is not null) set(current);
    }

    private void WalkStatus(List<Ack> acks)
    {
        Reg? current = null;
        var currentPriority = 0;
        (int Status, long First, long Last)? candidate = null;
        foreach (var a in acks.Where(a => a.Update.StatusId is >= 0 and <= 13)
                     .OrderBy(a => a.Update.ObservedAtMs).ThenBy(a => StatusPriority(a.Update.Source)).ThenBy(a => a.Seq))
        {
            var u = a.Update;
            var status = u.StatusId == 6 ? 5 : u.StatusId!.Value;
            var p = StatusPriority(u.Source);
            if (current is not null && (u.ObservedAtMs < current.Ts || (u.ObservedAtMs == current.Ts && p <= currentPriority))) continue;
            var take = current is null || !IsBackward(int.Parse(current.Value, System.Globalization.CultureInfo.InvariantCulture), status);
            if (!take && u.Source == UpdateSource.Admin)
            {
                take = true;
                ConfirmedRegressions.Add(status);
            }
            else if (!take && u.Source is UpdateSource.Api or UpdateSource.Watchdog)
            {
                candidate = candidate is { } c && c.Status == status
                    ? (status, Math.Min(c.First, u.ObservedAtMs), Math.Max(c.Last, u.ObservedAtMs))
                    : (status, u.ObservedAtMs, u.ObservedAtMs);
                if (candidate.Value.Last - candidate.Value.First >= 5_000)
                {
                    take = true;
                    ConfirmedRegressions.Add(status);
                }
            }

            if (!take) continue;
            candidate = null;
            current = new Reg(status.ToString(System.Globalization.CultureInfo.InvariantCulture), Wire(u.Source), u.ObservedAtMs, a.AckedAtMs);
            currentPriority = p;
            History["status"].Add(current);
        }

        Status = current;
    }

    private void Kickoffs(List<Ack> acks)
    {
        foreach (var a in acks)
        {
            var u = a.Update;
            var admin = u.Source == UpdateSource.Admin;
            void Offer(int phase, long value)
            {
                if (value <= 0 || value > a.AckedAtMs / 1000 + 300) return;
                if (phase == 4 && Kickoff1 is long k1 && value < k1 + 2700) return;
                if (phase == 2 && (Kickoff1 is null || admin))
                {
                    Kickoff1 = value;
                    Kickoff1Ack = a;
                }

                if (phase == 4 && (Kickoff2 is null || admin))
                {
                    Kickoff2 = value;
                    Kickoff2Ack = a;
                }

                if (admin) AdminKickoffs.Add(value);
            }

            if (u.PhaseKickoffTs is long pk && u.StatusId is 2 or 4) Offer(u.StatusId.Value, pk);
            if (u.FirstHalfKickoffTs is long f) Offer(2, f);
            if (u.SecondHalfKickoffTs is long s) Offer(4, s);
        }
    }
}

/// <summary>The columns of one ts_matches row the suite compares; read without the product's reader so that legacy rows (null elements, short arrays) read too.</summary>
internal sealed record RowView(
    string Id, int? Status, string? StatusSource, long? StatusTs,
    int? Home, string? HomeSource, long? HomeTs, int? Away, string? AwaySource, long? AwayTs,
    string? Raw, long? RawTs, long? Kickoff1, string? Kickoff1Source, long? Kickoff2, string? Kickoff2Source,
    long? MatchTime, string? Competition, long? MetaTs, int? Minute)
{
    /// <summary>The row's mark that its writer confirmed its (lower) status under rule 2.</summary>
    public bool StatusConfirmed { get; init; }

    public Reg? Field(string field) => field switch
    {
        "status" => R(Status, StatusSource, StatusTs),
        "home" => R(Home, HomeSource, HomeTs),
        "away" => R(Away, AwaySource, AwayTs),
        "raw" => Raw is null || RawTs is null ? null : new Reg(Raw, "", RawTs.Value, 0),
        "meta" => MatchTime is null || MetaTs is null ? null : new Reg($"{MatchTime}|{Competition}", "", MetaTs.Value, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(field)),
    };

    private static Reg? R(int? value, string? source, long? ts) =>
        value is int v && ts is long t ? new Reg(v.ToString(System.Globalization.CultureInfo.InvariantCulture), source ?? "", t, 0) : null;

    /// <summary>
    /// Every row, by id, as JSON per row: the status columns are found under their name before or
    /// after migration 0006 (<c>status_source</c> / <c>status_id_source</c>).
    /// </summary>
    public static async Task<Dictionary<string, RowView>> ReadAllAsync(NpgsqlDataSource db, string prefix)
    {
        await using var cmd = db.CreateCommand("SELECT to_jsonb(t)::text FROM ts_matches t WHERE external_id LIKE @p");
        cmd.Parameters.AddWithValue("p", prefix + "%");
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<string, RowView>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            using var doc = JsonDocument.Parse(reader.GetString(0));
            var r = doc.RootElement;
            JsonElement? Get(params string[] names)
            {
                foreach (var n in names)
                {
                    if (r.TryGetProperty(n, out var v) && v.ValueKind != JsonValueKind.Null) return v;
                }

                return null;
            }

            long? L(params string[] n) => Get(n)?.GetInt64();
            int? I(params string[] n) => Get(n)?.GetInt32();
            string? S(params string[] n) => Get(n)?.GetString();
            string? A(string n) => Get(n)?.GetRawText().Replace(" ", "", StringComparison.Ordinal);
            var home = A("home_scores");
            var away = A("away_scores");
            var view = new RowView(
                r.GetProperty("external_id").GetString()!,
                I("status_id"), S("status_id_source", "status_source"), L("status_id_timestamp", "status_timestamp"),
                I("home_score"), S("home_score_source"), L("home_score_timestamp"),
                I("away_score"), S("away_score_source"), L("away_score_timestamp"),
                home is null || away is null ? null : home + away, L("raw_scores_timestamp"),
                L("first_half_kickoff_ts"), S("first_half_kickoff_source"), L("second_half_kickoff_ts"), S("second_half_kickoff_source"),
                L("match_time"), S("competition_id"), L("metadata_timestamp"), I("minute"))
            {
                StatusConfirmed = Get("status_id_confirmed")?.GetBoolean() == true,
            };
            rows[view.Id] = view;
        }

        return rows;
    }
}

/// <summary>
/// Samples ts_matches from its own connection while the run goes on, to catch what a final read
/// cannot: a value that landed and was replaced again.
/// </summary>
internal sealed class RowSampler : IAsyncDisposable
{
    private static readonly string[] Registers = ["status", "home", "away", "raw", "meta"];
    private readonly NpgsqlDataSource _db;
    private readonly string _prefix;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<(string Id, string Field), Reg> _last = [];
    private readonly Dictionary<(string Id, int Phase), long> _kickoffs = [];
    private readonly Task _loop;

    public RowSampler(string connectionString, string prefix)
    {
        _db = NpgsqlDataSource.Create(connectionString);
        _prefix = prefix;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>(match, field) pairs whose value moved backwards in observation time, or was replaced by a lower-priority source on an exact tie.</summary>
    public HashSet<(string Id, string Field)> Backwards { get; } = [];

    /// <summary>The first few of <see cref="Backwards"/>, described.</summary>
    public List<string> BackwardsSeen { get; } = [];

    /// <summary>A set kick-off that changed: (match, phase, from, to, source of the new value).</summary>
    public List<(string Id, int Phase, long From, long To, string? Source)> KickoffChanges { get; } = [];

    /// <summary>Status moves backwards in phase order: (match, from, to, source of the new value).</summary>
    public List<(string Id, int From, int To, string? Source)> BackwardStatus { get; } = [];

    public int Samples { get; private set; }
    public int ReadFailures { get; private set; }
    public string? FirstReadError { get; private set; }

    private static int Priority(string field, string source) => field is "home" or "away"
        ? source switch { "admin" => 4, "mqtt" => 3, "watchdog" => 2, "api" => 1, _ => 0 }
        : source switch { "admin" => 4, "api" => 3, "watchdog" => 2, "mqtt" => 1, _ => 0 };

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            await SampleAsync();
            try
            {
                await Task.Delay(250, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Reads every row once and records what moved the wrong way; a failed read (database restarting) is skipped.</summary>
    public async Task<Dictionary<string, RowView>?> SampleAsync()
    {
        Dictionary<string, RowView> rows;
        try
        {
            rows = await RowView.ReadAllAsync(_db, _prefix);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            lock (_last)
            {
                ReadFailures++;
                FirstReadError ??= ex.Message;
            }

            return null;
        }

        lock (_last)
        {
            Samples++;
            foreach (var row in rows.Values)
            {
                foreach (var field in Registers)
                {
                    if (row.Field(field) is not { } now) continue;
                    if (_last.TryGetValue((row.Id, field), out var before))
                    {
                        var backwards = now.Ts < before.Ts
                            || (now.Ts == before.Ts && (now.Value != before.Value || now.Source != before.Source)
                                && Priority(field, now.Source) <= Priority(field, before.Source));
                        if (backwards && Backwards.Add((row.Id, field)) && BackwardsSeen.Count < 8)
                        {
                            BackwardsSeen.Add($"{row.Id} {field}: {before.Value} {before.Source}@{before.Ts} replaced by {now.Value} {now.Source}@{now.Ts} in the row");
                        }

                        if (field == "status" && now.Value != before.Value
                            && IsBackward(before.Value, now.Value, out var from, out var to))
                        {
                            BackwardStatus.Add((row.Id, from, to, row.StatusSource));
                        }
                    }

                    _last[(row.Id, field)] = now;
                }

                Kickoff(row.Id, 2, row.Kickoff1, row.Kickoff1Source);
                Kickoff(row.Id, 4, row.Kickoff2, row.Kickoff2Source);
            }
        }

        return rows;
    }

    private static bool IsBackward(string before, string now, out int from, out int to)
    {
        from = int.Parse(before, System.Globalization.CultureInfo.InvariantCulture);
        to = int.Parse(now, System.Globalization.CultureInfo.InvariantCulture);
        return ExpectedRow.IsBackward(from, to);
    }

    private void Kickoff(string id, int phase, long? value, string? source)
    {
        if (value is not long v) return;
        if (_kickoffs.TryGetValue((id, phase), out var before) && before != v) KickoffChanges.Add((id, phase, before, v, source));
        _kickoffs[(id, phase)] = v;
    }

    /// <summary>Stops sampling on its own; <see cref="SampleAsync"/> still reads on demand.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        await _db.DisposeAsync();
    }
}

/// <summary>
/// The figures of one scenario. Definitions (per match and field; fields: status_id, home_score,
/// away_score with their *_source/*_timestamp, the raw arrays with raw_scores_timestamp, match_time and
/// competition_id with metadata_timestamp, and the two kick-offs):
/// <list type="bullet">
/// <item><b>updates acknowledged</b>: updates whose Apply/ApplyMany call returned (retried until it did);
/// "answered Applied": those the grain answered with at least one Applied field.</item>
/// <item><b>lost</b>: a field whose final row value is older than the model's newest acknowledged value
/// (row timestamp &lt; model timestamp, or no value where the model has one; a kick-off missing).</item>
/// <item><b>stale values landed</b>: a field whose final row value is one the model says was superseded
/// (same observation time, other value or lower-priority source; a kick-off other than the model's),
/// plus every field the sampler saw move backwards in observation time or be replaced on an exact tie
/// by a lower-priority source during the run (a stale write that landed, even if replaced later).</item>
/// <item><b>kick-off changes</b>: a kick-off the sampler saw change once set, to a value no admin sent.</item>
/// <item><b>regressions written</b>: a backward status move the sampler saw in the row, or a final status
/// behind the model's, that was neither admin nor confirmed (two api/watchdog snapshots &gt;= 5 s apart).</item>
/// <item><b>unexplained</b>: a row value newer than anything acknowledged (should not exist).</item>
/// </list>
/// </summary>
internal sealed record FaultFigures(int Acknowledged, int AnsweredApplied, int Lost, int StaleLanded, int KickoffChanges,
    int RegressionsWritten, int Unexplained, int Unacknowledged, IReadOnlyList<string> Examples)
{
    /// <summary>The matches with a lost field (for a look at what their grains hold).</summary>
    public IReadOnlyList<string> LostIds { get; init; } = [];

    public string Line(string scenario, string extra = "") =>
        $"{scenario}: updates acknowledged {Acknowledged} (answered Applied {AnsweredApplied}, never acknowledged {Unacknowledged}), " +
        $"lost {Lost}, stale values landed {StaleLanded}, kick-off changes {KickoffChanges}, regressions written {RegressionsWritten}, unexplained {Unexplained}" +
        (extra.Length > 0 ? "; " + extra : "");

    public static readonly string[] Registers = ["status", "home", "away", "raw", "meta"];

    /// <summary>
    /// With two owners at once, each decides rule 2 on the snapshots it saw: the row's status is an owner's
    /// decision when two acknowledged api/watchdog snapshots of it lie at least 5 s apart, or when the row's
    /// observation is an acknowledged snapshot that an owner answered Applied (it never saw the higher
    /// status), or a refresh of a lower status an owner answered Applied after the model's higher one was
    /// observed (same reason), or wrote marked confirmed (its candidate's first sighting came from the other owner's state
    /// in the shared grain storage). A single owner is held to the strict walk above.
    /// </summary>
    private static bool ConfirmedByPolls(IEnumerable<Ack> acks, string id, Reg row, bool confirmedInRow, Reg model)
    {
        var status = int.Parse(row.Value, System.Globalization.CultureInfo.InvariantCulture);
        var seen = acks.Where(a => a.Match.Id == id && a.Update.Source is UpdateSource.Api or UpdateSource.Watchdog
                && (a.Update.StatusId == 6 ? 5 : a.Update.StatusId) == status && a.Update.ObservedAtMs <= row.Ts).ToList();
        return seen.Count > 0
            && (seen.Max(a => a.Update.ObservedAtMs) - seen.Min(a => a.Update.ObservedAtMs) >= 5_000
                || seen.Any(a => a.Update.ObservedAtMs == row.Ts && (a.AppliedFields.Contains("status_id") || confirmedInRow))
                || AppliedLowerAfterModel(seen, row, model));
    }

    /// <summary>
    /// With two owners sharing one storage, each decides on the snapshots it saw and, at each lease take-over,
    /// on the state the other left: a lower status that an owner answered Applied for after the model's higher
    /// observation, refreshed up to the row's snapshot, is an owner's decision, not a write past the rules. A
    /// backward move in the row itself is still counted by the sampler.
    /// </summary>
    private static bool AppliedLowerAfterModel(List<Ack> seen, Reg row, Reg model) =>
        seen.Any(a => a.Update.ObservedAtMs == row.Ts)
        && seen.Any(a => a.AppliedFields.Contains("status_id") && a.Update.ObservedAtMs > model.Ts);

    private static readonly Dictionary<string, string[]> AppliedNames = new()
    {
        ["status"] = ["status_id"], ["home"] = ["home_score"], ["away"] = ["away_score"],
        ["raw"] = ["home_scores", "away_scores"], ["meta"] = ["match_time", "competition_id"],
    };

    private static long? NewestApplied(IEnumerable<Ack> acks, string id, string field) =>
        acks.Where(a => a.Match.Id == id && AppliedNames[field].Any(a.AppliedFields.Contains))
            .Select(a => (long?)a.Update.ObservedAtMs).Max();

    private static HashSet<long> AppliedKickoffs(IEnumerable<Ack> acks, string id, int phase) =>
        acks.Where(a => a.Match.Id == id && a.AnyApplied)
            .SelectMany(a => new[]
            {
                a.Update.StatusId == phase ? a.Update.PhaseKickoffTs : null,
                phase == 2 ? a.Update.FirstHalfKickoffTs : a.Update.SecondHalfKickoffTs,
            })
            .OfType<long>()
            .ToHashSet();

    /// <summary>Compares the final rows with the model of <paramref name="acks"/> and folds in what the sampler saw.</summary>
    /// <remarks>
    /// <paramref name="concurrentOwners"/> (two activations of a match accepting at once): which of two first
    /// kick-offs each accepted is "first" is decided by whichever is written first, so a row kick-off that any
    /// activation answered Applied for is the rule's value (set once is held by the sampler's kick-off changes).
    /// </remarks>
    public static FaultFigures Compare(IReadOnlyList<MatchTruth> truths, IReadOnlyCollection<Ack> acks, IReadOnlyDictionary<string, RowView> rows,
        RowSampler sampler, int unacknowledged, bool concurrentOwners = false)
    {
        var byMatch = acks.GroupBy(a => a.Match.Id).ToDictionary(g => g.Key, g => ExpectedRow.Of(g));
        int lost = 0, unexplained = 0;
        var lostIds = new List<string>();
        var stale = new HashSet<(string, string)>(sampler.Backwards);
        var examples = new List<string>();
        var regressions = 0;
        foreach (var t in truths)
        {
            if (!byMatch.TryGetValue(t.Id, out var e)) continue;
            rows.TryGetValue(t.Id, out var row);
            foreach (var field in Registers)
            {
                var expected = field switch { "status" => e.Status, "home" => e.Home, "away" => e.Away, "raw" => e.Raw, _ => e.Meta };
                var actual = row?.Field(field);
                if (expected is null) continue;
                // Lost is measured against what the grain answered Applied (invariant 7): a field it refused
                // (e.g. a snapshot older than the provider time already stored: stale as a whole) was no promise.
                var promised = NewestApplied(acks, t.Id, field);
                if (actual is null ? promised is not null : promised is long p && actual.Ts < p)
                {
                    lost++;
                    lostIds.Add(t.Id);
                    if (examples.Count < 12) examples.Add($"{t.Id} {field}: row {actual?.Value}@{actual?.Ts} {actual?.Source}, model {expected.Value}@{expected.Ts} {expected.Source} (acked {expected.AckedAtMs})");
                }
                else if (actual is null || actual.Ts < expected.Ts)
                {
                    // Older than the model but not than any promise: the grain refused what the model took.
                    if (examples.Count < 12) examples.Add($"{t.Id} {field}: row {actual?.Value}@{actual?.Ts}, model {expected.Value}@{expected.Ts}, not answered Applied by the grain");
                }
                else if (actual.Ts > expected.Ts && concurrentOwners && field == "status" && ConfirmedByPolls(acks, t.Id, actual, row!.StatusConfirmed, expected))
                {
                    // Two owners: each decided on the snapshots it saw; this one confirmed the lower status.
                }
                else if (actual.Ts > expected.Ts)
                {
                    unexplained++;
                    if (examples.Count < 12) examples.Add($"{t.Id} {field}: row {actual.Value}@{actual.Ts} newer than model {expected.Value}@{expected.Ts}");
                }
                else if (actual.Value != expected.Value || (actual.Source.Length > 0 && actual.Source != expected.Source))
                {
                    stale.Add((t.Id, field));
                    if (examples.Count < 12) examples.Add($"{t.Id} {field}: row {actual.Value} {actual.Source}, model {expected.Value} {expected.Source} @{expected.Ts}");
                }

                if (field == "status" && actual is not null && actual.Ts >= expected.Ts && !(concurrentOwners && ConfirmedByPolls(acks, t.Id, actual, row!.StatusConfirmed, expected))
                    && ExpectedRow.IsBackward(int.Parse(expected.Value, System.Globalization.CultureInfo.InvariantCulture), int.Parse(actual.Value, System.Globalization.CultureInfo.InvariantCulture)))
                {
                    regressions++;
                    var trail = acks.Where(a => a.Match.Id == t.Id && a.Update.StatusId is not null && a.Update.ObservedAtMs >= expected.Ts - 20_000)
                        .OrderBy(a => a.Update.ObservedAtMs)
                        .Select(a => $"{a.Update.StatusId}@{a.Update.ObservedAtMs} {a.Update.Source}{(a.AppliedFields.Contains("status_id") ? " applied" : "")}");
                    examples.Add($"{t.Id} status acknowledged: {string.Join(", ", trail)}");
                }
            }

            foreach (var (phase, expected, actual, ack) in new[] { (2, e.Kickoff1, row?.Kickoff1, e.Kickoff1Ack), (4, e.Kickoff2, row?.Kickoff2, e.Kickoff2Ack) })
            {
                if (expected is null) continue;
                if (concurrentOwners && actual is not null && actual != expected && AppliedKickoffs(acks, t.Id, phase).Contains(actual.Value)) continue;
                // The model's first value was never answered Applied (its update was refused, e.g. stale as a whole):
                // the first value the grain did apply is the rule's, even one the workload sent as an overwrite attempt.
                var kickoffColumn = phase == 2 ? "first_half_kickoff_ts" : "second_half_kickoff_ts";
                if (actual is not null && actual != expected && ack is not null && !ack.AppliedFields.Contains(kickoffColumn)
                    && AppliedKickoffs(acks, t.Id, phase).Contains(actual.Value)) continue;
                if (actual is null)
                {
                    // Missing is lost only where the grain answered Applied for that kick-off (invariant 7's promise).
                    var column = phase == 2 ? "first_half_kickoff_ts" : "second_half_kickoff_ts";
                    if (acks.Any(a => a.Match.Id == t.Id && a.AppliedFields.Contains(column))) lost++;
                }
                else if (actual != expected)
                {
                    stale.Add((t.Id, $"kickoff{phase}"));
                }
                if (actual != expected && examples.Count < 12)
                {
                    examples.Add($"{t.Id} kick-off {phase}: row {actual}, model {expected} ({ack?.Update.Source} observed {ack?.Update.ObservedAtMs}, acked {ack?.AckedAtMs}, answered Applied {ack?.AnyApplied})");
                }
            }
        }

        var kickoffChanges = sampler.KickoffChanges.Count(c => !(byMatch.TryGetValue(c.Id, out var e) && e.AdminKickoffs.Contains(c.To)));
        regressions += sampler.BackwardStatus.Count(b => b.Source != "admin" && !(byMatch.TryGetValue(b.Id, out var e) && e.ConfirmedRegressions.Contains(b.To)));
        examples.AddRange(sampler.BackwardsSeen);
        foreach (var b in sampler.BackwardStatus.Take(4)) examples.Add($"{b.Id} status {b.From} -> {b.To} ({b.Source}) seen in the row");
        foreach (var c in sampler.KickoffChanges.Take(4)) examples.Add($"{c.Id} kick-off {c.Phase} {c.From} -> {c.To} ({c.Source}) seen in the row");
        return new FaultFigures(acks.Count, acks.Count(a => a.AnyApplied), lost, stale.Count, kickoffChanges, regressions, unexplained, unacknowledged, examples)
        {
            LostIds = lostIds,
        };
    }
}
