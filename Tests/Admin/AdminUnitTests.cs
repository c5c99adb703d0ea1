using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Orleans.GoalGpt.Abstractions;
using Orleans.GoalGpt.Grains.Audit;
using Orleans.GoalGpt.Grains.Merge;
using Orleans.GoalGpt.Silo.Admin;
using Orleans.GoalGpt.Tests.Merge;
using Xunit;

namespace Orleans.GoalGpt.Tests.Admin;

/// <summary>The pure parts: the correction body's validation, the key settings, the audit's events, rule 6's flag.</summary>
public sealed class AdminUnitTests
{
    private const long Now = Updates.Now;

    private static Dictionary<string, FieldError> Errors(string body) => CorrectionRequest.Parse(Encoding.UTF8.GetBytes(body), Now).Errors;

    [Fact]
    public void A_correction_body_is_refused_whole_with_a_reason_per_field()
    {
        var (c, reason, errors) = CorrectionRequest.Parse(Encoding.UTF8.GetBytes("""{"reason": " wrong kick-off ", "fields": {"second_half_kickoff_ts": 1779997000, "status_id": 8, "minute": 67, "home_score": 0}}"""), Now);
        Assert.Empty(errors);
        Assert.Equal("wrong kick-off", reason);
        Assert.Equal(new AdminCorrection { SecondHalfKickoffTs = 1779997000, StatusId = 8, Minute = 67, HomeScore = 0 }, c);

        Assert.Equal("malformed", Errors("{\"reason\": ")["body"].Reason);
        Assert.Equal("malformed", Errors("[1, 2]")["body"].Reason);
        Assert.Equal("unknown_field", Errors("""{"reason": "r", "fields": {"status_id": 8}, "force": true}""")["force"].Reason);
        var many = Errors("""{"reason": "", "fields": {"status_id": -1, "away_score": 100, "first_half_kickoff_ts": 0, "minute": "67", "home": 1}}""");
        Assert.Equal(["fields.away_score", "fields.first_half_kickoff_ts", "fields.home", "fields.minute", "fields.status_id", "reason"], many.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("unknown_status", many["fields.status_id"].Reason);
        Assert.Equal("out_of_range", many["fields.away_score"].Reason);
        Assert.Equal("out_of_range", many["fields.first_half_kickoff_ts"].Reason); // 0 would unset it: not a correction
        Assert.Equal("malformed", many["fields.minute"].Reason);
        Assert.Equal("unknown_field", many["fields.home"].Reason);
        Assert.Equal("out_of_range", many["reason"].Reason);
        Assert.Equal("out_of_range", Errors($$$"""{"reason": "r", "fields": {"second_half_kickoff_ts": {{{Now / 1000 + 301}}}}}""")["fields.second_half_kickoff_ts"].Reason);
        Assert.Equal("missing", Errors("""{"fields": {"status_id": 8}}""")["reason"].Reason);
        Assert.Equal("missing", Errors("""{"reason": "r"}""")["fields"].Reason);
        Assert.Equal("out_of_range", Errors("""{"reason": "r", "fields": {}}""")["fields"].Reason);
        Assert.Equal("out_of_range", Errors($$$"""{"reason": "{{{new string('x', 65_536)}}}", "fields": {"status_id": 8}}""")["body"].Reason);
    }

    [Fact]
    public void Admin_keys_are_hashes_validated_at_start_naming_the_setting_never_showing_the_value()
    {
        const string key = "a-random-key-of-at-least-32-characters-xyz";
        var keys = AdminKeys.From(Config(("Admin:Keys:ops", AdminKeys.Hash(key)), ("Admin:Keys:other", AdminKeys.Hash(key + "2"))));
        Assert.Equal("ops", keys.Match(key));
        Assert.Null(keys.Match(key + "3"));
        Assert.Null(keys.Match(AdminKeys.Hash(key))); // the hash itself is no key
        Assert.Equal(TimeSpan.FromSeconds(5), keys.CorrectionWriteTimeout);

        var bad = Assert.Throws<OptionsValidationException>(() => AdminKeys.From(Config(("Admin:Keys:ops", "plain-text-key-that-must-not-leak"), ("Admin:CorrectionWriteTimeout", "00:05:00"))));
        Assert.Contains("Admin__Keys__ops", bad.Message);
        Assert.Contains("Admin__CorrectionWriteTimeout", bad.Message);
        Assert.DoesNotContain("plain-text-key-that-must-not-leak", bad.Message);

        var output = new StringWriter();
        Assert.Equal(0, AdminKeys.HashCommand(new StringReader(key + "\n"), output, TextWriter.Null));
        Assert.Equal(AdminKeys.Hash(key), output.ToString().Trim());
        Assert.Matches("^sha256:[0-9a-f]{64}$", output.ToString().Trim());
        var shortOutput = new StringWriter();
        Assert.Equal(2, AdminKeys.HashCommand(new StringReader("short"), shortOutput, TextWriter.Null));
        Assert.Empty(shortOutput.ToString());
    }

    [Fact]
    public void Audit_events_record_value_changes_and_rule_events_but_no_repeated_no_op()
    {
        var s = new MatchState();
        var trail = new AuditTrail();
        List<AuditEvent> Apply(MatchUpdate u)
        {
            var before = AuditValues.Of(s);
            var events = AuditEvents.Of("m", u, before, s, FieldMerge.Apply(s, u, Now));
            trail.Add(events);
            return events;
        }

        var first = Apply(Updates.Score(UpdateSource.Api, Now - 60_000, 2, 1, 0, phaseKickoff: Updates.NowS - 600));
        Assert.Contains(first, e => e is { Kind: AuditKinds.ValueChanged, Field: "status_id", Old: null, New: "2" });
        Assert.Contains(first, e => e is { Kind: AuditKinds.ValueChanged, Field: "home_score", New: "1" });
        // A poll confirming what is stored: applied (newer observation), but no event.
        Assert.Empty(Apply(Updates.Score(UpdateSource.Api, Now - 50_000, 2, 1, 0)));
        var blocked = Updates.Score(UpdateSource.Api, Now - 40_000, 2, 1, 0, phaseKickoff: Updates.NowS - 500);
        Assert.Single(Apply(blocked), e => e.Kind == AuditKinds.KickoffOverwriteBlocked);
        Assert.Equal(first.Count + 1, trail.Held);
        Apply(blocked with { ObservedAtMs = Now - 30_000 }); // the same refusal again: not held twice
        Assert.Equal(first.Count + 1, trail.Held);
        Assert.Contains(Apply(Updates.Score(UpdateSource.Mqtt, Now - 20_000, 2, 0, 0)), e => e is { Kind: AuditKinds.VarCorrection, Old: "1", New: "0" });
        Assert.Contains(Apply(Updates.Status(UpdateSource.Api, Now - 10_000, 1)), e => e is { Kind: AuditKinds.RegressionUnconfirmed, Old: "2", New: "1" });
    }

    [Fact]
    public void A_rejected_overtime_kickoff_of_a_status_6_array_is_recorded_with_its_value()
    {
        // Status 6 is the deprecated overtime: its array's kick-off is the overtime's (rule 3), refused here as implausible
        // (later than now + 5 min); the event must carry the value refused.
        var s = new MatchState();
        var u = Updates.Score(UpdateSource.Api, Now - 1_000, 6, 1, 1, phaseKickoff: Updates.NowS + 3_600);
        var before = AuditValues.Of(s);
        var events = AuditEvents.Of("m", u, before, s, FieldMerge.Apply(s, u, Now));
        var rejected = Assert.Single(events, e => e is { Kind: AuditKinds.InputRejected, Field: "overtime_kickoff_ts" });
        Assert.Equal((Updates.NowS + 3_600).ToString(System.Globalization.CultureInfo.InvariantCulture), rejected.New);
    }

    [Fact]
    public void A_fresh_provider_observation_clears_the_stale_flag_an_older_one_or_an_admin_value_does_not()
    {
        var s = new MatchState();
        FieldMerge.Apply(s, Updates.Score(UpdateSource.Api, Now - 600_000, 2, 0, 0), Now);
        s.StaleSince = (Now - 60_000) / 1000;
        // A poll sent before the flag: says nothing about now.
        FieldMerge.Apply(s, Updates.Score(UpdateSource.Api, Now - 120_000, 2, 0, 0), Now);
        Assert.NotNull(s.StaleSince);
        FieldMerge.Apply(s, new MatchUpdate { Source = UpdateSource.Admin, ObservedAtMs = Now - 1_000, Minute = 50 }, Now);
        Assert.NotNull(s.StaleSince);
        var fresh = FieldMerge.Apply(s, Updates.Score(UpdateSource.Mqtt, Now, 2, 0, 0), Now);
        Assert.Contains(fresh.Result.Fields, f => f is { Field: "stale_since", Outcome: FieldOutcome.Applied });
        Assert.Null(s.StaleSince);

        // Ended (by an admin): no longer a stale live match.
        s.StaleSince = Updates.NowS;
        FieldMerge.Apply(s, Updates.Status(UpdateSource.Admin, Now + 1, 8), Now + 1);
        Assert.Null(s.StaleSince);
    }

    [Fact]
    public void Retention_shorter_than_the_contracts_14_days_is_refused_naming_the_setting()
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        var options = new AuditOptions { Retention = TimeSpan.FromDays(13) };
        Assert.False(System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, validateAllProperties: true));
        Assert.Contains("Audit__Retention", results.Single().ErrorMessage);
        var defaults = new AuditOptions();
        Assert.True(System.ComponentModel.DataAnnotations.Validator.TryValidateObject(defaults, new(defaults), results = [], validateAllProperties: true));
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();
}
