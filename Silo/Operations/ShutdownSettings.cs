using System.Globalization;
using Microsoft.Extensions.Options;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>
/// How long a stop may take (section <c>Shutdown</c>): grains deactivate (state saved, leases
/// released), then the write-behind drains. The host's own default (30 s) is shorter than what the
/// docs, the systemd unit and compose allow, so it is set here from a validated setting.
/// </summary>
public sealed record ShutdownSettings(TimeSpan Timeout)
{
    public const string Key = "Shutdown:Timeout";
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Min = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Max = TimeSpan.FromMinutes(30);

    public static ShutdownSettings From(IConfiguration configuration)
    {
        var raw = configuration[Key];
        if (string.IsNullOrWhiteSpace(raw)) return new(Default);
        if (TimeSpan.TryParse(raw, CultureInfo.InvariantCulture, out var timeout) && timeout >= Min && timeout <= Max) return new(timeout);
        throw new OptionsValidationException(Key, typeof(ShutdownSettings),
            [$"Shutdown__Timeout must be a time span between 00:00:05 and 00:30:00, e.g. 00:01:30 (was '{raw}')."]);
    }
}
