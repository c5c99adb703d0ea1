using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Grains.Storage;
using Orleans.GoalGpt.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Issue 14 A: after a Redis cut of one silo heals, its renewer must renew the leases its matches take
/// again. The silo's connection to the real Redis goes through a relay that is cut (nothing forwarded,
/// as a dropping firewall) for several TTLs and healed.
/// </summary>
[Collection(RealServers.Name)]
public sealed class RenewalRecoveryTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Renewals_resume_after_a_redis_cut_heals_and_every_failed_round_is_counted()
    {
        await using var db = await TestDatabase.CreateAsync();
        var options = ConfigurationOptions.Parse(TestEnvironment.Redis);
        var (host, port) = options.EndPoints[0] switch
        {
            DnsEndPoint d => (d.Host, d.Port),
            IPEndPoint i => (i.Address.ToString(), i.Port),
            var other => throw new InvalidOperationException($"unexpected endpoint {other}"),
        };
        await using var relay = new TcpRelay(host, port);
        options.EndPoints.Clear();
        options.EndPoints.Add(IPAddress.Loopback, relay.Port);
        options.AbortOnConnectFail = false;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);

        var meters = new TestMeterFactory();
        var failures = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == GoalGptMetrics.MeterName && i.Name == "goalgpt.lock.renewal_failures") l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref failures, v));
        listener.Start();
        var locks = new MatchLocks(redis, db.DataSource, Options.Create(new LockOptions { LeaseTtl = Ttl }),
            new GoalGptMetrics(meters), NullLogger<MatchLocks>.Instance);
        try
        {
            var ids = Enumerable.Range(0, 20).Select(i => $"renew-{Guid.NewGuid():N}"[..20] + i).ToArray();
            var before = await TrackAllAsync(locks, ids);
            await UntilAsync(() => before.All(s => s.ValidUntil > s.Lease.SetAtTimestamp + TtlTicks), "renewed before the cut");

            relay.Cut();
            await UntilAsync(() => before.All(s => !s.IsValid) && Interlocked.Read(ref failures) >= 2, "leases lapsed and failed rounds counted during the cut");
            await Task.Delay(Ttl * 2); // the cut lasts several TTLs, as the chaos suite's 20 s against 7 s
            relay.Heal();

            // As the grains do: their leases ran out, they take them again; these must now be kept.
            foreach (var id in ids) locks.Untrack(id);
            var after = await TrackAllAsync(locks, ids);
            await UntilAsync(() => after.All(s => s.ValidUntil > s.Lease.SetAtTimestamp + 3 * TtlTicks), "renewed for three TTLs after the heal");
            Assert.All(after, s => Assert.True(s.IsValid && !s.Lost, s.Lease.MatchId));
            var db0 = redis.GetDatabase();
            foreach (var s in after) Assert.Equal(s.Lease.Owner, (string?)await db0.StringGetAsync(MatchLocks.Key(s.Lease.MatchId)));
        }
        finally
        {
            locks.Dispose();
        }
    }

    private static long TtlTicks => (long)(Ttl.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);

    private static async Task<LeaseState[]> TrackAllAsync(MatchLocks locks, string[] ids)
    {
        var states = new List<LeaseState>();
        foreach (var id in ids)
        {
            MatchLease? lease = null;
            await UntilAsync(async () => (lease = await locks.TryAcquireAsync(id)) is not null, $"lease of {id} taken");
            states.Add(locks.Track(lease!));
        }

        return [.. states];
    }

    private static Task UntilAsync(Func<bool> done, string what) => UntilAsync(() => Task.FromResult(done()), what);

    // A bound only against hanging forever (a minute, far above the few seconds it takes), not a timing claim.
    private static async Task UntilAsync(Func<Task<bool>> done, string what)
    {
        var until = DateTime.UtcNow.AddMinutes(1);
        while (!await done())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"not reached within a minute: {what}");
            await Task.Delay(100);
        }
    }

}
