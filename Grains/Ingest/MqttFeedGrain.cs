using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Diagnostics;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>
/// The MQTT push subscriber: one activation cluster-wide (a silo that dies takes it along; the next
/// keep-alive activates it on another silo). Parses every message shape of the contract, drops a
/// delta equal to the match's previous one, feeds the match grains with source <c>mqtt</c>
/// (observed when received) and reconnects with jittered exponential backoff. A malformed message is
/// counted and dropped; nothing stops the subscriber, and while it is down the pollers carry on.
/// </summary>
public sealed partial class MqttFeedGrain(
    IOptions<MqttOptions> options,
    MatchFeed feed,
    GoalGptMetrics metrics,
    TimeProvider time,
    ILogger<MqttFeedGrain> logger) : Grain, IMqttFeedGrain
{
    private static readonly TimeSpan SupervisionInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FirstReconnectDelay = TimeSpan.FromSeconds(1);

    private readonly MqttOptions _options = options.Value;
    private const int Deliverers = 16;

    private readonly RedeliveryFilter _redeliveries = new(TimeSpan.FromSeconds(5));
    private readonly Channel<(ParsedBatch Batch, string Outcome)> _deliveries =
        Channel.CreateBounded<(ParsedBatch, string)>(new BoundedChannelOptions(10_000) { SingleWriter = true });
    private Task[] _deliverers = [];
    private IMqttClient? _client;
    private TimeSpan _backoff = FirstReconnectDelay;
    private long _nextAttemptMs;
    private bool _wasConnected;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _deliverers = Enumerable.Range(0, Deliverers).Select(_ => Task.Run(DeliverAsync)).ToArray();
        this.RegisterGrainTimer(SuperviseAsync, new GrainTimerCreationOptions(TimeSpan.Zero, SupervisionInterval) { Interleave = false, KeepAlive = true });
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.MqttConnected = false;
        if (_client is null) return;
        try
        {
            if (_client.IsConnected) await _client.DisconnectAsync(new MqttClientDisconnectOptions(), cancellationToken);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogDisconnectFailed(ex.Message);
        }

        _client.Dispose();
        _deliveries.Writer.TryComplete();
        try
        {
            await Task.WhenAll(_deliverers).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            LogDeliveriesNotDrained(ex.Message); // the pollers recover what is left
        }
    }

    public Task Start() => Task.CompletedTask;

    public Task<bool> IsConnected() => Task.FromResult(_client?.IsConnected == true);

    private async Task SuperviseAsync(CancellationToken ct)
    {
        var client = _client!;
        metrics.MqttConnected = client.IsConnected;
        if (client.IsConnected) return;
        if (_wasConnected)
        {
            _wasConnected = false;
            LogDisconnected(_options.Host!, _options.Port);
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (now < _nextAttemptMs) return;
        try
        {
            var builder = new MqttClientOptionsBuilder()
                .WithTcpServer(_options.Host, _options.Port)
                .WithClientId($"goalgpt-{Environment.MachineName}-{Guid.NewGuid():N}"[..40])
                .WithCleanSession()
                .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
                .WithTimeout(TimeSpan.FromSeconds(5));
            if (_options.Username.Length > 0) builder.WithCredentials(_options.Username, _options.Password);
            if (_options.UseTls) builder.WithTlsOptions(t => t.UseTls());
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await client.ConnectAsync(builder.Build(), timeout.Token);
            await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(_options.Topic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), timeout.Token);
            _wasConnected = true;
            _backoff = FirstReconnectDelay;
            metrics.MqttConnected = true;
            LogConnected(_options.Host!, _options.Port, _options.Topic);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Jittered exponential backoff up to MaxReconnectDelay.
            var delay = _backoff * (0.5 + Random.Shared.NextDouble());
            _nextAttemptMs = now + (long)delay.TotalMilliseconds;
            _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, _options.MaxReconnectDelay.Ticks));
            LogConnectFailed(_options.Host!, _options.Port, ex.Message, delay);
            if (client.IsConnected) await client.DisconnectAsync(cancellationToken: CancellationToken.None);
        }
    }

    /// <summary>
    /// Runs on MQTTnet's receive loop, one message at a time: parse, drop exact redeliveries (<see cref="RedeliveryFilter"/>), count what is
    /// refused; the delivery to the grains goes to <see cref="_deliveries"/> (bounded: a full queue
    /// holds the receive loop back). Order between deliveries does not matter: each update carries
    /// its receipt time, and the grain decides by it.
    /// </summary>
    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var receivedAt = time.GetUtcNow().ToUnixTimeMilliseconds();
        var payload = e.ApplicationMessage.Payload;
        var batch = ProviderParser.MqttMessage(payload.IsSingleSegment ? payload.First : payload.ToArray(), receivedAt, _options.MaxMessageBytes);
        var fresh = new ParsedBatch { Elements = batch.Elements };
        fresh.Rejections.AddRange(batch.Rejections);
        foreach (var u in batch.Updates)
        {
            if (!_redeliveries.IsRedelivery(u.MatchId, u.Update, receivedAt)) fresh.Updates.Add(u);
        }

        var outcome = batch.Elements == 0 || (batch.Updates.Count == 0 && batch.Rejections.Count > 0) ? "malformed"
            : batch.Updates.Count == 0 ? "ignored"
            : fresh.Updates.Count == 0 ? "duplicate"
            : batch.Rejections.Count > 0 ? "partial"
            : "applied";
        if (fresh.Updates.Count == 0)
        {
            feed.RecordRejections("mqtt", UpdateSource.Mqtt, fresh);
            metrics.MqttMessages.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
            return;
        }

        try
        {
            await _deliveries.Writer.WriteAsync((fresh, outcome));
        }
        catch (ChannelClosedException)
        {
            metrics.MqttMessages.Add(1, new KeyValuePair<string, object?>("outcome", "failed")); // deactivating
        }
    }

    private async Task DeliverAsync()
    {
        await foreach (var (batch, outcome) in _deliveries.Reader.ReadAllAsync())
        {
            try
            {
                await feed.DeliverAsync("mqtt", UpdateSource.Mqtt, batch, CancellationToken.None);
                metrics.MqttMessages.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A grain call failed (e.g. during a silo shutdown): counted; the pollers recover the data.
                metrics.MqttMessages.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
                LogMessageFailed(ex.Message);
            }
        }
    }

    [LoggerMessage(EventId = 4301, Level = LogLevel.Information, Message = "MQTT connected to {Host}:{Port}, subscribed to {Topic}")]
    private partial void LogConnected(string host, int port, string topic);

    [LoggerMessage(EventId = 4302, Level = LogLevel.Warning, Message = "MQTT connection to {Host}:{Port} failed: {Error}; next attempt in {Delay}")]
    private partial void LogConnectFailed(string host, int port, string error, TimeSpan delay);

    [LoggerMessage(EventId = 4303, Level = LogLevel.Warning, Message = "MQTT disconnected from {Host}:{Port}; reconnecting with backoff, pollers carry on")]
    private partial void LogDisconnected(string host, int port);

    [LoggerMessage(EventId = 4304, Level = LogLevel.Warning, Message = "MQTT message could not be delivered: {Error}")]
    private partial void LogMessageFailed(string error);

    [LoggerMessage(EventId = 4305, Level = LogLevel.Debug, Message = "MQTT disconnect at deactivation failed: {Error}")]
    private partial void LogDisconnectFailed(string error);

    [LoggerMessage(EventId = 4306, Level = LogLevel.Warning, Message = "MQTT deliveries not drained at deactivation: {Error}; the pollers recover them")]
    private partial void LogDeliveriesNotDrained(string error);
}
