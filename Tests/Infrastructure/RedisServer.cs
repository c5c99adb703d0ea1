using System.Diagnostics;
using StackExchange.Redis;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>Stops and starts the real Redis server (its data survives: append-only file).</summary>
internal static class RedisServer
{
    public static async Task StopAsync()
    {
        var options = ConfigurationOptions.Parse(TestEnvironment.Redis);
        options.AllowAdmin = true;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        try
        {
            redis.GetServer(redis.GetEndPoints()[0]).Shutdown();
        }
        catch (RedisConnectionException)
        {
            // The connection drops as the server goes down.
        }
    }

    public static async Task StartAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("redis-server", TestEnvironment.RedisConf) { RedirectStandardOutput = true })!;
        await process.WaitForExitAsync(); // daemonizes
        var options = ConfigurationOptions.Parse(TestEnvironment.Redis);
        for (var i = 0; i < 100; i++)
        {
            try
            {
                await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
                await redis.GetDatabase().PingAsync();
                return;
            }
            catch (RedisException)
            {
                await Task.Delay(100); // not accepting connections yet, or still loading its data
            }
        }

        throw new InvalidOperationException("Redis did not come back");
    }
}
