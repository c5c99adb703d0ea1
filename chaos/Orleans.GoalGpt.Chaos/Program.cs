using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Orleans.GoalGpt.Chaos;
using Orleans.GoalGpt.Simulator.Feed;
using Orleans.GoalGpt.Tests.Faults;

// The chaos driver: runs in the hub namespace, starts the silos in theirs, injects the faults, compares,
// writes chaos/results/<name>.{md,json}. Exit code 1 when a required result failed (chaos/run.sh).
var settings = ChaosSettings.FromEnvironment();
Directory.CreateDirectory(settings.OutDir);
Directory.CreateDirectory(settings.LogDir);
var load = File.ReadAllText("/proc/loadavg").Trim();
var results = new List<FaultResult>();
var notes = new List<string>();
ScaleOut? scale = null;
TruthAgreement? truth = null;
var clock = System.Diagnostics.Stopwatch.StartNew();
await using (var cluster = new Cluster(settings))
{
    try
    {
        Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] starting 3 silos (cluster {settings.ClusterId}); membership: {string.Join(", ", ChaosSettings.Membership.Select(kv => $"{kv.Key}={kv.Value}"))}");
        await cluster.StartAsync(3);
        Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] 3 silos ready after {clock.Elapsed.TotalSeconds:0} s");
        var matches = settings.Full ? 160 : 90;
        var faults = new Faults(cluster, matches, seed: 11);
        // CHAOS_ONLY=redis-cut,slow-postgres (names as in the report) runs only those (for working on one fault).
        var only = (Environment.GetEnvironmentVariable("CHAOS_ONLY") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        bool Runs(string fault, bool bounded) => only.Length > 0 ? only.Contains(fault) : bounded || settings.Full;
        if (Runs("partition", true)) results.Add(await faults.PartitionAsync(TimeSpan.FromSeconds(45), TimeSpan.FromSeconds(settings.Full ? 80 : 65)));
        if (Runs("slow-postgres", false)) results.Add(await faults.SlowPostgresAsync(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(40)));
        if (Runs("restart-stores", false)) results.Add(await faults.RestartStoresAsync(TimeSpan.FromSeconds(40)));
        if (Runs("restart-broker", false)) results.Add(await faults.RestartBrokerAsync(TimeSpan.FromSeconds(12), TimeSpan.FromSeconds(45)));
        if (Runs("kill", true)) results.Add(await faults.KillAsync(TimeSpan.FromSeconds(settings.Full ? 40 : 30)));
        // Last: a silo that lost Redis does not renew its leases afterwards (docs/chaos.md, "Findings").
        if (Runs("redis-cut", false)) results.Add(await faults.RedisCutAsync(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(58)));
        truth = await TruthAgreement.MeasureAsync(cluster);
        Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] simulator's matches: {truth.Agreeing}/{truth.Live} live matches agree with the ground truth (status and score within the last 10 s)");
        if (settings.Full && only.Length == 0)
        {
            scale = await ScaleOut.MeasureAsync(cluster, matches: 150, seed: 23);
        }
    }
    catch (Exception ex)
    {
        notes.Add($"the run stopped early: {ex.GetType().Name}: {ex.Message}");
        Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] the run stopped early: {ex}");
    }
    finally
    {
        await cluster.StopAllAsync();
    }
}

var checks = results.SelectMany(r => r.Checks).ToList();
if (truth is not null)
{
    checks.Add(new Check("ground truth", "the simulator's live matches agree with its ground truth at the end (>= 95 %)", truth.Live > 0 && truth.Agreeing >= 0.95 * truth.Live,
        $"{truth.Agreeing}/{truth.Live}; first differences: {string.Join("; ", truth.Examples)}"));
}

if (notes.Count > 0) checks.Add(new Check("run", "every step ran", false, string.Join("; ", notes)));
var failed = checks.Count(c => !c.Pass);
var report = new
{
    name = settings.Name,
    mode = settings.Full ? "full" : "bounded",
    finishedUtc = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
    seconds = Math.Round(clock.Elapsed.TotalSeconds),
    loadavgAtStart = load,
    membership = ChaosSettings.Membership,
    faults = results,
    truth,
    scaleOut = scale,
    checks,
    passed = checks.Count - failed,
    failed,
};
File.WriteAllText(Path.Combine(settings.OutDir, settings.Name + ".json"), Faults.Json(report));
File.WriteAllText(Path.Combine(settings.OutDir, settings.Name + ".md"), Markdown.Render(settings, results, truth, scale, checks, load, clock.Elapsed));
Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] report: {Path.Combine(settings.OutDir, settings.Name)}.md (+ .json)");
foreach (var c in checks) Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] {(c.Pass ? "PASS" : "FAIL")} {c.Fault}: {c.What} ({c.Detail})");
Console.WriteLine($"CHAOS {checks.Count - failed} passed, {failed} failed");
return failed == 0 ? 0 : 1;

namespace Orleans.GoalGpt.Chaos
{
    /// <summary>The simulator's live matches in ts_matches against its ground truth.</summary>
    internal sealed record TruthAgreement(int Live, int Agreeing, List<string> Examples)
    {
        public static async Task<TruthAgreement> MeasureAsync(Cluster cluster)
        {
            using var http = new HttpClient { BaseAddress = new Uri(cluster.Settings.SimUrl), Timeout = TimeSpan.FromSeconds(30) };
            await Task.Delay(TimeSpan.FromSeconds(6)); // a detail_live round (2 s) and a confirmation delay
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var truths = new List<Dictionary<string, TruthRow>>();
            foreach (var back in new[] { 0, 5, 10 })
            {
                var rows = await http.GetFromJsonAsync<List<TruthRow>>($"/sim/truth?at={now - back}") ?? [];
                truths.Add(rows.ToDictionary(t => t.Id));
            }

            var db = new Dictionary<string, (int? Status, int? Home, int? Away)>();
            // After a PostgreSQL restart the pool's first connection is a dead one: read again on a fresh pool.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await ReadRowsAsync(cluster, truths[0].Keys.ToArray(), db);
                    break;
                }
                catch (Npgsql.NpgsqlException) when (attempt < 3)
                {
                    cluster.Db.Clear();
                    await Task.Delay(1000);
                }
            }

            var live = truths[0].Values.Where(t => t.StatusId is 2 or 3 or 4 or 5 or 7).ToList();
            var examples = new List<string>();
            var agreeing = 0;
            foreach (var t in live)
            {
                db.TryGetValue(t.Id, out var row);
                if (truths.Any(at => at.TryGetValue(t.Id, out var x) && x.StatusId == row.Status && x.HomeScore == row.Home && x.AwayScore == row.Away)) agreeing++;
                else if (examples.Count < 5) examples.Add($"{t.Id}: row {row.Status} {row.Home}-{row.Away}, truth {t.StatusId} {t.HomeScore}-{t.AwayScore}");
            }

            return new TruthAgreement(live.Count, agreeing, examples);
        }

        private static async Task ReadRowsAsync(Cluster cluster, string[] ids, Dictionary<string, (int? Status, int? Home, int? Away)> db)
        {
            await using var cmd = cluster.Db.CreateCommand("SELECT external_id, status_id, home_score, away_score FROM ts_matches WHERE external_id = ANY(@ids)");
            cmd.Parameters.AddWithValue("ids", ids);
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                db[r.GetString(0)] = (r.IsDBNull(1) ? null : r.GetInt32(1), r.IsDBNull(2) ? null : r.GetInt32(2), r.IsDBNull(3) ? null : r.GetInt32(3));
            }
        }
    }

    /// <summary>1, 2 and 3 silo processes at the same offered load.</summary>
    internal sealed record ScaleRow(int Silos, int Acknowledged, double UpdatesPerSecond, double? WriteLagP99Ms, double? ApplyP99Ms,
        Dictionary<string, double> CpuMsPer1000Updates, double CpuMsPer1000UpdatesTotal, Dictionary<string, int> MatchesPerSilo, double Balance, double? FailoverSeconds, string Load);

    internal sealed record ScaleOut(List<ScaleRow> Rows, string Estimate)
    {
        public static async Task<ScaleOut> MeasureAsync(Cluster cluster, int matches, int seed)
        {
            var rows = new List<ScaleRow>();
            foreach (var n in new[] { 1, 2, 3 })
            {
                await cluster.StopAllAsync();
                await cluster.StartAsync(n);
                Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] scale-out: {n} silo(s), {matches} matches written directly + the simulator's feed");
                var prefix = $"cscale{n}-";
                var started = Cluster.Now();
                var window = TimeSpan.FromSeconds(40);
                var truths = FaultWorkload.Build(prefix.TrimEnd('-'), matches, started, (long)(window.TotalMilliseconds + 30_000), seed, quiet: false);
                var writers = new FaultWriters(truths, cluster.Route, seed);
                var run = writers.RunAsync(DateTimeOffset.FromUnixTimeMilliseconds(started) + window + TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(20));
                await Task.Delay(TimeSpan.FromSeconds(8)); // activations and leases settle
                var nodes = cluster.Running.ToList();
                var cpu0 = nodes.ToDictionary(x => x.Index, x => x.Cpu());
                var m0 = await cluster.ScrapeAsync();
                var acks0 = writers.Acks.Count;
                var t0 = Cluster.Now();
                await Task.Delay(window - TimeSpan.FromSeconds(8));
                var acks1 = writers.Acks.Count;
                var seconds = (Cluster.Now() - t0) / 1000.0;
                var cpu1 = nodes.ToDictionary(x => x.Index, x => x.Cpu());
                var m1 = await cluster.ScrapeAsync();
                var load = File.ReadAllText("/proc/loadavg").Trim();
                var received = m1.Sum(kv => kv.Value.Sum("goalgpt_updates_received_total")) - m0.Sum(kv => kv.Value.Sum("goalgpt_updates_received_total"));
                var cpu = nodes.ToDictionary(x => $"silo{x.Index}", x => Math.Round((cpu1[x.Index] - cpu0[x.Index]).TotalMilliseconds / Math.Max(1, received / 1000.0), 1));
                var lag = Metrics.Quantile(m0.Values.Select(m => m.Buckets("goalgpt_writebehind_lag_milliseconds")), m1.Values.Select(m => m.Buckets("goalgpt_writebehind_lag_milliseconds")), 0.99);
                var apply = Metrics.Quantile(m0.Values.Select(m => m.Buckets("goalgpt_apply_duration_milliseconds")), m1.Values.Select(m => m.Buckets("goalgpt_apply_duration_milliseconds")), 0.99);
                var perSilo = await cluster.MatchesPerSiloAsync(prefix) ?? [];
                // Every running silo counts, also one that got none of the matches.
                var counts = nodes.ToDictionary(x => x.Endpoint, x => perSilo.GetValueOrDefault(x.Endpoint)?.Count ?? 0);
                var balance = counts.Count == 0 ? 0 : Math.Round(counts.Values.Max() / counts.Values.Average(), 2);
                double? failover = null;
                if (n > 1)
                {
                    var victim = nodes[^1];
                    var affected = perSilo.GetValueOrDefault(victim.Endpoint) ?? [];
                    await using var watch = await RewriteWatch.StartAsync(cluster.Db, affected);
                    victim.Kill();
                    await victim.WaitExitAsync();
                    await victim.DisposeClientAsync();
                    await watch.AllRewrittenAsync(TimeSpan.FromSeconds(25));
                    failover = watch.Rewritten.IsEmpty ? null : Math.Round(watch.Rewritten.Values.Max(), 1);
                }

                await run;
                rows.Add(new ScaleRow(n, acks1 - acks0, Math.Round(received / seconds), lag, apply, cpu,
                    Math.Round(nodes.Sum(x => (cpu1[x.Index] - cpu0[x.Index]).TotalMilliseconds) / Math.Max(1, received / 1000.0), 1), counts, balance, failover, load));
                Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] scale-out {n}: {received / seconds:0} updates/s received, CPU {rows[^1].CpuMsPer1000UpdatesTotal} ms per 1,000, balance {balance}, failover {failover} s");
            }

            return new ScaleOut(rows, EstimateFor(rows));
        }

        /// <summary>From the measured CPU per update to what N hosts of 8 cores should carry (docs/chaos.md states the assumptions).</summary>
        private static string EstimateFor(List<ScaleRow> rows)
        {
            var perK = rows.Max(r => r.CpuMsPer1000UpdatesTotal); // the most expensive configuration measured: no credit for economies
            if (perK <= 0) return "no estimate: no CPU measured";
            var perHost = 8 * 0.6 * 1000 / perK * 1000; // 8 cores at 60 % busy, updates per second
            return $"{perK} CPU-ms per 1,000 updates (the highest of the three) -> one 8-core host at 60 % CPU: ~{perHost:0} updates/s; " +
                $"N hosts: ~N x {perHost:0} updates/s while PostgreSQL (one row per changed match per 100 ms flush) and Redis (one renewal script per 500 leases per 2.3 s) keep up on hosts of their own";
        }
    }

    internal static class Markdown
    {
        public static string Render(ChaosSettings settings, List<FaultResult> results, TruthAgreement? truth, ScaleOut? scale, List<Check> checks, string load, TimeSpan took)
        {
            var failed = checks.Count(c => !c.Pass);
            var sb = new StringBuilder();
            sb.AppendLine(CultureInfo.InvariantCulture, $"# Chaos run `{settings.Name}` ({(settings.Full ? "full" : "bounded")})");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Finished {DateTimeOffset.UtcNow:u}, {took.TotalSeconds:0} s; `/proc/loadavg` at the start: `{load}` (2 shared cores). **{checks.Count - failed} required results passed, {failed} failed.**");
            sb.AppendLine();
            sb.AppendLine("Silo processes each in its own network namespace (`ggc-s1..3`, 10.231.0.11-13), PostgreSQL, Redis, mosquitto, the feed simulator and this driver in `ggc-hub` (10.231.0.1); membership: " +
                string.Join(", ", ChaosSettings.Membership.Select(kv => $"`{kv.Key}={kv.Value}`")) + ". Definitions: docs/chaos.md.");
            sb.AppendLine();
            sb.AppendLine("| fault | how | acknowledged (answered Applied) | never acknowledged | lost | stale landed | affected matches | written again (p50 / max s) | activations per silo before → during → after |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var r in results)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {r.Fault} | {r.How} | {r.Acknowledged} ({r.AnsweredApplied}) | {r.NeverAcknowledged} | {r.Lost} | {r.StaleLanded} | " +
                    $"{(r.AffectedMatches > 0 ? $"{r.AffectedRewritten}/{r.AffectedMatches}" : "all silos")} | {(r.RewrittenMaxSeconds is null ? "–" : $"{r.RewrittenP50Seconds} / {r.RewrittenMaxSeconds}")} | " +
                    $"{Act(r.ActivationsBefore)} → {Act(r.ActivationsDuring)} → {Act(r.ActivationsAfter)} |");
            }

            sb.AppendLine();
            foreach (var r in results.Where(r => r.Observed.Count > 0))
            {
                sb.AppendLine("- **" + r.Fault + "**: " + string.Join("; ", r.Observed.Select(kv => $"{kv.Key}: {kv.Value ?? "–"}")));
            }

            if (truth is not null)
            {
                sb.AppendLine();
                sb.AppendLine(CultureInfo.InvariantCulture, $"Ground truth: {truth.Agreeing} of the simulator's {truth.Live} live matches show in `ts_matches` the status and score the simulator had at the end or up to 10 s before.");
            }

            if (scale is not null)
            {
                sb.AppendLine();
                sb.AppendLine("## Scale-out (same offered load: the simulator's feed + 150 matches written directly)");
                sb.AppendLine();
                sb.AppendLine("| silos | updates/s received | write lag p99 (ms) | apply p99 (ms) | CPU ms per 1,000 updates (per silo; total) | matches per silo | balance (max/mean) | failover after kill -9 (s) | loadavg |");
                sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
                foreach (var r in scale.Rows)
                {
                    sb.AppendLine(CultureInfo.InvariantCulture, $"| {r.Silos} | {r.UpdatesPerSecond} | {r.WriteLagP99Ms} | {r.ApplyP99Ms} | {string.Join(", ", r.CpuMsPer1000Updates.Select(kv => $"{kv.Key} {kv.Value}"))}; {r.CpuMsPer1000UpdatesTotal} | " +
                        $"{string.Join(", ", r.MatchesPerSilo.Values)} | {r.Balance} | {(r.FailoverSeconds?.ToString(CultureInfo.InvariantCulture) ?? "–")} | {r.Load} |");
                }

                sb.AppendLine();
                sb.AppendLine("Estimate: " + scale.Estimate + ".");
            }

            sb.AppendLine();
            sb.AppendLine("## Required results");
            sb.AppendLine();
            foreach (var c in checks) sb.AppendLine(CultureInfo.InvariantCulture, $"- {(c.Pass ? "PASS" : "**FAIL**")} {c.Fault}: {c.What} — {c.Detail}");
            var examples = results.Where(r => r.Examples.Count > 0).ToList();
            if (examples.Count > 0)
            {
                sb.AppendLine();
                sb.AppendLine("## What the comparison listed (first few; a status 4 -> 2 of the workload's Regression matches is a confirmed move, listed, not counted)");
                sb.AppendLine();
                foreach (var r in examples) foreach (var e in r.Examples) sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Fault}: {e}");
            }

            return sb.ToString();
        }

        private static string Act(Dictionary<string, int> a) => a.Count == 0 ? "–" : string.Join(", ", a.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key.Split(':')[0]}: {kv.Value}"));
    }
}
