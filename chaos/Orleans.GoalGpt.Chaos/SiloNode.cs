using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Orleans.GoalGpt.Chaos;

/// <summary>One silo process in its own network namespace (<c>ggc-sN</c>), its HTTP endpoints and an Orleans client through its gateway only.</summary>
internal sealed class SiloNode(int index, ChaosSettings settings)
{
    public const int SiloPort = 21300;
    public const int GatewayPort = 31300;
    public const int HttpPort = 18320;

    private Process? _process;
    private StreamWriter? _log;
    private IHost? _clientHost;
    private int _generation;

    public int Index { get; } = index;
    public string Ip { get; } = $"10.231.0.1{index}";
    public string Namespace => $"ggc-s{Index}";
    public HttpClient Http { get; } = new() { BaseAddress = new Uri($"http://10.231.0.1{index}:{HttpPort}"), Timeout = TimeSpan.FromSeconds(5) };
    public IClusterClient? Client { get; private set; }
    public bool Running => _process is { HasExited: false };
    public int Pid => _process?.Id ?? 0;
    public string Endpoint => $"{Ip}:{SiloPort}";

    /// <summary>Starts the silo (built Silo project) inside its namespace and waits until it is ready and a client reaches its gateway.</summary>
    public async Task StartAsync(TimeSpan within)
    {
        _generation++;
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(settings.SiloDll)! };
        foreach (var a in new[] { "netns", "exec", Namespace, "dotnet", settings.SiloDll }) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.Contains("__", StringComparison.Ordinal) || k.StartsWith("CHAOS_", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        foreach (var (k, v) in settings.SiloEnvironment(Ip)) psi.Environment[k] = v;
        _log = new StreamWriter(Path.Combine(settings.LogDir, $"silo{Index}-{_generation}.log"), append: false) { AutoFlush = true };
        var process = Process.Start(psi)!;
        var log = _log;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"silo {Index} exited with {process.ExitCode} at start (log {settings.LogDir}/silo{Index}-{_generation}.log)");
            try
            {
                using var r = await Http.GetAsync("/health/ready");
                if (r.IsSuccessStatusCode) break;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }

            await Task.Delay(500);
        }

        if (DateTime.UtcNow >= deadline) throw new TimeoutException($"silo {Index} not ready within {within}");
        await ConnectClientAsync();
    }

    private async Task ConnectClientAsync()
    {
        await DisposeClientAsync();
        var host = new HostBuilder()
            .UseOrleansClient(c =>
            {
                c.UseStaticClustering(new IPEndPoint(IPAddress.Parse(Ip), GatewayPort));
                c.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = settings.ClusterId;
                    o.ServiceId = settings.ClusterId;
                });
                // A call into a cut-off or dead silo fails within this and is retried through another gateway.
                c.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(8));
            })
            .Build();
        await host.StartAsync();
        _clientHost = host;
        Client = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>SIGKILL: no deactivation, no hand-over, no lease release.</summary>
    public void Kill()
    {
        _process?.Kill();
    }

    /// <summary>SIGTERM (a graceful stop) and waits for the exit.</summary>
    public async Task StopAsync(TimeSpan within)
    {
        await DisposeClientAsync();
        if (_process is not { HasExited: false } p) return;
        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", p.Id.ToString(CultureInfo.InvariantCulture) } })!)
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(within);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill();
            await p.WaitForExitAsync();
        }
    }

    public async Task WaitExitAsync()
    {
        if (_process is { } p) await p.WaitForExitAsync();
    }

    public async Task DisposeClientAsync()
    {
        Client = null;
        if (_clientHost is { } h)
        {
            _clientHost = null;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await h.StopAsync(cts.Token);
            }
            catch (Exception)
            {
                // a client of a dead gateway may not stop cleanly; it is discarded either way
            }

            h.Dispose();
        }
    }

    /// <summary>User + system CPU of the process so far (from /proc/PID/stat, clock ticks of 10 ms).</summary>
    public TimeSpan Cpu()
    {
        if (!Running) return TimeSpan.Zero;
        try
        {
            var stat = File.ReadAllText($"/proc/{Pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // after "pid (comm) ": state is field 3, utime field 14, stime field 15
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromMilliseconds(ticks * 10);
        }
        catch (Exception ex) when (ex is IOException or FormatException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>The silo's Prometheus page, or null when it does not answer.</summary>
    public async Task<Metrics?> MetricsAsync()
    {
        try
        {
            return Metrics.Parse(await Http.GetStringAsync("/metrics"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary><c>GET /ops/activations</c> as this silo sees the cluster: match grains per silo endpoint.</summary>
    public async Task<Dictionary<string, int>?> ActivationsAsync()
    {
        try
        {
            using var doc = JsonDocument.Parse(await Http.GetStringAsync("/ops/activations"));
            return doc.RootElement.GetProperty("silos").EnumerateArray()
                .Where(s => s.GetProperty("status").GetString() == "Active")
                .ToDictionary(s => s.GetProperty("silo").GetString()!, s => s.GetProperty("matches").GetInt32());
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            return null;
        }
    }
}
