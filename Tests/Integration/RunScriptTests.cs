using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Npgsql;
using Orleans.GoalGpt.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary><c>./run.sh</c> as a newcomer runs it: it serves, in local mode, and prints no secret.</summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Shared)]
public sealed class RunScriptTests
{
    private static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "run.sh"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public async Task Run_sh_serves_with_the_dashboard_open_to_loopback_and_prints_no_password()
    {
        string Port() => SiloProcess.FreePort().ToString(CultureInfo.InvariantCulture);
        var httpPort = SiloProcess.FreePort();
        var cluster = $"run-{Guid.NewGuid():N}";
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = Root(), RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("run.sh");
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("Dashboard__", StringComparison.Ordinal) || k.StartsWith("Provider__", StringComparison.Ordinal)
            || k.StartsWith("Mqtt__", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        // Its own ports and cluster: other silos of this machine may hold the defaults.
        psi.Environment["Urls"] = $"http://127.0.0.1:{httpPort}";
        psi.Environment["GOALGPT_SIMULATOR_PORT"] = Port();
        psi.Environment["Orleans__SiloPort"] = Port();
        psi.Environment["Orleans__GatewayPort"] = Port();
        psi.Environment["Orleans__ClusterId"] = cluster;
        psi.Environment["Orleans__ServiceId"] = cluster;
        psi.Environment["Orleans__MembershipEntryExpiryMinutes"] = "5";

        var output = new StringBuilder();
        using var run = Process.Start(psi)!;
        run.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        run.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        run.BeginOutputReadLine();
        run.BeginErrorReadLine();
        string Output() { lock (output) return output.ToString(); }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            // It builds the silo and the simulator in Release first.
            var ready = false;
            for (var i = 0; i < 1200 && !ready && !run.HasExited; i++)
            {
                try
                {
                    ready = (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                }

                if (!ready) await Task.Delay(500);
            }

            Assert.True(ready, $"run.sh did not serve:\n{Output()}");
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/dashboard/")).StatusCode); // local mode, from loopback
            // The live board and the read API, public.
            Assert.Contains("<title>GoalGpt live board</title>", await http.GetStringAsync("/"));
            Assert.Contains("\"matches\"", await http.GetStringAsync("/v1/matches/live"));
            Assert.Contains($"[run] silo: http://127.0.0.1:{httpPort}/health/ready", Output());
            Assert.Contains("PGPASSWORD=\"$PG_PASSWORD\" psql", Output());
        }
        finally
        {
            using var term = Process.Start("kill", ["-TERM", run.Id.ToString(CultureInfo.InvariantCulture)]);
            await term.WaitForExitAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await run.WaitForExitAsync(cts.Token);
        }

        var all = Output();
        var secrets = new[] { new NpgsqlConnectionStringBuilder(TestEnvironment.Postgres).Password!, ConfigurationOptions.Parse(TestEnvironment.Redis).Password! };
        Assert.All(secrets, s => Assert.False(string.IsNullOrEmpty(s)));
        Assert.All(secrets, s => Assert.DoesNotContain(s, all));
        Assert.Contains("Orleans Dashboard open without credentials to loopback clients only", all);
    }
}
