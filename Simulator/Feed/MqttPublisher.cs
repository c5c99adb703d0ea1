using System.Text.Json;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using Orleans.GoalGpt.Simulator.Model;

namespace Orleans.GoalGpt.Simulator.Feed;

/// <summary>
/// The push side: every tick, the matches whose state changed since the last tick are published as
/// deltas (<c>score</c>, and <c>incidents</c>/<c>tlive</c> when an incident came, <c>stats</c> now
/// and then) in the contract's three message shapes. Faults: dropped, duplicated and reordered
/// messages, <c>phase_kickoff_ts</c> of 0. Like the real feed, nothing is replayed after a disconnect.
/// </summary>
public sealed partial class MqttPublisher(
    FeedWorld world,
    FaultDice dice,
    IOptions<SimulatorOptions> options,
    TimeProvider time,
    ILogger<MqttPublisher> logger) : BackgroundService
{
    private readonly SimulatorMqttOptions _mqtt = options.Value.Mqtt;
    private readonly int[] _published = new int[world.Matches.Count];
    private long _messages;
    private bool _outageLogged;

    /// <summary>Messages published so far (duplicates included).</summary>
    public long Published => Interlocked.Read(ref _messages);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_mqtt.Enabled) return;
        using var client = new MqttClientFactory().CreateMqttClient();
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        for (var i = 0; i < _published.Length; i++) _published[i] = world.Matches[i].IndexAt(now);
        byte[]? heldBack = null;
        using var timer = new PeriodicTimer(_mqtt.Tick, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            now = time.GetUtcNow().ToUnixTimeSeconds();
            var messages = Changes(now).Chunk(_mqtt.MaxDeltasPerMessage).Select(Message).ToList();
            if (!client.IsConnected && !await TryConnectAsync(client, stoppingToken)) continue; // no replay: changes are lost
            foreach (var message in messages)
            {
                if (dice.Roll(dice.Faults.MqttDrop)) continue;
                if (heldBack is null && dice.Roll(dice.Faults.MqttReorder))
                {
                    heldBack = message;
                    continue;
                }

                await PublishAsync(client, message, stoppingToken);
                if (dice.Roll(dice.Faults.MqttDuplicate)) await PublishAsync(client, message, stoppingToken);
                if (heldBack is not null)
                {
                    await PublishAsync(client, heldBack, stoppingToken);
                    heldBack = null;
                }
            }
        }
    }

    private IEnumerable<(MatchScript Match, MatchTruth State, bool NewIncident)> Changes(long now)
    {
        for (var i = 0; i < _published.Length; i++)
        {
            var m = world.Matches[i];
            var index = m.IndexAt(now);
            if (index == _published[i] || index < 0) continue;
            var before = _published[i] >= 0 ? m.States[_published[i]] : null;
            _published[i] = index;
            var s = m.States[index];
            yield return (m, s, before is null || before.Incidents.Count != s.Incidents.Count);
        }
    }

    private byte[] Message((MatchScript Match, MatchTruth State, bool NewIncident)[] deltas)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            var shape = deltas.Length == 1 ? dice.Next(3) : dice.Next(2); // 0 array, 1 keyed object, 2 single object
            if (shape == 0) w.WriteStartArray();
            else if (shape == 1) w.WriteStartObject();
            for (var i = 0; i < deltas.Length; i++)
            {
                var (m, s, incident) = deltas[i];
                if (shape == 1) w.WritePropertyName(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteStartObject();
                w.WriteString("id", m.Id);
                w.WritePropertyName("score");
                ProviderApi.ScoreArray(w, m, s, dice.Roll(dice.Faults.ZeroKickoff));
                if (incident)
                {
                    w.WritePropertyName("incidents");
                    ProviderApi.Incidents(w, s);
                    w.WriteStartArray("tlive");
                    w.WriteStartObject();
                    w.WriteString("data", $"incident {s.Incidents[^1].Type}");
                    w.WriteNumber("position", s.Incidents[^1].Position);
                    w.WriteEndObject();
                    w.WriteEndArray();
                }

                if (dice.Roll(0.2))
                {
                    w.WriteStartArray("stats");
                    ProviderApi.Stat(w, 2, s.Home[4], s.Away[4]);
                    w.WriteEndArray();
                }

                w.WriteEndObject();
            }

            if (shape == 0) w.WriteEndArray();
            else if (shape == 1) w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private async Task PublishAsync(IMqttClient client, byte[] payload, CancellationToken ct)
    {
        try
        {
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(_mqtt.Topic).WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce).Build(), ct);
            Interlocked.Increment(ref _messages);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogPublishFailed(ex.Message);
        }
    }

    private async Task<bool> TryConnectAsync(IMqttClient client, CancellationToken ct)
    {
        try
        {
            var builder = new MqttClientOptionsBuilder().WithTcpServer(_mqtt.Host, _mqtt.Port)
                .WithClientId("goalgpt-simulator-" + Guid.NewGuid().ToString("N")[..8]).WithCleanSession();
            if (_mqtt.Username.Length > 0) builder.WithCredentials(_mqtt.Username, _mqtt.Password);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await client.ConnectAsync(builder.Build(), timeout.Token);
            LogConnected(_mqtt.Host, _mqtt.Port, _mqtt.Topic);
            _outageLogged = false;
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            if (!_outageLogged) LogConnectFailed(_mqtt.Host, _mqtt.Port, ex.Message); // once per outage
            _outageLogged = true;
            return false;
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Publishing to mqtt://{Host}:{Port}/{Topic}")]
    private partial void LogConnected(string host, int port, string topic);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "MQTT broker {Host}:{Port} unreachable: {Error}; changes meanwhile are not replayed")]
    private partial void LogConnectFailed(string host, int port, string error);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "MQTT publish failed: {Error}")]
    private partial void LogPublishFailed(string error);
}
