using Orleans.GoalGpt.Grains;
using Orleans.Runtime;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>
/// <c>GET /ops/activations</c>: every silo of the membership with its status and how many match
/// grains it holds, from Orleans' management grain. The rolling-restart check: a silo that was
/// stopped shows as not active with no matches, and its matches are counted on the others once
/// they receive updates (docs/operations.md).
/// </summary>
internal static class ClusterView
{
    private static readonly string MatchGrainType = typeof(MatchGrain).FullName!;

    public static async Task<IResult> ActivationsAsync(IGrainFactory grains)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetHosts(onlyActive: false);
        var statistics = await management.GetSimpleGrainStatistics();
        var silos = hosts
            .OrderBy(h => h.Key.Endpoint.ToString(), StringComparer.Ordinal)
            .Select(h =>
            {
                var own = statistics.Where(s => s.SiloAddress.Equals(h.Key)).ToList();
                return new
                {
                    silo = h.Key.Endpoint.ToString(),
                    status = h.Value.ToString(),
                    matches = own.Where(s => IsMatchGrain(s.GrainType)).Sum(s => s.ActivationCount),
                    activations = own.Sum(s => s.ActivationCount),
                    byType = own.GroupBy(s => s.GrainType, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(s => s.ActivationCount), StringComparer.Ordinal),
                };
            })
            .ToList();
        return Results.Json(new { silos });
    }

    // Orleans names the type with its assembly ("Namespace.MatchGrain,Assembly").
    private static bool IsMatchGrain(string grainType) =>
        grainType == MatchGrainType || grainType.StartsWith(MatchGrainType + ",", StringComparison.Ordinal);
}
