using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Simulator;
using Orleans.GoalGpt.Simulator.Feed;

namespace Orleans.GoalGpt.Bench;

/// <summary>
/// How right the service is, not how fast: the feed simulator with its default faults
/// (<c>Simulator/simulator.json</c>) over HTTP and MQTT (mosquitto) feeding one real silo with
/// every job on at the production settings, in real time. Every few seconds all of ts_matches is
/// read and compared with the simulator's ground truth (<c>/sim/truth</c>) for every match the
/// truth calls live: score and status behind by more than 5 s, minute off by more than 1, kick-offs
/// differing; per field the share of match-samples, how long each disagreement lasted, the worst.
/// </summary>
public static class AccuracyRun
{
    /// <summary>A changed score or status may take this long to reach ts_matches before it counts as behind.</summary>
    private const int BehindSeconds = 5;

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public sealed record Options(int Matches, TimeSpan Duration, TimeSpan Warmup, TimeSpan SampleInterval, string OutDir, string Command);

    public static async Task<int> RunAsync(string server, string redis, Options o)
    {
        var loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        var mqttPort = Environment.GetEnvironmentVariable("GOALGPT_MQTT_PORT") ?? throw new InvalidOperationException("run through bench/run.sh");
        var defaults = Path.Combine(AppContext.BaseDirectory, "simulator.json");
        if (!File.Exists(defaults)) throw new FileNotFoundException("the simulator's defaults are missing from the build output", defaults);

        var topic = $"goalgpt/accuracy/{Guid.NewGuid():N}";
        var sim = SimulatorHost.Build([], TimeProvider.System, c => c.AddJsonFile(defaults).AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Simulator:Matches"] = o.Matches.ToString(CultureInfo.InvariantCulture),
            ["Simulator:Mqtt:Port"] = mqttPort,
            ["Simulator:Mqtt:Topic"] = topic,
        }));
        sim.Urls.Clear();
        sim.Urls.Add("http://127.0.0.1:0");
        await sim.StartAsync();
        var simUrl = sim.Urls.First();
        using var http = new HttpClient { BaseAddress = new Uri(simUrl), Timeout = TimeSpan.FromSeconds(30) };

        var db = await Database.RecreateAsync(server, "goalgpt_accuracy");
        using var counters = new Counters();
        var silo = await BenchSilo.StartAsync(db.ConnectionString, redis, new Dictionary<string, string?>
        {
            ["Jobs:Enabled"] = "true",
            ["Mqtt:Enabled"] = "true",
            ["Provider:BaseUrl"] = simUrl + ProviderApi.BasePath,
            ["Mqtt:Host"] = "127.0.0.1",
            ["Mqtt:Port"] = mqttPort,
            ["Mqtt:Topic"] = topic,
            ["Logging:LogLevel:Polly"] = "Error", // every provider fault is a retry warning: counted by the service, noise here
        });

        var faults = JsonSerializer.Serialize(sim.Services.GetRequiredService<FaultDice>().Faults);
        var started = DateTimeOffset.UtcNow;
        var measureFrom = started + o.Warmup;
        var end = measureFrom + o.Duration;
        Console.WriteLine($"[bench] accuracy: {o.Matches:N0} matches, warm-up {o.Warmup.TotalSeconds:F0} s, then {o.Duration.TotalMinutes:F1} min sampled every {o.SampleInterval.TotalSeconds:F0} s");

        var tally = new Tally(o.SampleInterval.TotalSeconds);
        var correctionsBefore = -1L;
        var samples = 0;
        var liveCounts = new List<int>();
        var nextSample = measureFrom;
        while (nextSample < end)
        {
            var wait = nextSample - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            if (correctionsBefore < 0) correctionsBefore = counters.Corrections;
            nextSample += o.SampleInterval;

            // Truth at the whole second the rows are read in (the simulator changes on whole seconds).
            var at = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var rows = await ReadRowsAsync(db);
            var truth = await http.GetFromJsonAsync<List<TruthRow>>($"/sim/truth?at={at}", Web) ?? [];
            var before = (await http.GetFromJsonAsync<List<TruthRow>>($"/sim/truth?at={at - BehindSeconds}", Web) ?? []).ToDictionary(t => t.Id, StringComparer.Ordinal);
            var live = 0;
            foreach (var t in truth.Where(t => t.StatusId is 2 or 3 or 4 or 5 or 7))
            {
                live++;
                tally.Compare(at, t, before.GetValueOrDefault(t.Id), rows.GetValueOrDefault(t.Id));
            }

            tally.EndSample(at);

            liveCounts.Add(live);
            samples++;
            if (samples % 12 == 0) Console.WriteLine($"[bench] accuracy: {samples} samples, {tally.Summary()}");
        }

        var loadAfter = File.ReadAllText("/proc/loadavg").Trim();
        var corrections = (counters.Corrections, counters.Corrections - Math.Max(0, correctionsBefore));
        await silo.DisposeAsync();
        await sim.StopAsync();
        await sim.DisposeAsync();
        tally.Close();

        var report = new AccuracyReport(
            DateTimeOffset.UtcNow, o.Command, Environment.ProcessorCount, loadBefore, loadAfter, o.Matches, o.Warmup.TotalSeconds, o.Duration.TotalSeconds,
            o.SampleInterval.TotalSeconds, samples, liveCounts.Count == 0 ? 0 : liveCounts.Min(), liveCounts.Count == 0 ? 0 : liveCounts.Max(),
            corrections.Item1, corrections.Item2, faults, tally.Fields());
        Directory.CreateDirectory(o.OutDir);
        await File.WriteAllTextAsync(Path.Combine(o.OutDir, "accuracy.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        var markdown = Markdown(report);
        await File.WriteAllTextAsync(Path.Combine(o.OutDir, "accuracy.md"), markdown);
        Console.WriteLine();
        Console.WriteLine(markdown);
        return 0;
    }

    private static async Task<Dictionary<string, Row>> ReadRowsAsync(Database db)
    {
        var rows = new Dictionary<string, Row>(StringComparer.Ordinal);
        await using var cmd = db.Source.CreateCommand(
            "SELECT external_id, status_id, home_score, away_score, minute, minute_text, first_half_kickoff_ts, second_half_kickoff_ts, overtime_kickoff_ts FROM ts_matches");
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            int? Int(int i) => reader.IsDBNull(i) ? null : reader.GetInt32(i);
            long? Long(int i) => reader.IsDBNull(i) ? null : reader.GetInt64(i);
            rows[reader.GetString(0)] = new Row(Int(1), Int(2), Int(3), Int(4), reader.IsDBNull(5) ? null : reader.GetString(5), Long(6), Long(7), Long(8));
        }

        return rows;
    }

    private sealed record Row(int? Status, int? Home, int? Away, int? Minute, string? MinuteText, long? FirstHalf, long? SecondHalf, long? Overtime);

    /// <summary>One field's figures over the run.</summary>
    public sealed record FieldFigures(string Field, string Rule, long Samples, long Disagreeing, double SharePercent, int Episodes,
        double LongestSeconds, double MedianSeconds, IReadOnlyList<Example> Worst);

    /// <summary>One disagreement: a match, from its first to its last disagreeing sample, and what it looked like at its worst.</summary>
    public sealed record Example(string Match, DateTimeOffset From, double Seconds, bool OpenAtEnd, string Detail);

    public sealed record AccuracyReport(DateTimeOffset Date, string Command, int Cores, string LoadAvgBefore, string LoadAvgAfter, int Matches,
        double WarmupSeconds, double Seconds, double SampleSeconds, int Samples, int LiveMin, int LiveMax, long MinuteCorrected, long MinuteCorrectedMeasured, string Faults,
        IReadOnlyList<FieldFigures> Fields);

    /// <summary>Samples and disagreement episodes per field and match.</summary>
    private sealed class Tally(double interval)
    {
        private static readonly (string Field, string Rule)[] Rules =
        [
            ("status", $"status_id behind the truth by more than {BehindSeconds} s"),
            ("score", $"home/away score behind the truth by more than {BehindSeconds} s"),
            ("minute", "minute off the true minute by more than 1 (all live)"),
            ("minute, phase kick-off known", "minute off by more than 1 where ts_matches has the phase's kick-off"),
            ("minute, phase kick-off unknown", "minute off by more than 1 where ts_matches lacks the phase's kick-off (estimate)"),
            ("minute, HT/PEN", "minute off by more than 1 at half-time or penalties (fixed minute)"),
            ("kick-offs", "a kick-off in ts_matches different from the truth"),
            ("current kick-off missing", $"the running phase's kick-off (which every score array carries) missing from ts_matches more than {BehindSeconds} s"),
        ];

        private readonly Dictionary<string, (long Samples, long Disagreeing)> _counts = Rules.ToDictionary(r => r.Field, _ => (0L, 0L), StringComparer.Ordinal);
        private readonly Dictionary<(string Field, string Match), Episode> _open = [];
        private readonly List<(string Field, Example Example)> _closed = [];
        private readonly Dictionary<(string Field, string Match), long> _lastSeen = [];
        private long _at;

        private sealed class Episode(long from, string detail, int badness)
        {
            public long From { get; } = from;
            public long To { get; set; } = from;
            public string Detail { get; set; } = detail;
            public int Badness { get; set; } = badness;
        }

        public void Compare(long at, TruthRow t, TruthRow? before, Row? row)
        {
            _at = at;
            var status = row?.Status;
            var statusBehind = status != t.StatusId && status != before?.StatusId;
            Record("status", t.Id, statusBehind, $"ts_matches {Show(status)}, truth {t.StatusId} since {Clock(t.UpdatedAt)}", 1);

            var score = (row?.Home, row?.Away);
            var scoreBehind = score != (t.HomeScore, t.AwayScore) && (before is null || score != (before.HomeScore, before.AwayScore));
            Record("score", t.Id, scoreBehind, $"ts_matches {Show(row?.Home)}-{Show(row?.Away)}, truth {t.HomeScore}-{t.AwayScore} since {Clock(t.UpdatedAt)}", 1);

            // A status change still in flight (the row shows the state of up to 5 s ago) moves the
            // minute with it: that row is judged against the minute of then (its lag is counted under status).
            var minute = row?.Minute;
            var off = Off(minute, t.Minute);
            if (off > 1 && status != t.StatusId && before is not null && status == before.StatusId) off = Off(minute, before.Minute);
            var kickoffKnown = t.StatusId switch
            {
                2 => row?.FirstHalf is not null,
                4 => row?.SecondHalf is not null,
                5 => row?.Overtime is not null,
                _ => (bool?)null,
            };
            var bucket = kickoffKnown switch { true => "minute, phase kick-off known", false => "minute, phase kick-off unknown", null => "minute, HT/PEN" };
            var minuteDetail = $"status {t.StatusId}: ts_matches {Show(minute)} ({row?.MinuteText ?? "NULL"}), truth {t.Minute} ({t.MinuteText}); " +
                $"kick-off truth {Clock(t.StatusId switch { 2 => t.FirstHalfKickoffTs, 4 => t.SecondHalfKickoffTs, 5 => t.OvertimeKickoffTs, _ => null })}, match_time {Clock(t.MatchTime)}";
            Record("minute", t.Id, off > 1, minuteDetail, off);
            Record(bucket, t.Id, off > 1, minuteDetail, off);

            // A phase that began before the service first saw the match has a kick-off it cannot learn
            // (the provider sends only the running phase's): missing counts only for the running phase.
            var kickoffs = new[] { ("first half", row?.FirstHalf, t.FirstHalfKickoffTs), ("second half", row?.SecondHalf, t.SecondHalfKickoffTs), ("overtime", row?.Overtime, t.OvertimeKickoffTs) };
            var wrong = kickoffs.Where(k => k.Item2 is not null && k.Item2 != k.Item3).ToList();
            Record("kick-offs", t.Id, wrong.Count > 0, string.Join("; ", wrong.Select(k => $"{k.Item1}: ts_matches {Clock(k.Item2)}, truth {Clock(k.Item3)}")), 1);
            var running = t.StatusId switch { 2 => kickoffs[0], 4 => kickoffs[1], 5 => kickoffs[2], _ => default };
            var runningBefore = before is null ? null : before.StatusId switch { 2 => before.FirstHalfKickoffTs, 4 => before.SecondHalfKickoffTs, 5 => before.OvertimeKickoffTs, _ => null };
            var missing = running.Item3 is not null && running.Item2 is null && runningBefore == running.Item3;
            Record("current kick-off missing", t.Id, missing, $"{running.Item1}: ts_matches none, truth {Clock(running.Item3)}; status ts_matches {Show(status)}, truth {t.StatusId}", 1);
        }

        /// <summary>How many minutes apart; a NULL minute agrees only with a state that has none (not live).</summary>
        private static int Off(int? minute, int? truth) => (minute, truth) switch
        {
            (int m, int tm) => Math.Abs(m - tm),
            (null, null) => 0,
            _ => 1000,
        };

        private void Record(string field, string match, bool disagrees, string detail, int badness)
        {
            var (samples, disagreeing) = _counts[field];
            _counts[field] = (samples + 1, disagreeing + (disagrees ? 1 : 0));
            var key = (field, match);
            _lastSeen[key] = _at;
            if (!disagrees)
            {
                Close(key, open: false);
                return;
            }

            if (_open.TryGetValue(key, out var e))
            {
                e.To = _at;
                if (badness >= e.Badness) (e.Detail, e.Badness) = (detail, badness);
            }
            else
            {
                _open[key] = new Episode(_at, detail, badness);
            }
        }

        /// <summary>A match no longer live ends its episodes.</summary>
        public void EndSample(long at)
        {
            foreach (var key in _open.Keys.Where(k => _lastSeen[k] != at).ToList()) Close(key, open: false);
        }

        private void Close((string Field, string Match) key, bool open)
        {
            if (!_open.Remove(key, out var e)) return;
            _closed.Add((key.Field, new Example(key.Match, DateTimeOffset.FromUnixTimeSeconds(e.From), e.To - e.From + interval, open, e.Detail)));
        }

        public void Close()
        {
            foreach (var key in _open.Keys.ToList()) Close(key, open: true);
        }

        public string Summary() => string.Join(", ", _counts.Where(c => c.Key is "status" or "score" or "minute" or "minute, phase kick-off known" or "kick-offs" or "current kick-off missing")
            .Select(c => $"{c.Key} {c.Value.Disagreeing}/{c.Value.Samples}"));

        public IReadOnlyList<FieldFigures> Fields() => Rules.Select(r =>
        {
            var (samples, disagreeing) = _counts[r.Field];
            var episodes = _closed.Where(c => c.Field == r.Field).Select(c => c.Example).OrderByDescending(e => e.Seconds).ToList();
            var durations = episodes.Select(e => e.Seconds).Order().ToList();
            return new FieldFigures(r.Field, r.Rule, samples, disagreeing, samples == 0 ? 0 : 100.0 * disagreeing / samples, episodes.Count,
                durations.Count == 0 ? 0 : durations[^1], durations.Count == 0 ? 0 : durations[durations.Count / 2], episodes.Take(5).ToList());
        }).ToList();

        private static string Show(int? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "NULL";

        private static string Clock(long? unix) => unix is long u ? DateTimeOffset.FromUnixTimeSeconds(u).ToString("HH:mm:ss", CultureInfo.InvariantCulture) : "none";
    }

    private static string Markdown(AccuracyReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Accuracy measured {r.Date:yyyy-MM-dd HH:mm} UTC with `{r.Command}`: {r.Matches:N0} simulated matches (default faults), one silo, real time; " +
            $"{r.WarmupSeconds:F0} s warm-up, then {r.Seconds / 60:F1} min sampled every {r.SampleSeconds:F0} s ({r.Samples} samples, {r.LiveMin:N0}–{r.LiveMax:N0} live matches each).");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{r.Cores} cores, load average before/after: `{r.LoadAvgBefore}` / `{r.LoadAvgAfter}`. `minute_corrected`: {r.MinuteCorrected:N0} in all, {r.MinuteCorrectedMeasured:N0} after the warm-up (a kick-off learnt after an estimate, mostly of matches first seen mid-phase at start-up).");
        sb.AppendLine();
        sb.AppendLine("| field | disagrees when | live match-samples | disagreeing | share | episodes | longest s | median s |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var f in r.Fields)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {f.Field} | {f.Rule} | {f.Samples:N0} | {f.Disagreeing:N0} | {f.SharePercent:F3} % | {f.Episodes:N0} | {f.LongestSeconds:F0} | {f.MedianSeconds:F0} |");
        }

        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"An episode lasts from a match's first disagreeing sample to its last, plus one sample interval ({r.SampleSeconds:F0} s): durations are that coarse.");
        foreach (var f in r.Fields.Where(f => f.Worst.Count > 0 && f.Field != "minute"))
        {
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Worst, {f.Field}:");
            sb.AppendLine();
            foreach (var e in f.Worst)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- `{e.Match}` from {e.From:HH:mm:ss}, {e.Seconds:F0} s{(e.OpenAtEnd ? " (still at the end)" : "")}: {e.Detail}");
            }
        }

        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Faults: `{r.Faults}`");
        return sb.ToString();
    }

    /// <summary>The service's <c>minute_corrected</c> counter, read off its meter.</summary>
    private sealed class Counters : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _corrections;

        public Counters()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == GoalGptMetrics.MeterName && instrument.Name == "goalgpt.minute_corrected") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref _corrections, v));
            _listener.Start();
        }

        public long Corrections => Interlocked.Read(ref _corrections);

        public void Dispose() => _listener.Dispose();
    }
}
