using System.Globalization;
using System.Text;

namespace Orleans.GoalGpt.Bench;

/// <summary>The capacity of one sweep: the highest offered rate that held every condition, and the baseline's rate.</summary>
public sealed record Capacity(int Matches, double? ServiceUpdatesPerSecond, double? OfferedRate, double? BaselineUpdatesPerSecond)
{
    public const double LagP99LimitMs = 500;

    /// <summary>A step holds when it sustained the offered rate (≥ 97 %), lag p99 ≤ 500 ms, no lease lapsed and no field is wrong.</summary>
    public static bool Holds(RunResult r) =>
        r.Offered is double offered && r.UpdatesPerSecond >= 0.97 * offered
        && r.LagP99Ms is double lag && lag <= LagP99LimitMs
        && r.LeaseLapses == 0 && r.WrongFields == 0 && r.LagNeverVisible == 0;

    public static Capacity? Of(IReadOnlyList<RunResult> results)
    {
        var m = results.FirstOrDefault()?.Matches;
        if (m is null) return null;
        var best = results.Where(r => r.Matches == m && Holds(r)).MaxBy(r => r.Offered);
        var baseline = results.FirstOrDefault(r => r.Matches == m && r.Offered is null && r.Design.StartsWith("baseline", StringComparison.Ordinal));
        return new Capacity(m.Value, best?.UpdatesPerSecond, best?.Offered, baseline?.UpdatesPerSecond);
    }

    public double? TimesBaseline => ServiceUpdatesPerSecond / BaselineUpdatesPerSecond;
}

/// <summary>The sweep's table, its chart (SVG, generated from the same results) and the one-line summary per step.</summary>
public static class Report
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    private static string Na(double? v, string format) => v is double d && !double.IsNaN(d) ? d.ToString(format, C) : "n/a";

    private static string Na(long? v) => v is long l ? l.ToString("N0", C) : "n/a";

    public static string Row(RunResult r) =>
        $"{r.Design}: {r.UpdatesPerSecond:F0} updates/s, call p50/p99 {r.CallP50Ms:F2}/{r.CallP99Ms:F2} ms, lag p50/p99/max {Na(r.LagP50Ms, "F0")}/{Na(r.LagP99Ms, "F0")}/{Na(r.LagMaxMs, "F0")} ms (p99 after the first 5 s {Na(r.LagP99AfterStartMs, "F0")} ms) " +
        $"({Na(r.LagSamples)} samples, {Na(r.LagNeverVisible)} never visible, {Na(r.LagHeld)} held by a rule), {r.StatementsPer1000Updates:F1} stmts/1000, lease p50/p99 {Na(r.LockP50Ms, "F2")}/{Na(r.LockP99Ms, "F2")} ms (p99 queued/redis/epoch {r.LockPhasesP99 ?? "n/a"}), " +
        $"thread pool max threads/queue {Na(r.ThreadPoolThreadsMax)}/{Na(r.ThreadPoolQueueMax)}, health warnings {Na(r.HealthWarnings)}, GC pause total/most between samples ms, gen2 {r.GcPauses ?? "n/a"}, " +
        $"lapses {Na(r.LeaseLapses)}, refused {Na(r.Refused)}, wrong {r.WrongFields}/{r.FieldsChecked} fields ({r.WrongExamples}), null-minute {r.LiveWithNullMinute}, " +
        $"cpu silo/gen/pg/redis {Na(r.CpuPercent.Silo, "F0")}/{Na(r.CpuPercent.LoadGenerator, "F0")}/{Na(r.CpuPercent.Postgres, "F0")}/{Na(r.CpuPercent.Redis, "F0")} %, " +
        $"{Na(r.MemoryHeldKiBPerMatch, "F2")} KiB held per match ({Na(r.ResidentAfterRelease)} resident after), heap growth {Na(r.MemoryKiBPerMatch, "F2")} KiB/match, activation {Na(r.ActivationSeconds, "F1")} s ({r.ActivationGc ?? "n/a"})" +
        (r.TrackedActivationSeconds is double tracked ? $", {r.Tracked:N0} tracked (the others activated with snapshots in {tracked:F1} s)" : "");

    public static string Markdown(IReadOnlyList<RunResult> results, Capacity? capacity, Limits? limits, string loadBefore, string loadAfter, string command, DateTimeOffset began)
    {
        var sb = new StringBuilder();
        sb.AppendLine(C, $"`{command}`: {began:yyyy-MM-dd HH:mm}–{DateTimeOffset.UtcNow:HH:mm} UTC ({(DateTimeOffset.UtcNow - began).TotalMinutes:F1} min), {Environment.ProcessorCount} cores, load average before/after: `{loadBefore}` / `{loadAfter}`.");
        sb.AppendLine();
        if (capacity is not null)
        {
            sb.AppendLine(C, $"**Capacity at {capacity.Matches:N0} matches: {(capacity.ServiceUpdatesPerSecond is double c ? $"{c:N0} updates/s (offered {capacity.OfferedRate:N0}/s)" : "no offered rate held")}**; " +
                $"the baseline in the same run: {Na(capacity.BaselineUpdatesPerSecond, "N0")} updates/s; {Na(capacity.TimesBaseline, "F1")}× the baseline. " +
                $"A step holds when it sustains ≥ 97 % of the offered rate with lag p99 ≤ {Capacity.LagP99LimitMs:F0} ms (producer's call → row visible to a separate reader), 0 lease lapses, 0 wrong fields and every sampled update visible.");
            sb.AppendLine();
        }

        sb.AppendLine("| design | matches | updates/s | holds | call p50 / p99 / p99.9 ms | lag p50 / p99 / max ms; p99 of what was sent after the first 5 s (samples) | grain apply p99 ms | DB statements / 1000 updates | lease acquisition p50 / p99 ms (p99 queued / redis / epoch) | lock waits | lease lapses | refused (retryable) | thread pool: threads / queue, max | Orleans health warnings | GC pauses: total / most between two 50 ms samples, ms; gen-2 count | CPU % of the box: silo / load generator / PostgreSQL / Redis | KiB a match holds with full state (heap growth over the step / matches) | activation s (the silo's GCs and JIT during it) | wrong fields / fields checked (matches) | live with NULL minute | load average at start |");
        sb.AppendLine("|---|---:|---:|---|---|---|---:|---:|---|---:|---:|---:|---|---:|---|---|---:|---:|---|---:|---|");
        foreach (var r in results)
        {
            var holds = r.Offered is null ? "n/a" : Capacity.Holds(r) ? "yes" : "no";
            sb.AppendLine(C,
                $"| {r.Design} | {r.Matches:N0} | {r.UpdatesPerSecond:N0} | {holds} | {r.CallP50Ms:F2} / {r.CallP99Ms:F2} / {r.CallP999Ms:F2} | {Na(r.LagP50Ms, "F0")} / {Na(r.LagP99Ms, "F0")} / {Na(r.LagMaxMs, "F0")}; {Na(r.LagP99AfterStartMs, "F0")} ({Na(r.LagSamples)}{(r.LagNeverVisible > 0 ? $", {r.LagNeverVisible} never visible" : "")}{(r.LagHeld > 0 ? $"; {r.LagHeld} held by a rule, not sampled" : "")}) | " +
                $"{Na(r.GrainApplyP99Ms, "F3")} | {r.StatementsPer1000Updates:F1} | {Na(r.LockP50Ms, "F2")} / {Na(r.LockP99Ms, "F2")}{(r.LockPhasesP99 is { } phases ? $" ({phases})" : "")} | {r.LockWaits:N0} | {Na(r.LeaseLapses)} | {Na(r.Refused)} | " +
                $"{Na(r.ThreadPoolThreadsMax)} / {Na(r.ThreadPoolQueueMax)} | {Na(r.HealthWarnings)} | {r.GcPauses ?? "n/a"} | " +
                $"{Na(r.CpuPercent.Silo, "F0")} / {Na(r.CpuPercent.LoadGenerator, "F0")} / {Na(r.CpuPercent.Postgres, "F0")} / {Na(r.CpuPercent.Redis, "F0")} | {Na(r.MemoryHeldKiBPerMatch, "F2")} ({Na(r.MemoryKiBPerMatch, "F2")}) | {Na(r.ActivationSeconds, "F1")}{(r.ActivationGc is { } gc ? $" ({gc})" : "")} | " +
                $"{r.WrongFields:N0} / {r.FieldsChecked:N0} ({r.MatchesChecked:N0}){(r.WrongFields > 0 ? $": {r.WrongExamples}" : "")} | {r.LiveWithNullMinute:N0} | `{r.LoadAverage}` |");
        }

        if (limits is not null)
        {
            sb.AppendLine();
            sb.AppendLine(C, $"Limits: batched upsert {limits.UpsertRowsPerSecond:N0} rows/s; no-op grain calls {limits.NoOpGrainCallsPerSecond:N0}/s; Redis lock round trips (SET NX PX + compare-and-delete) {limits.RedisLockRoundTripsPerSecond:N0}/s.");
        }

        sb.AppendLine();
        sb.AppendLine("```");
        sb.Append(TextChart(results));
        sb.AppendLine("```");
        return sb.ToString();
    }

    /// <summary>Achieved updates/s per step, and lag p99, as bars of text.</summary>
    public static string TextChart(IReadOnlyList<RunResult> results)
    {
        var sb = new StringBuilder();
        var max = results.Max(r => r.UpdatesPerSecond);
        foreach (var r in results)
        {
            var bar = new string('#', (int)Math.Round(50 * r.UpdatesPerSecond / Math.Max(1, max)));
            var label = r.Offered is double o ? $"offered {o,7:N0}/s" : r.Design.StartsWith("baseline", StringComparison.Ordinal) ? "baseline         " : "as fast as it can";
            sb.AppendLine(C, $"{label} | {bar,-50} {r.UpdatesPerSecond,7:N0}/s  lag p99 {Na(r.LagP99Ms, "N0"),7} ms{(Capacity.Holds(r) ? "  holds" : "")}");
        }

        return sb.ToString();
    }

    /// <summary>The sweep as an SVG: offered vs. achieved updates/s (bars) and lag p99 (dots, right axis, 500 ms line).</summary>
    public static string Svg(IReadOnlyList<RunResult> results, Capacity? capacity)
    {
        const int W = 900, H = 420, L = 70, R = 70, T = 40, B = 70;
        var steps = results.ToList();
        var maxRate = Math.Max(1, steps.Max(r => Math.Max(r.UpdatesPerSecond, r.Offered ?? 0)));
        var maxLag = Math.Max(1000, steps.Where(r => r.LagP99Ms is double d && !double.IsNaN(d)).Select(r => Math.Min(r.LagP99Ms!.Value, 20_000)).DefaultIfEmpty(1000).Max());
        var slot = (W - L - R) / (double)steps.Count;
        var sb = new StringBuilder();
        sb.AppendLine(C, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.AppendLine(C, $"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>");
        sb.AppendLine(C, $"<text x=\"{W / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">Capacity sweep at {steps[0].Matches:N0} matches: achieved updates/s (bars) and lag p99 (dots){(capacity?.ServiceUpdatesPerSecond is double c ? $"; capacity {c:N0}/s" : "")}</text>");
        double Y(double v, double max) => T + (H - T - B) * (1 - v / max);
        var lagLine = Y(Capacity.LagP99LimitMs, maxLag);
        sb.AppendLine(C, $"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{lagLine:F1}\" y2=\"{lagLine:F1}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/><text x=\"{W - R + 4}\" y=\"{lagLine + 4:F1}\" fill=\"#d62728\">500 ms</text>");
        sb.AppendLine(C, $"<line x1=\"{L}\" x2=\"{L}\" y1=\"{T}\" y2=\"{H - B}\" stroke=\"black\"/><line x1=\"{L}\" x2=\"{W - R}\" y1=\"{H - B}\" y2=\"{H - B}\" stroke=\"black\"/>");
        for (var i = 0; i <= 4; i++)
        {
            var v = maxRate * i / 4;
            sb.AppendLine(C, $"<text x=\"{L - 4}\" y=\"{Y(v, maxRate) + 4:F1}\" text-anchor=\"end\">{v:N0}</text>");
            var lag = maxLag * i / 4;
            sb.AppendLine(C, $"<text x=\"{W - R + 4}\" y=\"{Y(lag, maxLag) + 4:F1}\" fill=\"#1f77b4\">{lag:N0} ms</text>");
        }

        for (var i = 0; i < steps.Count; i++)
        {
            var r = steps[i];
            var x = L + slot * i + slot * 0.15;
            var w = slot * 0.7;
            var color = r.Design.StartsWith("baseline", StringComparison.Ordinal) ? "#7f7f7f" : Capacity.Holds(r) ? "#2ca02c" : "#ff7f0e";
            if (r.Offered is double o)
            {
                sb.AppendLine(C, $"<rect x=\"{x:F1}\" y=\"{Y(o, maxRate):F1}\" width=\"{w:F1}\" height=\"{H - B - Y(o, maxRate):F1}\" fill=\"none\" stroke=\"black\" stroke-dasharray=\"3 2\"/>");
            }

            sb.AppendLine(C, $"<rect x=\"{x:F1}\" y=\"{Y(r.UpdatesPerSecond, maxRate):F1}\" width=\"{w:F1}\" height=\"{H - B - Y(r.UpdatesPerSecond, maxRate):F1}\" fill=\"{color}\"/>");
            sb.AppendLine(C, $"<text x=\"{x + w / 2:F1}\" y=\"{Y(r.UpdatesPerSecond, maxRate) - 3:F1}\" text-anchor=\"middle\">{r.UpdatesPerSecond:N0}</text>");
            if (r.LagP99Ms is double lagP99 && !double.IsNaN(lagP99))
            {
                sb.AppendLine(C, $"<circle cx=\"{x + w / 2:F1}\" cy=\"{Y(Math.Min(lagP99, maxLag), maxLag):F1}\" r=\"4\" fill=\"#1f77b4\"/>");
            }

            var label = r.Offered is double off ? $"{off:N0}/s" : r.Design.StartsWith("baseline", StringComparison.Ordinal) ? "baseline" : "max";
            sb.AppendLine(C, $"<text x=\"{x + w / 2:F1}\" y=\"{H - B + 14}\" text-anchor=\"middle\">{label}</text>");
        }

        sb.AppendLine(C, $"<text x=\"{W / 2}\" y=\"{H - 30}\" text-anchor=\"middle\">offered rate (dashed: offered; green: holds, orange: does not, grey: baseline, closed loop)</text>");
        sb.AppendLine(C, $"<text x=\"14\" y=\"{H / 2}\" transform=\"rotate(-90 14 {H / 2})\" text-anchor=\"middle\">updates/s</text>");
        sb.AppendLine("</svg>");
        return sb.ToString();
    }
}
