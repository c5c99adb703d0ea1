using System.Text.Json;
using Orleans.GoalGpt.Tests.Faults;

namespace Orleans.GoalGpt.Chaos;

/// <summary>One required result: the run fails when any is false.</summary>
internal sealed record Check(string Fault, string What, bool Pass, string Detail);

/// <summary>The figures of one fault (docs/chaos.md, "Report").</summary>
internal sealed class FaultResult
{
    public required string Fault { get; init; }
    public string How { get; set; } = "";
    public int Matches { get; set; }
    public int Acknowledged { get; set; }
    public int AnsweredApplied { get; set; }
    public int NeverAcknowledged { get; set; }
    public int Lost { get; set; }
    public int StaleLanded { get; set; }
    public int RegressionsWritten { get; set; }
    public int KickoffChanges { get; set; }
    public int Unexplained { get; set; }
    public int AffectedMatches { get; set; }
    public int AffectedTaken { get; set; }
    public int AffectedRewritten { get; set; }
    public double? RewrittenP50Seconds { get; set; }
    public double? RewrittenMaxSeconds { get; set; }
    public double? TakenMaxSeconds { get; set; }
    public double? LastOldEpochWriteSeconds { get; set; }
    public Dictionary<string, int> ActivationsBefore { get; set; } = [];
    public Dictionary<string, int> ActivationsDuring { get; set; } = [];
    public Dictionary<string, int> ActivationsAfter { get; set; } = [];
    public Dictionary<string, object?> Observed { get; } = [];
    public List<string> Examples { get; set; } = [];
    public List<Check> Checks { get; } = [];
    public double Seconds { get; set; }

    public void Require(string what, bool pass, string detail) => Checks.Add(new Check(Fault, what, pass, detail));
}

/// <summary>
/// The faults: each runs the fault suite's five job kinds (Tests/Faults/FaultWorkload.cs) as direct writers on
/// matches of its own, through every silo's gateway, while the simulator feeds its own matches through the
/// silos' pollers and MQTT; the fault is injected after a calm start, healed, and the table compared with what
/// the grains answered Applied (Tests/Faults/FaultModel.cs).
/// </summary>
internal sealed class Faults(Cluster cluster, int matches, int seed)
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(7); // a confirmation-only row waits up to 5 s

    public static double? Percentile(IEnumerable<double> values, double q)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count == 0 ? null : Math.Round(sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(q * sorted.Count) - 1)], 1);
    }

    /// <summary>Runs writers for <paramref name="total"/>; <paramref name="fault"/> starts after <paramref name="calm"/> and must heal what it broke.</summary>
    public async Task<FaultResult> RunAsync(string name, string how, TimeSpan calm, TimeSpan total, Func<FaultResult, string, Task> fault, bool concurrentOwners = false)
    {
        var result = new FaultResult { Fault = name, How = how, Matches = matches };
        var prefix = $"c{name}-";
        var started = Cluster.Now();
        Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] {name}: {matches} matches written directly for {total.TotalSeconds:0} s, the fault after {calm.TotalSeconds:0} s");
        var truths = FaultWorkload.Build(prefix.TrimEnd('-'), matches, started, (long)total.TotalMilliseconds, seed, quiet: false);
        await using var sampler = new RowSampler(cluster.Settings.Pg, prefix);
        var writers = new FaultWriters(truths, cluster.Route, seed);
        var run = writers.RunAsync(DateTimeOffset.FromUnixTimeMilliseconds(started) + total, TimeSpan.FromSeconds(30));
        await Task.Delay(calm);
        result.ActivationsBefore = await cluster.ActivationsAsync();
        try
        {
            await fault(result, prefix);
        }
        finally
        {
            await run;
        }

        await Task.Delay(Settle);
        await sampler.StopAsync();
        var rows = await sampler.SampleAsync() ?? [];
        var figures = FaultFigures.Compare(truths, [.. writers.Acks], rows, sampler, writers.Unacknowledged, concurrentOwners);
        result.Acknowledged = figures.Acknowledged;
        result.AnsweredApplied = figures.AnsweredApplied;
        result.NeverAcknowledged = figures.Unacknowledged;
        result.Lost = figures.Lost;
        result.StaleLanded = figures.StaleLanded;
        result.RegressionsWritten = figures.RegressionsWritten;
        result.KickoffChanges = figures.KickoffChanges;
        result.Unexplained = figures.Unexplained;
        result.Examples.AddRange(figures.Examples.Take(8));
        result.ActivationsAfter = await cluster.ActivationsAsync();
        result.Seconds = Math.Round((Cluster.Now() - started) / 1000.0, 1);
        result.Require("0 lost (every field as new as the newest update a grain answered Applied for)", figures.Lost == 0, $"lost {figures.Lost}");
        result.Require("0 stale values landed", figures.StaleLanded == 0, $"stale {figures.StaleLanded}");
        result.Require("0 unconfirmed regressions or kick-off changes written", figures.RegressionsWritten == 0 && figures.KickoffChanges == 0,
            $"regressions {figures.RegressionsWritten}, kick-off changes {figures.KickoffChanges}");
        Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] " + figures.Line(name));
        foreach (var e in result.Examples) Console.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}]   " + e);
        return result;
    }

    private static void Record(FaultResult r, RewriteWatch w)
    {
        r.AffectedMatches = w.Count;
        r.AffectedTaken = w.Taken.Count;
        r.AffectedRewritten = w.Rewritten.Count;
        r.RewrittenP50Seconds = Percentile(w.Rewritten.Values, 0.5);
        r.RewrittenMaxSeconds = w.Rewritten.IsEmpty ? null : Math.Round(w.Rewritten.Values.Max(), 1);
        r.TakenMaxSeconds = w.Taken.IsEmpty ? null : Math.Round(w.Taken.Values.Max(), 1);
        r.LastOldEpochWriteSeconds = w.LastOldEpochWrite is double d ? Math.Round(d, 1) : null;
        foreach (var (id, trail) in w.Trail.Where(t => !w.Rewritten.ContainsKey(t.Key)).Take(3))
        {
            r.Examples.Add($"{id} not written again under a newer epoch; its row (epoch@written): {string.Join(", ", trail.TakeLast(6))}");
        }
    }

    /// <summary>The running silo holding most of this fault's matches (the one the fault hits), and those matches.</summary>
    private async Task<(SiloNode Node, List<string> Matches)> BusiestAsync(string prefix)
    {
        var perSilo = await cluster.MatchesPerSiloAsync(prefix) ?? [];
        var node = cluster.Running.OrderByDescending(n => perSilo.GetValueOrDefault(n.Endpoint)?.Count ?? 0).ThenBy(n => n.Index).First();
        return (node, perSilo.GetValueOrDefault(node.Endpoint) ?? []);
    }

    /// <summary>kill -9 of a silo under load; its matches must be written again by another silo within 15 s.</summary>
    public Task<FaultResult> KillAsync(TimeSpan total) => RunAsync("kill", "kill -9 of the silo holding most of the fault's matches, under load",
        TimeSpan.FromSeconds(8), total, async (r, prefix) =>
        {
            var (victim, affected) = await BusiestAsync(prefix);
            r.How = $"kill -9 of silo {victim.Index} (pid {victim.Pid}, most of the fault's matches) under load";
            await using var watch = await RewriteWatch.StartAsync(cluster.Db, affected);
            victim.Kill();
            await victim.WaitExitAsync();
            await victim.DisposeClientAsync();
            await watch.AllRewrittenAsync(TimeSpan.FromSeconds(30));
            r.ActivationsDuring = await cluster.ActivationsAsync();
            Record(r, watch);
            r.Require("its matches written again by another silo within 15 s", affected.Count > 0 && r.AffectedRewritten == affected.Count && r.RewrittenMaxSeconds <= 15,
                $"{r.AffectedRewritten}/{affected.Count} written again under a new epoch, the last after {r.RewrittenMaxSeconds} s (p50 {r.RewrittenP50Seconds} s)");
        });

    /// <summary>One silo cut from the other silos (iptables in its namespace) while it still reaches PostgreSQL and Redis.</summary>
    public Task<FaultResult> PartitionAsync(TimeSpan hold, TimeSpan total) => RunAsync("partition", "",
        TimeSpan.FromSeconds(8), total, async (r, prefix) =>
        {
            var (isolated, affected) = await BusiestAsync(prefix);
            r.How = $"silo {isolated.Index} (most of the fault's matches) cut from the other silos (iptables DROP both ways in its namespace), PostgreSQL and Redis still reachable, until the others took its matches (at most {hold.TotalSeconds:0} s)";
            var before = await isolated.MetricsAsync();
            await using var watch = await RewriteWatch.StartAsync(cluster.Db, affected);
            await cluster.CtlAsync("partition-silos", isolated.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Metrics? last = before;
            double? exitedAt = null;
            // Held until the others have taken every match of the isolated silo (or the bound): they can only
            // once it stopped renewing its leases, i.e. once it learnt from the table that it was declared dead.
            var until = DateTime.UtcNow + hold;
            while (DateTime.UtcNow < until && watch.Rewritten.Count < affected.Count)
            {
                if (isolated.Running)
                {
                    last = await isolated.MetricsAsync() ?? last;
                }
                else
                {
                    exitedAt ??= watch.Elapsed();
                }

                await Task.Delay(1000);
            }

            r.ActivationsDuring = await cluster.ActivationsAsync();
            await cluster.CtlAsync("heal", isolated.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var fenced = (last?.Sum("goalgpt_fencing_fenced_out_total") ?? 0) - (before?.Sum("goalgpt_fencing_fenced_out_total") ?? 0);
            var renewalsLost = (last?.Sum("goalgpt_lock_renewals_lost_total") ?? 0) - (before?.Sum("goalgpt_lock_renewals_lost_total") ?? 0);
            r.Observed["isolated silo still running at the heal"] = isolated.Running;
            r.Observed["isolated silo stopped itself after (s)"] = exitedAt;
            r.Observed["isolated silo: writes fenced out (goalgpt.fencing.fenced_out, last scrape)"] = fenced;
            r.Observed["isolated silo: leases lost (goalgpt.lock.renewals_lost, last scrape)"] = renewalsLost;
            Record(r, watch);
            r.Require("the others take the isolated silo's matches (newer epoch, written) during the partition", affected.Count > 0 && r.AffectedRewritten == affected.Count,
                $"{r.AffectedTaken}/{affected.Count} taken (last after {r.TakenMaxSeconds} s), {r.AffectedRewritten} written again (last after {r.RewrittenMaxSeconds} s); the isolated silo's last write under its old epoch {r.LastOldEpochWriteSeconds?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} s after the cut");
            r.Observed["partition held (s)"] = Math.Round(watch.Elapsed(), 1);
            if (!isolated.Running)
            {
                await isolated.DisposeClientAsync();
                await isolated.StartAsync(TimeSpan.FromSeconds(120));
                r.Observed["isolated silo restarted after the heal"] = true;
            }

            var perSilo = await cluster.MatchesPerSiloAsync(prefix);
            var duplicates = perSilo is null ? -1 : Cluster.Duplicates(perSilo);
            r.Require("after healing, one owner per match (no match active on two silos)", duplicates == 0,
                perSilo is null ? "the management grain did not answer" : $"{duplicates} matches active on more than one silo; {perSilo.Sum(p => p.Value.Count)} activations on {perSilo.Count} silos");
        }, concurrentOwners: true);

    /// <summary>One silo cut from Redis only: its leases lapse, it must stop writing; nothing lost.</summary>
    public Task<FaultResult> RedisCutAsync(TimeSpan hold, TimeSpan total) => RunAsync("redis-cut", "",
        TimeSpan.FromSeconds(10), total, async (r, prefix) =>
        {
            var (cut, affected) = await BusiestAsync(prefix);
            r.How = $"silo {cut.Index} (most of the fault's matches) cut from Redis only (iptables DROP of port 18311 both ways) for {hold.TotalSeconds:0} s";
            var before = await cut.MetricsAsync();
            await using var watch = await RewriteWatch.StartAsync(cluster.Db, affected);
            await cluster.CtlAsync("cut-redis", cut.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await Task.Delay(hold - TimeSpan.FromSeconds(3));
            var during = await cluster.MatchesPerSiloAsync(prefix);
            var elsewhere = during is null ? 0 : affected.Count(id => during.Any(p => p.Key != cut.Endpoint && p.Value.Contains(id)));
            var stillThere = during?.GetValueOrDefault(cut.Endpoint)?.Count(affected.Contains) ?? 0;
            r.ActivationsDuring = await cluster.ActivationsAsync();
            var last = await cut.MetricsAsync();
            await Task.Delay(TimeSpan.FromSeconds(3));
            await cluster.CtlAsync("heal", cut.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            // After the heal its leases are taken again; from one TTL on, none may lapse again (renewals work).
            await Task.Delay(TimeSpan.FromSeconds(9));
            var healed = await cut.MetricsAsync();
            await Task.Delay(TimeSpan.FromSeconds(10));
            var later = await cut.MetricsAsync();
            var lapsedAfter = (later?.Sum("goalgpt_lock_renewals_lost_total") ?? 0) - (healed?.Sum("goalgpt_lock_renewals_lost_total") ?? 0);
            r.Observed["leases lost on it from 9 s to 19 s after the heal"] = lapsedAfter;
            r.Require("after the heal its leases are renewed again (none lost from 9 s to 19 s after the heal)", healed is not null && later is not null && lapsedAfter == 0,
                $"{lapsedAfter} leases lost on silo {cut.Index} in those 10 s");
            Record(r, watch);
            r.Observed["leases lost on the cut silo (goalgpt.lock.renewals_lost)"] = (last?.Sum("goalgpt_lock_renewals_lost_total") ?? 0) - (before?.Sum("goalgpt_lock_renewals_lost_total") ?? 0);
            r.Observed["its matches active on another silo near the end of the cut"] = elsewhere;
            r.Observed["its matches still active on the cut silo near the end of the cut"] = stillThere;
            // A row handed to the write-behind before the lapse is written with its flush (the lease is checked
            // when the grain hands a row over, the epoch in the row guards the rest): the bound is the TTL, the
            // write-behind's longest pause between attempts (5 s) and the sampling (1 s).
            r.Require("it stops writing when its leases lapse (no row of its epoch later than lease TTL 7 s + write-behind retry pause 5 s + 1 s sampling)",
                (r.LastOldEpochWriteSeconds ?? 0) <= 13.0, $"last write of the old epoch {r.LastOldEpochWriteSeconds?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} s after the cut");
            r.Require("its matches served elsewhere during the cut", affected.Count > 0 && elsewhere == affected.Count,
                $"{elsewhere}/{affected.Count} active on another silo, {stillThere} still on the cut silo, {r.AffectedRewritten} written under a newer epoch");
        });

    /// <summary>200 ms added to every round trip between the silos and PostgreSQL.</summary>
    public Task<FaultResult> SlowPostgresAsync(TimeSpan hold, TimeSpan total) => RunAsync("slow-postgres", $"+200 ms round trip between the silos and PostgreSQL for {hold.TotalSeconds:0} s (delay relay; this kernel has no sch_netem)",
        TimeSpan.FromSeconds(10), total, async (r, _) =>
        {
            var before = await cluster.ScrapeAsync();
            await Task.Delay(TimeSpan.FromSeconds(2));
            var start = await cluster.ScrapeAsync();
            cluster.Proxy.AddedRoundTrip = TimeSpan.FromMilliseconds(200);
            await Task.Delay(hold);
            var end = await cluster.ScrapeAsync();
            cluster.Proxy.AddedRoundTrip = TimeSpan.Zero;
            r.ActivationsDuring = await cluster.ActivationsAsync();
            var lagBefore = Lag(before, start);
            var lagDuring = Lag(start, end);
            var lapses = Sum(end, "goalgpt_lock_renewals_lost_total") - Sum(start, "goalgpt_lock_renewals_lost_total");
            var flush = Metrics.Quantile(start.Values.Select(m => m.Buckets("goalgpt_writebehind_flush_duration_milliseconds")), end.Values.Select(m => m.Buckets("goalgpt_writebehind_flush_duration_milliseconds")), 0.99);
            r.Observed["write lag p99 before (ms, bucket bound)"] = lagBefore;
            r.Observed["write lag p99 during (ms, bucket bound)"] = lagDuring;
            r.Observed["flush duration p99 during (ms, bucket bound)"] = flush;
            r.Observed["leases lost during the slow period (all silos)"] = lapses;
            r.Require("lag grows", lagDuring > (lagBefore ?? 0), $"write lag p99 {lagBefore} ms before, {lagDuring} ms during");
            r.Require("no lease lapses caused by it", lapses == 0, $"{lapses} leases lost during the slow period");
        });

    /// <summary>PostgreSQL, then Redis, restarted with their own stop/start.</summary>
    public Task<FaultResult> RestartStoresAsync(TimeSpan total) => RunAsync("restart-stores", "PostgreSQL restarted (pg_ctl stop -m fast, start), 5 s later Redis (SHUTDOWN, redis-server)",
        TimeSpan.FromSeconds(10), total, async (r, _) =>
        {
            await cluster.CtlAsync("restart-pg");
            await Task.Delay(TimeSpan.FromSeconds(5));
            await cluster.CtlAsync("restart-redis");
            r.ActivationsDuring = await cluster.ActivationsAsync();
            cluster.Db.Clear(); // the driver's own idle connections died with the server
        });

    /// <summary>The broker stopped and started again: the pollers carry on, MQTT resumes.</summary>
    public Task<FaultResult> RestartBrokerAsync(TimeSpan down, TimeSpan total) => RunAsync("restart-broker", $"mosquitto stopped for {down.TotalSeconds:0} s, then started again",
        TimeSpan.FromSeconds(10), total, async (r, _) =>
        {
            var before = await cluster.ScrapeAsync();
            await cluster.CtlAsync("stop-mqtt");
            await Task.Delay(down);
            var during = await cluster.ScrapeAsync();
            r.ActivationsDuring = await cluster.ActivationsAsync();
            await cluster.CtlAsync("start-mqtt");
            var polls = Sum(during, "goalgpt_provider_calls_total", ("outcome", "ok")) - Sum(before, "goalgpt_provider_calls_total", ("outcome", "ok"));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
            double resumed;
            double connected;
            do
            {
                await Task.Delay(1000);
                var now = await cluster.ScrapeAsync();
                resumed = Sum(now, "goalgpt_mqtt_messages_total") - Sum(during, "goalgpt_mqtt_messages_total");
                connected = Sum(now, "goalgpt_mqtt_connected");
            }
            while ((resumed <= 0 || connected < 1) && DateTime.UtcNow < deadline);
            r.Observed["provider calls answered ok while the broker was down"] = polls;
            r.Observed["MQTT messages after the restart (within 45 s)"] = resumed;
            r.Require("pollers carry on while the broker is down", polls > 0, $"{polls} provider calls answered ok during the outage");
            r.Require("MQTT resumes", resumed > 0 && connected >= 1, $"{resumed} messages after the restart, subscriber connected: {connected}");
        });

    private static double Sum(Dictionary<int, Metrics> scrape, string name, params (string, string)[] where) => scrape.Values.Sum(m => m.Sum(name, where));

    private static double? Lag(Dictionary<int, Metrics> a, Dictionary<int, Metrics> b) =>
        Metrics.Quantile(a.Values.Select(m => m.Buckets("goalgpt_writebehind_lag_milliseconds")), b.Values.Select(m => m.Buckets("goalgpt_writebehind_lag_milliseconds")), 0.99);

    public static string Json(object o) => JsonSerializer.Serialize(o, new JsonSerializerOptions { WriteIndented = true });
}
