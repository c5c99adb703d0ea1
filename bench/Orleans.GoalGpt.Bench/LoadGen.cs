using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using HdrHistogram;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.GoalGpt.Abstractions;

namespace Orleans.GoalGpt.Bench;

/// <summary>What the load generator process is told (environment variable <see cref="LoadGen.SettingsVariable"/>).</summary>
public sealed record LoadGenSettings(
    string ClusterId, int GatewayPort, int Matches, long EndMs, int Seed, int ItemsPerProducer,
    double Rate, double Seconds, string ResultPath);

/// <summary>What the load generator measured.</summary>
public sealed record LoadGenResult
{
    public required Dictionary<ProducerKind, int> Delivered { get; init; }
    public double Seconds { get; init; }
    public double CallP50Ms { get; init; }
    public double CallP99Ms { get; init; }
    public double CallP999Ms { get; init; }
    public double LagP50Ms { get; init; }
    public double LagP99Ms { get; init; }

    /// <summary>Lag p99 of the updates sent after the step's first 5 s (its first-sight burst over: see LagSampler).</summary>
    public double LagP99AfterStartMs { get; init; }
    public double LagP999Ms { get; init; }
    public double LagMaxMs { get; init; }
    public long LagSamples { get; init; }
    public long LagNeverVisible { get; init; }

    /// <summary>Sampled updates left out of the lag: held by a rule (not in the row now, by design).</summary>
    public long LagHeld { get; init; }
    public long Refused { get; init; }
    public long TimedOut { get; init; }
}

/// <summary>
/// The load generator, in a process of its own (an Orleans client of the benchmark silo), so that the
/// silo's CPU and memory are measured without it. Five producers, one per job kind, send batches of
/// <see cref="Batch"/> items (an MQTT message carries up to 20 deltas) paced open-loop at the offered rate,
/// or as fast as the silo answers (rate 0). A sampler on its own PostgreSQL connection measures the lag
/// from a producer's call to the row showing the update (or something newer) to a separate reader.
/// </summary>
public static class LoadGen
{
    public const string SettingsVariable = "GOALGPT_BENCH_LOADGEN";
    public const string PostgresVariable = "GOALGPT_BENCH_PG";
    private const int Batch = 20;
    private const int InFlightPerProducer = 48;
    private const int SampleEveryNthBatch = 4;
    private static readonly TimeSpan VisibleWithin = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync()
    {
        var settings = JsonSerializer.Deserialize<LoadGenSettings>(Environment.GetEnvironmentVariable(SettingsVariable)
            ?? throw new InvalidOperationException($"{SettingsVariable} is not set"))!;
        var postgres = Environment.GetEnvironmentVariable(PostgresVariable) ?? throw new InvalidOperationException($"{PostgresVariable} is not set");
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, settings.GatewayPort));
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = settings.ClusterId;
                o.ServiceId = "goalgpt-bench";
            });
        });
        using var host = builder.Build();
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IClusterClient>();
        var workload = new Workload(settings.Matches, settings.ItemsPerProducer, settings.EndMs, settings.Seed);
        await grains.GetGrain<IRelayGrain>(0).Apply([]); // the connection is up before the clock starts

        var calls = new LongConcurrentHistogram(1, 3_600_000_000, 3);
        var sampler = new LagSampler(postgres);
        var samplerTask = Task.Run(sampler.RunAsync);
        var counters = Workload.Producers.ToDictionary(k => k, _ => new StrongBox());
        long refused = 0, timedOut = 0, batches = 0, held = 0;
        var perProducer = settings.Rate / (Workload.Producers.Length - 1); // the minute clock keeps the same pace, uncounted
        var duration = TimeSpan.FromSeconds(settings.Seconds);
        Console.WriteLine("START");
        var clock = Stopwatch.StartNew();
        sampler.SteadyFrom = Stopwatch.GetTimestamp() + (long)(LagSampler.StartPhase.TotalSeconds * Stopwatch.Frequency);
        var workers = new List<Task>();
        foreach (var kind in Workload.Producers)
        {
            var counter = counters[kind];
            for (var w = 0; w < InFlightPerProducer; w++)
            {
                workers.Add(Task.Run(async () =>
                {
                    var relay = grains.GetGrain<IRelayGrain>(0);
                    while (clock.Elapsed < duration)
                    {
                        var first = Interlocked.Add(ref counter.Value, Batch) - Batch;
                        if (first >= workload.Length) break;
                        if (perProducer > 0)
                        {
                            var due = TimeSpan.FromSeconds(first / perProducer) - clock.Elapsed;
                            if (due > TimeSpan.Zero) await Task.Delay(due);
                        }

                        var count = (int)Math.Min(Batch, workload.Length - first);
                        var items = new RelayItem[count];
                        for (var i = 0; i < count; i++)
                        {
                            var item = workload.Item(kind, (int)first + i);
                            items[i] = new RelayItem(item.MatchId, item.Update);
                        }

                        var started = Stopwatch.GetTimestamp();
                        var sampled = Interlocked.Increment(ref batches) % SampleEveryNthBatch == 0 ? Array.FindIndex(items, x => x.Update is not null) : -1;
                        var pending = items;
                        while (pending.Length > 0)
                        {
                            byte[] answers;
                            try
                            {
                                answers = await relay.Apply(pending);
                            }
                            catch (TimeoutException)
                            {
                                // An overloaded silo drops expired calls; delivery is at least once (a replayed update is a no-op).
                                Interlocked.Increment(ref timedOut);
                                continue;
                            }

                            if (sampled >= 0 && answers.Length == items.Length && answers[sampled] == 2)
                            {
                                Interlocked.Increment(ref held); // held by a rule: not in the row now by design, not sampled
                                sampled = -1;
                            }

                            var again = pending.Where((_, i) => answers[i] == 1).ToArray();
                            if (again.Length > 0)
                            {
                                // backlog_full: retryable; the caller waits and sends those again.
                                Interlocked.Add(ref refused, again.Length);
                                await Task.Delay(50);
                            }

                            pending = again;
                        }

                        calls.RecordValue(Math.Max(1, (long)(Stopwatch.GetElapsedTime(started).TotalMilliseconds * 1000)));
                        if (sampled >= 0) sampler.Add(items[sampled].MatchId, items[sampled].Update!, started);
                    }
                }));
            }
        }

        await Task.WhenAll(workers);
        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine("END");
        sampler.Complete();
        await samplerTask;
        var result = new LoadGenResult
        {
            Delivered = counters.ToDictionary(c => c.Key, c => (int)Math.Min(c.Value.Value, workload.Length)),
            Seconds = seconds,
            CallP50Ms = calls.GetValueAtPercentile(50) / 1000.0,
            CallP99Ms = calls.GetValueAtPercentile(99) / 1000.0,
            CallP999Ms = calls.GetValueAtPercentile(99.9) / 1000.0,
            LagP50Ms = sampler.Lag.TotalCount > 0 ? sampler.Lag.GetValueAtPercentile(50) / 1000.0 : double.NaN,
            LagP99Ms = sampler.Lag.TotalCount > 0 ? sampler.Lag.GetValueAtPercentile(99) / 1000.0 : double.NaN,
            LagP99AfterStartMs = sampler.LagAfterStart.TotalCount > 0 ? sampler.LagAfterStart.GetValueAtPercentile(99) / 1000.0 : double.NaN,
            LagP999Ms = sampler.Lag.TotalCount > 0 ? sampler.Lag.GetValueAtPercentile(99.9) / 1000.0 : double.NaN,
            LagMaxMs = sampler.Lag.TotalCount > 0 ? sampler.Lag.GetMaxValue() / 1000.0 : double.NaN,
            LagSamples = sampler.Lag.TotalCount,
            LagNeverVisible = sampler.NeverVisible,
            LagHeld = held,
            Refused = refused,
            TimedOut = timedOut,
        };
        // NaN where a figure has no sample (a step shorter than 5 s has nothing "after the first 5 s"): reported as n/a.
        await File.WriteAllTextAsync(settings.ResultPath, JsonSerializer.Serialize(result, ResultJson));
        await host.StopAsync();
        return 0;
    }

    /// <summary>How the result travels to the sweep (and back: <see cref="ServiceRun"/>).</summary>
    internal static readonly JsonSerializerOptions ResultJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>
    /// Polls <c>ts_matches</c> on its own connection for the sampled updates: one is visible once the row
    /// shows, for status and both scores, the update's value or a newer observation (the update was superseded).
    /// </summary>
    private sealed class LagSampler(string postgres)
    {
        private readonly ConcurrentQueue<(string Id, MatchUpdate Update, long Started)> _incoming = new();
        private volatile bool _complete;

        public LongHistogram Lag { get; } = new(1, 3_600_000_000, 3);

        /// <summary>
        /// The step's start: every match's first values from the producers are value changes, so each writes its audit events
        /// (~50,000 for 10,000 matches, most in the first 2 s, against ~100/s after), in the statements that write the rows.
        /// </summary>
        public static readonly TimeSpan StartPhase = TimeSpan.FromSeconds(5);

        /// <summary>Lag of the updates sent from <see cref="SteadyFrom"/> on.</summary>
        public LongHistogram LagAfterStart { get; } = new(1, 3_600_000_000, 3);

        public long SteadyFrom { get; set; } = long.MaxValue;

        public long NeverVisible { get; private set; }

        public void Add(string id, MatchUpdate update, long started) => _incoming.Enqueue((id, update, started));

        public void Complete() => _complete = true;

        public async Task RunAsync()
        {
            await using var connection = new NpgsqlConnection(postgres);
            await connection.OpenAsync();
            var pending = new List<(string Id, MatchUpdate Update, long Started)>();
            long? completedAt = null;
            while (true)
            {
                while (_incoming.TryDequeue(out var s)) pending.Add(s);
                if (_complete) completedAt ??= Stopwatch.GetTimestamp();
                if (completedAt is { } c && (pending.Count == 0 || Stopwatch.GetElapsedTime(c) > VisibleWithin)) break;
                if (pending.Count == 0)
                {
                    await Task.Delay(5);
                    continue;
                }

                var rows = new Dictionary<string, (int? S, long? St, int? H, long? Ht, int? A, long? At)>(StringComparer.Ordinal);
                await using (var cmd = new NpgsqlCommand(
                    "SELECT external_id, status_id, status_id_timestamp, home_score, home_score_timestamp, away_score, away_score_timestamp FROM ts_matches WHERE external_id = ANY(@ids)", connection))
                {
                    cmd.Parameters.AddWithValue("ids", pending.Select(p => p.Id).Distinct().ToArray());
                    await using var r = await cmd.ExecuteReaderAsync();
                    while (await r.ReadAsync())
                    {
                        rows[r.GetString(0)] = (Int(r, 1), Long(r, 2), Int(r, 3), Long(r, 4), Int(r, 5), Long(r, 6));
                    }
                }

                var now = Stopwatch.GetTimestamp();
                pending.RemoveAll(p =>
                {
                    if (!rows.TryGetValue(p.Id, out var row)) return false;
                    var u = p.Update;
                    var visible = Shows(row.S, row.St, u.StatusId, u.ObservedAtMs)
                        && Shows(row.H, row.Ht, u.HomeScores![0], u.ObservedAtMs)
                        && Shows(row.A, row.At, u.AwayScores![0], u.ObservedAtMs);
                    if (visible)
                    {
                        var lag = Math.Max(1, (long)(Stopwatch.GetElapsedTime(p.Started, now).TotalMilliseconds * 1000));
                        Lag.RecordValue(lag);
                        if (p.Started >= SteadyFrom) LagAfterStart.RecordValue(lag);
                    }

                    return visible;
                });
                await Task.Delay(10);
            }

            NeverVisible = pending.Count;
        }

        private static bool Shows(int? value, long? observedAt, int? sent, long sentAt) => value == sent || observedAt >= sentAt;

        private static int? Int(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : Convert.ToInt32(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);

        private static long? Long(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
    }
}
