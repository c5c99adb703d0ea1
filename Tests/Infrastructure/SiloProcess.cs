using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>The real silo executable (Silo project output), started as its own process.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SiloProcess(Process process, int httpPort)
    {
        _process = process;
        HttpPort = httpPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
        process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int HttpPort { get; }
    public HttpClient Http { get; }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    /// <summary>Starts the silo with <paramref name="settings"/> as its environment (nothing inherited but PATH/HOME).</summary>
    public static SiloProcess Start(IDictionary<string, string?> settings, params string[] args)
    {
        var httpPort = FreePort();
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Orleans.GoalGpt.Silo.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || k.StartsWith("Mqtt__", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        psi.Environment["Jobs__Enabled"] = "false"; // ingest only where a test gives it a provider
        psi.Environment["Mqtt__Enabled"] = "false";
        psi.Environment["Urls"] = $"http://127.0.0.1:{httpPort}";
        psi.Environment["Orleans__SiloPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["Orleans__GatewayPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (k, v) in settings) psi.Environment[k] = v;
        return new SiloProcess(Process.Start(psi)!, httpPort);
    }

    /// <summary>Waits for the process to end by itself; its exit code.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Polls <paramref name="path"/> until it answers <paramref name="status"/>; the last answer.</summary>
    public async Task<(HttpStatusCode Status, string Body)> WaitForAsync(string path, HttpStatusCode status, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        (HttpStatusCode, string) last = (0, "no answer");
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            try
            {
                using var response = await Http.GetAsync(path);
                last = (response.StatusCode, await response.Content.ReadAsStringAsync());
                if (response.StatusCode == status) return last;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = (0, ex.Message);
            }

            await Task.Delay(250);
        }

        return last;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
