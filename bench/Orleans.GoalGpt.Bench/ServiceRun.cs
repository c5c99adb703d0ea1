using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Storage;
using static Orleans.GoalGpt.Bench.Model;

namespace Orleans.GoalGpt.Bench;

/// <summary>Figures of one run of the service or the baseline; null where a figure does not apply ("n/a").</summary>
public sealed record RunResult
{
    public required string Design { get; init; }
    public required int Matches { get; init; }
    /// <summary>Updates/s offered; null: as fast as it answers.</summary>
    public double? Offered { get; init; }
    public double Seconds { get; init; }
    public long Updates { get; init; }
    public long MinuteTicks { get; init; }
    public double UpdatesPerSecond => Updates / Seconds;
    public double CallP50Ms { get; init; }
    public double CallP99Ms { get; init; }
    public double CallP999Ms { get; init; }
    public double? GrainApplyP99Ms { get; init; }
    public double? LagP50Ms { get; init; }
    public double? LagP99Ms { get; init; }

    /// <summary>Lag p99 of what was sent after the step's first 5 s (n/a for the baseline: no separate reader).</summary>
    public double? LagP99AfterStartMs { get; init; }
    public double? LagMaxMs { get; init; }
    public long? LagSamples { get; init; }
    public long? LagNeverVisible { get; init; }
    public long? LagHeld { get; init; }
    public double StatementsPer1000Updates { get; init; }
    public double? LockP50Ms { get; init; }
    public double? LockP99Ms { get; init; }
    /// <summary>p99 of each phase of a granted lease claim (queued / redis / epoch), ms: where the acquisition time goes.</summary>
    public string? LockPhasesP99 { get; init; }
    /// <summary>Most thread-pool threads and longest thread-pool queue seen in the silo's process (sampled every 50 ms).</summary>
    public int? ThreadPoolThreadsMax { get; init; }
    public long? ThreadPoolQueueMax { get; init; }
    /// <summary>Orleans' warnings of a stalled thread pool or degraded silo health (watchdog, local health monitor) during activation and load.</summary>
    public long? HealthWarnings { get; init; }
    /// <summary>GC pauses of the silo's process over activation and load: total ms, most between two samples 50 ms apart, gen-2 collections.</summary>
    public string? GcPauses { get; init; }
    public long LockWaits { get; init; }
    public long? LeaseLapses { get; init; }
    public long? Refused { get; init; }
    public long? TimedOut { get; init; }
    public required CpuSample CpuPercent { get; init; }
    /// <summary>The silo's heap growth over the step (activation, load, full state) divided by the matches: includes what does not grow with them.</summary>
    public double? MemoryKiBPerMatch { get; init; }

    /// <summary>
    /// What a match with full state holds: the silo's heap just before every activation is collected, minus the heap once they
    /// are gone, divided by the matches (fixed costs, e.g. caches and buffers sized by settings, stay and are not counted; nor is
    /// the grain directory cache's entry for each match, ≈ 0.24 KiB, which stays until the cache evicts it).
    /// </summary>
    public double? MemoryHeldKiBPerMatch { get; init; }

    /// <summary>Activations still resident when the heap was read after the collection (n/a: not measured).</summary>
    public long? ResidentAfterRelease { get; init; }
    public double? ActivationSeconds { get; init; }

    /// <summary>The silo's garbage collections during the activation (gen-0 count, which includes gen-1 and gen-2) and their pause; the methods the JIT compiled meanwhile and its time.</summary>
    public string? ActivationGc { get; init; }
    /// <summary>Matches active in the silo (the live ones and, with <c>--tracked</c>, the others given a full snapshot first); null: only the live ones.</summary>
    public int? Tracked { get; init; }
    /// <summary>Time to activate the tracked, not live, matches with their snapshots (retrying what the write-behind bound refused).</summary>
    public double? TrackedActivationSeconds { get; init; }
    public long WrongFields { get; init; }
    public long FieldsChecked { get; init; }
    public long MatchesChecked { get; init; }
    public long LiveWithNullMinute { get; init; }
    public string? WrongExamples { get; init; }
    /// <summary>/proc/loadavg when the step started (the box is shared).</summary>
    public string? LoadAverage { get; init; }
}

/// <summary>
/// The service under load: M matches activated first (timed apart: lease acquisition and activation), then
/// the load generator in its own process sends the five producers' streams for the given time.
/// </summary>
public static class ServiceRun
{
    /// <summary>Matches activated at once (a silo taking over a league: the feed delivers to every match).</summary>
    /// <summary>How long a tracked (ended) match stays active without a call in a <c>--tracked</c> run.</summary>
    public static readonly TimeSpan TrackedIdleAge = TimeSpan.FromSeconds(20);

    public static int ActivationParallelism { get; } = int.TryParse(Environment.GetEnvironmentVariable("GOALGPT_BENCH_ACTIVATION_PARALLELISM"), out var p) ? p : 512;

    public static async Task<RunResult> RunAsync(Workload workload, BenchSilo silo, Database db, Histograms hist, ProcessCpu cpu, TimeSpan duration, double rate,
        int tracked = 0, Func<Task>? whileActive = null)
    {
        var grains = silo.Grains;
        GC.Collect();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        double? trackedSeconds = null;
        if (tracked > workload.Ids.Length)
        {
            var started = Stopwatch.StartNew();
            await TrackedMatches.ActivateAsync(grains, tracked - workload.Ids.Length, workload.EndMs, workload.Seed);
            trackedSeconds = started.Elapsed.TotalSeconds;
            await silo.Writer.FlushAsync();
            Console.WriteLine($"[bench] {tracked - workload.Ids.Length:N0} tracked matches activated with full snapshots in {trackedSeconds:F1} s");
            // They ended and nobody calls them: they go once idle (MatchGrain:IdleCollectionAge). The live step starts after
            // that, so that it does not also carry a collection of them all at once, which a real list never brings.
            var management = grains.GetGrain<IManagementGrain>(0);
            var waited = Stopwatch.StartNew();
            long resident;
            while ((resident = await management.GetTotalActivationCount()) > 1_000 && waited.Elapsed < TrackedIdleAge * 10)
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
            }

            await silo.Writer.FlushAsync();
            Console.WriteLine($"[bench] {resident:N0} activations resident {waited.Elapsed.TotalSeconds:F0} s later");
        }

        hist.Reset();
        silo.Warnings.Reset();
        using var runtime = new RuntimeSampler();
        var (gcsBefore, pauseBefore) = (GC.CollectionCount(0), GC.GetTotalPauseDuration());
        var (jitBefore, jitTimeBefore) = (System.Runtime.JitInfo.GetCompiledMethodCount(), System.Runtime.JitInfo.GetCompilationTime());
        var activation = Stopwatch.StartNew();
        await ForEachAsync(workload.Ids, ActivationParallelism, id => grains.GetGrain<IMatchGrain>(id).GetSnapshot());
        activation.Stop();
        // What the silo's GC took from the activation (every claim in flight waits through a pause): collections, ms paused;
        // and its JIT: methods compiled and the time spent compiling them (on every thread: the CPU the two cores lost to it).
        var activationGc = $"{GC.CollectionCount(0) - gcsBefore} GCs, {(GC.GetTotalPauseDuration() - pauseBefore).TotalMilliseconds:F0} ms paused; "
            + $"JIT {System.Runtime.JitInfo.GetCompiledMethodCount() - jitBefore:N0} methods, {(System.Runtime.JitInfo.GetCompilationTime() - jitTimeBefore).TotalMilliseconds:N0} ms";
        var lockP50 = hist.P("goalgpt.lock.acquire.duration", 50);
        var lockP99 = hist.P("goalgpt.lock.acquire.duration", 99);
        var lockPhases = string.Join(" / ", new[] { "queued", "redis", "epoch" }.Select(p => hist.P($"goalgpt.lock.claim.phase.duration/{p}", 99).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)));

        await silo.Writer.FlushAsync();
        hist.Reset();
        var statementsBefore = await db.StatementsAsync();
        var resultPath = Path.Combine(Path.GetTempPath(), $"goalgpt-loadgen-{Guid.NewGuid():N}.json");
        var settings = new LoadGenSettings(silo.ClusterId, silo.GatewayPort, workload.Ids.Length, workload.EndMs, workload.Seed,
            workload.Length, rate, duration.TotalSeconds, resultPath);
        var psi = new ProcessStartInfo("dotnet", [typeof(ServiceRun).Assembly.Location, "--loadgen"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.Environment[LoadGen.SettingsVariable] = JsonSerializer.Serialize(settings);
        psi.Environment[LoadGen.PostgresVariable] = db.ConnectionString; // the environment, never the command line
        using var child = Process.Start(psi)!;
        CpuSample? start = null, end = null;
        long ticksAtStart = 0;
        while (await child.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line == "START") { start = cpu.Read(child.Id); ticksAtStart = Stopwatch.GetTimestamp(); }
            else if (line == "END") end = cpu.Read(child.Id);
            else Console.WriteLine($"[loadgen] {line}");
        }

        await child.WaitForExitAsync();
        // Activation and load only: the run's own Persist calls and forced collections (memory) come after.
        var seen = runtime.Read();
        var health = silo.Warnings.Health;
        if (child.ExitCode != 0 || start is null || end is null) throw new InvalidOperationException($"the load generator failed (exit {child.ExitCode})");
        var gen = JsonSerializer.Deserialize<LoadGenResult>(await File.ReadAllTextAsync(resultPath), LoadGen.ResultJson)!;
        File.Delete(resultPath);
        var window = gen.Seconds;
        await silo.Writer.FlushAsync();
        var statements = await db.StatementsAsync() - statementsBefore;
        var updates = gen.Delivered.Where(d => d.Key != ProducerKind.MinuteClock).Sum(d => (long)d.Value);

        // Every match saves and hands over its row (the table is compared with the model below).
        await ForEachAsync(workload.Ids, 256, id => grains.GetGrain<IMatchGrain>(id).Persist());
        await silo.Writer.FlushAsync();
        if (whileActive is not null) await whileActive();
        // At rest: an activation lets go of its written updates at its next tick (MatchOwnership.TickAsync); two tick periods.
        await Task.Delay(silo.Services.GetRequiredService<Grains.MatchTicker>().Period * 2 + TimeSpan.FromSeconds(1));
        if (trackedSeconds is not null)
        {
            var resident = await grains.GetGrain<IManagementGrain>(0).GetTotalActivationCount();
            Console.WriteLine($"[bench] {resident:N0} activations resident at the memory reading");
        }

        // Memory with full state (every match has had snapshots, deltas, kick-offs and provenance by now), read right before
        // every activation is collected and right after: nothing else runs between the two readings.
        GC.Collect();
        var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        await PauseForHeapDumpAsync("matches active"); // where the KiB per match go

        var release = await ReleaseAsync(silo, memoryAfter);
        Console.WriteLine($"[bench] heap {release.Held / 1048576.0:F1} MiB with the matches active, {release.Gone / 1048576.0:F1} MiB once collected ({release.Resident:N0} activations resident)");
        var check = await Compare(db, Model.Of(workload, gen.Delivered));
        var d = ProcessCpu.Delta(start, end);
        return new RunResult
        {
            Design = (rate > 0 ? $"service, offered {rate:N0}/s" : "service, as fast as it answers") + (trackedSeconds is null ? "" : $", {tracked:N0} tracked"),
            Matches = workload.Ids.Length,
            Offered = rate > 0 ? rate : null,
            Seconds = window,
            Updates = updates,
            MinuteTicks = gen.Delivered[ProducerKind.MinuteClock],
            CallP50Ms = gen.CallP50Ms,
            CallP99Ms = gen.CallP99Ms,
            CallP999Ms = gen.CallP999Ms,
            GrainApplyP99Ms = hist.P("goalgpt.apply.duration", 99),
            LagP50Ms = gen.LagP50Ms,
            LagP99Ms = gen.LagP99Ms,
            LagP99AfterStartMs = gen.LagP99AfterStartMs,
            LagMaxMs = gen.LagMaxMs,
            LagSamples = gen.LagSamples,
            LagNeverVisible = gen.LagNeverVisible,
            LagHeld = gen.LagHeld,
            StatementsPer1000Updates = statements * 1000.0 / updates,
            LockP50Ms = lockP50,
            LockP99Ms = lockP99,
            LockPhasesP99 = lockPhases,
            ThreadPoolThreadsMax = seen.ThreadsMax,
            ThreadPoolQueueMax = seen.QueueMax,
            HealthWarnings = health,
            GcPauses = $"{seen.GcPauseMs:F0} / {seen.GcPauseMaxMs:F0} / {seen.Gen2}",
            LockWaits = hist.Counter("goalgpt.lock.busy"),
            LeaseLapses = hist.Counter("goalgpt.lock.renewals_lost"),
            Refused = gen.Refused,
            TimedOut = gen.TimedOut,
            CpuPercent = Percent(d, window),
            MemoryKiBPerMatch = (memoryAfter - memoryBefore) / 1024.0 / Math.Max(tracked, workload.Ids.Length),
            MemoryHeldKiBPerMatch = (release.Held - release.Gone) / 1024.0 / workload.Ids.Length,
            ResidentAfterRelease = release.Resident,
            Tracked = trackedSeconds is null ? null : tracked,
            TrackedActivationSeconds = trackedSeconds,
            ActivationSeconds = activation.Elapsed.TotalSeconds,
            ActivationGc = activationGc,
            WrongFields = check.Wrong,
            FieldsChecked = check.Fields,
            MatchesChecked = check.Matches,
            LiveWithNullMinute = check.NullMinute,
            WrongExamples = check.Examples,
        };
    }

    /// <summary>
    /// The heap the matches hold: <paramref name="held"/> was read with them active (their full state), then every activation
    /// is collected (each writes its row and releases its lease on the way) and it is read again. The tracked matches went
    /// before the step.
    /// </summary>
    private static async Task<(long Held, long Gone, long Resident)> ReleaseAsync(BenchSilo silo, long held)
    {
        var management = silo.Grains.GetGrain<IManagementGrain>(0);
        var waited = Stopwatch.StartNew();
        long resident;
        do
        {
            // Again and again: an activation whose tick is queued or running is not idle at that moment.
            await management.ForceActivationCollection(TimeSpan.Zero);
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }
        while ((resident = await management.GetTotalActivationCount()) > 100 && waited.Elapsed < TimeSpan.FromSeconds(60));

        await silo.Writer.FlushAsync();
        GC.Collect();
        var gone = GC.GetTotalMemory(forceFullCollection: true);
        await PauseForHeapDumpAsync("matches collected"); // what stays once they went: compare with the first profile
        return (held, gone, resident);
    }

    /// <summary>
    /// With <c>GOALGPT_BENCH_PAUSE_FOR_DUMP</c> (seconds) set: waits that long, for a heap profile of this process
    /// (<c>dotnet-gcdump collect -p &lt;pid&gt;</c>) at the moment <paramref name="moment"/>.
    /// </summary>
    private static async Task PauseForHeapDumpAsync(string moment)
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("GOALGPT_BENCH_PAUSE_FOR_DUMP"), out var pause)) return;
        Console.WriteLine($"[bench] pausing {pause} s for a heap dump of process {Environment.ProcessId} ({moment})");
        await Task.Delay(TimeSpan.FromSeconds(pause));
    }

    public static CpuSample Percent(CpuSample seconds, double window)
    {
        double P(double s) => s / window / Environment.ProcessorCount * 100;
        return new CpuSample(P(seconds.Silo), P(seconds.LoadGenerator), P(seconds.Postgres), P(seconds.Redis));
    }

    /// <summary><c>GOALGPT_BENCH_EXPLAIN=1</c>: print the first wrong home scores with what decided them.</summary>
    private static readonly bool Explain = Environment.GetEnvironmentVariable("GOALGPT_BENCH_EXPLAIN") == "1";

    public sealed record Check(long Wrong, long Fields, long Matches, long NullMinute, string Examples);

    /// <summary>
    /// Every tracked field of every match the model knows: status, both scores and their provenance
    /// (source and observation time), both raw score arrays, the first- and second-half kick-offs, match time,
    /// competition, provider change time, and the minute (never NULL while live; where the row has the
    /// phase's kick-off and the minute's computation time, the rule's minute at that time, ±1).
    /// </summary>
    public static async Task<Check> Compare(Database db, Model model)
    {
        var rows = await db.Table.ReadAllAsync();
        long wrong = 0, fields = 0, matches = 0, nullMinute = 0;
        var byField = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var id in model.Matches)
        {
            matches++;
            var e = model.Of(id);
            rows.TryGetValue(id, out var row);
            void Field(string name, bool ok)
            {
                fields++;
                if (ok) return;
                wrong++;
                byField[name] = byField.GetValueOrDefault(name) + 1;
            }

            Field("status_id", row?.StatusId == e.Status!.Value.Value);
            Field("status_id_source", row?.StatusSource == e.Status.Value.Src.ToWire());
            Field("status_id_timestamp", row?.StatusTimestamp == e.Status.Value.Ts);
            Score("home", e.Home!.Value, e.HomePushes, row?.HomeScore, row?.HomeScoreSource, row?.HomeScoreTimestamp);
            Score("away", e.Away!.Value, e.AwayPushes, row?.AwayScore, row?.AwayScoreSource, row?.AwayScoreTimestamp);
            // A score rule 1 may hold keeps the held poll's array out too: the side's raw array is then not decided here.
            if (Model.Expected.Held(e.Home.Value, e.HomePushes).Count == 0) Field("home_scores", row?.HomeScores is { } hs && hs.SequenceEqual(e.HomeRaw!.Value.Value));
            if (Model.Expected.Held(e.Away.Value, e.AwayPushes).Count == 0) Field("away_scores", row?.AwayScores is { } aws && aws.SequenceEqual(e.AwayRaw!.Value.Value));
            Field("first_half_kickoff_ts", row?.FirstHalfKickoffTs == e.FirstKickoff || (e.Optional(e.FirstKickoffPut) && row?.FirstHalfKickoffTs is null));
            Field("second_half_kickoff_ts", row?.SecondHalfKickoffTs == e.SecondKickoff || (e.Optional(e.SecondKickoffPut) && row?.SecondHalfKickoffTs is null));
            Field("match_time", row?.MatchTime == e.MatchTime || (e.Optional(e.MetadataPut) && row?.MatchTime is null));
            Field("competition_id", row?.CompetitionId == e.CompetitionId || (e.Optional(e.MetadataPut) && row?.CompetitionId is null));
            Field("provider_update_time", row?.ProviderUpdateTime == e.ProviderUpdateTime);

            // Rule 1: a poll within 30 s of a push that shows another value may be held until confirmed; what the row
            // then shows (the pushed value, or an older poll that repeated it, with that poll's provenance) depends on
            // the delivery order: either value is right, and its provenance is not decided here.
            void Score(string side, (long Ts, int Prio, UpdateSource Src, int Value) w, List<(long Ts, int Value)> pushes, int? value, string? source, long? ts)
            {
                var alternatives = Model.Expected.Held(w, pushes);
                var held = alternatives.Count > 0;
                var valueOk = value == w.Value || (value is int v && alternatives.Contains(v));
                if (Explain && side == "home" && (!valueOk || (!held && (source != w.Src.ToWire() || ts != w.Ts)))
                    && byField.GetValueOrDefault("home_score") + byField.GetValueOrDefault("home_score_source") < 3)
                {
                    // What decided it: the row, the model's winner, the values rule 1 may have held it for, the last delivered home scores.
                    var last = string.Join(" ", e.HomeSeen.OrderBy(x => x.T).TakeLast(12).Select(x => $"{x.T % 1_000_000}:{x.Src.ToWire()}={x.Home}"));
                    Console.WriteLine($"[bench] wrong home_score {id}: row {value} ({source}, {ts % 1_000_000}), model {w.Value} ({w.Src.ToWire()}, {w.Ts % 1_000_000}), may be held for [{string.Join(",", alternatives)}]; delivered (t mod 1e6 ms): {last}");
                }

                Field($"{side}_score", valueOk);
                if (held) return;
                Field($"{side}_score_source", source == w.Src.ToWire());
                Field($"{side}_score_timestamp", ts == w.Ts);
            }

            var live = row?.StatusId is 2 or 3 or 4 or 5 or 7;
            if (live && row!.Minute is null) nullMinute++;
            Field("minute", !live || MinuteOk(row!));
        }

        var examples = string.Join(", ", byField.OrderByDescending(f => f.Value).Select(f => $"{f.Key} {f.Value}"));
        return new Check(wrong, fields, matches, nullMinute, examples);
    }

    private static bool MinuteOk(TsMatchRow row)
    {
        if (row.Minute is not int minute) return false;
        if (row.MinuteTimestamp is not long at) return true; // a design that keeps no computation time: only NULL is checked
        var now = at / 1000;
        int? expected = row.StatusId switch
        {
            2 when row.FirstHalfKickoffTs is long k => (int)Math.Min(45, (now - k) / 60 + 1),
            3 => 45,
            4 when row.SecondHalfKickoffTs is long k => (int)Math.Min(90, (now - k) / 60 + 46),
            _ => null,
        };
        return expected is not int x || Math.Abs(minute - x) <= 1;
    }

    public static async Task ForEachAsync<T, TResult>(IEnumerable<T> items, int parallelism, Func<T, Task<TResult>> action) =>
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (item, _) => await action(item));
}

/// <summary>
/// Matches the silo tracks besides the live ones (issue 13: memory at 100,000 and 1,000,000 tracked, 10,000 live):
/// each activated with a full snapshot (match sync: metadata, status, raw arrays), a live snapshot (kick-off) and an
/// MQTT delta, so that it holds state with provenance for every field, as a match the jobs keep listing does.
/// </summary>
public static class TrackedMatches
{
    public static async Task ActivateAsync(IGrainFactory grains, int count, long endMs, int seed)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"t{count}-{i}");
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = ServiceRun.ActivationParallelism }, async (id, _) =>
        {
            var truth = MatchTruth.Random(new Random(HashCode.Combine(seed, id.GetHashCode(StringComparison.Ordinal))), endMs);
            var t = endMs - 30_000;
            // ... and then it ends (full time): tracked, not live, as all but the live ones of a provider's list are.
            MatchUpdate[] updates = [truth.Observe(ProducerKind.MatchSync, t), truth.Observe(ProducerKind.DetailLive, t + 500), truth.Observe(ProducerKind.Mqtt, t + 1_000),
                truth.Observe(ProducerKind.MatchSync, t + 1_500) with { StatusId = 8 }];
            var grain = grains.GetGrain<IMatchGrain>(id);
            for (var attempt = 0; ; attempt++)
            {
                var results = await grain.ApplyMany(updates);
                // The write-behind's bound refuses retryably while the table catches up: wait and send again.
                if (!results.Any(r => r.Fields.Any(f => f.Reason == RejectReasons.BacklogFull))) return;
                await Task.Delay(Math.Min(1_000, 20 << Math.Min(attempt, 6)));
            }
        });
    }
}

/// <summary>
/// Samples this process every 50 ms until disposed: the most thread-pool threads, the longest thread-pool queue, and
/// the most GC pause time between two samples (a pause longer than 50 ms delays the next sample, so it shows whole).
/// </summary>
public sealed class RuntimeSampler : IDisposable
{
    private readonly object _gate = new();
    private readonly TimeSpan _pauseAtStart = GC.GetTotalPauseDuration();
    private readonly int _gen2AtStart = GC.CollectionCount(2);
    private readonly Timer _timer;
    private TimeSpan _lastPause;
    private TimeSpan _maxPause;
    private int _threads;
    private long _queue;

    public RuntimeSampler()
    {
        _lastPause = _pauseAtStart;
        _timer = new Timer(_ => Sample(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(50));
    }

    /// <summary>What was seen since the start, this moment included.</summary>
    public (int ThreadsMax, long QueueMax, double GcPauseMs, double GcPauseMaxMs, int Gen2) Read()
    {
        Sample();
        lock (_gate)
        {
            return (_threads, _queue, (_lastPause - _pauseAtStart).TotalMilliseconds, _maxPause.TotalMilliseconds, GC.CollectionCount(2) - _gen2AtStart);
        }
    }

    private void Sample()
    {
        lock (_gate)
        {
            var pause = GC.GetTotalPauseDuration();
            if (pause - _lastPause > _maxPause) _maxPause = pause - _lastPause;
            _lastPause = pause;
            _threads = Math.Max(_threads, ThreadPool.ThreadCount);
            _queue = Math.Max(_queue, ThreadPool.PendingWorkItemCount);
        }
    }

    public void Dispose() => _timer.Dispose();
}

/// <summary>A counter shared by a producer's workers.</summary>
public sealed class StrongBox
{
    public long Value;
    public long Done;
}
