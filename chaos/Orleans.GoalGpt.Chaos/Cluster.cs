using System.Diagnostics;
using System.Net;
using Npgsql;
using Orleans.Runtime;

namespace Orleans.GoalGpt.Chaos;

/// <summary>What the driver is given by chaos/run.sh (environment; the connection strings hold passwords and never reach a command line).</summary>
internal sealed record ChaosSettings(string Pg, string Redis, string HubIp, int PgPort, int MqttPort, string SiloDll, string Ctl,
    string OutDir, string LogDir, string Name, string SimUrl, bool Full, string ClusterId)
{
    public const int ProxyPort = 18315;

    private static string Need(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v
        ? v : throw new InvalidOperationException($"Missing setting {name} (chaos/run.sh sets it)");

    public static ChaosSettings FromEnvironment() => new(
        Need("CHAOS_PG"), Need("CHAOS_REDIS"), Need("CHAOS_HUB_IP"), int.Parse(Need("CHAOS_PG_PORT"), System.Globalization.CultureInfo.InvariantCulture),
        int.Parse(Need("CHAOS_MQTT_PORT"), System.Globalization.CultureInfo.InvariantCulture), Need("CHAOS_SILO_DLL"), Need("CHAOS_CTL"),
        Need("CHAOS_OUT"), Need("CHAOS_LOGS"), Need("CHAOS_NAME"), Need("CHAOS_SIM_URL"), Need("CHAOS_MODE") == "full",
        $"chaos{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}");

    /// <summary>
    /// The membership settings the suite runs with (docs/chaos.md, "Membership settings", says why): a
    /// probe every 2 s, a silo suspected after 3 missed probes, declared dead on 2 votes; the table read every 5 s
    /// (a silo cut from its peers but not from Redis learns within 5 s that it was declared dead, and stops).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> Membership = new Dictionary<string, string>
    {
        ["Orleans__Membership__ProbeTimeout"] = "00:00:02",
        ["Orleans__Membership__NumMissedProbesLimit"] = "3",
        ["Orleans__Membership__NumVotesForDeathDeclaration"] = "2",
        ["Orleans__Membership__TableRefreshTimeout"] = "00:00:05",
    };

    /// <summary>A silo's environment: PostgreSQL through the delay relay, Redis and the broker on the hub, the simulator as provider.</summary>
    public Dictionary<string, string> SiloEnvironment(string ip)
    {
        var viaProxy = new NpgsqlConnectionStringBuilder(Pg) { Port = ProxyPort, MaxPoolSize = 40 }.ConnectionString;
        var env = new Dictionary<string, string>
        {
            ["ConnectionStrings__Postgres"] = viaProxy,
            ["ConnectionStrings__Redis"] = Redis,
            ["Orleans__ClusterId"] = ClusterId,
            ["Orleans__ServiceId"] = ClusterId,
            ["Orleans__AdvertisedHost"] = ip,
            ["Orleans__ListenOnAnyAddress"] = "false",
            ["Orleans__SiloPort"] = SiloNode.SiloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = SiloNode.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__MembershipEntryExpiryMinutes"] = "120",
            ["Urls"] = $"http://{ip}:{SiloNode.HttpPort}",
            ["Dashboard__Enabled"] = "false",
            ["Provider__BaseUrl"] = SimUrl + "/v1/football",
            ["Provider__RequestsPerSecond"] = "5",
            ["Mqtt__Host"] = HubIp,
            ["Mqtt__Port"] = MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Shutdown__Timeout"] = "00:00:30",
        };
        foreach (var (k, v) in Membership) env[k] = v;
        return env;
    }
}

/// <summary>The silo processes, the PostgreSQL relay, the database, and the fault commands (chaos/ctl.sh).</summary>
internal sealed class Cluster : IAsyncDisposable
{
    private readonly Random _rng = new(7);

    public Cluster(ChaosSettings settings)
    {
        Settings = settings;
        Nodes = [.. Enumerable.Range(1, 3).Select(i => new SiloNode(i, settings))];
        Db = NpgsqlDataSource.Create(settings.Pg);
        Proxy = new PgDelayProxy(new IPEndPoint(IPAddress.Parse(settings.HubIp), ChaosSettings.ProxyPort), new IPEndPoint(IPAddress.Parse(settings.HubIp), settings.PgPort));
        Proxy.Start();
    }

    public ChaosSettings Settings { get; }
    public IReadOnlyList<SiloNode> Nodes { get; }
    public NpgsqlDataSource Db { get; }
    public PgDelayProxy Proxy { get; }

    public IEnumerable<SiloNode> Running => Nodes.Where(n => n.Running);

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>A writer's way in: the gateway of a random running silo (every writer reaches every silo's gateway).</summary>
    public IGrainFactory Route(string id)
    {
        var up = Nodes.Where(n => n.Running && n.Client is not null).ToList();
        if (up.Count == 0) throw new InvalidOperationException("no silo running");
        lock (_rng) return up[_rng.Next(up.Count)].Client!;
    }

    public async Task StartAsync(int count)
    {
        // One after the other: the first creates the membership table, the others join it.
        foreach (var n in Nodes.Take(count).Where(n => !n.Running)) await n.StartAsync(TimeSpan.FromSeconds(120));
    }

    public async Task StopAllAsync()
    {
        foreach (var n in Nodes) await n.StopAsync(TimeSpan.FromSeconds(40));
    }

    public async Task CtlAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(Settings.Ctl);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ctl.sh {string.Join(' ', args)} failed: {await err}");
    }

    /// <summary>Match grains with <paramref name="prefix"/> per silo endpoint, from the management grain (through any gateway that answers).</summary>
    public async Task<Dictionary<string, List<string>>?> MatchesPerSiloAsync(string prefix)
    {
        foreach (var n in Nodes.Where(n => n.Running && n.Client is not null))
        {
            try
            {
                var stats = await n.Client!.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics().WaitAsync(TimeSpan.FromSeconds(10));
                return stats.Where(s => s.GrainId.Key.ToString()!.StartsWith(prefix, StringComparison.Ordinal))
                    .GroupBy(s => s.SiloAddress.Endpoint.ToString())
                    .ToDictionary(g => g.Key, g => g.Select(s => s.GrainId.Key.ToString()!).ToList());
            }
            catch (Exception)
            {
                // that gateway cannot answer for the whole cluster (cut off, or a silo it asks is gone): next
            }
        }

        return null;
    }

    /// <summary>Ids with an activation on more than one silo.</summary>
    public static int Duplicates(Dictionary<string, List<string>> perSilo) =>
        perSilo.SelectMany(p => p.Value.Select(id => (p.Key, id))).GroupBy(x => x.id).Count(g => g.Select(x => x.Key).Distinct().Count() > 1);

    /// <summary>Match activations per silo as <c>GET /ops/activations</c> of the first silo that answers shows them.</summary>
    public async Task<Dictionary<string, int>> ActivationsAsync()
    {
        foreach (var n in Nodes.Where(n => n.Running))
        {
            if (await n.ActivationsAsync() is { } a) return a;
        }

        return [];
    }

    public async Task<Dictionary<int, Metrics>> ScrapeAsync()
    {
        var all = new Dictionary<int, Metrics>();
        foreach (var n in Nodes.Where(n => n.Running))
        {
            if (await n.MetricsAsync() is { } m) all[n.Index] = m;
        }

        return all;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var n in Nodes)
        {
            await n.DisposeClientAsync();
            if (n.Running) n.Kill();
        }

        await Proxy.DisposeAsync();
        await Db.DisposeAsync();
    }
}

/// <summary>
/// Watches the rows of the matches a fault took from their silo: when each got a newer epoch (another
/// activation took its lease) and when a row of that epoch was written; also the last write of the old
/// epoch after the fault began (a silo that should have stopped writing).
/// </summary>
internal sealed class RewriteWatch : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db;
    private readonly string[] _ids;
    private readonly DateTime _t0;
    private readonly long _t0Ms;
    private readonly Dictionary<string, long> _fence0 = [];
    private readonly Dictionary<string, DateTime> _lastWrite = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    private RewriteWatch(NpgsqlDataSource db, IEnumerable<string> ids)
    {
        _db = db;
        _ids = [.. ids];
        _t0 = DateTime.UtcNow;
        _t0Ms = Cluster.Now();
    }

    public System.Collections.Concurrent.ConcurrentDictionary<string, double> Taken { get; } = new();
    public System.Collections.Concurrent.ConcurrentDictionary<string, double> Rewritten { get; } = new();

    /// <summary>Seconds after the fault of the last row written by the epoch the match had when the fault began.</summary>
    public double? LastOldEpochWrite { get; private set; }

    public int Count => _ids.Length;

    /// <summary>Per match, each change seen: seconds after the fault, epoch, write time (for the report of a failure).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, List<string>> Trail { get; } = new();

    public static async Task<RewriteWatch> StartAsync(NpgsqlDataSource db, IEnumerable<string> ids)
    {
        var w = new RewriteWatch(db, ids);
        // After a PostgreSQL restart the pool may hand out a dead connection first: read again on a fresh pool.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                foreach (var (id, fence, _) in await w.ReadAsync()) w._fence0[id] = fence;
                break;
            }
            catch (NpgsqlException) when (attempt < 3)
            {
                db.Clear();
                await Task.Delay(1000);
            }
        }

        w._loop = Task.Run(w.LoopAsync);
        return w;
    }

    /// <summary>When the fault actually began (after the silo's matches were listed).</summary>
    public double Elapsed() => (Cluster.Now() - _t0Ms) / 1000.0;

    private async Task<List<(string Id, long Fence, DateTime Updated)>> ReadAsync()
    {
        await using var cmd = _db.CreateCommand("SELECT external_id, COALESCE(fence_token, 0), updated_at FROM ts_matches WHERE external_id = ANY(@ids)");
        cmd.Parameters.AddWithValue("ids", _ids);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<(string, long, DateTime)>();
        while (await r.ReadAsync()) rows.Add((r.GetString(0), r.GetInt64(1), r.GetDateTime(2)));
        return rows;
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var now = Elapsed();
                foreach (var (id, fence, updated) in await ReadAsync())
                {
                    var f0 = _fence0.GetValueOrDefault(id);
                    var trail = Trail.GetOrAdd(id, _ => []);
                    var entry = $"{fence}@{updated:HH:mm:ss.fff}";
                    if (trail.Count == 0 || !trail[^1].EndsWith(entry, StringComparison.Ordinal)) trail.Add($"+{now:0.0}s epoch {entry}");
                    if (fence > f0)
                    {
                        Taken.TryAdd(id, now);
                        if (updated > _t0) Rewritten.TryAdd(id, now);
                    }
                    else if (updated > _t0 && (!_lastWrite.TryGetValue(id, out var last) || updated > last))
                    {
                        _lastWrite[id] = updated;
                        LastOldEpochWrite = Math.Max(LastOldEpochWrite ?? 0, (updated - _t0).TotalSeconds);
                    }
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // PostgreSQL restarting: the next read catches up
            }

            try
            {
                await Task.Delay(500, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task<bool> AllRewrittenAsync(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline && Rewritten.Count < _ids.Length) await Task.Delay(250);
        return Rewritten.Count >= _ids.Length;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
        _stop.Dispose();
    }
}
