using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>
/// A real MQTT broker (mosquitto) of the test's own, on a free port, that the test stops and starts: the
/// broker scripts/deps.sh starts is shared by tests running beside it (test.sh's tracks), so no test stops that one.
/// </summary>
internal sealed class MqttBroker : IAsyncDisposable
{
    private readonly string _dir;
    private Process? _process;

    private MqttBroker(string dir, int port)
    {
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    public string PortText => Port.ToString(CultureInfo.InvariantCulture);

    public static async Task<MqttBroker> StartPrivateAsync()
    {
        var dir = Directory.CreateTempSubdirectory("goalgpt-mqtt-").FullName;
        var broker = new MqttBroker(dir, SiloProcess.FreePort());
        await File.WriteAllTextAsync(Path.Combine(dir, "mosquitto.conf"),
            $"listener {broker.Port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser {Environment.UserName}\nlog_dest file {Path.Combine(dir, "mosquitto.log")}\n");
        await broker.StartAsync();
        return broker;
    }

    public async Task StartAsync()
    {
        _process = Process.Start(new ProcessStartInfo("mosquitto", ["-c", Path.Combine(_dir, "mosquitto.conf")]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        for (var i = 0; i < 100 && !await AcceptsAsync(); i++) await Task.Delay(100);
        if (!await AcceptsAsync()) throw new InvalidOperationException($"mosquitto did not start on {Port}: {await File.ReadAllTextAsync(Path.Combine(_dir, "mosquitto.log"))}");
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
        for (var i = 0; i < 100 && await AcceptsAsync(); i++) await Task.Delay(100);
        if (await AcceptsAsync()) throw new InvalidOperationException("mosquitto did not stop");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<bool> AcceptsAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
