using System.Diagnostics;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>Stops and starts the real PostgreSQL server (as its owner, the postgres user).</summary>
internal static class PostgresServer
{
    public static Task StopAsync() => PgCtlAsync("-m", "fast", "-w", "stop");

    public static Task StartAsync() => PgCtlAsync("-w", "-t", "60", "-l", Path.Combine(Path.GetDirectoryName(TestEnvironment.PgData)!, "server.log"), "start");

    /// <summary>A crash restart: every backend killed without a checkpoint, then recovery from the WAL.</summary>
    public static Task RestartImmediateAsync() => PgCtlAsync("-m", "immediate", "-w", "-t", "60", "-l", Path.Combine(Path.GetDirectoryName(TestEnvironment.PgData)!, "server.log"), "restart");

    private static async Task PgCtlAsync(params string[] args)
    {
        var pgCtl = Path.Combine(TestEnvironment.PgBin, "pg_ctl");
        var asRoot = Environment.UserName == "root";
        var psi = new ProcessStartInfo(asRoot ? "runuser" : pgCtl) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asRoot)
        {
            foreach (var a in new[] { "-u", "postgres", "--", pgCtl }) psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add("-D");
        psi.ArgumentList.Add(TestEnvironment.PgData);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"pg_ctl {string.Join(' ', args)} failed: {stderr}");
    }
}
