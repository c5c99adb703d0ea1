using Xunit;

namespace Orleans.GoalGpt.Tests.Integration;

/// <summary>
/// Tests on the shared PostgreSQL and Redis servers run one class at a time: one of them stops
/// PostgreSQL, which no other test may see.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealServers
{
    public const string Name = "real servers";
}
