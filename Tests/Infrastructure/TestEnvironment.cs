namespace Orleans.GoalGpt.Tests.Infrastructure;

/// <summary>Where the real dependencies are; set by ./test.sh (scripts/deps.sh starts them).</summary>
internal static class TestEnvironment
{
    public static string Postgres => Require("GOALGPT_TEST_POSTGRES");
    public static string Redis => Require("GOALGPT_TEST_REDIS");
    public static string PgData => Require("GOALGPT_PGDATA");
    public static string PgBin => Require("GOALGPT_PGBIN");
    public static string RedisConf => Require("GOALGPT_REDIS_CONF");
    public static int MqttPort => int.Parse(Require("GOALGPT_MQTT_PORT"), System.Globalization.CultureInfo.InvariantCulture);

    private static string Require(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{name} is not set: run the tests with ./test.sh, which starts PostgreSQL, Redis and mosquitto and sets it.");
}
