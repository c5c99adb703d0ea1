using Microsoft.Extensions.Options;

namespace Orleans.GoalGpt.Simulator.Feed;

/// <summary>The seeded dice that decide when a fault happens (thread-safe).</summary>
public sealed class FaultDice(IOptions<SimulatorOptions> options)
{
    private readonly Random _random = new(Model.ScriptGenerator.StableSeed(options.Value.Seed, -17));
    private readonly Lock _lock = new();

    /// <summary>The fault rates in force (replaceable at run time: <c>POST /sim/faults</c>).</summary>
    public FaultOptions Faults { get; set; } = options.Value.Faults;

    public bool Roll(double probability)
    {
        if (probability <= 0) return false;
        lock (_lock) return _random.NextDouble() < probability;
    }

    public int Next(int maxExclusive)
    {
        lock (_lock) return _random.Next(maxExclusive);
    }
}

/// <summary>Every request the simulated provider received: counts by endpoint and arrival times (tests, benchmarks).</summary>
public sealed class RequestLog
{
    private const int MaxArrivals = 200_000;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _byEndpoint = new(StringComparer.Ordinal);
    private readonly Queue<(string Endpoint, long AtMs)> _arrivals = new();

    public void Add(string endpoint, long atMs)
    {
        lock (_lock)
        {
            _byEndpoint[endpoint] = _byEndpoint.GetValueOrDefault(endpoint) + 1;
            _arrivals.Enqueue((endpoint, atMs));
            if (_arrivals.Count > MaxArrivals) _arrivals.Dequeue();
        }
    }

    public object Snapshot(long sinceMs)
    {
        lock (_lock)
        {
            return new
            {
                total = _byEndpoint.Values.Sum(),
                by_endpoint = new Dictionary<string, long>(_byEndpoint),
                arrivals = _arrivals.Where(a => a.AtMs >= sinceMs).Select(a => new { endpoint = a.Endpoint, at_ms = a.AtMs }).ToList(),
            };
        }
    }
}
