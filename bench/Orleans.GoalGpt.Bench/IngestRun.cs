using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.GoalGpt.Grains.Diagnostics;
using Orleans.GoalGpt.Simulator;
using Orleans.GoalGpt.Simulator.Feed;
using Orleans.GoalGpt.Simulator.Model;

namespace Orleans.GoalGpt.Bench;

/// <summary>
/// The ingest path in real time: the feed simulator (HTTP at the production rate limit, MQTT through
/// mosquitto, faults at 1 %) feeding one silo with every job on. Measures provider requests/s by
/// endpoint and job runs, MQTT messages/s handled, and the time from a simulated goal (or VAR
/// cancellation) to the new score in ts_matches.
/// </summary>
public static class IngestRun
{
    public static async Task<string> RunAsync(string server, string redis, int matches, TimeSpan duration)
    {
        var mqttPort = Environment.GetEnvironmentVariable("GOALGPT_MQTT_PORT") ?? throw new InvalidOperationException("run through bench/run.sh");
        var topic = $"goalgpt/bench/{Guid.NewGuid():N}";
        var sim = SimulatorHost.Build([], TimeProvider.System, c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Simulator:Seed"] = "2026",
            ["Simulator:Matches"] = matches.ToString(CultureInfo.InvariantCulture),
            // Kick-offs spread over the last two hours: about nine in ten matches are live and, in a run of a
            // few minutes, some reach full time (status 8), whose time to the row is measured too.
            ["Simulator:FirstKickoff"] = "-02:00:00",
            ["Simulator:KickoffSpread"] = "02:00:00",
            ["Simulator:Mqtt:Port"] = mqttPort,
            ["Simulator:Mqtt:Topic"] = topic,
            ["Simulator:Faults:ErrorBody"] = "0.01",
            ["Simulator:Faults:ErrorCode"] = "0.01",
            ["Simulator:Faults:Http5xx"] = "0.01",
            ["Simulator:Faults:MalformedJson"] = "0.01",
            ["Simulator:Faults:StatusRegression"] = "0.02",
            ["Simulator:Faults:ZeroKickoff"] = "0.05",
            ["Simulator:Faults:MqttDrop"] = "0.01",
            ["Simulator:Faults:MqttDuplicate"] = "0.05",
            ["Simulator:Faults:MqttReorder"] = "0.01",
        }));
        sim.Urls.Clear();
        sim.Urls.Add("http://127.0.0.1:0");
        await sim.StartAsync();
        var world = sim.Services.GetRequiredService<FeedWorld>();
        var publisher = sim.Services.GetRequiredService<MqttPublisher>();

        var db = await Database.RecreateAsync(server, "goalgpt_bench");
        using var counters = new CounterTotals();
        var silo = await BenchSilo.StartAsync(db.ConnectionString, redis, new Dictionary<string, string?>
        {
            ["Jobs:Enabled"] = "true",
            ["Mqtt:Enabled"] = "true",
            ["Provider:BaseUrl"] = sim.Urls.First() + ProviderApi.BasePath,
            ["Provider:RequestsPerSecond"] = "1",
            ["Mqtt:Host"] = "127.0.0.1",
            ["Mqtt:Port"] = mqttPort,
            ["Mqtt:Topic"] = topic,
        });

        var seen = new Dictionary<string, List<(int Home, int Away, long AtMs)>>(StringComparer.Ordinal);
        var statuses = new Dictionary<string, List<(int Status, long AtMs)>>(StringComparer.Ordinal);
        var start = DateTimeOffset.UtcNow;
        var measureFrom = start.AddSeconds(30); // the first sync of a day's matches is start-up, not steady state
        var publishedBefore = 0L;
        var handledBefore = 0L;
        Console.WriteLine($"[bench] ingest: simulator and silo up, measuring {duration.TotalSeconds:F0} s");
        while (DateTimeOffset.UtcNow < start + duration)
        {
            if (publishedBefore == 0 && DateTimeOffset.UtcNow >= measureFrom)
            {
                publishedBefore = publisher.Published;
                handledBefore = counters.Sum("goalgpt.mqtt.messages");
                counters.Mark();
            }

            await using (var cmd = db.Source.CreateCommand("SELECT external_id, home_score, away_score, status_id FROM ts_matches WHERE home_score IS NOT NULL OR status_id IS NOT NULL"))
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                while (await reader.ReadAsync())
                {
                    var id = reader.GetString(0);
                    if (!reader.IsDBNull(1) && !reader.IsDBNull(2))
                    {
                        var score = (reader.GetInt32(1), reader.GetInt32(2));
                        if (!seen.TryGetValue(id, out var list)) seen[id] = list = [];
                        if (list.Count == 0 || (list[^1].Home, list[^1].Away) != score) list.Add((score.Item1, score.Item2, at));
                    }

                    if (!reader.IsDBNull(3))
                    {
                        var status = reader.GetInt32(3);
                        if (!statuses.TryGetValue(id, out var list)) statuses[id] = list = [];
                        if (list.Count == 0 || list[^1].Status != status) list.Add((status, at));
                    }
                }
            }

            await Task.Delay(100);
        }

        var end = DateTimeOffset.UtcNow;
        var seconds = (end - measureFrom).TotalSeconds;
        var published = publisher.Published - publishedBefore;
        var handled = counters.Sum("goalgpt.mqtt.messages") - handledBefore;

        // Goals (and VAR cancellations) in the window: when the displayed score changed in the truth, and when ts_matches showed it.
        var latencies = new List<double>();
        var missed = 0;
        // Every provider change (score or status) and each match's end (status 8), to the row showing it.
        var changes = new List<double>();
        var finished = new List<double>();
        var changesMissed = 0;
        var finishedMissed = 0;
        foreach (var m in world.Matches)
        {
            for (var i = 1; i < m.States.Count; i++)
            {
                var (before, after) = (m.States[i - 1], m.States[i]);
                var changedAt = after.UpdatedAt * 1000;
                if (changedAt < measureFrom.ToUnixTimeMilliseconds() || changedAt > end.ToUnixTimeMilliseconds() - 10_000) continue;
                var scoreChanged = (before.HomeScore, before.AwayScore) != (after.HomeScore, after.AwayScore);
                var statusChanged = before.StatusId != after.StatusId;
                double? scoreAt = null, statusAt = null;
                if (scoreChanged)
                {
                    var shown = seen.GetValueOrDefault(m.Id)?.FirstOrDefault(s => (s.Home, s.Away) == (after.HomeScore, after.AwayScore) && s.AtMs >= changedAt);
                    if (shown is { } s) latencies.Add((double)(scoreAt = s.AtMs - changedAt));
                    else missed++;
                }

                if (statusChanged)
                {
                    var shown = statuses.GetValueOrDefault(m.Id)?.FirstOrDefault(s => s.Status == after.StatusId && s.AtMs >= changedAt);
                    if (shown is { } s) statusAt = s.AtMs - changedAt;
                    if (after.StatusId == 8)
                    {
                        if (statusAt is { } f) finished.Add(f);
                        else finishedMissed++;
                    }
                }

                if (!scoreChanged && !statusChanged) continue;
                if ((scoreChanged && scoreAt is null) || (statusChanged && statusAt is null)) changesMissed++;
                else changes.Add(Math.Max(scoreAt ?? 0, statusAt ?? 0));
            }
        }

        var requests = counters.SinceMark("goalgpt.provider.calls", "endpoint");
        var failedAttempts = counters.SinceMark("goalgpt.provider.calls", "outcome").Where(o => o.Key != "ok").Sum(o => o.Value);
        var runs = counters.SinceMark("goalgpt.job.duration", "job_name");
        var burst = await MqttBurstAsync(world, counters, int.Parse(mqttPort, CultureInfo.InvariantCulture), topic);
        await silo.DisposeAsync();
        await sim.StopAsync();
        await sim.DisposeAsync();

        latencies.Sort();
        changes.Sort();
        finished.Sort();
        double P(double p) => Pct(latencies, p);
        static double Pct(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p / 100 * sorted.Count) - 1)];
        static string Ms(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F0", CultureInfo.InvariantCulture);
        var lines = new List<string>
        {
            $"Ingest: {matches:N0} simulated matches ({world.DetailLive(end.ToUnixTimeSeconds()).Count():N0} in detail_live at the end), {seconds:F0} s measured after 30 s of start-up, provider limit 1 request/s, faults on.",
            "Provider requests/s by endpoint: " + string.Join(", ", requests.OrderBy(r => r.Key).Select(r => $"{r.Key} {r.Value / seconds:F3}")) +
                $" (total {requests.Values.Sum() / seconds:F3}/s; failed attempts {failedAttempts})",
            "Job runs/s: " + string.Join(", ", runs.OrderBy(r => r.Key).Select(r => $"{r.Key} {r.Value / seconds:F3}")),
            $"MQTT (the simulator's real-time feed): {published / seconds:F1} messages/s published, {handled / seconds:F1} messages/s handled by the service",
            burst,
            $"Goal (or VAR cancellation) to its score in ts_matches: p50 {Ms(P(50))} ms, p99 {Ms(P(99))} ms, max {Ms(P(100))} ms over {latencies.Count} score changes ({missed} not seen: overtaken by the next change before a read)",
            $"Provider change (score or status) to a row showing all of it: p50 {Ms(Pct(changes, 50))} ms, p99 {Ms(Pct(changes, 99))} ms, max {Ms(Pct(changes, 100))} ms over {changes.Count} changes ({changesMissed} not seen: overtaken before a read)",
            $"Match finished (status 8) to the row's status 8: p50 {Ms(Pct(finished, 50))} ms, p99 {Ms(Pct(finished, 99))} ms, max {Ms(Pct(finished, 100))} ms over {finished.Count} matches ({finishedMissed} not seen)",
            "(each from the moment the simulator's ground truth changed, to the first read of ts_matches showing it; the table is read every 100 ms)",
        };
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>
    /// The subscriber's capacity: 20,000 one-delta messages (a new score each, in the three shapes)
    /// published as fast as the broker takes them; handled/s from the first to the last one handled.
    /// </summary>
    private static async Task<string> MqttBurstAsync(FeedWorld world, CounterTotals counters, int port, string topic)
    {
        const int Messages = 20_000;
        using var client = new MQTTnet.MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MQTTnet.MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("goalgpt-bench-burst").Build());
        var before = counters.Sum("goalgpt.mqtt.messages");
        var started = DateTimeOffset.UtcNow;
        for (var i = 0; i < Messages; i++)
        {
            var m = world.Matches[i % world.Matches.Count];
            var goals = 10 + i / world.Matches.Count;
            var delta = $"{{\"id\":\"{m.Id}\",\"score\":[\"{m.Id}\",4,[{goals},0,0,0,0,0,0],[0,0,0,0,0,0,0],0,\"\"]}}";
            var payload = (i % 3) switch { 0 => $"[{delta}]", 1 => $"{{\"0\":{delta}}}", _ => delta };
            await client.PublishAsync(new MQTTnet.MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).Build());
        }

        var publishedIn = DateTimeOffset.UtcNow - started;
        Console.WriteLine($"[bench] MQTT burst: {Messages:N0} published in {publishedIn.TotalSeconds:F1} s");
        // The simulator's own feed goes on meanwhile: count until the burst's worth is handled.
        var last = before;
        var lastChange = DateTimeOffset.UtcNow;
        while (last - before < Messages && DateTimeOffset.UtcNow - lastChange < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
            var current = counters.Sum("goalgpt.mqtt.messages");
            if (current != last) (last, lastChange) = (current, DateTimeOffset.UtcNow);
        }

        var handled = last - before;
        var handledIn = (lastChange - started).TotalSeconds;
        return $"MQTT burst: {Messages:N0} messages published in {publishedIn.TotalSeconds:F1} s; {handled:N0} handled in {handledIn:F1} s = {handled / handledIn:N0} messages/s (one delta each, every one a new score)";
    }

    /// <summary>Counter and histogram-count totals of the service's meter, by tag value, with a mark to measure from.</summary>
    private sealed class CounterTotals : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _totals = new();
        private Dictionary<string, long> _mark = [];

        public CounterTotals()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == GoalGptMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i.Name, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, _, tags, _) => Add(i.Name, 1, tags)); // histograms: count
            _listener.Start();
        }

        private void Add(string name, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            _totals.AddOrUpdate(name, value, (_, v) => v + value);
            foreach (var t in tags) _totals.AddOrUpdate($"{name}|{t.Key}|{t.Value}", value, (_, v) => v + value);
        }

        public long Sum(string name) => _totals.GetValueOrDefault(name);

        public void Mark() => _mark = new Dictionary<string, long>(_totals);

        public Dictionary<string, long> SinceMark(string name, string tag) => _totals
            .Where(t => t.Key.StartsWith($"{name}|{tag}|", StringComparison.Ordinal))
            .ToDictionary(t => t.Key[(name.Length + tag.Length + 2)..], t => t.Value - _mark.GetValueOrDefault(t.Key));

        public void Dispose() => _listener.Dispose();
    }
}
