using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.GoalGpt.Tests.Merge;
using StackExchange.Redis;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// The silo and simulator executables as the container images and a two-VM deployment run them:
/// the healthcheck command, listening addresses, the stop timeout, two silos on two addresses.
/// </summary>
[Collection(RealServers.Name)]
public sealed class DeploymentTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private Dictionary<string, string?> Settings(string cluster) => new()
    {
        ["ConnectionStrings__Postgres"] = _db.ConnectionString,
        ["ConnectionStrings__Redis"] = TestEnvironment.Redis,
        ["Orleans__ClusterId"] = cluster,
        ["Orleans__ServiceId"] = cluster,
        ["Orleans__MembershipEntryExpiryMinutes"] = "5",
    };

    [Fact]
    public async Task The_image_settings_listen_on_every_address_and_the_healthcheck_follows_readiness()
    {
        // What the image sets: ASPNETCORE_URLS on every address, no Urls. appsettings.json used to
        // carry Urls (loopback:8080), which outranks ASPNETCORE_URLS.
        var port = SiloProcess.FreePort();
        var settings = Settings($"image-{Guid.NewGuid():N}");
        settings["Urls"] = null;
        settings["ASPNETCORE_URLS"] = $"http://+:{port}";
        await using var silo = SiloProcess.StartOn("127.0.0.1", port, settings);
        var (status, body) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromMinutes(1));
        Assert.True(status == HttpStatusCode.OK, $"ready: {status} {body}\n{silo.Output}");

        // Every address: another loopback address reaches it too (a loopback-only listener would refuse).
        using (var other = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            Assert.Equal(HttpStatusCode.OK, (await other.GetAsync($"http://127.0.0.2:{port}/health/live")).StatusCode);
        }

        var (ready, readyOutput) = await SiloProcess.RunCommandAsync(silo.Environment, "healthcheck");
        Assert.True(ready == 0, readyOutput);

        // No credentials and not in local mode: the dashboard refuses, naming the settings.
        using (var dashboard = await silo.Http.GetAsync("/dashboard/"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, dashboard.StatusCode);
            Assert.Contains("Dashboard__Password", await dashboard.Content.ReadAsStringAsync());
        }

        Assert.Contains("Orleans Dashboard refuses every request", silo.Output);

        // Not ready (PostgreSQL down): the healthcheck fails and says why.
        await PostgresServer.StopAsync();
        try
        {
            var (down, _) = await silo.WaitForAsync("/health/ready", HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down);
            var (notReady, notReadyOutput) = await SiloProcess.RunCommandAsync(silo.Environment, "healthcheck");
            Assert.Equal(1, notReady);
            Assert.Contains("503", notReadyOutput);
            Assert.Contains("postgresql", notReadyOutput);
        }
        finally
        {
            await PostgresServer.StartAsync();
        }

        // Nothing listening: the healthcheck fails.
        await silo.DisposeAsync();
        var (gone, goneOutput) = await SiloProcess.RunCommandAsync(silo.Environment, "healthcheck");
        Assert.Equal(1, gone);
        Assert.Contains($"127.0.0.1:{port}/health/ready", goneOutput);
    }

    [Fact]
    public async Task The_simulator_image_settings_listen_on_every_address_and_its_healthcheck_answers()
    {
        var port = SiloProcess.FreePort();
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = $"http://0.0.0.0:{port}",
            ["Urls"] = null,
            ["Simulator__Matches"] = "5",
            ["Simulator__Mqtt__Host"] = "127.0.0.1",
            ["Simulator__Mqtt__Port"] = TestEnvironment.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Simulator__Mqtt__Topic"] = $"goalgpt/test/{Guid.NewGuid():N}",
        };
        using var simulator = Process.Start(SimulatorStartInfo(environment))!;
        try
        {
            var code = 1;
            var output = "";
            for (var i = 0; i < 120 && code != 0 && !simulator.HasExited; i++)
            {
                (code, output) = await RunSimulatorCommandAsync(environment, "healthcheck");
                if (code != 0) await Task.Delay(500);
            }

            Assert.True(code == 0, output);
            using var other = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            Assert.Equal("ok", await other.GetStringAsync($"http://127.0.0.2:{port}/sim/health"));
        }
        finally
        {
            simulator.Kill(entireProcessTree: true);
            await simulator.WaitForExitAsync();
        }

        var (after, afterOutput) = await RunSimulatorCommandAsync(environment, "healthcheck");
        Assert.Equal(1, after);
        Assert.Contains($"127.0.0.1:{port}/sim/health", afterOutput);
    }

    [Fact]
    public async Task A_stop_under_a_stream_of_updates_writes_every_acknowledged_update()
    {
        var cluster = $"stop-{Guid.NewGuid():N}";
        await using var silo = SiloProcess.Start(Settings(cluster));
        var (status, body) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromMinutes(1));
        Assert.True(status == HttpStatusCode.OK, $"ready: {status} {body}\n{silo.Output}");
        using var client = await ConnectClientAsync(cluster);
        var load = new UpdateStream(client.Services.GetRequiredService<IClusterClient>(), "stop", matches: 100);

        await load.UntilEveryMatchAcknowledgedAsync(rounds: 20);
        silo.Terminate(); // while the stream goes on
        Assert.Equal(0, await silo.ExitCodeAsync(TimeSpan.FromMinutes(3)));
        await load.StopAsync();

        Assert.DoesNotContain("unwritten to ts_matches", silo.Output);
        await load.AssertWrittenAsync(_db, silo.Output);
    }

    [Fact]
    public async Task A_stop_waits_past_the_frameworks_30_s_for_PostgreSQL_and_loses_no_acknowledged_update()
    {
        var cluster = $"stop-pg-{Guid.NewGuid():N}";
        await using var silo = SiloProcess.Start(Settings(cluster));
        var (status, body) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromMinutes(1));
        Assert.True(status == HttpStatusCode.OK, $"ready: {status} {body}\n{silo.Output}");
        using var client = await ConnectClientAsync(cluster);
        var load = new UpdateStream(client.Services.GetRequiredService<IClusterClient>(), "stoppg", matches: 100);
        await load.UntilEveryMatchAcknowledgedAsync(rounds: 10);

        // PostgreSQL goes away: updates are acknowledged into memory and the write-behind backlog.
        await PostgresServer.StopAsync();
        try
        {
            await load.UntilEveryMatchAcknowledgedAsync(rounds: 30);
            await load.StopAsync();
            silo.Terminate();

            // The stop now needs PostgreSQL back; it comes back later than the host's default
            // shutdown timeout (30 s) would have waited, within the 90 s the silo is given.
            await Task.Delay(TimeSpan.FromSeconds(40));
        }
        finally
        {
            await PostgresServer.StartAsync();
        }

        Assert.Equal(0, await silo.ExitCodeAsync(TimeSpan.FromMinutes(2)));
        Assert.DoesNotContain("unwritten to ts_matches", silo.Output);
        await load.AssertWrittenAsync(_db, silo.Output);
    }

    private static ProcessStartInfo SimulatorStartInfo(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = AppContext.BaseDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Orleans.GoalGpt.Simulator.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k.StartsWith("Simulator__", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        foreach (var (k, v) in environment)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }

        return psi;
    }

    private static async Task<(int Code, string Output)> RunSimulatorCommandAsync(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        using var process = Process.Start(SimulatorStartInfo(environment, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    internal static async Task<IHost> ConnectClientAsync(string cluster)
    {
        var host = Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.ClearProviders())
            .UseOrleansClient(c =>
            {
                c.Configure<ClusterOptions>(o => { o.ClusterId = cluster; o.ServiceId = cluster; });
                c.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(TestEnvironment.Redis));
            })
            .Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>
    /// One sequential stream of score updates per match (each a new score, observed later than the
    /// one before); remembers the last round each match acknowledged (the grain answered Applied).
    /// </summary>
    private sealed class UpdateStream
    {
        private readonly long[] _acknowledged;
        private readonly string[] _ids;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _writers;
        private readonly long _firstObservedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000;

        public UpdateStream(IClusterClient grains, string prefix, int matches)
        {
            _acknowledged = new long[matches];
            _ids = Enumerable.Range(0, matches).Select(m => $"{prefix}-{Guid.NewGuid():N}"[..24] + $"-{m}").ToArray();
            _writers = Enumerable.Range(0, matches).Select(m => Task.Run(() => WriteAsync(grains, m))).ToList();
        }

        private async Task WriteAsync(IClusterClient grains, int m)
        {
            var grain = grains.GetGrain<IMatchGrain>(_ids[m]);
            for (var round = 1; round < 10_000 && !_stop.IsCancellationRequested; round++)
            {
                ApplyResult result;
                try
                {
                    result = await grain.Apply(Updates.Score(UpdateSource.Api, _firstObservedMs + round, 2, Home(round), Away(round)));
                }
                catch (Exception)
                {
                    return; // the silo is stopping: this one was not acknowledged
                }

                Assert.Contains(result.Fields, f => f.Field is "home_score" or "away_score" && f.Outcome == FieldOutcome.Applied);
                Volatile.Write(ref _acknowledged[m], round);
            }
        }

        private static int Home(long round) => (int)(round % 100);

        private static int Away(long round) => (int)(round / 100 % 100);

        /// <summary>Waits until every match acknowledged at least <paramref name="rounds"/> more updates.</summary>
        public async Task UntilEveryMatchAcknowledgedAsync(int rounds)
        {
            var target = _acknowledged.Select(a => Volatile.Read(ref a) + rounds).ToArray();
            while (Enumerable.Range(0, _ids.Length).Any(m => Volatile.Read(ref _acknowledged[m]) < target[m]))
            {
                if (_writers.All(w => w.IsCompleted)) throw new InvalidOperationException("the update stream ended before the silo was stopped");
                await Task.Delay(50);
            }
        }

        public async Task StopAsync()
        {
            _stop.Cancel();
            await Task.WhenAll(_writers);
        }

        /// <summary>Every match's row holds its last acknowledged update, or the one after (applied, answer lost in the stop).</summary>
        public async Task AssertWrittenAsync(TestDatabase db, string siloOutput)
        {
            await using var cmd = db.DataSource.CreateCommand("SELECT external_id, home_score, away_score FROM ts_matches WHERE external_id = ANY(@ids)");
            cmd.Parameters.AddWithValue("ids", _ids);
            var rows = new Dictionary<string, (int Home, int Away)>(StringComparer.Ordinal);
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync()) rows[reader.GetString(0)] = (reader.GetInt32(1), reader.GetInt32(2));
            }

            var wrong = new List<string>();
            for (var m = 0; m < _ids.Length; m++)
            {
                var acked = _acknowledged[m];
                var ok = rows.TryGetValue(_ids[m], out var row)
                    && (row == (Home(acked), Away(acked)) || row == (Home(acked + 1), Away(acked + 1)));
                if (!ok) wrong.Add($"{_ids[m]}: acknowledged round {acked} ({Home(acked)}-{Away(acked)}), row {(rows.TryGetValue(_ids[m], out var r) ? $"{r.Home}-{r.Away}" : "missing")}");
            }

            Assert.True(wrong.Count == 0, $"{wrong.Count} of {_ids.Length} matches lost acknowledged updates:\n{string.Join('\n', wrong.Take(10))}\n{siloOutput[^Math.Min(siloOutput.Length, 4000)..]}");
        }
    }
}
