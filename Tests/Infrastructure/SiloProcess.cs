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
    private bool _disposed;

    private SiloProcess(Process process, string host, int httpPort, IReadOnlyDictionary<string, string?> environment)
    {
        _process = process;
        HttpPort = httpPort;
        Environment = environment;
        Http = new HttpClient { BaseAddress = new Uri($"http://{host}:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
        process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int HttpPort { get; }
    public HttpClient Http { get; }

    /// <summary>The settings the process was started with (what a healthcheck in its container would see).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; }

    public bool HasExited => _process.HasExited;

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
    public static SiloProcess Start(IDictionary<string, string?> settings, params string[] args) => StartOn("127.0.0.1", null, settings, args);

    /// <summary>
    /// Starts the silo listening for HTTP on <paramref name="host"/> (<c>Urls</c>; a setting with a
    /// null value removes the variable, e.g. to listen through <c>ASPNETCORE_URLS</c> on <paramref name="httpPort"/> instead).
    /// </summary>
    public static SiloProcess StartOn(string host, int? httpPort, IDictionary<string, string?> settings, params string[] args)
    {
        var port = httpPort ?? FreePort();
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Jobs__Enabled"] = "false", // ingest only where a test gives it a provider
            ["Mqtt__Enabled"] = "false",
            ["Urls"] = $"http://{host}:{port}",
            ["Orleans__SiloPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in settings) environment[k] = v;
        var process = Process.Start(StartInfo(environment, args))!;
        return new SiloProcess(process, host, port, environment);
    }

    /// <summary>Runs the silo executable as a command (e.g. <c>healthcheck</c>) with <paramref name="environment"/>; exit code and output.</summary>
    public static async Task<(int Code, string Output)> RunCommandAsync(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        using var process = Process.Start(StartInfo(environment, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string?> environment, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Orleans.GoalGpt.Silo.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || k.StartsWith("Mqtt__", StringComparison.Ordinal)
            || k.StartsWith("Dashboard__", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        foreach (var (k, v) in environment)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }

        return psi;
    }

    /// <summary>Sends SIGTERM, what systemd and Docker send to stop a silo.</summary>
    public void Terminate()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) } })!;
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -TERM {_process.Id} failed");
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
        if (_disposed) return;
        _disposed = true;
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
