using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Orleans.GoalGpt.Tests.Ops;

/// <summary>
/// The deployment files, checked with the tools that run them: promtool (alert rules and their
/// unit tests), amtool (Alertmanager routing), docker-compose (compose.yaml, offline).
/// scripts/deps.sh installs the tools (Debian: prometheus, prometheus-alertmanager, docker-compose).
/// </summary>
public sealed class OpsConfigTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Orleans.GoalGpt.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    /// <summary>Distinct values, so that a test can tell where each one ends up.</summary>
    private static readonly Dictionary<string, string> Secrets = new()
    {
        ["POSTGRES_PASSWORD"] = "pg-secret-7f3a", ["REDIS_PASSWORD"] = "redis-secret-91c2", ["DASHBOARD_PASSWORD"] = "dash-secret-44e0",
        ["GRAFANA_ADMIN_PASSWORD"] = "grafana-secret-0b7d", ["ALERT_WEBHOOK_URL"] = "https://hooks.example/webhook-secret-c5d1",
    };

    private static async Task<(int Code, string Output)> RunAsync(string tool, string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in Secrets)
        {
            psi.Environment[k] = v;
        }

        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException($"{tool} is not installed: run ./test.sh (scripts/deps.sh installs it)");
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await stdout + await stderr);
        }
    }

    [Fact]
    public async Task Alert_rules_are_valid()
    {
        var (code, output) = await RunAsync("promtool", Path.Combine(Root, "ops", "prometheus"), "check", "rules", "alerts.yml");
        Assert.True(code == 0, output);
        Assert.Contains("16 rules found", output);
    }

    [Fact]
    public async Task Each_alert_fires_when_it_should_and_stays_quiet_when_it_should_not()
    {
        var (code, output) = await RunAsync("promtool", Path.Combine(Root, "ops", "prometheus"), "test", "rules", "alerts.test.yml");
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public async Task Prometheus_config_is_valid()
    {
        // promtool resolves rule_files relative to the config; check the config's syntax without them.
        var config = Path.Combine(Path.GetTempPath(), $"prometheus-{Guid.NewGuid():N}.yml");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(Path.Combine(Root, "ops", "prometheus", "prometheus.yml")))
            .Replace("/etc/prometheus/alerts.yml", Path.Combine(Root, "ops", "prometheus", "alerts.yml"), StringComparison.Ordinal));
        var (code, output) = await RunAsync("promtool", Root, "check", "config", config);
        File.Delete(config);
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task Alertmanager_config_is_valid()
    {
        var (code, output) = await RunAsync("amtool", Root, "check-config", Path.Combine("ops", "alertmanager", "alertmanager.yml"));
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task Compose_file_is_valid()
    {
        var (code, output) = await RunAsync("docker-compose", Root, "-f", "compose.yaml", "config", "-q");
        Assert.True(code == 0, output);
    }

    [Fact]
    public void Every_alert_has_a_unit_test_that_fires_it_and_one_that_keeps_it_quiet()
    {
        var rules = Load(Path.Combine(Root, "ops", "prometheus", "alerts.yml"));
        var alerts = ((YamlSequenceNode)rules["groups"]).Children.Cast<YamlMappingNode>()
            .SelectMany(g => ((YamlSequenceNode)g["rules"]).Children.Cast<YamlMappingNode>())
            .Select(r => r["alert"].ToString()).ToList();
        var checks = ((YamlSequenceNode)Load(Path.Combine(Root, "ops", "prometheus", "alerts.test.yml"))["tests"]).Children.Cast<YamlMappingNode>()
            .SelectMany(t => ((YamlSequenceNode)t["alert_rule_test"]).Children.Cast<YamlMappingNode>())
            .Select(c => (Alert: c["alertname"].ToString(), Fires: ((YamlSequenceNode)c["exp_alerts"]).Children.Count > 0))
            .ToList();
        Assert.Equal(16, alerts.Count);
        foreach (var alert in alerts)
        {
            Assert.True(checks.Any(c => c.Alert == alert && c.Fires), $"{alert}: no test fires it");
            Assert.True(checks.Any(c => c.Alert == alert && !c.Fires), $"{alert}: no test keeps it quiet");
        }
    }

    private static YamlMappingNode Load(string path)
    {
        var yaml = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    /// <summary>The compose file as docker-compose resolves it (variables from <see cref="Secrets"/>).</summary>
    private static async Task<YamlMappingNode> ComposeServicesAsync()
    {
        var (code, output) = await RunAsync("docker-compose", Root, "-f", "compose.yaml", "config");
        Assert.True(code == 0, output);
        var yaml = new YamlStream();
        yaml.Load(new StringReader(output));
        return (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"];
    }

    [Fact]
    public async Task Compose_publishes_only_the_silos_on_every_address_and_the_rest_on_loopback()
    {
        var published = new List<string>();
        foreach (var (name, service) in (await ComposeServicesAsync()).Children.Select(c => (c.Key.ToString(), (YamlMappingNode)c.Value)))
        {
            if (!service.Children.TryGetValue("ports", out var ports)) continue;
            foreach (var port in ((YamlSequenceNode)ports).Children)
            {
                // Short form "127.0.0.1:9090:9090/tcp", or long form {published, target[, host_ip]}.
                var hostIp = port is YamlMappingNode m
                    ? (m.Children.TryGetValue("host_ip", out var ip) ? ip.ToString() : "")
                    : port.ToString().Split(':') is { Length: 3 } parts ? parts[0] : "";
                if (hostIp != "127.0.0.1") published.Add($"{name}: {port}");
            }
        }

        Assert.Equal(2, published.Count);
        Assert.All(published, p => Assert.Matches("^silo[12]: ", p));
    }

    [Fact]
    public async Task Compose_puts_no_secret_on_a_command_line_and_healthchecks_use_what_the_images_contain()
    {
        var services = await ComposeServicesAsync();
        foreach (var (name, service) in services.Children.Select(c => (c.Key.ToString(), (YamlMappingNode)c.Value)))
        {
            foreach (var key in new[] { "command", "entrypoint" })
            {
                if (!service.Children.TryGetValue(key, out var line)) continue;
                foreach (var secret in Secrets.Values) Assert.DoesNotContain(secret, Flatten(line));
            }

            if (service.Children.TryGetValue("healthcheck", out var health))
            {
                var test = Flatten(((YamlMappingNode)health)["test"]);
                Assert.DoesNotMatch(@"\b(wget|curl)\b", test);
            }
        }

        // The two .NET images: their own executables, with the healthcheck argument.
        foreach (var (service, dll) in new[] { ("silo1", "Orleans.GoalGpt.Silo.dll"), ("silo2", "Orleans.GoalGpt.Silo.dll"), ("simulator", "Orleans.GoalGpt.Simulator.dll") })
        {
            Assert.Equal($"CMD dotnet /app/{dll} healthcheck", Flatten(((YamlMappingNode)((YamlMappingNode)services[service])["healthcheck"])["test"]));
        }

        // The Redis password reaches Redis through its environment only.
        var redis = (YamlMappingNode)services["redis"];
        Assert.Equal(Secrets["REDIS_PASSWORD"], ((YamlMappingNode)redis["environment"])["REDIS_PASSWORD"].ToString());
        Assert.Contains("$$REDIS_PASSWORD", Flatten(redis["command"]));
    }

    private static string Flatten(YamlNode node) => node switch
    {
        YamlSequenceNode seq => string.Join(' ', seq.Children.Select(Flatten)),
        _ => node.ToString(),
    };

    [Fact]
    public void The_images_run_as_a_non_root_user_with_a_healthcheck_they_can_run()
    {
        var dockerfile = File.ReadAllLines(Path.Combine(Root, "Dockerfile"));
        var stages = new List<List<string>>();
        foreach (var line in dockerfile.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            if (line.StartsWith("FROM ", StringComparison.Ordinal)) stages.Add([]);
            stages[^1].Add(line);
        }

        foreach (var stage in stages.Where(s => s[0].Contains("dotnet/aspnet", StringComparison.Ordinal)))
        {
            Assert.Equal("USER $APP_UID", stage.Last(l => l.StartsWith("USER ", StringComparison.Ordinal)));
            Assert.Matches(@"^HEALTHCHECK .*CMD \[""dotnet"", ""/app/Orleans\.GoalGpt\.\w+\.dll"", ""healthcheck""\]$", stage.Single(l => l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal)));
            Assert.Contains(stage, l => l.StartsWith("ENV ASPNETCORE_URLS=http://+:", StringComparison.Ordinal));
        }

        Assert.Equal(2, stages.Count(s => s[0].Contains("dotnet/aspnet", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(".git/config")]
    [InlineData(".local/secrets")]
    [InlineData(".local/pg/data/PG_VERSION")]
    [InlineData(".env")]
    [InlineData("Silo/bin/Release/net10.0/Orleans.GoalGpt.Silo.dll")]
    [InlineData("Grains/obj/project.assets.json")]
    [InlineData("Tests/TestResults/x.trx")]
    [InlineData(".local/test-results/results.trx")]
    public void The_build_context_leaves_out_secrets_state_and_build_output(string path) =>
        Assert.True(DockerIgnored(path), $"{path} would be sent to the image build");

    [Theory]
    [InlineData("Silo/Program.cs")]
    [InlineData("Directory.Packages.props")]
    [InlineData("sql/migrations/0001_ts_matches.sql")]
    [InlineData(".env.example")]
    public void The_build_context_keeps_the_sources(string path) =>
        Assert.False(DockerIgnored(path), $"{path} is left out of the image build");

    /// <summary>Docker's .dockerignore rules: patterns match a path or a parent of it, later lines win, "!" re-includes.</summary>
    private static bool DockerIgnored(string path)
    {
        var ignored = false;
        foreach (var raw in File.ReadAllLines(Path.Combine(Root, ".dockerignore")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            var exclude = raw.StartsWith('!');
            var pattern = (exclude ? raw[1..] : raw).Trim('/');
            var regex = "^" + Regex.Escape(pattern).Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal).Replace(@"\*\*", ".*", StringComparison.Ordinal)
                .Replace(@"\*", "[^/]*", StringComparison.Ordinal).Replace(@"\?", "[^/]", StringComparison.Ordinal) + "(/.*)?$";
            if (Regex.IsMatch(path, regex)) ignored = !exclude;
        }

        return ignored;
    }

    [Fact]
    public void Grafana_dashboard_has_a_panel_for_every_alerted_series()
    {
        var dashboard = File.ReadAllText(Path.Combine(Root, "ops", "grafana", "dashboards", "goalgpt.json"));
        foreach (var series in new[]
        {
            "goalgpt_live_matches_null_minute", "goalgpt_writebehind_lag_milliseconds_bucket", "goalgpt_lock_acquire_duration_milliseconds_bucket",
            "goalgpt_kickoff_overwrite_blocked_total", "goalgpt_provider_calls_total", "goalgpt_mqtt_connected", "goalgpt_job_last_success_seconds", "up{",
            "goalgpt_kickoff_changes_total", "goalgpt_ready", "goalgpt_writebehind_flush_failures_total", "goalgpt_grainstate_write_failures_total",
            "goalgpt_writebehind_backlog",
            // runtime and dependency meters
            "dotnet_thread_pool_queue_length", "dotnet_gc_collections_total", "dotnet_gc_pause_time_seconds_total",
            "db_client_operation_duration_seconds_bucket", "db_client_connection_count", "http_client_request_duration_seconds_bucket",
        })
        {
            Assert.Contains(series, dashboard);
        }
    }

    [Fact]
    public void No_Grafana_query_joins_label_less_sums_with_or()
    {
        // `sum(a) or sum(b)`: both results have no labels, so `or` keeps only the first and the panel draws one series.
        using var dashboard = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "ops", "grafana", "dashboards", "goalgpt.json")));
        var exprs = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()!).ToList();
        Assert.NotEmpty(exprs);
        Assert.DoesNotContain(exprs, e => Regex.IsMatch(e, @"\)\s+or\s+(sum|max|min|avg|count)\s*\("));
    }
}
