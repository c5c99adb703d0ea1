using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.GoalGpt.Abstractions;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Bench;

/// <summary>
/// <c>bench/run.sh --read-api</c>: the read API and the change stream of one silo process (the real executable):
/// GET /v1/matches/{id} latency at a paced rate; change → SSE client latency with many connected clients at a paced
/// change rate (each client follows one match, as an app user does); the silo's memory per connected client; and the
/// writers' throughput (as fast as the silo answers) without and with the clients connected.
/// </summary>
public static class ReadApiRun
{
    public sealed record Options(int Matches, int Clients, double ReadsPerSecond, double ChangesPerSecond, TimeSpan Duration, string OutDir, string Command);

    public static async Task<int> RunAsync(string server, string redisCs, Options o)
    {
        var loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        var db = await Database.RecreateAsync(server, "goalgpt_bench_read");
        var cluster = $"bench-read-{Guid.NewGuid():N}";
        var httpPort = FreePort();
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = AppContext.BaseDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Orleans.GoalGpt.Silo.dll"));
        foreach (var (k, v) in new Dictionary<string, string>
        {
            ["ConnectionStrings__Postgres"] = db.ConnectionString, ["ConnectionStrings__Redis"] = redisCs,
            ["Orleans__ClusterId"] = cluster, ["Orleans__ServiceId"] = cluster, ["Orleans__MembershipEntryExpiryMinutes"] = "30",
            ["Orleans__SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture), ["Orleans__GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Urls"] = $"http://127.0.0.1:{httpPort}", ["Jobs__Enabled"] = "false", ["Mqtt__Enabled"] = "false", ["Dashboard__Enabled"] = "false",
            ["Logging__LogLevel__Default"] = "Warning",
        })
        {
            psi.Environment[k] = v;
        }

        using var silo = Process.Start(psi)!;
        silo.OutputDataReceived += (_, _) => { };
        silo.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[silo] {e.Data}"); };
        silo.BeginOutputReadLine();
        silo.BeginErrorReadLine();
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            for (var i = 0; ; i++)
            {
                try
                {
                    if ((await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK) break;
                }
                catch (HttpRequestException)
                {
                }

                if (i > 600 || silo.HasExited) throw new InvalidOperationException("the silo did not become ready");
                await Task.Delay(200);
            }

            using var client = Host.CreateDefaultBuilder()
                .ConfigureLogging(l => l.ClearProviders())
                .UseOrleansClient(c =>
                {
                    c.Configure<ClusterOptions>(x => { x.ClusterId = cluster; x.ServiceId = cluster; });
                    c.UseRedisClustering(x => x.ConfigurationOptions = ConfigurationOptions.Parse(redisCs));
                })
                .Build();
            await client.StartAsync();
            var grains = client.Services.GetRequiredService<IClusterClient>();

            // Live matches, every one activated with a full poll.
            var ids = Enumerable.Range(0, o.Matches).Select(i => $"r{i}").ToArray();
            var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 600_000;
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (id, _) =>
                await grains.GetGrain<IMatchGrain>(id).Apply(new MatchUpdate
                {
                    Source = UpdateSource.Api, ObservedAtMs = start, StatusId = 2, HomeScores = [0, 0, 0, 0, 0, 0, 0], AwayScores = [0, 0, 0, 0, 0, 0, 0],
                    PhaseKickoffTs = start / 1000 - 600, MatchTime = start / 1000 - 700, CompetitionId = "bench", HomeTeamId = "h", AwayTeamId = "a",
                }));
            await Task.Delay(TimeSpan.FromSeconds(2)); // rows flushed, the known-match check warm from the database
            foreach (var id in ids) (await http.GetAsync($"/v1/matches/{id}")).EnsureSuccessStatusCode();

            var observed = start;
            long NextObserved() => Interlocked.Increment(ref observed);
            MatchUpdate Goal(long at) => new() { Source = UpdateSource.Mqtt, ObservedAtMs = at, HomeScores = [(int)(at % 90), 0, 0, 0, 0, 0, 0], AwayScores = [0, 0, 0, 0, 0, 0, 0] };

            // 1. Reads, paced (5 s of warm-up first: connections, JIT, tiered compilation).
            async Task<double> Read(int i)
            {
                var sw = Stopwatch.StartNew();
                using var r = await http.GetAsync($"/v1/matches/{ids[i % ids.Length]}", HttpCompletionOption.ResponseContentRead);
                r.EnsureSuccessStatusCode();
                return sw.Elapsed.TotalMilliseconds;
            }

            Console.WriteLine($"[bench] GET /v1/matches/{{id}} at {o.ReadsPerSecond:N0}/s for 5 s (warm-up) + {o.Duration.TotalSeconds} s ...");
            await PacedAsync(o.ReadsPerSecond, TimeSpan.FromSeconds(5), Read);
            var reads = await PacedAsync(o.ReadsPerSecond, o.Duration, Read);

            // 2. Writers as fast as the silo answers, no client connected (after 5 s of warm-up).
            Console.WriteLine("[bench] writers, no stream client ...");
            await WritersAsync(grains, ids, TimeSpan.FromSeconds(5), () => Goal(NextObserved()));
            var writersAlone = await WritersAsync(grains, ids, o.Duration, () => Goal(NextObserved()));

            // 3. Clients connected: memory per client (the silo's resident set, each after 3 s idle).
            await Task.Delay(TimeSpan.FromSeconds(3));
            var rssBefore = Rss(silo.Id);
            Console.WriteLine($"[bench] connecting {o.Clients} stream clients ...");
            var latencies = new List<double>();
            var latencyLock = new Lock();
            var measuring = 0;
            using var stop = new CancellationTokenSource();
            var streams = new List<Task>();
            var connected = 0;
            for (var c = 0; c < o.Clients; c++)
            {
                var id = ids[c % ids.Length];
                streams.Add(Task.Run(async () =>
                {
                    using var sse = new HttpClient(new SocketsHttpHandler()) { Timeout = Timeout.InfiniteTimeSpan };
                    using var response = await sse.GetAsync($"http://127.0.0.1:{httpPort}/v1/stream?match={id}", HttpCompletionOption.ResponseHeadersRead, stop.Token);
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token), Encoding.UTF8);
                    Interlocked.Increment(ref connected);
                    while (!stop.IsCancellationRequested && await reader.ReadLineAsync(stop.Token) is { } line)
                    {
                        if (!line.StartsWith("data: ", StringComparison.Ordinal) || Volatile.Read(ref measuring) == 0) continue;
                        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                        using var doc = JsonDocument.Parse(line.AsMemory(6));
                        if (!doc.RootElement.GetProperty("changed").EnumerateArray().Any(f => f.ValueEquals("home_score"))) continue;
                        var at = doc.RootElement.GetProperty("match").GetProperty("home_score").GetProperty("observed_at").GetInt64();
                        lock (latencyLock) latencies.Add(now - at);
                    }
                }, stop.Token));
            }

            while (Volatile.Read(ref connected) < o.Clients) await Task.Delay(100);
            await Task.Delay(TimeSpan.FromSeconds(3));
            var rssAfter = Rss(silo.Id);

            // 4. Change → client latency at a paced change rate: each change is a goal observed at the moment it is sent.
            Console.WriteLine($"[bench] {o.ChangesPerSecond:N0} changes/s for {o.Duration.TotalSeconds} s to {o.Clients} clients ...");
            Volatile.Write(ref measuring, 1);
            var sends = await PacedAsync(o.ChangesPerSecond, o.Duration, async i =>
            {
                var sw = Stopwatch.StartNew();
                await grains.GetGrain<IMatchGrain>(ids[i % ids.Length]).Apply(Goal(Math.Max(NextObserved(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())));
                return sw.Elapsed.TotalMilliseconds;
            });
            await Task.Delay(TimeSpan.FromSeconds(2));
            Volatile.Write(ref measuring, 0);
            List<double> stream;
            lock (latencyLock) stream = [.. latencies];

            // 5. Writers as fast as the silo answers, with the clients connected (and receiving).
            Console.WriteLine($"[bench] writers, {o.Clients} stream clients connected ...");
            var writersWithClients = await WritersAsync(grains, ids, o.Duration, () => Goal(NextObserved()));
            var dropped = await MetricAsync(http, "goalgpt_stream_clients_dropped_total");
            await stop.CancelAsync();

            // And alone again: the box is shared, so the figure without clients is taken before and after.
            await Task.Delay(TimeSpan.FromSeconds(2));
            Console.WriteLine("[bench] writers, no stream client (again) ...");
            var writersAloneAfter = await WritersAsync(grains, ids, o.Duration, () => Goal(NextObserved()));
            var alone = (writersAlone + writersAloneAfter) / 2;
            var loadAfter = File.ReadAllText("/proc/loadavg").Trim();

            var md = new StringBuilder();
            md.AppendLine(CultureInfo.InvariantCulture, $"# Read API and change stream (`{o.Command}`)");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC on this machine (2 cores shared with other work); load average before / after: `{loadBefore}` / `{loadAfter}`.");
            md.AppendLine(CultureInfo.InvariantCulture, $"One silo process, {o.Matches:N0} live matches, PostgreSQL and Redis local; the load generator in another process on the same cores.");
            md.AppendLine();
            md.AppendLine("| figure | value | target |");
            md.AppendLine("|---|---|---|");
            md.AppendLine(CultureInfo.InvariantCulture, $"| GET /v1/matches/{{id}}: offered / achieved | {o.ReadsPerSecond:N0}/s / {reads.Rate:N0}/s ({reads.Count:N0} requests) | ≥ 2,000/s |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| GET /v1/matches/{{id}} p50 / p99 / max ms | {P(reads.Ms, 50):F2} / {P(reads.Ms, 99):F2} / {P(reads.Ms, 100):F2} | p99 ≤ 5 |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| change → SSE client p50 / p99 / max ms ({stream.Count:N0} deliveries, {o.Clients:N0} clients, {sends.Rate:N0} changes/s achieved) | {P(stream, 50):F0} / {P(stream, 99):F0} / {P(stream, 100):F0} | p99 ≤ 200 |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| silo memory per connected client (resident set {rssBefore / 1024.0 / 1024:F0} → {rssAfter / 1024.0 / 1024:F0} MiB) | {(rssAfter - rssBefore) / 1024.0 / o.Clients:F1} KiB | |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| writers' updates/s (64 callers, as fast as answered): no client before / {o.Clients:N0} clients connected / no client after | {writersAlone:N0} / {writersWithClients:N0} / {writersAloneAfter:N0} ({(writersWithClients / alone - 1) * 100:+0.0;-0.0} % against the mean without) | within 10 % |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| stream clients dropped | {dropped:N0} | |");
            Console.WriteLine(md);
            Directory.CreateDirectory(o.OutDir);
            await File.WriteAllTextAsync(Path.Combine(o.OutDir, "read-api.md"), md.ToString());
            await client.StopAsync();
            return 0;
        }
        finally
        {
            if (!silo.HasExited)
            {
                silo.Kill(entireProcessTree: true);
                await silo.WaitForExitAsync();
            }
        }
    }

    /// <summary>Calls <paramref name="call"/> at <paramref name="perSecond"/> (open loop: a slow answer does not slow the schedule).</summary>
    private static async Task<(List<double> Ms, double Rate, int Count)> PacedAsync(double perSecond, TimeSpan duration, Func<int, Task<double>> call)
    {
        var ms = new List<double>();
        var gate = new Lock();
        var running = new List<Task>();
        var sw = Stopwatch.StartNew();
        var n = 0;
        while (sw.Elapsed < duration)
        {
            var due = n / perSecond;
            var wait = due - sw.Elapsed.TotalSeconds;
            if (wait > 0.001) await Task.Delay(TimeSpan.FromSeconds(wait));
            var i = n++;
            running.Add(Task.Run(async () =>
            {
                var m = await call(i);
                lock (gate) ms.Add(m);
            }));
        }

        await Task.WhenAll(running);
        return (ms, ms.Count / sw.Elapsed.TotalSeconds, ms.Count);
    }

    private static async Task<double> WritersAsync(IClusterClient grains, string[] ids, TimeSpan duration, Func<MatchUpdate> next)
    {
        var count = 0L;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(w => Task.Run(async () =>
        {
            var i = w;
            while (sw.Elapsed < duration)
            {
                await grains.GetGrain<IMatchGrain>(ids[i % ids.Length]).Apply(next());
                i += 64;
                Interlocked.Increment(ref count);
            }
        })));
        return count / sw.Elapsed.TotalSeconds;
    }

    private static double P(List<double> values, double percentile)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(percentile / 100 * sorted.Count) - 1)];
    }

    private static long Rss(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    private static async Task<double> MetricAsync(HttpClient http, string name) =>
        (await http.GetStringAsync("/metrics")).Split('\n').Where(l => l.StartsWith(name, StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
