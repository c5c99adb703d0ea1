using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Ingest;
using Orleans.GoalGpt.Simulator;
using Orleans.GoalGpt.Simulator.Feed;
using Orleans.GoalGpt.Tests.Infrastructure;
using Orleans.TestingHost;
using Xunit;
using Xunit.Abstractions;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// The ingest path end to end: the feed simulator (HTTP + MQTT through the real mosquitto) feeding
/// a two-silo cluster on real Redis and PostgreSQL; the jobs and the subscriber as in production.
/// </summary>
[Collection(RealServers.Name)]
public sealed class IngestTests(ITestOutputHelper output)
{
    private const string LiveSet = "(2, 3, 4, 5, 7)";

    private static Dictionary<string, string?> IngestSettings(SimulatedProvider sim, double requestsPerSecond) => new()
    {
        ["Jobs:Enabled"] = "true",
        ["Mqtt:Enabled"] = "true",
        ["Provider:BaseUrl"] = sim.BaseUrl,
        ["Provider:RequestsPerSecond"] = requestsPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Provider:RetryDelay"] = "00:00:00.200",
        ["Provider:AttemptTimeout"] = "00:00:02",
        ["Mqtt:Host"] = "127.0.0.1",
        ["Mqtt:Port"] = TestEnvironment.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Mqtt:Topic"] = sim.Topic,
        ["Mqtt:MaxReconnectDelay"] = "00:00:05",
        ["Jobs:KeepAliveInterval"] = "00:00:05",
    };

    [Fact]
    [Trait(Tracks.Name, Tracks.Waits)]
    public async Task Kickoff_to_full_time_with_faults_and_a_30_s_broker_outage_ends_in_ts_matches_equal_to_the_ground_truth()
    {
        var clock = GoalGptCluster.NewFakeTime();
        var start = clock.GetUtcNow();
        await using var broker = await MqttBroker.StartPrivateAsync(); // this test stops it
        await using var sim = await SimulatedProvider.StartAsync(clock, new Dictionary<string, string?>
        {
            ["Simulator:Mqtt:Port"] = broker.PortText,
            ["Simulator:Seed"] = "7",
            ["Simulator:Matches"] = "30",
            ["Simulator:FirstKickoff"] = "00:02:00",
            ["Simulator:KickoffSpread"] = "00:20:00",
            ["Simulator:KnockoutShare"] = "0.4",
            ["Simulator:VarCancelShare"] = "0.25",
            ["Simulator:Faults:ErrorBody"] = "0.03",
            ["Simulator:Faults:ErrorCode"] = "0.03",
            ["Simulator:Faults:RateLimitCode"] = "0.03",
            ["Simulator:Faults:Http429"] = "0.03",
            ["Simulator:Faults:Http5xx"] = "0.03",
            ["Simulator:Faults:MalformedJson"] = "0.03",
            ["Simulator:Faults:StatusRegression"] = "0.05",
            ["Simulator:Faults:ZeroKickoff"] = "0.1",
            ["Simulator:Faults:MqttDrop"] = "0.05",
            ["Simulator:Faults:MqttDuplicate"] = "0.1",
            ["Simulator:Faults:MqttReorder"] = "0.05",
        });
        using var metrics = new MetricTotals();
        var settings = IngestSettings(sim, 500);
        settings["Mqtt:Port"] = broker.PortText;
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2, fakeTime: true, settings: settings);

        // The whole span: kick-offs from +2 to +22 min; the last regular-time finals end near +140 min.
        var end = start + TimeSpan.FromMinutes(140);
        var nextSample = start + TimeSpan.FromMinutes(5);
        var outageAt = start + TimeSpan.FromMinutes(60);
        var samples = 0;
        var minutesChecked = 0;
        while (clock.GetUtcNow() < end)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(3);
            if (clock.GetUtcNow() >= outageAt)
            {
                outageAt = DateTimeOffset.MaxValue;
                await BrokerOutageAsync(cluster, clock, broker);
            }

            if (clock.GetUtcNow() >= nextSample)
            {
                nextSample += TimeSpan.FromMinutes(2);
                await Task.Delay(500); // let the runs in flight land
                await cluster.FlushAsync();
                Assert.Equal(0, await cluster.Database.ScalarAsync($"SELECT count(*) FROM ts_matches WHERE status_id IN {LiveSet} AND (minute IS NULL OR minute_source IS NULL)"));
                minutesChecked += await AssertMinutesWhereKickoffKnownAsync(sim, cluster, clock.GetUtcNow().ToUnixTimeSeconds());
                samples++;
            }
        }

        // Settle: one more snapshot of everything, then everything written.
        for (var i = 0; i < 50; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(10);
        }

        var settleFrom = clock.GetUtcNow().ToUnixTimeSeconds();
        var report = await WhileTimePasses(clock, cluster.Grains.GetGrain<IDetailLiveJobGrain>(FeedJobs.Key).RunNow());
        Assert.True(report.Succeeded, $"the final detail_live run: {report.Error}");
        var truth = await sim.TruthAsync(settleFrom);
        await cluster.PersistAndFlushAsync(truth.Select(t => t.Id));
        var rows = await cluster.Database.Table.ReadAllAsync();
        var now = clock.GetUtcNow().ToUnixTimeSeconds();

        Assert.Equal(truth.Count, truth.Count(t => rows.ContainsKey(t.Id)));
        Assert.True(truth.Sum(t => t.VarCancellations) > 0, "the scenario holds VAR cancellations");
        Assert.Contains(truth, t => t.FirstHalfKickoffTs - t.MatchTime >= 600); // a kick-off 10+ min late (delayed, status 9)
        Assert.Contains(truth, t => t.StatusId == 8);
        foreach (var t in truth)
        {
            var row = rows[t.Id];
            var expected = (t.StatusId, t.HomeScore, t.AwayScore, t.FirstHalfKickoffTs, t.SecondHalfKickoffTs, t.OvertimeKickoffTs);
            var actual = (row.StatusId ?? -1, row.HomeScore ?? -1, row.AwayScore ?? -1, row.FirstHalfKickoffTs, row.SecondHalfKickoffTs, row.OvertimeKickoffTs);
            Assert.True(expected == actual, $"match {t.Id}: expected {expected}, ts_matches has {actual}");
            var (minute, _) = Minute(t, now);
            if (minute is null)
            {
                Assert.Null(row.Minute);
            }
            else
            {
                Assert.True(Math.Abs((row.Minute ?? -100) - minute.Value) <= 1, $"match {t.Id} (status {t.StatusId}): minute {row.Minute}, truth {minute}");
            }

            Assert.Equal(t.MatchTime, row.MatchTime);
            Assert.Equal(t.CompetitionId, row.CompetitionId);
        }

        var requests = await sim.RequestsAsync();
        output.WriteLine($"{truth.Count} matches at the end by status: {string.Join(", ", truth.GroupBy(t => t.StatusId).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"))}; " +
            $"{truth.Sum(t => t.VarCancellations)} VAR cancellations, {truth.Count(t => t.OvertimeKickoffTs is not null)} with extra time");
        output.WriteLine($"{samples} samples, 0 live with NULL minute, {minutesChecked} minutes of live matches with a known phase kick-off within 1 of the truth; requests {string.Join(", ", requests.ByEndpoint.Select(kv => $"{kv.Key}={kv.Value}"))}; " +
            $"var corrections {metrics["goalgpt.var_corrections"]}; mqtt applied {metrics["goalgpt.mqtt.messages", "outcome", "applied"]}, duplicate {metrics["goalgpt.mqtt.messages", "outcome", "duplicate"]}; " +
            $"provider failures {metrics["goalgpt.provider.calls"] - metrics["goalgpt.provider.calls", "outcome", "ok"]}");
        Assert.True(metrics["goalgpt.var_corrections"] > 0, "VAR cancellations reached the service as score corrections");
        Assert.True(metrics["goalgpt.mqtt.messages", "outcome", "applied"] > 0, "MQTT deltas were applied");
        Assert.True(metrics["goalgpt.provider.calls"] > metrics["goalgpt.provider.calls", "outcome", "ok"], "faults happened and were counted");
        Assert.True(samples >= 10);
        Assert.True(minutesChecked >= samples, "live matches with a known kick-off were sampled");
    }

    /// <summary>
    /// Rule 4: wherever ts_matches shows a live match in the phase the truth is in and knows that
    /// phase's kick-off (half-time and penalties need none), the minute is the true minute ±1.
    /// A row whose status is still catching up is left to the status checks. Returns the rows checked.
    /// </summary>
    private static async Task<int> AssertMinutesWhereKickoffKnownAsync(SimulatedProvider sim, GoalGptCluster cluster, long now)
    {
        var truth = await sim.TruthAsync(now);
        var rows = await cluster.Database.Table.ReadAllAsync();
        var checkedRows = 0;
        foreach (var t in truth.Where(t => t.StatusId is 2 or 3 or 4 or 5 or 7))
        {
            if (!rows.TryGetValue(t.Id, out var row) || row.StatusId != t.StatusId) continue;
            var kickoff = t.StatusId switch { 2 => row.FirstHalfKickoffTs, 4 => row.SecondHalfKickoffTs, 5 => row.OvertimeKickoffTs, _ => (long?)0 };
            if (kickoff is null) continue;
            var (minute, _) = Minute(t, now);
            Assert.True(Math.Abs((row.Minute ?? -100) - minute!.Value) <= 1,
                $"match {t.Id} (status {t.StatusId}, kick-off {kickoff}, truth {t.FirstHalfKickoffTs}/{t.SecondHalfKickoffTs}/{t.OvertimeKickoffTs}, match_time {t.MatchTime}): minute {row.Minute} ({row.MinuteText}) at {now}, truth {minute}");
            checkedRows++;
        }

        return checkedRows;
    }

    /// <summary>Awaits <paramref name="task"/> while the clock moves on slowly (retry delays run on it).</summary>
    private static async Task<T> WhileTimePasses<T>(Microsoft.Extensions.Time.Testing.FakeTimeProvider clock, Task<T> task)
    {
        while (!task.IsCompleted)
        {
            clock.Advance(TimeSpan.FromMilliseconds(100));
            await Task.WhenAny(task, Task.Delay(20));
        }

        return await task;
    }

    /// <summary>The broker goes away for 30 s (while the match clock runs on) and comes back: the subscriber reconnects.</summary>
    private async Task BrokerOutageAsync(GoalGptCluster cluster, Microsoft.Extensions.Time.Testing.FakeTimeProvider clock, MqttBroker broker)
    {
        var mqtt = cluster.Grains.GetGrain<IMqttFeedGrain>(FeedJobs.Key);
        Assert.True(await mqtt.IsConnected());
        await broker.StopAsync();
        try
        {
            for (var i = 0; i < 300; i++)
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(100);
            }

            Assert.False(await mqtt.IsConnected());
        }
        finally
        {
            await broker.StartAsync();
        }

        for (var i = 0; i < 600 && !await mqtt.IsConnected(); i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(50);
        }

        Assert.True(await mqtt.IsConnected(), "the subscriber reconnected after the outage");
        output.WriteLine("broker down 30 s (real), subscriber reconnected");
    }

    [Fact]
    public async Task The_rate_limit_holds_cluster_wide_with_two_silos_for_over_60_s()
    {
        await using var sim = await SimulatedProvider.StartAsync(TimeProvider.System, new Dictionary<string, string?> { ["Simulator:Matches"] = "50" });
        var settings = IngestSettings(sim, 1);
        foreach (var job in new[] { "MatchSync", "DetailLive", "DataUpdate", "Watchdog" }) settings[$"Jobs:{job}:Interval"] = "00:00:00.200";
        settings["Provider:TotalTimeout"] = "00:01:00";
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2, settings: settings);

        // Besides the jobs, both silos call the provider as fast as they can.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(65));
        var from = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var hammers = cluster.Cluster.Silos.OfType<InProcessSiloHandle>()
            .SelectMany(s => Enumerable.Range(0, 2).Select(_ => Hammer(s.SiloHost.Services.GetRequiredService<ProviderClient>(), stop.Token)))
            .ToList();
        await Task.WhenAll(hammers);
        var until = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var arrivals = (await sim.RequestsAsync(from)).Arrivals.Where(a => a.AtMs <= until).Select(a => a.AtMs).Order().ToList();
        var seconds = (until - from) / 1000.0;
        var gaps = arrivals.Zip(arrivals.Skip(1), (a, b) => b - a).ToList();
        output.WriteLine($"{arrivals.Count} requests in {seconds:F1} s ({arrivals.Count / seconds:F2}/s); smallest gap {gaps.Min()} ms, median {gaps.Order().ElementAt(gaps.Count / 2)} ms");
        Assert.True(seconds >= 60);
        Assert.True(arrivals.Count >= 50, "the demand was there");
        Assert.True(arrivals.Count <= seconds + 1, $"{arrivals.Count} requests in {seconds:F1} s exceed 1/s");
        // Permits are 1 s apart on Redis' clock; what arrives may be closer by the delay between a permit and its
        // request reaching the simulator. CI saw 588 ms of it (three arrivals within 1,412 ms) with every test track
        // running on the 2-core box, so the allowance is one second: never three within 1 s, never eleven within 9 s
        // (a limiter that let bursts through, or ran 12 % fast over 10 s, fails either).
        foreach (var (k, least) in new[] { (3, 1_000L), (11, 9_000L) })
        {
            var spans = arrivals.Zip(arrivals.Skip(k - 1), (a, c) => c - a).ToList();
            Assert.All(spans, s => Assert.True(s >= least, $"{k} requests within {s} ms"));
        }
    }

    private static async Task Hammer(ProviderClient client, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await client.DetailLiveAsync(UpdateSource.Api, stop);
            }
            catch (ProviderCallException)
            {
                await Task.Delay(50, CancellationToken.None); // counted by the client; the test reads what reached the provider
            }
            catch (OperationCanceledException)
            {
                // the end
            }
        }
    }

    [Fact]
    public async Task Every_provider_error_form_is_a_counted_failed_call_and_the_client_survives()
    {
        await using var sim = await SimulatedProvider.StartAsync(TimeProvider.System, new Dictionary<string, string?> { ["Simulator:Matches"] = "20" });
        var settings = IngestSettings(sim, 200);
        settings["Jobs:Enabled"] = "false";
        settings["Mqtt:Enabled"] = "false";
        settings["Provider:MaxRetries"] = "2";
        settings["Provider:RetryDelay"] = "00:00:00.050";
        settings["Provider:AttemptTimeout"] = "00:00:00.500";
        settings["Provider:CircuitBreakerMinimumThroughput"] = "1000"; // each form counted in full; the breaker is not under test here
        using var metrics = new MetricTotals();
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1, settings: settings);
        var client = cluster.Cluster.Silos.OfType<InProcessSiloHandle>().Single().SiloHost.Services.GetRequiredService<ProviderClient>();

        var forms = new (string Outcome, FaultOptions Fault)[]
        {
            ("error_body", new FaultOptions { ErrorBody = 1 }),
            ("error_code", new FaultOptions { ErrorCode = 1 }),
            ("rate_limited", new FaultOptions { RateLimitCode = 1 }),
            ("http_429", new FaultOptions { Http429 = 1 }),
            ("http_5xx", new FaultOptions { Http5xx = 1 }),
            ("malformed_json", new FaultOptions { MalformedJson = 1 }),
            ("timeout", new FaultOptions { Slow = 1, SlowDelay = TimeSpan.FromSeconds(2) }),
        };
        foreach (var (outcome, fault) in forms)
        {
            await sim.SetFaultsAsync(fault);
            var before = metrics["goalgpt.provider.calls", "outcome", outcome];
            var ex = await Assert.ThrowsAsync<ProviderCallException>(() => client.DetailLiveAsync(UpdateSource.Api, CancellationToken.None));
            output.WriteLine($"{outcome}: {ex.Reason} ({ex.Message})");
            Assert.Equal(3, metrics["goalgpt.provider.calls", "outcome", outcome] - before); // first attempt + 2 retries, each counted
            Assert.Equal(outcome, ex.Reason);
        }

        await sim.SetFaultsAsync(new FaultOptions());
        var answer = await client.DetailLiveAsync(UpdateSource.Api, CancellationToken.None);
        Assert.Empty(answer.Batch.Rejections);
        Assert.True(metrics["goalgpt.provider.calls", "outcome", "ok"] > 0);
    }

    [Fact]
    public async Task Every_malformed_mqtt_message_shape_is_counted_and_dropped_and_the_subscriber_keeps_going()
    {
        await using var sim = await SimulatedProvider.StartAsync(TimeProvider.System, new Dictionary<string, string?>
        {
            ["Simulator:Matches"] = "1",
            ["Simulator:Mqtt:Enabled"] = "false",
        });
        var settings = IngestSettings(sim, 200);
        settings["Jobs:Enabled"] = "false";
        settings["Mqtt:MaxMessageBytes"] = "2048";
        using var metrics = new MetricTotals();
        await using var cluster = await GoalGptCluster.StartAsync(silos: 2, settings: settings);
        var mqtt = cluster.Grains.GetGrain<IMqttFeedGrain>(FeedJobs.Key);
        await mqtt.Start();
        for (var i = 0; i < 100 && !await mqtt.IsConnected(); i++) await Task.Delay(100);
        Assert.True(await mqtt.IsConnected());

        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string Score(string id, int status, long kickoff) => $"[\"{id}\",{status},[1,0,0,0,2,0,0],[0,0,0,1,-1,0,0],{kickoff},\"\"]";
        var malformed = new[]
        {
            "this is not json",
            "42",
            "{\"a\": {\"id\": \"m1\"}}",
            "[1, 2, 3]",
            "[{\"id\": \"bad id!\", \"score\": " + Score("bad id!", 2, now) + "}]",
            "[{\"id\": 17, \"score\": []}]",
            "[{\"id\": \"m-nofields\"}]",
            "{\"id\": \"m-badscore\", \"score\": \"2-1\"}",
            "{\"id\": \"m-otherid\", \"score\": " + Score("someone-else", 2, now) + "}",
            "[" + string.Join(",", Enumerable.Repeat("{\"id\": \"m-huge\", \"stats\": []}", 200)) + "]",
        };
        var partial = "[{\"id\": \"m-partial\", \"score\": [\"m-partial\", \"two\", [1,0,0,0,0,0,0], [0,0,0,0,0,0,0], " + now + ", \"\"]}]";
        var valid = new[]
        {
            "[{\"id\": \"m-array\", \"score\": " + Score("m-array", 2, now - 600) + "}]",
            "{\"0\": {\"id\": \"m-keyed\", \"score\": " + Score("m-keyed", 4, now - 600) + "}, \"1\": {\"id\": \"m-keyed2\", \"tlive\": []}}",
            "{\"id\": \"m-single\", \"score\": " + Score("m-single", 3, 0) + ", \"incidents\": [{\"type\": 1, \"position\": 1, \"time\": 12}]}",
        };

        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", TestEnvironment.MqttPort).Build());
        foreach (var message in malformed.Append(partial).Concat(valid).Append(valid[0]))
        {
            await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(sim.Topic).WithPayload(Encoding.UTF8.GetBytes(message))
                .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }

        long Messages() => new[] { "malformed", "partial", "applied", "duplicate", "ignored" }.Sum(o => metrics["goalgpt.mqtt.messages", "outcome", o]);
        for (var i = 0; i < 100 && Messages() < malformed.Length + 1 + valid.Length + 1; i++) await Task.Delay(100);

        output.WriteLine(string.Join(", ", new[] { "malformed", "partial", "applied", "duplicate" }.Select(o => $"{o}={metrics["goalgpt.mqtt.messages", "outcome", o]}")));
        Assert.Equal(malformed.Length, metrics["goalgpt.mqtt.messages", "outcome", "malformed"]);
        Assert.Equal(1, metrics["goalgpt.mqtt.messages", "outcome", "partial"]);
        Assert.Equal(valid.Length, metrics["goalgpt.mqtt.messages", "outcome", "applied"]);
        Assert.Equal(1, metrics["goalgpt.mqtt.messages", "outcome", "duplicate"]);
        Assert.True(metrics["goalgpt.fields.rejected", "reason", "malformed"] >= malformed.Length);
        Assert.True(metrics["goalgpt.fields.rejected", "reason", "out_of_range"] >= 1);
        Assert.True(await mqtt.IsConnected());

        Assert.Equal(2, (await cluster.Grains.GetGrain<IMatchGrain>("m-array").GetSnapshot()).Status?.Value);
        Assert.Equal(4, (await cluster.Grains.GetGrain<IMatchGrain>("m-keyed").GetSnapshot()).Status?.Value);
        Assert.Equal(3, (await cluster.Grains.GetGrain<IMatchGrain>("m-single").GetSnapshot()).Status?.Value);
        var partialMatch = await cluster.Grains.GetGrain<IMatchGrain>("m-partial").GetSnapshot();
        Assert.Null(partialMatch.Status);
        Assert.Equal(1, partialMatch.HomeScore?.Value);
    }

    [Fact]
    public async Task The_minute_clock_and_the_watchdog_find_their_matches_in_ts_matches()
    {
        var clock = GoalGptCluster.NewFakeTime();
        await using var sim = await SimulatedProvider.StartAsync(clock, new Dictionary<string, string?>
        {
            ["Simulator:Matches"] = "1",
            ["Simulator:Mqtt:Enabled"] = "false",
            // The provider's one match kicks off a day after this test's clock: the jobs, which run at
            // once on a fresh start, add no live match besides the test's two.
            ["Simulator:FirstKickoff"] = "1.00:00:00",
        });
        var settings = IngestSettings(sim, 200);
        settings["Mqtt:Enabled"] = "false";
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1, fakeTime: true, settings: settings);
        var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();

        // Two live matches the provider does not know: one fresh, one silent for 10 minutes.
        await cluster.Grains.GetGrain<IMatchGrain>("wd-fresh").Apply(new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = nowMs - 1_000, StatusId = 2, PhaseKickoffTs = nowMs / 1000 - 600 });
        await cluster.Grains.GetGrain<IMatchGrain>("wd-silent").Apply(new MatchUpdate { Source = UpdateSource.Api, ObservedAtMs = nowMs - 600_000, StatusId = 4, PhaseKickoffTs = nowMs / 1000 - 1200 });
        await cluster.PersistAndFlushAsync(["wd-fresh", "wd-silent"]);

        var minute = await WhileTimePasses(clock, cluster.Grains.GetGrain<IMinuteClockJobGrain>(FeedJobs.Key).RunNow());
        output.WriteLine($"minute clock: {minute.Counts} {minute.Error}");
        Assert.True(minute.Succeeded, minute.Error);
        Assert.Contains("live=2", minute.Counts);

        var watchdog = await WhileTimePasses(clock, cluster.Grains.GetGrain<IWatchdogJobGrain>(FeedJobs.Key).RunNow());
        output.WriteLine($"watchdog: {watchdog.Counts} {watchdog.Error}");
        Assert.True(watchdog.Succeeded, watchdog.Error);
        Assert.Contains("candidates=1 stale=1", watchdog.Counts);
        Assert.Contains("not_found=1", watchdog.Counts);
        // Gone from the provider and live: flagged stale (rule 6), not ended. By this run, or by the watchdog's own timer
        // when the fake clock passed its period during the minute clock's run above (then this run finds it stale already:
        // flagged_stale=0, stale_live=1; CI saw that once): either way the watchdog flagged it, after the test began (below).
        Assert.True(watchdog.Counts.Contains("flagged_stale=1", StringComparison.Ordinal) || watchdog.Counts.Contains("flagged_stale=0 flagged_frozen=0 stale_live=1", StringComparison.Ordinal), watchdog.Counts);
        var silent = await cluster.Grains.GetGrain<IMatchGrain>("wd-silent").GetSnapshot();
        Assert.InRange(silent.StaleSince!.Value, nowMs / 1000, clock.GetUtcNow().ToUnixTimeSeconds());
        Assert.Equal(4, silent.Status!.Value);
        Assert.Null((await cluster.Grains.GetGrain<IMatchGrain>("wd-fresh").GetSnapshot()).StaleSince);
    }

    private static (int? Minute, string? Text) Minute(TruthRow t, long now) => t.StatusId switch
    {
        2 => Clamp(now - t.FirstHalfKickoffTs!.Value, 1, 45),
        3 => (45, "HT"),
        4 => Clamp(now - t.SecondHalfKickoffTs!.Value, 46, 90),
        5 => Clamp(now - t.OvertimeKickoffTs!.Value, 91, 120),
        7 => (120, "PEN"),
        _ => (null, null),
    };

    private static (int?, string?) Clamp(long elapsed, int offset, int cap) => ((int)Math.Min(elapsed / 60 + offset, cap), null);
}
