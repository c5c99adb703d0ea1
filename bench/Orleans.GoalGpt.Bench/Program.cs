using System.Globalization;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Running;
using Orleans.GoalGpt.Bench;
using StackExchange.Redis;

// Usage: bench/run.sh [--matches 1000,10000,100000] [--rates 22000,0] [--unpaced-up-to 10000] [--seconds 30] [--out dir] [--micro]
//        bench/run.sh --read-api [--matches 1000] [--clients 1000] [--reads 2000] [--changes 1000] [--seconds 20] [--out dir]   (read API and SSE stream, bench/results/read-api.md)
//        bench/run.sh --ingest [--matches 2000] [--seconds 180] [--out dir]   (simulator -> jobs + MQTT -> ts_matches, real time)
//        bench/run.sh --accuracy [--matches 2000] [--minutes 10] [--warmup-seconds 60] [--sample-seconds 5] [--out dir]   (ts_matches vs the simulator's truth)
if (args.Contains("--micro"))
{
    // Results (GitHub markdown, JSON, CSV, HTML) under bench/results/micro/results.
    var config = DefaultConfig.Instance.WithArtifactsPath(Path.Combine(Arg("--out", "bench/results"), "micro")).AddExporter(JsonExporter.Brief);
    var summary = BenchmarkRunner.Run<MergeBenchmarks>(config);
    return summary.HasCriticalValidationErrors || summary.Reports.Any(r => !r.Success) ? 1 : 0;
}

var matchCounts = Arg("--matches", "1000,10000,100000").Split(',').Select(int.Parse).ToArray();
var rates = Arg("--rates", "22000,0").Split(',').Select(r => double.Parse(r, CultureInfo.InvariantCulture)).ToArray();
var unpacedUpTo = int.Parse(Arg("--unpaced-up-to", "10000"), CultureInfo.InvariantCulture);
var duration = TimeSpan.FromSeconds(double.Parse(Arg("--seconds", "30"), CultureInfo.InvariantCulture));
var server = Environment.GetEnvironmentVariable("GOALGPT_TEST_POSTGRES") ?? throw new InvalidOperationException("run through bench/run.sh");
var redisCs = Environment.GetEnvironmentVariable("GOALGPT_TEST_REDIS")!;
if (args.Contains("--accuracy"))
{
    return await AccuracyRun.RunAsync(server, redisCs, new AccuracyRun.Options(
        int.Parse(Arg("--matches", "2000"), CultureInfo.InvariantCulture),
        TimeSpan.FromMinutes(double.Parse(Arg("--minutes", "10"), CultureInfo.InvariantCulture)),
        TimeSpan.FromSeconds(double.Parse(Arg("--warmup-seconds", "60"), CultureInfo.InvariantCulture)),
        TimeSpan.FromSeconds(double.Parse(Arg("--sample-seconds", "5"), CultureInfo.InvariantCulture)),
        Arg("--out", "bench/results"),
        "bench/run.sh " + string.Join(' ', args)));
}

if (args.Contains("--read-api"))
{
    return await ReadApiRun.RunAsync(server, redisCs, new ReadApiRun.Options(
        int.Parse(Arg("--matches", "1000"), CultureInfo.InvariantCulture), int.Parse(Arg("--clients", "1000"), CultureInfo.InvariantCulture),
        double.Parse(Arg("--reads", "2000"), CultureInfo.InvariantCulture), double.Parse(Arg("--changes", "1000"), CultureInfo.InvariantCulture),
        TimeSpan.FromSeconds(double.Parse(Arg("--seconds", "20"), CultureInfo.InvariantCulture)), Arg("--out", "bench/results"), "bench/run.sh " + string.Join(' ', args)));
}

if (args.Contains("--ingest"))
{
    var ingest = await IngestRun.RunAsync(server, redisCs, int.Parse(Arg("--matches", "2000"), CultureInfo.InvariantCulture),
        TimeSpan.FromSeconds(double.Parse(Arg("--seconds", "180"), CultureInfo.InvariantCulture)));
    Console.WriteLine(ingest);
    Directory.CreateDirectory(Arg("--out", "bench/results"));
    await File.WriteAllTextAsync(Path.Combine(Arg("--out", "bench/results"), "ingest.md"),
        $"Measured {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC, load average before: {File.ReadAllText("/proc/loadavg").Trim()}{Environment.NewLine}{Environment.NewLine}{ingest}{Environment.NewLine}");
    return 0;
}

var results = new List<RunResult>();
Limits? limits = null;
var loadBefore = File.ReadAllText("/proc/loadavg").Trim();

using var hist = new Histograms();
await using var redis = await ConnectionMultiplexer.ConnectAsync(redisCs);
foreach (var m in matchCounts)
{
    var workload = new Workload(m, itemsPerProducer: 2_000_000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), seed: m);
    await foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).KeysAsync(pattern: $"lock:match:b{m}-*"))
    {
        await redis.GetDatabase().KeyDeleteAsync(key); // locks left by an earlier, interrupted run
    }

    foreach (var rate in rates.Where(r => r > 0 || m <= unpacedUpTo))
    {
        var db = await Database.RecreateAsync(server, "goalgpt_bench");
        var silo = await BenchSilo.StartAsync(db.ConnectionString, redisCs);
        Console.WriteLine($"[bench] service, {m} matches, offered {(rate > 0 ? rate.ToString("N0", CultureInfo.InvariantCulture) + "/s" : "max")}, {duration.TotalSeconds} s ...");
        var service = await ServiceRun.RunAsync(workload, silo, db, hist, duration, rate);
        results.Add(service);
        Print(service);
        if (limits is null) limits = await LimitsRun.RunAsync(db, silo, redis, workload.Ids);
        await silo.DisposeAsync();
    }

    var baseDb = await Database.RecreateAsync(server, "goalgpt_bench_baseline");
    Console.WriteLine($"[bench] baseline, {m} matches, {duration.TotalSeconds} s ...");
    var baseline = await BaselineRun.RunAsync(workload, baseDb, redis, hist, duration);
    results.Add(baseline);
    Print(baseline);
    GC.Collect();
}

var loadAfter = File.ReadAllText("/proc/loadavg").Trim();
var outDir = Path.Combine(Arg("--out", "bench/results"));
Directory.CreateDirectory(outDir);
var report = new
{
    Date = DateTimeOffset.UtcNow,
    Machine = new { Cores = Environment.ProcessorCount, LoadAvgBefore = loadBefore, LoadAvgAfter = loadAfter },
    Seconds = duration.TotalSeconds,
    Results = results,
    Limits = limits,
};
await File.WriteAllTextAsync(Path.Combine(outDir, "latest.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
var table = Markdown(results, limits, loadBefore, loadAfter);
await File.WriteAllTextAsync(Path.Combine(outDir, "latest.md"), table);
Chart.Write(results, Path.Combine(outDir, "throughput.png"));
Console.WriteLine();
Console.WriteLine(table);
return 0;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

static void Print(RunResult r) => Console.WriteLine(
    $"[bench] {r.Design}: {r.UpdatesPerSecond:F0} updates/s, call p50/p99/p99.9 {r.LatencyP50Ms:F2}/{r.LatencyP99Ms:F2}/{r.LatencyP999Ms:F2} ms, " +
    $"lag p50/p99 {r.LagP50Ms:F0}/{r.LagP99Ms:F0} ms, {r.StatementsPer1000Updates:F1} stmts/1000, lock p50/p99 {r.LockP50Ms:F2}/{r.LockP99Ms:F2} ms, " +
    $"wrong {r.LostOrRegressed}/{r.Checked}, null-minute {r.LiveWithNullMinute}, cpu {r.CpuPercent:F0}%, {r.MemoryKiBPerMatch:F2} KiB/match, activation {r.ActivationSeconds:F1} s");

static string Markdown(List<RunResult> results, Limits? limits, string loadBefore, string loadAfter)
{
    var sb = new StringBuilder();
    sb.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average before/after: `{loadBefore}` / `{loadAfter}`.");
    sb.AppendLine();
    sb.AppendLine("| design | matches | updates/s | call p50 / p99 / p99.9 ms | grain apply p99 ms | ts_matches lag p50 / p99 ms | DB statements / 1000 updates | lock p50 / p99 ms | lock waits | CPU % (of all cores) | KiB per match | activation s | wrong fields / matches checked | live with NULL minute |");
    sb.AppendLine("|---|---:|---:|---|---:|---|---:|---|---:|---:|---:|---:|---|---:|");
    foreach (var r in results)
    {
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"| {r.Design} | {r.Matches:N0} | {r.UpdatesPerSecond:N0} | {r.LatencyP50Ms:F2} / {r.LatencyP99Ms:F2} / {r.LatencyP999Ms:F2} | {r.GrainApplyP99Ms:F3} | {r.LagP50Ms:F0} / {r.LagP99Ms:F0} | {r.StatementsPer1000Updates:F1} | {r.LockP50Ms:F2} / {r.LockP99Ms:F2} | {r.LockWaits:N0} | {r.CpuPercent:F0} | {r.MemoryKiBPerMatch:F2} | {r.ActivationSeconds:F1} | {r.LostOrRegressed:N0} / {r.Checked:N0} | {r.LiveWithNullMinute} |");
    }

    if (limits is not null)
    {
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Limits: batched upsert {limits.UpsertRowsPerSecond:N0} rows/s; no-op grain calls {limits.NoOpGrainCallsPerSecond:N0}/s; Redis lock round trips (SET NX PX + compare-and-delete) {limits.RedisLockRoundTripsPerSecond:N0}/s.");
    }

    return sb.ToString();
}
