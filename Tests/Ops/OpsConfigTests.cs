using System.Diagnostics;
using Xunit;

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

    private static async Task<(int Code, string Output)> RunAsync(string tool, string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in new Dictionary<string, string>
        {
            ["POSTGRES_PASSWORD"] = "x", ["REDIS_PASSWORD"] = "x", ["DASHBOARD_PASSWORD"] = "x",
            ["GRAFANA_ADMIN_PASSWORD"] = "x", ["ALERT_WEBHOOK_URL"] = "https://hooks.example/x",
        })
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
        Assert.Contains("8 rules found", output);
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
    public void Grafana_dashboard_has_a_panel_for_every_alerted_series()
    {
        var dashboard = File.ReadAllText(Path.Combine(Root, "ops", "grafana", "dashboards", "goalgpt.json"));
        foreach (var series in new[]
        {
            "goalgpt_live_matches_null_minute", "goalgpt_writebehind_lag_milliseconds_bucket", "goalgpt_lock_acquire_duration_milliseconds_bucket",
            "goalgpt_kickoff_overwrite_blocked_total", "goalgpt_provider_calls_total", "goalgpt_mqtt_connected", "goalgpt_job_last_success_seconds", "up{",
        })
        {
            Assert.Contains(series, dashboard);
        }
    }
}
