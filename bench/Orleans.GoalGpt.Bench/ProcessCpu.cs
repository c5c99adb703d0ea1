using System.Globalization;

namespace Orleans.GoalGpt.Bench;

/// <summary>CPU seconds of the processes of one run, read from <c>/proc/&lt;pid&gt;/stat</c>.</summary>
public sealed record CpuSample(double Silo, double LoadGenerator, double Postgres, double Redis);

/// <summary>
/// CPU per process: the silo (this process), the load generator (its own process), PostgreSQL (the
/// postmaster with the CPU of its exited children, plus every live child: backends, WAL writer, checkpointer)
/// and Redis. The PostgreSQL and Redis processes are this worktree's own (from the postmaster.pid of
/// <c>GOALGPT_PGDATA</c> and Redis' <c>INFO server</c>), not other clusters on the box.
/// </summary>
public sealed class ProcessCpu(int redisPid)
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    public CpuSample Read(int loadGeneratorPid) => new(
        Seconds(Environment.ProcessId, children: false),
        loadGeneratorPid > 0 ? Seconds(loadGeneratorPid, children: false) : 0,
        PostgresSeconds(),
        redisPid > 0 ? Seconds(redisPid, children: false) : 0);

    public static CpuSample Delta(CpuSample a, CpuSample b) =>
        new(b.Silo - a.Silo, b.LoadGenerator - a.LoadGenerator, b.Postgres - a.Postgres, b.Redis - a.Redis);

    private static double PostgresSeconds()
    {
        var data = Environment.GetEnvironmentVariable("GOALGPT_PGDATA");
        if (data is null || !File.Exists(Path.Combine(data, "postmaster.pid"))) return double.NaN;
        var postmaster = int.Parse(File.ReadLines(Path.Combine(data, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        var total = Seconds(postmaster, children: true);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            var stat = Stat(pid);
            if (stat is not null && long.Parse(stat[1], CultureInfo.InvariantCulture) == postmaster) total += Seconds(pid, children: false);
        }

        return total;
    }

    private static double Seconds(int pid, bool children)
    {
        var f = Stat(pid);
        if (f is null) return 0;
        // After the ")" of comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
        var ticks = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
        if (children) ticks += long.Parse(f[13], CultureInfo.InvariantCulture) + long.Parse(f[14], CultureInfo.InvariantCulture);
        return ticks / TicksPerSecond;
    }

    private static string[]? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null; // gone
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
