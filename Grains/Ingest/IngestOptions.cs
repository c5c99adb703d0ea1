using System.ComponentModel.DataAnnotations;

namespace Orleans.GoalGpt.Grains.Ingest;

/// <summary>The TheSports-compatible HTTP provider (section <c>Provider</c>).</summary>
public sealed class ProviderOptions
{
    public const string Section = "Provider";

    /// <summary>Base URL of the football API, e.g. <c>https://provider.example/v1/football</c>.</summary>
    [Required(ErrorMessage = "Missing setting Provider__BaseUrl (environment) / Provider:BaseUrl (appsettings.json): the provider's football API base URL; set Jobs__Enabled=false to run without ingest.")]
    [Url(ErrorMessage = "Provider__BaseUrl must be an absolute http(s) URL.")]
    public string? BaseUrl { get; set; }

    /// <summary>Account user, sent as the <c>user</c> query parameter.</summary>
    public string User { get; set; } = "";

    /// <summary>Account secret, sent as the <c>secret</c> query parameter. Secret: never logged.</summary>
    public string Secret { get; set; } = "";

    /// <summary>Requests per second allowed to the whole cluster (every job on every silo together).</summary>
    [Range(0.01, 1000)]
    public double RequestsPerSecond { get; set; } = 1;

    /// <summary>Longest one attempt may take.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest a call may take with its retries (and rate-limit waits).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Retries of a failed call (jittered exponential backoff).</summary>
    [Range(1, 10)]
    public int MaxRetries { get; set; } = 3;

    /// <summary>First retry delay; later ones grow exponentially with jitter.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts within 60 s before the circuit breaker may open (at 50 % failures).</summary>
    [Range(2, 100_000)]
    public int CircuitBreakerMinimumThroughput { get; set; } = 10;

    /// <summary>How long an open circuit refuses calls before it lets one through.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Largest answer read; a larger one is a failed call.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxResponseBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Rows per <c>recent/list</c> page is the provider's; this bounds the pages read per run.</summary>
    [Range(1, 10_000)]
    public int MaxPagesPerRun { get; set; } = 200;
}

/// <summary>The provider's MQTT push feed (section <c>Mqtt</c>).</summary>
public sealed class MqttOptions
{
    public const string Section = "Mqtt";

    /// <summary>Subscribe at all (one subscriber per cluster).</summary>
    public bool Enabled { get; set; } = true;

    [Required(ErrorMessage = "Missing setting Mqtt__Host (environment) / Mqtt:Host (appsettings.json): the provider's MQTT broker; set Mqtt__Enabled=false to run without push.")]
    public string? Host { get; set; }

    [Range(1, 65535)]
    public int Port { get; set; } = 1883;

    [Required]
    public string Topic { get; set; } = "thesports/football/match/v1";

    public string Username { get; set; } = "";

    /// <summary>Secret: never logged.</summary>
    public string Password { get; set; } = "";

    /// <summary>Use TLS to the broker.</summary>
    public bool UseTls { get; set; }

    /// <summary>Longest wait between reconnection attempts (backoff doubles up to it, jittered).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest message parsed; a larger one is counted as malformed and dropped.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;
}
