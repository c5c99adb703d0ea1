using System.Diagnostics;
using System.Net.Sockets;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>Stops and starts the real MQTT broker (mosquitto, started by scripts/deps.sh).</summary>
internal static class MqttBroker
{
    public static async Task StopAsync()
    {
        using (var kill = Process.Start("pkill", ["-f", "mosquitto -c " + TestEnvironment.MqttConf])!) await kill.WaitForExitAsync();
        for (var i = 0; i < 100 && await AcceptsAsync(); i++) await Task.Delay(100);
        if (await AcceptsAsync()) throw new InvalidOperationException("mosquitto did not stop");
    }

    public static async Task StartAsync()
    {
        using (var start = Process.Start("mosquitto", ["-c", TestEnvironment.MqttConf, "-d"])!) await start.WaitForExitAsync();
        for (var i = 0; i < 100 && !await AcceptsAsync(); i++) await Task.Delay(100);
        if (!await AcceptsAsync()) throw new InvalidOperationException("mosquitto did not start");
    }

    private static async Task<bool> AcceptsAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", TestEnvironment.MqttPort);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
