using Orleans.GoalGpt.Simulator.Model;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Rule 1 end to end: the feed simulator's HTTP API lags its MQTT push by 6 s (issue 15's provider),
/// goals are cancelled by VAR, some pushes are lost; ts_matches is sampled every (fake) second.
/// </summary>
[Collection(RealServers.Name)]
[Trait(Tracks.Name, Tracks.Waits)]
public sealed class LaggingApiIngestTests(ITestOutputHelper output)
{
    private const int LagSeconds = 6;
    private const long WindowSeconds = 30;

    [Fact]
    public async Task With_the_http_api_6_s_behind_the_push_no_score_drops_and_comes_back_and_every_cancellation_lands()
    {
        var clock = GoalGptCluster.NewFakeTime();
        var start = clock.GetUtcNow();
        await using var sim = await SimulatedProvider.StartAsync(clock, new Dictionary<string, string?>
        {
            ["Simulator:Seed"] = "15",
            ["Simulator:Matches"] = "40",
            ["Simulator:FirstKickoff"] = "00:01:00",
            ["Simulator:KickoffSpread"] = "00:10:00",
            ["Simulator:GoalsPerMatch"] = "4",
            ["Simulator:VarCancelShare"] = "0.4",
            ["Simulator:Faults:HttpLag"] = $"00:00:{LagSeconds:D2}",
            // Lost pushes leave some cancellations to the polls alone. A reordered push is MQTT's own
            // disorder (an older delta received later lands as newer): not this test's subject, so it is
            // off here (simulator.json turns it on by default: a delta held back until the match's next
            // message, minutes later, brought an old score back as a push and failed this test now and then).
            ["Simulator:Faults:MqttReorder"] = "0",
            ["Simulator:Faults:MqttDrop"] = "0.2",
            ["Simulator:Faults:MqttDuplicate"] = "0.05",
            ["Simulator:Faults:Http5xx"] = "0.02",
        });
        using var metrics = new MetricTotals();
        await using var cluster = await GoalGptCluster.StartAsync(silos: 1, fakeTime: true, settings: new Dictionary<string, string?>
        {
            ["Jobs:Enabled"] = "true",
            ["Mqtt:Enabled"] = "true",
            ["Provider:BaseUrl"] = sim.BaseUrl,
            ["Provider:RequestsPerSecond"] = "500",
            ["Provider:RetryDelay"] = "00:00:00.200",
            ["Provider:AttemptTimeout"] = "00:00:02",
            ["Mqtt:Host"] = "127.0.0.1",
            ["Mqtt:Port"] = TestEnvironment.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mqtt:Topic"] = sim.Topic,
            ["Jobs:KeepAliveInterval"] = "00:00:05",
        });

        // First halves: kick-offs from +1 to +11 min; goals, and their cancellations 1-3 min later, until ~+60 min.
        var end = start + TimeSpan.FromMinutes(62);
        var changes = new List<Change>();
        var last = new Dictionary<(string Id, string Side), int>();
        var samples = 0;
        while (clock.GetUtcNow() < end)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(40);
            var at = clock.GetUtcNow().ToUnixTimeSeconds();
            await using var cmd = cluster.Database.DataSource.CreateCommand(
                "SELECT external_id, home_score, home_score_source, away_score, away_score_source FROM ts_matches WHERE home_score IS NOT NULL AND away_score IS NOT NULL");
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var id = reader.GetString(0);
                foreach (var (side, column) in new[] { ("home", 1), ("away", 3) })
                {
                    var value = reader.GetInt32(column);
                    if (last.TryGetValue((id, side), out var before) && before != value)
                    {
                        changes.Add(new Change(id, side, at, before, value, reader.GetString(column + 1)));
                    }

                    last[(id, side)] = value;
                }
            }

            samples++;
        }

        var cancellations = (await sim.VarCancellationsAsync()).Where(c => c.At > start.ToUnixTimeSeconds() && c.At <= end.ToUnixTimeSeconds()).ToList();
        var drops = changes.Where(c => c.To < c.From).ToList();

        // Every drop in ts_matches is a real cancellation of that side, the oldest one not yet matched.
        var landed = new List<(VarCancellation Cancellation, Change Drop)>();
        var unmatched = cancellations.ToList();
        foreach (var d in drops)
        {
            var real = unmatched.Where(c => c.Id == d.Id && c.Side == d.Side && c.From == d.From && c.To == d.To && c.At <= d.At).MinBy(c => c.At);
            Assert.True(real is not null, $"{d.Id} {d.Side} {d.From} -> {d.To} at +{d.At - start.ToUnixTimeSeconds()} s ({d.Source}) is no VAR cancellation of the ground truth");
            unmatched.Remove(real);
            landed.Add((real, d));
        }

        // No score comes back within 30 s of a drop unless the truth scored again.
        var flickers = 0;
        foreach (var (c, d) in landed)
        {
            var back = changes.FirstOrDefault(x => x.Id == d.Id && x.Side == d.Side && x.At > d.At && x.At - d.At < WindowSeconds && x.To > d.To);
            if (back is null) continue;
            var truth = (await sim.TruthAsync(back.At)).Single(t => t.Id == d.Id);
            var truthScore = d.Side == "home" ? truth.HomeScore : truth.AwayScore;
            if (truthScore < back.To) flickers++;
            output.WriteLine($"{d.Id} {d.Side}: {d.From} -> {d.To} at +{d.At - start.ToUnixTimeSeconds()} s, back to {back.To} {back.At - d.At} s later (truth then {truthScore})");
        }

        // Every cancellation that had time to be seen by two polls has landed.
        var late = end.ToUnixTimeSeconds() - 60;
        var missing = unmatched.Where(c => c.At < late).ToList();
        var byPush = landed.Where(l => l.Drop.Source == "mqtt").Select(l => l.Drop.At - l.Cancellation.At).ToList();
        var byPolls = landed.Where(l => l.Drop.Source != "mqtt").Select(l => l.Drop.At - l.Cancellation.At).ToList();
        var afterApi = byPolls.Select(d => d - LagSeconds).ToList(); // from when the HTTP API first showed it
        output.WriteLine($"{samples} samples of ts_matches (1 per fake second), HTTP lag {LagSeconds} s; {cancellations.Count} VAR cancellations in the ground truth, " +
            $"{landed.Count} landed: {byPush.Count} by push (delay s after the truth: {Describe(byPush)}), {byPolls.Count} by polls ({Describe(byPolls)}; after the HTTP API showed it: {Describe(afterApi)}); " +
            $"{missing.Count} missing; {drops.Count} drops in ts_matches, {flickers} came back within {WindowSeconds} s");
        output.WriteLine($"held lagging snapshots (goalgpt.unconfirmed_score_drop) {metrics["goalgpt.unconfirmed_score_drop"]}, confirmed by two polls (goalgpt.score_drop_confirmed) " +
            $"{metrics["goalgpt.score_drop_confirmed"]}; VAR corrections {metrics["goalgpt.var_corrections"]}; score changes sampled {changes.Count}");
        foreach (var m in missing) output.WriteLine($"missing: {m.Id} {m.Side} {m.From} -> {m.To} at +{m.At - start.ToUnixTimeSeconds()} s");

        Assert.Equal(0, flickers);
        Assert.Empty(missing);
        Assert.True(cancellations.Count >= 5, "the scenario holds VAR cancellations");
        Assert.True(metrics["goalgpt.unconfirmed_score_drop"] > 0, "the lag produced lagging snapshots, and they were held");
    }

    private static string Describe(List<long> delays) =>
        delays.Count == 0 ? "none" : $"min {delays.Min()}, median {delays.Order().ElementAt(delays.Count / 2)}, max {delays.Max()}";

    private sealed record Change(string Id, string Side, long At, int From, int To, string Source);
}
