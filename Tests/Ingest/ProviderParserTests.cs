using System.Text;
using System.Text.Json;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Ingest;
using Xunit;

namespace Orleans.GoalGpt.Tests.Ingest;

/// <summary>The provider contract at the edge: envelopes, answers and every MQTT message shape.</summary>
public sealed class ProviderParserTests
{
    private const long Now = 1_764_010_000_000;

    private static ReadOnlyMemory<byte> Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("""{"code":0,"results":[]}""", null)]
    [InlineData("""{"results":{}}""", null)]
    [InlineData("""{"err":"Authentication failed"}""", "error_body")]
    [InlineData("""{"code":0,"err":"quota"}""", "error_body")]
    [InlineData("""{"code":500,"msg":"busy"}""", "error_code")]
    [InlineData("""{"code":"x"}""", "error_code")]
    [InlineData("""{"code":429,"msg":"Too many requests"}""", "rate_limited")]
    [InlineData("""{"code":0,"resu""", "malformed_json")]
    [InlineData("""[1,2]""", "malformed_json")]
    [InlineData("""{"code":0}""", "malformed_json")]
    [InlineData("", "malformed_json")]
    public void Envelope_failures_are_named(string body, string? failure) =>
        Assert.Equal(failure, ProviderParser.EnvelopeFailure(Utf8(body))?.Reason);

    [Fact]
    public void Detail_live_score_array_becomes_an_update_with_the_kickoff_of_its_own_status()
    {
        using var doc = JsonDocument.Parse("""
            {"code":0,"results":[
              {"id":"abc","score":["abc",4,[2,1,0,1,5,0,0],[1,1,0,2,-1,0,0],1764000300,""],"stats":[],"incidents":[],"tlive":[]},
              {"id":"def","score":["def","x",[0,0,0,0,0,0,0],[0,0,0,0,0,0,0],1764000000,""]},
              {"id":"bad id","score":["bad id",2,[0],[0],0,""]},
              {"id":"ghi"},
              7
            ]}
            """);
        var batch = ProviderParser.DetailLive(doc.RootElement, UpdateSource.Api, Now);

        Assert.Equal(5, batch.Elements);
        var abc = Assert.Single(batch.Updates, u => u.MatchId == "abc").Update;
        Assert.Equal((4, 1764000300L, UpdateSource.Api, Now), (abc.StatusId!.Value, abc.PhaseKickoffTs!.Value, abc.Source, abc.ObservedAtMs));
        Assert.Equal([2, 1, 0, 1, 5, 0, 0], abc.HomeScores);

        // A status that is not a number: refused, and the kick-off that depends on it is dropped; the scores still count.
        var def = Assert.Single(batch.Updates, u => u.MatchId == "def").Update;
        Assert.Null(def.StatusId);
        Assert.Null(def.PhaseKickoffTs);
        Assert.NotNull(def.HomeScores);

        Assert.Contains(batch.Rejections, r => r is { Field: "status_id", Reason: "malformed" });
        Assert.Contains(batch.Rejections, r => r is { Field: "external_id", Reason: "out_of_range" });
        Assert.Contains(batch.Rejections, r => r is { Field: "score", Reason: "malformed" });
        Assert.Contains(batch.Rejections, r => r is { Field: "match", Reason: "malformed" });
    }

    [Fact]
    public void Recent_list_rows_carry_metadata_and_provider_time_and_refuse_bad_fields_alone()
    {
        using var doc = JsonDocument.Parse("""
            {"code":0,"query":{"total":2},"results":[
              {"id":"m1","competition_id":"c1","home_team_id":"t1","away_team_id":"t2","status_id":8,"match_time":1764000000,
               "home_scores":[3,1,0,0,4,0,0],"away_scores":[0,0,1,0,2,0,0],"updated_at":1764007000},
              {"id":"m2","competition_id":12,"status_id":2,"match_time":"soon","home_scores":[1,"a"],"updated_at":1764007001}
            ]}
            """);
        var batch = ProviderParser.MatchRows(doc.RootElement, UpdateSource.Api, Now);

        var m1 = batch.Updates[0].Update;
        Assert.Equal(("c1", "t1", "t2", 8, 1764000000L, 1764007000L), (m1.CompetitionId, m1.HomeTeamId, m1.AwayTeamId, m1.StatusId, m1.MatchTime, m1.ProviderUpdateTime));
        var m2 = batch.Updates[1].Update;
        Assert.Equal((2, (string?)null, (long?)null, (IReadOnlyList<int>?)null), (m2.StatusId, m2.CompetitionId, m2.MatchTime, m2.HomeScores));
        Assert.Equal(["competition_id", "match_time", "home_scores"], batch.Rejections.Select(r => r.Field));
    }

    [Fact]
    public void A_provider_time_in_milliseconds_or_in_the_future_is_refused_and_never_becomes_a_cursor()
    {
        // Issue 10 item 7: such a time became the job's cursor and stopped incremental sync for good.
        using var rows = JsonDocument.Parse("""
            {"code":0,"results":[{"id":"ms","status_id":2,"updated_at":1764007000123},{"id":"future","status_id":2,"updated_at":1764020000},
                                 {"id":"ok","status_id":2,"updated_at":1764009000}]}
            """);
        var batch = ProviderParser.MatchRows(rows.RootElement, UpdateSource.Api, Now);
        Assert.Equal([null, null, 1764009000L], batch.Updates.Select(u => u.Update.ProviderUpdateTime));
        Assert.Equal([("updated_at", RejectReasons.OutOfRange), ("updated_at", RejectReasons.OutOfRange)], batch.Rejections.Select(r => (r.Field, r.Reason)));

        using var changed = JsonDocument.Parse("""{"code":0,"results":{"1":[{"match_id":"ms","update_time":1764007000123},{"match_id":"ok","update_time":1764009000}]}}""");
        var (names, dataBatch) = ProviderParser.DataUpdate(changed.RootElement, Now / 1000);
        Assert.Equal(["ok"], names.Select(n => n.MatchId));
        Assert.Equal(RejectReasons.OutOfRange, Assert.Single(dataBatch.Rejections).Reason);
    }

    [Fact]
    public void Data_update_keeps_the_newest_time_per_match_over_all_groups()
    {
        using var doc = JsonDocument.Parse("""
            {"code":0,"results":{"1":[{"match_id":"a","update_time":1764000010},{"match_id":"b","update_time":1764000011}],
                                 "3":[{"match_id":"a","update_time":1764000015},{"match_id":"c"}],"9":"nope"}}
            """);
        var (changed, batch) = ProviderParser.DataUpdate(doc.RootElement, DateTimeOffset.UtcNow.ToUnixTimeSeconds());

        Assert.Equal([("a", 1764000015L), ("b", 1764000011L)], changed.OrderBy(c => c.MatchId).Select(c => (c.MatchId, c.UpdateTime)));
        Assert.Equal(2, batch.Rejections.Count);
    }

    [Theory]
    [InlineData("""[{"id":"a","score":["a",2,[0,0,0,0,0,0,0],[0,0,0,0,0,0,0],1764000000,""]},{"id":"b","score":["b",3,[1,0,0,0,0,0,0],[0,0,0,0,0,0,0],0,""]}]""")]
    [InlineData("""{"0":{"id":"a","score":["a",2,[0,0,0,0,0,0,0],[0,0,0,0,0,0,0],1764000000,""]},"1":{"id":"b","score":["b",3,[1,0,0,0,0,0,0],[0,0,0,0,0,0,0],0,""]}}""")]
    [InlineData("""{"1":{"id":"b","score":["b",3,[1,0,0,0,0,0,0],[0,0,0,0,0,0,0],0,""]},"0":{"id":"a","score":["a",2,[0,0,0,0,0,0,0],[0,0,0,0,0,0,0],1764000000,""]}}""")]
    public void Mqtt_array_and_keyed_object_shapes_read_the_same(string message)
    {
        var batch = ProviderParser.MqttMessage(Utf8(message), Now);

        Assert.Empty(batch.Rejections);
        Assert.Equal(["a", "b"], batch.Updates.Select(u => u.MatchId));
        Assert.All(batch.Updates, u => Assert.Equal((UpdateSource.Mqtt, Now), (u.Update.Source, u.Update.ObservedAtMs)));
    }

    [Fact]
    public void Mqtt_single_object_and_informational_fields()
    {
        var single = ProviderParser.MqttMessage(Utf8("""{"id":"a","score":["a",4,[1,0,0,0,0,0,0],[0,0,0,0,0,0,0],1764003000,""],"incidents":[{"type":28,"var_result":2}]}"""), Now);
        Assert.Equal(4, Assert.Single(single.Updates).Update.StatusId);

        var info = ProviderParser.MqttMessage(Utf8("""[{"id":"a","stats":[{"type":2,"home":3,"away":1}]},{"id":"b","tlive":[],"incidents":[]}]"""), Now);
        Assert.Empty(info.Updates);
        Assert.Empty(info.Rejections);
        Assert.Equal(2, info.Elements);
    }

    [Theory]
    [InlineData("not json", "message")]
    [InlineData("42", "message")]
    [InlineData("\"text\"", "message")]
    [InlineData("""{"x":{"id":"a"}}""", "message")]
    [InlineData("""[1]""", "delta")]
    [InlineData("""[{"score":["a",2,[0],[0],0,""]}]""", "external_id")]
    [InlineData("""[{"id":"a"}]""", "delta")]
    [InlineData("""[{"id":"a","score":{"status":2}}]""", "score")]
    [InlineData("""[{"id":"a","score":["b",2,[0],[0],0,""]}]""", "score")]
    [InlineData("""[{"id":"a","score":["a",2,[0],[0]]}]""", "score")]
    [InlineData("""[{"id":"a","stats":{}}]""", "stats")]
    [InlineData("""[{"id":"a","incidents":"goal"}]""", "incidents")]
    public void Every_malformed_mqtt_shape_is_refused_with_a_reason(string message, string field)
    {
        var batch = ProviderParser.MqttMessage(Utf8(message), Now);

        Assert.Empty(batch.Updates);
        var rejection = Assert.Single(batch.Rejections);
        Assert.Equal(field, rejection.Field);
        Assert.Equal("malformed", rejection.Reason);
        Assert.False(string.IsNullOrWhiteSpace(rejection.Detail));
    }

    [Fact]
    public void An_oversized_mqtt_message_is_refused_unread()
    {
        var batch = ProviderParser.MqttMessage(new byte[5000], Now, maxBytes: 4096);
        Assert.Equal("message", Assert.Single(batch.Rejections).Field);
    }
}
