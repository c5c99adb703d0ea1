using System.ComponentModel.DataAnnotations;

namespace Orleans.GoalGpt.Simulator;

/// <summary>The feed simulator (section <c>Simulator</c>).</summary>
public sealed class SimulatorOptions
{
    public const string Section = "Simulator";

    /// <summary>Same seed, same matches, same faults.</summary>
    public int Seed { get; set; } = 42;

    /// <summary>Matches in the scenario.</summary>
    [Range(1, 100_000)]
    public int Matches { get; set; } = 200;

    /// <summary>Scheduled kick-offs are spread from <c>start + FirstKickoff</c> over <c>KickoffSpread</c> (start = when the simulator starts).</summary>
    public TimeSpan FirstKickoff { get; set; } = TimeSpan.FromMinutes(-100);

    public TimeSpan KickoffSpread { get; set; } = TimeSpan.FromMinutes(160);

    /// <summary>Share of matches that are knockout ties (extra time and penalties when level).</summary>
    [Range(0.0, 1.0)]
    public double KnockoutShare { get; set; } = 0.25;

    /// <summary>Expected goals per match in regular time.</summary>
    [Range(0.0, 20.0)]
    public double GoalsPerMatch { get; set; } = 2.7;

    /// <summary>Share of goals cancelled by VAR a few minutes later.</summary>
    [Range(0.0, 1.0)]
    public double VarCancelShare { get; set; } = 0.12;

    /// <summary>Rows per <c>recent/list</c> page.</summary>
    [Range(1, 100_000)]
    public int PageSize { get; set; } = 1000;

    /// <summary>Credentials the HTTP API and broker expect; empty: any.</summary>
    public string User { get; set; } = "";

    public string Secret { get; set; } = "";

    public SimulatorMqttOptions Mqtt { get; set; } = new();

    public FaultOptions Faults { get; set; } = new();
}

/// <summary>Where the simulator publishes its push feed.</summary>
public sealed class SimulatorMqttOptions
{
    public bool Enabled { get; set; } = true;
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 1883;
    public string Topic { get; set; } = "thesports/football/match/v1";
    public string Username { get; set; } = "";
    public string Password { get; set; } = "";

    /// <summary>How often changes are looked for and published.</summary>
    public TimeSpan Tick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most deltas in one message.</summary>
    [Range(1, 10_000)]
    public int MaxDeltasPerMessage { get; set; } = 20;
}

/// <summary>The provider's faults, each a probability per request (HTTP) or per message (MQTT).</summary>
public sealed class FaultOptions
{
    /// <summary>HTTP 200 with <c>{"err": ...}</c>.</summary>
    [Range(0.0, 1.0)] public double ErrorBody { get; set; }

    /// <summary>HTTP 200 with <c>{"code": 500, "msg": ...}</c>.</summary>
    [Range(0.0, 1.0)] public double ErrorCode { get; set; }

    /// <summary>HTTP 200 with <c>{"code": 429}</c>.</summary>
    [Range(0.0, 1.0)] public double RateLimitCode { get; set; }

    /// <summary>HTTP 429.</summary>
    [Range(0.0, 1.0)] public double Http429 { get; set; }

    /// <summary>HTTP 503.</summary>
    [Range(0.0, 1.0)] public double Http5xx { get; set; }

    /// <summary>An answer delayed by <see cref="SlowDelay"/>.</summary>
    [Range(0.0, 1.0)] public double Slow { get; set; }

    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A truncated JSON body.</summary>
    [Range(0.0, 1.0)] public double MalformedJson { get; set; }

    /// <summary>A <c>detail_live</c> that shows one match one status back, for that poll only.</summary>
    [Range(0.0, 1.0)] public double StatusRegression { get; set; }

    /// <summary>A score array with <c>phase_kickoff_ts</c> 0 (HTTP and MQTT).</summary>
    [Range(0.0, 1.0)] public double ZeroKickoff { get; set; }

    [Range(0.0, 1.0)] public double MqttDrop { get; set; }
    [Range(0.0, 1.0)] public double MqttDuplicate { get; set; }

    /// <summary>A message held back and published after the next one.</summary>
    [Range(0.0, 1.0)] public double MqttReorder { get; set; }

    /// <summary>
    /// How far the HTTP API lags behind the push: every HTTP answer shows the world as it was this long
    /// ago (a cached API behind a live push feed); zero: none.
    /// </summary>
    public TimeSpan HttpLag { get; set; }
}
