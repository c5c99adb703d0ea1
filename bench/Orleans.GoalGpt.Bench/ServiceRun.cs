using System.Diagnostics;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Bench;

/// <summary>Figures of one run of the service or the baseline.</summary>
public sealed record RunResult
{
    public required string Design { get; init; }
    public required int Matches { get; init; }
    public double Seconds { get; init; }
    public long Updates { get; init; }
    public long MinuteTicks { get; init; }
    public double UpdatesPerSecond => Updates / Seconds;
    public double LatencyP50Ms { get; init; }
    public double LatencyP99Ms { get; init; }
    public double LatencyP999Ms { get; init; }
    public double GrainApplyP99Ms { get; init; }
    public double LagP50Ms { get; init; }
    public double LagP99Ms { get; init; }
    public double StatementsPer1000Updates { get; init; }
    public double LockP50Ms { get; init; }
    public double LockP99Ms { get; init; }
    public long LockWaits { get; init; }
    public double CpuPercent { get; init; }
    public double MemoryKiBPerMatch { get; init; }
    public double WorkingSetMiB { get; init; }
    public double ActivationSeconds { get; init; }
    public long LostOrRegressed { get; init; }
    public long LiveWithNullMinute { get; init; }
    public long Checked { get; init; }
}

/// <summary>
/// The service under load: M matches activated first (warm-up, timed apart), then five
/// producers, one per job kind, each with calls in flight, for the given time.
/// </summary>
public static class ServiceRun
{
    private const int InFlightPerProducer = 48;

    /// <param name="rate">Updates/s offered in all (paced, open loop); 0: as fast as the service answers.</param>
    public static async Task<RunResult> RunAsync(Workload workload, BenchSilo silo, Database db, Histograms hist, TimeSpan duration, double rate)
    {
        var grains = silo.Grains;
        GC.Collect();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);

        var activation = Stopwatch.StartNew();
        await ForEachAsync(workload.Ids, 32, id => grains.GetGrain<IMatchGrain>(id).GetSnapshot());
        activation.Stop();
        var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        var lockP50 = hist.P("goalgpt.lock.acquire.duration", 50);
        var lockP99 = hist.P("goalgpt.lock.acquire.duration", 99);

        await silo.Writer.FlushAsync();
        hist.Reset();
        var statementsBefore = await db.StatementsAsync();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var counters = Enum.GetValues<ProducerKind>().ToDictionary(k => k, _ => new StrongBox());
        var clock = Stopwatch.StartNew();
        var deadline = duration;

        var workers = new List<Task>();
        var timeouts = 0L;
        foreach (var kind in Workload.Producers)
        {
            var counter = counters[kind];
            for (var w = 0; w < InFlightPerProducer; w++)
            {
                workers.Add(Task.Run(async () =>
                {
                    var perProducer = rate / (Workload.Producers.Length - 1); // the minute clock keeps the same pace, uncounted
                    while (clock.Elapsed < deadline)
                    {
                        var i = Interlocked.Increment(ref counter.Value) - 1;
                        if (i >= workload.Length) break;
                        if (perProducer > 0)
                        {
                            var due = TimeSpan.FromSeconds(i / perProducer) - clock.Elapsed;
                            if (due > TimeSpan.Zero) await Task.Delay(due);
                        }

                        var item = workload.Item(kind, (int)i);
                        var grain = grains.GetGrain<IMatchGrain>(item.MatchId);
                        var started = Stopwatch.GetTimestamp();
                        while (true)
                        {
                            try
                            {
                                if (item.Update is { } u) await grain.Apply(u);
                                else await grain.RefreshMinute();
                                break;
                            }
                            catch (TimeoutException)
                            {
                                // An overloaded silo drops expired calls; delivery is at least once (a replayed update is a no-op).
                                Interlocked.Increment(ref timeouts);
                            }
                        }

                        hist.Record("bench.call", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        Interlocked.Increment(ref counter.Done);
                    }
                }));
            }
        }

        await Task.WhenAll(workers);
        var seconds = clock.Elapsed.TotalSeconds;
        if (timeouts > 0) Console.WriteLine($"[bench] {timeouts} calls timed out (30 s) and were sent again");
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        await silo.Writer.FlushAsync();
        var statements = await db.StatementsAsync() - statementsBefore;

        var delivered = counters.ToDictionary(c => c.Key, c => (int)Math.Min(c.Value.Value, workload.Length));
        var updates = delivered.Where(d => d.Key != ProducerKind.MinuteClock).Sum(d => (long)d.Value);
        var result = new RunResult
        {
            Design = rate > 0 ? $"service, offered {rate:N0}/s" : "service, max",
            Matches = workload.Ids.Length,
            Seconds = seconds,
            Updates = updates,
            MinuteTicks = delivered[ProducerKind.MinuteClock],
            LatencyP50Ms = hist.P("bench.call", 50),
            LatencyP99Ms = hist.P("bench.call", 99),
            LatencyP999Ms = hist.P("bench.call", 99.9),
            GrainApplyP99Ms = hist.P("goalgpt.apply.duration", 99),
            LagP50Ms = hist.P("goalgpt.writebehind.lag", 50),
            LagP99Ms = hist.P("goalgpt.writebehind.lag", 99),
            StatementsPer1000Updates = statements * 1000.0 / updates,
            LockP50Ms = lockP50,
            LockP99Ms = lockP99,
            CpuPercent = cpu / seconds / Environment.ProcessorCount * 100,
            MemoryKiBPerMatch = (memoryAfter - memoryBefore) / 1024.0 / workload.Ids.Length,
            WorkingSetMiB = Process.GetCurrentProcess().WorkingSet64 / 1048576.0,
            ActivationSeconds = activation.Elapsed.TotalSeconds,
        };

        // Correctness: every match saves and hands over its row, then the table is compared with the model.
        await ForEachAsync(workload.Ids, 256, id => grains.GetGrain<IMatchGrain>(id).Persist());
        await silo.Writer.FlushAsync();
        var (wrong, nullMinute, checkedCount) = await Compare(db, Model.Of(workload, delivered));
        return result with { LostOrRegressed = wrong, LiveWithNullMinute = nullMinute, Checked = checkedCount };
    }

    public static async Task<(long Wrong, long NullMinute, long Checked)> Compare(Database db, Model model)
    {
        var rows = await db.Table.ReadAllAsync();
        long wrong = 0, nullMinute = 0, count = 0;
        foreach (var id in model.Matches)
        {
            count++;
            if (!rows.TryGetValue(id, out var row)) { wrong++; continue; }
            var (home, away) = model.Score(id);
            if (row.StatusId != model.Status(id) || row.HomeScore != home || row.AwayScore != away) wrong++;
            if (row.StatusId is 2 or 3 or 4 or 5 or 7 && row.Minute is null) nullMinute++;
        }

        return (wrong, nullMinute, count);
    }

    public static async Task ForEachAsync<T>(IEnumerable<T> items, int parallelism, Func<T, Task> action) =>
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (item, _) => await action(item));

    public static async Task ForEachAsync<T, TResult>(IEnumerable<T> items, int parallelism, Func<T, Task<TResult>> action) =>
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (item, _) => await action(item));
}

/// <summary>A counter shared by a producer's workers.</summary>
public sealed class StrongBox
{
    public long Value;
    public long Done;
}
