using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Grains;
using Orleans.GoalGpt.Grains.Jobs;
using Orleans.GoalGpt.Silo.Operations;
using Orleans.GoalGpt.Tests.Infrastructure;
using Xunit;

namespace Orleans.GoalGpt.Tests.Ops;

/// <summary>Secure defaults of the dashboard, and settings refused at start with a message naming them.</summary>
public sealed class SettingsAndAccessTests
{
    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public void Without_credentials_the_dashboard_refuses_everyone_unless_in_local_mode_and_then_only_loopback()
    {
        var closed = new DashboardAccessOptions();
        Assert.Equal(DashboardDecision.Refuse, DashboardAccess.Decide(closed, IPAddress.Loopback, null));
        Assert.Equal(DashboardDecision.Refuse, DashboardAccess.Decide(closed, IPAddress.Parse("10.0.0.7"), Basic("ops", "")));

        var local = new DashboardAccessOptions { AllowAnonymousOnLoopback = true };
        Assert.Equal(DashboardDecision.Serve, DashboardAccess.Decide(local, IPAddress.Loopback, null));
        Assert.Equal(DashboardDecision.Serve, DashboardAccess.Decide(local, IPAddress.Parse("127.0.0.3"), null));
        Assert.Equal(DashboardDecision.Serve, DashboardAccess.Decide(local, IPAddress.Parse("::ffff:127.0.0.1"), null));
        Assert.Equal(DashboardDecision.Refuse, DashboardAccess.Decide(local, IPAddress.Parse("10.0.0.7"), null));
        Assert.Equal(DashboardDecision.Refuse, DashboardAccess.Decide(local, null, null));
    }

    [Fact]
    public void With_credentials_the_dashboard_asks_for_them_from_everyone_local_mode_or_not()
    {
        var options = new DashboardAccessOptions { Username = "ops", Password = "s3cret", AllowAnonymousOnLoopback = true };
        Assert.Equal(DashboardDecision.Challenge, DashboardAccess.Decide(options, IPAddress.Loopback, null));
        Assert.Equal(DashboardDecision.Challenge, DashboardAccess.Decide(options, IPAddress.Loopback, Basic("ops", "guess")));
        Assert.Equal(DashboardDecision.Challenge, DashboardAccess.Decide(options, IPAddress.Loopback, "Basic not-base64!"));
        Assert.Equal(DashboardDecision.Serve, DashboardAccess.Decide(options, IPAddress.Parse("10.0.0.7"), Basic("ops", "s3cret")));
    }

    private static Dictionary<string, string?> Minimal() => new()
    {
        // Validated before anything is connected: these are never reached.
        ["ConnectionStrings__Postgres"] = "Host=127.0.0.1;Port=1;Database=x;Username=x",
        ["ConnectionStrings__Redis"] = "127.0.0.1:1",
    };

    [Theory]
    [InlineData("Shutdown__Timeout", "00:00:01", "Shutdown__Timeout")]
    [InlineData("Shutdown__Timeout", "ninety", "Shutdown__Timeout")]
    [InlineData("Dashboard__Username", "ops", "Dashboard__Password")]
    [InlineData("Dashboard__Password", "s3cret-not-printed", "Dashboard__Username")]
    public async Task An_invalid_setting_stops_the_silo_with_a_message_naming_it(string key, string value, string named)
    {
        var settings = Minimal();
        settings[key] = value;
        await using var silo = SiloProcess.Start(settings);
        Assert.Equal(2, await silo.ExitCodeAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains(named, silo.Output);
        Assert.DoesNotContain("s3cret-not-printed", silo.Output);
    }

    [Theory]
    [InlineData("00:12:00", true, "must exceed Jobs:MatchSync:DiaryInterval")] // 10 min diary + 1 min interval + 2 min
    [InlineData("00:13:00", true, "must exceed Jobs:MatchSync:DiaryInterval")]
    [InlineData("00:13:01", true, null)]
    [InlineData("00:20:00", true, null)] // the default
    [InlineData("00:05:00", false, null)] // no diary runs: nothing to keep apart from
    public void The_idle_collection_age_must_exceed_the_diarys_cadence(string age, bool jobsOn, string? refused)
    {
        var services = new ServiceCollection();
        services.Configure<JobsOptions>(o => o.Enabled = jobsOn);
        services.Configure<JobOptions>(JobNames.MatchSync, o => o.Interval = TimeSpan.FromMinutes(1));
        services.Configure<MatchGrainOptions>(o => o.IdleCollectionAge = TimeSpan.Parse(age, System.Globalization.CultureInfo.InvariantCulture));
        services.AddSingleton<IValidateOptions<MatchGrainOptions>, IdleCollectionAgeValidator>();
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<MatchGrainOptions>>();
        if (refused is null)
        {
            Assert.Equal(TimeSpan.Parse(age, System.Globalization.CultureInfo.InvariantCulture), options.Value.IdleCollectionAge);
            return;
        }

        var error = Assert.Throws<OptionsValidationException>(() => options.Value);
        Assert.Contains("MatchGrain:IdleCollectionAge", error.Message);
        Assert.Contains(refused, error.Message);
    }
}
