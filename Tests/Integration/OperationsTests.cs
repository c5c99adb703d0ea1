using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>The silo executable as operators run it: settings, health, metrics, dashboard.</summary>
[Collection(RealServers.Name)]
public sealed class OperationsTests : IAsyncLifetime
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
        ["Dashboard__Username"] = "ops",
        ["Dashboard__Password"] = "s3cret-for-tests",
    };

    [Fact]
    public async Task A_missing_setting_stops_the_silo_with_a_message_naming_it()
    {
        var settings = Settings("ops-missing");
        settings.Remove("ConnectionStrings__Postgres");
        await using var silo = SiloProcess.Start(settings);
        Assert.Equal(2, await silo.ExitCodeAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains("ConnectionStrings__Postgres", silo.Output);
    }

    [Fact]
    public async Task An_unmigrated_database_stops_the_silo_with_how_to_migrate()
    {
        await using var empty = await TestDatabase.CreateAsync(migrate: false);
        var settings = Settings($"ops-unmigrated-{Guid.NewGuid():N}");
        settings["ConnectionStrings__Postgres"] = empty.ConnectionString;
        await using var silo = SiloProcess.Start(settings);
        Assert.Equal(1, await silo.ExitCodeAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains("not migrated", silo.Output);
        Assert.Contains("migrate", silo.Output);
    }

    [Fact]
    public async Task Health_metrics_and_dashboard_of_a_running_silo()
    {
        var cluster = $"ops-{Guid.NewGuid():N}";
        await using var sim = await SimulatedProvider.StartAsync(TimeProvider.System, new Dictionary<string, string?>
        {
            ["Simulator:Matches"] = "300",
            ["Simulator:FirstKickoff"] = "-01:00:00",
            ["Simulator:KickoffSpread"] = "01:00:00",
            ["Simulator:Faults:ErrorBody"] = "0.2",
        });
        var settings = Settings(cluster);
        settings["Jobs__Enabled"] = "true";
        settings["Mqtt__Enabled"] = "true";
        settings["Provider__BaseUrl"] = sim.BaseUrl;
        settings["Provider__RequestsPerSecond"] = "1"; // the jobs together ask for more: waits
        settings["Mqtt__Host"] = "127.0.0.1";
        settings["Mqtt__Port"] = TestEnvironment.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Mqtt__Topic"] = sim.Topic;
        settings["Jobs__KeepAliveInterval"] = "00:00:02";
        settings["Jobs__DetailLive__Interval"] = "00:00:00.250";
        settings["Jobs__MinuteClock__Interval"] = "00:00:02";
        await using var silo = SiloProcess.Start(settings);
        var (status, body) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromMinutes(1));
        Assert.True(status == HttpStatusCode.OK, $"ready: {status} {body}\n{silo.Output}");
        Assert.Contains("\"migrations\"", body);
        Assert.Equal(HttpStatusCode.OK, (await silo.Http.GetAsync("/health/live")).StatusCode);

        // Work through the real gateway: a client on the same Redis membership.
        using var client = await ConnectClientAsync(cluster);
        var grains = client.Services.GetRequiredService<IClusterClient>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < 20; i++)
        {
            var grain = grains.GetGrain<IMatchGrain>($"ops-m{i}");
            await grain.Apply(Merge.Updates.Score(UpdateSource.Api, now - 60_000, 2, 1, 0, phaseKickoff: now / 1000 - 600));
            await grain.Apply(Merge.Updates.Score(UpdateSource.Mqtt, now - 30_000, 2, 0, 0)); // VAR
            await grain.Apply(Merge.Updates.Score(UpdateSource.Mqtt, now - 20_000, 2, 0, 0, phaseKickoff: now / 1000 - 300)); // blocked
            await grain.Apply(Merge.Updates.Score(UpdateSource.Api, now - 10_000, 42, 0, 0)); // unknown status
            await grain.Apply(Merge.Updates.Score(UpdateSource.Admin, now - 5_000, 2, 0, 0, phaseKickoff: now / 1000 - 660)); // a real kick-off change
        }

        // The live-set gauges are read from ts_matches every 15 s; MQTT deltas come as the simulated matches change.
        string metrics = "";
        for (var i = 0; i < 160 && !(HasPositive(metrics, "goalgpt_live_matches{", "status=\"2\"") && HasPositive(metrics, "goalgpt_mqtt_messages_total")
            && Jobs.All(job => HasPositive(metrics, "goalgpt_job_duration_milliseconds_count{", $"job_name=\"{job}\",outcome=\"ok\""))); i++)
        {
            await Task.Delay(500);
            metrics = await silo.Http.GetStringAsync("/metrics");
        }

        foreach (var series in new[]
        {
            "goalgpt_updates_received_total", "goalgpt_fields_applied_total", "goalgpt_fields_rejected_total",
            "goalgpt_var_corrections_total", "goalgpt_kickoff_overwrite_blocked_total", "goalgpt_apply_duration_milliseconds_bucket",
            "goalgpt_lock_acquire_duration_milliseconds_bucket", "goalgpt_writebehind_batch_size_bucket",
            "goalgpt_writebehind_flush_duration_milliseconds_bucket", "goalgpt_writebehind_lag_milliseconds_bucket",
            "goalgpt_provider_calls_total{", "goalgpt_provider_rate_limit_waits_total", "goalgpt_mqtt_connected", "goalgpt_mqtt_messages_total",
            "goalgpt_job_duration_milliseconds_bucket", "goalgpt_job_last_success_seconds",
        })
        {
            Assert.True(HasPositive(metrics, series), $"{series} missing or zero in /metrics:\n{metrics[..Math.Min(metrics.Length, 3000)]}");
        }

        Assert.Contains("goalgpt_writebehind_backlog", metrics);
        Assert.True(HasPositive(metrics, "goalgpt_kickoff_changes_total{", "field=\"first_half_kickoff_ts\""), "no kick-off change counted");

        // Latency histograms: explicit buckets from 0.05 ms to 10 s, not the exporter's 0, 5, 10, … ms.
        foreach (var histogram in new[] { "goalgpt_apply_duration_milliseconds_bucket{", "goalgpt_writebehind_lag_milliseconds_bucket{", "goalgpt_lock_acquire_duration_milliseconds_bucket{" })
        {
            Assert.Contains(metrics.Split('\n'), l => l.StartsWith(histogram, StringComparison.Ordinal) && l.Contains("le=\"0.05\"", StringComparison.Ordinal));
            Assert.Contains(metrics.Split('\n'), l => l.StartsWith(histogram, StringComparison.Ordinal) && l.Contains("le=\"10000\"", StringComparison.Ordinal));
            Assert.DoesNotContain(metrics.Split('\n'), l => l.StartsWith(histogram, StringComparison.Ordinal) && l.Contains("le=\"7500\"", StringComparison.Ordinal));
        }

        // Runtime and dependency meters: thread pool queue, GC, Npgsql, HttpClient (the provider calls).
        foreach (var series in new[]
        {
            "dotnet_thread_pool_queue_length", "dotnet_gc_collections_total", "dotnet_gc_pause_time_seconds_total",
            "db_client_operation_duration_seconds_bucket", "db_client_connection_count", "http_client_request_duration_seconds_bucket",
        })
        {
            Assert.True(metrics.Split('\n').Any(l => l.StartsWith(series, StringComparison.Ordinal)), $"{series} missing from /metrics");
        }

        Assert.True(Gauge(metrics, "goalgpt_ready{", "check=\"postgresql\"") == 1, "goalgpt_ready{check=postgresql} not 1");
        Assert.Contains("goalgpt_live_matches_null_minute", metrics);
        Assert.True(HasPositive(metrics, "goalgpt_fields_rejected_total{", "reason=\"unknown_status\""));
        Assert.True(HasPositive(metrics, "goalgpt_live_matches{", "status=\"2\""));
        Assert.Contains("orleans_", metrics);
        Assert.True(HasPositive(metrics, "goalgpt_provider_calls_total{", "outcome=\"ok\""));
        Assert.True(HasPositive(metrics, "goalgpt_provider_calls_total{", "outcome=\"error_body\""));
        foreach (var job in Jobs)
        {
            Assert.True(HasPositive(metrics, "goalgpt_job_duration_milliseconds_count{", $"job_name=\"{job}\",outcome=\"ok\""), $"no successful run of {job}");
        }

        // The dashboard asks for its credentials.
        Assert.Equal(HttpStatusCode.Unauthorized, (await silo.Http.GetAsync("/dashboard/")).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/dashboard/");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:s3cret-for-tests")));
        Assert.Equal(HttpStatusCode.OK, (await silo.Http.SendAsync(request)).StatusCode);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/dashboard/");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:guess")));
        Assert.Equal(HttpStatusCode.Unauthorized, (await silo.Http.SendAsync(wrong)).StatusCode);

        // Readiness follows PostgreSQL.
        await PostgresServer.StopAsync();
        try
        {
            var (down, downBody) = await silo.WaitForAsync("/health/ready", HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down);
            var failing = System.Text.Json.JsonDocument.Parse(downBody).RootElement.GetProperty("failing").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("postgresql", failing);
            Assert.DoesNotContain("redis", failing);

            // The readiness gauge follows (what the ReadinessFailing alert reads).
            var gauge = "";
            for (var i = 0; i < 120 && Gauge(gauge, "goalgpt_ready{", "check=\"postgresql\"") != 0; i++)
            {
                await Task.Delay(250);
                gauge = await silo.Http.GetStringAsync("/metrics");
            }

            Assert.Equal(0, Gauge(gauge, "goalgpt_ready{", "check=\"postgresql\""));
            Assert.Equal(1, Gauge(gauge, "goalgpt_ready{", "check=\"redis\""));
        }
        finally
        {
            await PostgresServer.StartAsync();
        }

        var (back, backBody) = await silo.WaitForAsync("/health/ready", HttpStatusCode.OK, TimeSpan.FromSeconds(60));
        Assert.True(back == HttpStatusCode.OK, backBody);

        // Secrets never in the logs or the metrics (Npgsql's pool name is its connection string, without the password).
        var secrets = new[] { new Npgsql.NpgsqlConnectionStringBuilder(_db.ConnectionString).Password!, ConfigurationOptions.Parse(TestEnvironment.Redis).Password!, "s3cret-for-tests" };
        Assert.All(secrets, secret => Assert.False(string.IsNullOrEmpty(secret)));
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, silo.Output);
            Assert.DoesNotContain(secret, metrics);
        }
    }

    private static readonly string[] Jobs = ["match_sync", "detail_live", "data_update", "minute_clock", "watchdog"];

    private static double? Gauge(string metrics, string name, string label) =>
        metrics.Split('\n').Where(line => line.StartsWith(name, StringComparison.Ordinal) && line.Contains(label, StringComparison.Ordinal))
            .Select(line => (double?)double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .FirstOrDefault();

    private static bool HasPositive(string metrics, string name, string? label = null) =>
        metrics.Split('\n').Any(line => line.StartsWith(name, StringComparison.Ordinal)
            && (label is null || line.Contains(label, StringComparison.Ordinal))
            && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0);

    private static async Task<IHost> ConnectClientAsync(string cluster)
    {
        var host = Host.CreateDefaultBuilder()
            .UseOrleansClient(c =>
            {
                c.Configure<ClusterOptions>(o => { o.ClusterId = cluster; o.ServiceId = cluster; });
                c.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(TestEnvironment.Redis));
            })
            .Build();
        await host.StartAsync();
        return host;
    }
}
