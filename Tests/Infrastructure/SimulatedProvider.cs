using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Orleans.GoalGpt.Simulator;
using Orleans.GoalGpt.Simulator.Feed;

namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>The feed simulator hosted in the test process (so it can share the test's clock), publishing to the real broker.</summary>
public sealed class SimulatedProvider : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;

    private SimulatedProvider(WebApplication app, string address)
    {
        _app = app;
        Address = address;
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public string Address { get; }

    /// <summary>What <c>Provider__BaseUrl</c> points at.</summary>
    public string BaseUrl => Address + ProviderApi.BasePath;

    public string Topic { get; private init; } = "";

    public static async Task<SimulatedProvider> StartAsync(TimeProvider time, IDictionary<string, string?> settings)
    {
        var topic = $"goalgpt/test/{Guid.NewGuid():N}";
        var app = SimulatorHost.Build([], time, c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Simulator:Mqtt:Host"] = "127.0.0.1",
            ["Simulator:Mqtt:Port"] = TestEnvironment.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Simulator:Mqtt:Topic"] = topic,
        }.Overridden(settings)));
        app.Urls.Clear();
        app.Urls.Add("http://127.0.0.1:0");
        await app.StartAsync();
        return new SimulatedProvider(app, app.Urls.First()) { Topic = topic };
    }

    /// <summary>Every match as it really is at <paramref name="atUnix"/>.</summary>
    public async Task<IReadOnlyList<TruthRow>> TruthAsync(long atUnix) =>
        (await _http.GetFromJsonAsync<List<TruthRow>>($"/sim/truth?at={atUnix}"))!;

    /// <summary>Every goal the scenario cancels by VAR (past and future).</summary>
    public async Task<IReadOnlyList<Simulator.Model.VarCancellation>> VarCancellationsAsync() =>
        (await _http.GetFromJsonAsync<List<Simulator.Model.VarCancellation>>("/sim/var_cancellations"))!;

    /// <summary>The requests received since <paramref name="sinceMs"/> (real time).</summary>
    public async Task<RequestsSeen> RequestsAsync(long sinceMs = 0) =>
        (await _http.GetFromJsonAsync<RequestsSeen>($"/sim/requests?since_ms={sinceMs}", System.Text.Json.JsonSerializerOptions.Default))!;

    /// <summary>Replaces the fault rates in force.</summary>
    public async Task SetFaultsAsync(FaultOptions faults) => (await _http.PostAsJsonAsync("/sim/faults", faults)).EnsureSuccessStatusCode();

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record RequestsSeen(
    [property: System.Text.Json.Serialization.JsonPropertyName("total")] long Total,
    [property: System.Text.Json.Serialization.JsonPropertyName("by_endpoint")] Dictionary<string, long> ByEndpoint,
    [property: System.Text.Json.Serialization.JsonPropertyName("arrivals")] List<Arrival> Arrivals);

public sealed record Arrival(
    [property: System.Text.Json.Serialization.JsonPropertyName("endpoint")] string Endpoint,
    [property: System.Text.Json.Serialization.JsonPropertyName("at_ms")] long AtMs);
