using System.Globalization;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Running;
using Orleans.GoalGpt.Bench;
using StackExchange.Redis;

// Usage: bench/run.sh [--matches 10000] [--rates 10000,20000,30000,40000,50000,60000,0] [--seconds 20] [--tracked 0] [--out dir]   (the capacity sweep; rate 0: as fast as it answers; --tracked N: N matches active, --matches of them live)
//        bench/run.sh --micro
//        bench/run.sh --read-api [--matches 1000] [--clients 1000] [--reads 2000] [--changes 1000] [--seconds 20] [--out dir]   (read API and SSE stream, bench/results/read-api.md)
//        bench/run.sh --ingest [--matches 2000] [--seconds 180] [--out dir]   (simulator -> jobs + MQTT -> ts_matches, real time)
//        bench/run.sh --accuracy [--matches 2000] [--minutes 10] [--warmup-seconds 60] [--sample-seconds 5] [--out dir]   (ts_matches vs the simulator's truth)
if (args.Contains("--loadgen")) return await LoadGen.RunAsync(); // the load generator's own process (started by the sweep)

if (args.Contains("--micro"))
{
    // Results (GitHub markdown, JSON, CSV, HTML) under bench/results/micro/results.
    var config = DefaultConfig.Instance.WithArtifactsPath(Path.Combine(Arg("--out", "bench/results"), "micro")).AddExporter(JsonExporter.Brief);
    var summary = BenchmarkRunner.Run<MergeBenchmarks>(config);
    return summary.HasCriticalValidationErrors || summary.Reports.Any(r => !r.Success) ? 1 : 0;
}

var matchCounts = Arg("--matches", "10000").Split(',').Select(int.Parse).ToArray();
var rates = Arg("--rates", "10000,20000,30000,40000,50000,60000,0").Split(',').Select(r => double.Parse(r, CultureInfo.InvariantCulture)).ToArray();
var duration = TimeSpan.FromSeconds(double.Parse(Arg("--seconds", "20"), CultureInfo.InvariantCulture));
var tracked = int.Parse(Arg("--tracked", "0"), CultureInfo.InvariantCulture); // matches active besides the live ones (memory at scale)
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
    var ingestLoad = File.ReadAllText("/proc/loadavg").Trim();
    var ingest = await IngestRun.RunAsync(server, redisCs, int.Parse(Arg("--matches", "2000"), CultureInfo.InvariantCulture),
        TimeSpan.FromSeconds(double.Parse(Arg("--seconds", "180"), CultureInfo.InvariantCulture)));
    Console.WriteLine(ingest);
    Directory.CreateDirectory(Arg("--out", "bench/results"));
    await File.WriteAllTextAsync(Path.Combine(Arg("--out", "bench/results"), "ingest.md"),
        $"Measured until {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC (`bench/run.sh {string.Join(' ', args)}`), load average before: {ingestLoad}, after: {File.ReadAllText("/proc/loadavg").Trim()}{Environment.NewLine}{Environment.NewLine}{ingest}{Environment.NewLine}");
    return 0;
}

var results = new List<RunResult>();
Limits? limits = null;
var loadBefore = File.ReadAllText("/proc/loadavg").Trim();
var began = DateTimeOffset.UtcNow;

using var hist = new Histograms();
await using var redis = await ConnectionMultiplexer.ConnectAsync(redisCs);
var redisPid = int.Parse(((string?)await redis.GetDatabase().ExecuteAsync("INFO", "server"))!.Split('\n')
    .First(l => l.StartsWith("process_id:", StringComparison.Ordinal))["process_id:".Length..].Trim(), CultureInfo.InvariantCulture);
var cpu = new ProcessCpu(redisPid);
foreach (var m in matchCounts)
{
    var workload = new Workload(m, itemsPerProducer: 4_000_000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), seed: m);
    foreach (var rate in rates)
    {
        await ClearLocksAsync(redis, m);
        var db = await Database.RecreateAsync(server, "goalgpt_bench");
        // With --tracked: the ended matches go once idle (MatchGrain:IdleCollectionAge, shortened so that the run need not
        // wait its 10 minutes; Orleans looks for idle activations every 5 s instead of every minute).
        var silo = await BenchSilo.StartAsync(db.ConnectionString, redisCs, tracked > 0
            ? new Dictionary<string, string?> { ["MatchGrain:IdleCollectionAge"] = ServiceRun.TrackedIdleAge.ToString(), [BenchSilo.CollectionQuantumSetting] = "00:00:05" }
            : null);
        var load = File.ReadAllText("/proc/loadavg").Trim();
        Console.WriteLine($"[bench] service, {m} matches, offered {(rate > 0 ? rate.ToString("N0", CultureInfo.InvariantCulture) + "/s" : "as fast as it answers")}, {duration.TotalSeconds} s, load average {load} ...");
        // The limits are measured once, on the first step's silo while its matches are still active (before they are collected).
        var service = await ServiceRun.RunAsync(workload, silo, db, hist, cpu, duration, rate, tracked,
            limits is null ? async () => limits = await LimitsRun.RunAsync(db, silo, redis, workload.Ids) : null);
        results.Add(service with { LoadAverage = load });
        Print(service);
        await silo.DisposeAsync();
    }

    await ClearLocksAsync(redis, m);
    var baseDb = await Database.RecreateAsync(server, "goalgpt_bench_baseline");
    var baseLoad = File.ReadAllText("/proc/loadavg").Trim();
    Console.WriteLine($"[bench] baseline, {m} matches, {duration.TotalSeconds} s, load average {baseLoad} ...");
    var baseline = await BaselineRun.RunAsync(workload, baseDb, redis, hist, cpu, duration);
    results.Add(baseline with { LoadAverage = baseLoad });
    Print(baseline);
    GC.Collect();
}

var loadAfter = File.ReadAllText("/proc/loadavg").Trim();
var outDir = Path.Combine(Arg("--out", "bench/results"));
Directory.CreateDirectory(outDir);
var capacity = Capacity.Of(results);
var report = new
{
    Date = DateTimeOffset.UtcNow,
    Command = "bench/run.sh " + string.Join(' ', args),
    Machine = new { Cores = Environment.ProcessorCount, LoadAvgBefore = loadBefore, LoadAvgAfter = loadAfter },
    Seconds = duration.TotalSeconds,
    Minutes = (DateTimeOffset.UtcNow - began).TotalMinutes,
    Capacity = capacity,
    Results = results,
    Limits = limits,
};
await File.WriteAllTextAsync(Path.Combine(outDir, "latest.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
var table = Report.Markdown(results, capacity, limits, loadBefore, loadAfter, "bench/run.sh " + string.Join(' ', args), began);
await File.WriteAllTextAsync(Path.Combine(outDir, "latest.md"), table);
await File.WriteAllTextAsync(Path.Combine(outDir, "capacity.svg"), Report.Svg(results, capacity));
Console.WriteLine();
Console.WriteLine(table);
return 0;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

static void Print(RunResult r) => Console.WriteLine($"[bench] {Report.Row(r)}");

static async Task ClearLocksAsync(IConnectionMultiplexer redis, int m)
{
    await foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).KeysAsync(database: redis.GetDatabase().Database, pattern: $"lock:match:b{m}-*"))
    {
        await redis.GetDatabase().KeyDeleteAsync(key); // locks left by an earlier run or step
    }
}
