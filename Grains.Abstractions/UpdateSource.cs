namespace Orleans.GoalGpt.Abstractions;

/// <summary>Where an observation of a match came from (domain rules, "Sources").</summary>
public enum UpdateSource
{
    /// <summary>An HTTP poll; observed at the moment the request was sent.</summary>
    Api = 0,

    /// <summary>An MQTT push delta; observed when received.</summary>
    Mqtt = 1,

    /// <summary>The service's own minute clock.</summary>
    Computed = 2,

    /// <summary>A forced recovery re-poll.</summary>
    Watchdog = 3,

    /// <summary>An operator's correction; wins over every other source.</summary>
    Admin = 4,
}

/// <summary>The names the sources carry in <c>*_source</c> columns and metric labels.</summary>
public static class UpdateSourceNames
{
    public static string ToWire(this UpdateSource source) => source switch
    {
        UpdateSource.Api => "api",
        UpdateSource.Mqtt => "mqtt",
        UpdateSource.Computed => "computed",
        UpdateSource.Watchdog => "watchdog",
        UpdateSource.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, "unknown source"),
    };

    public static bool TryParse(string? wire, out UpdateSource source)
    {
        switch (wire)
        {
            case "api": source = UpdateSource.Api; return true;
            case "mqtt": source = UpdateSource.Mqtt; return true;
            case "computed": source = UpdateSource.Computed; return true;
            case "watchdog": source = UpdateSource.Watchdog; return true;
            case "admin": source = UpdateSource.Admin; return true;
            default: source = UpdateSource.Api; return false;
        }
    }
}
