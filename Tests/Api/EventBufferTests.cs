using System.Text;
using Orleans.GoalGpt.Silo.Api;
using Xunit;

namespace Orleans.GoalGpt.Tests.Api;

/// <summary>The resume buffer's rules, pure: exact resume on its own ids, by time across silos, resync past what it covers.</summary>
public sealed class EventBufferTests
{
    private static byte[] Frame(long ms, long seq) => Encoding.ASCII.GetBytes($"{ms}-{seq}");

    [Fact]
    public void Own_ids_resume_exactly_other_silos_ids_by_time_and_ids_past_the_buffer_get_resync()
    {
        var buffer = new EventBuffer(capacity: 5, retention: TimeSpan.FromSeconds(60), startedMs: 10_000);
        var events = Enumerable.Range(0, 4).Select(i => buffer.Add(20_000 + (i * 2_000), $"m{i % 2}", true, Frame)).ToList();

        var own = buffer.After(events[1].Ms, events[1].Seq, _ => true);
        Assert.False(own.Resync);
        Assert.Equal([events[2].Seq, events[3].Seq], own.Missed.Select(e => e.Seq));
        Assert.Equal([events[3].Seq], buffer.After(events[1].Ms, events[1].Seq, e => e.MatchId == "m1").Missed.Select(e => e.Seq));

        // Another silo's id (unknown sequence number) at 23,500: everything from a second before it.
        var other = buffer.After(23_500, 999, _ => true);
        Assert.False(other.Resync);
        Assert.Equal([events[2].Seq, events[3].Seq], other.Missed.Select(e => e.Seq));

        // Before the hub started: it cannot know what it missed.
        Assert.True(buffer.After(9_000, 1, _ => true).Resync);

        // Over capacity: the oldest go, and what they covered gets resync.
        for (var i = 0; i < 3; i++) buffer.Add(30_000 + i, "m0", true, Frame);
        Assert.Equal(5, buffer.Count);
        Assert.True(buffer.After(events[0].Ms, events[0].Seq, _ => true).Resync);
        Assert.False(buffer.After(events[2].Ms, events[2].Seq, _ => true).Resync);

        // Past the retention.
        buffer.Trim(30_002 + 60_001);
        Assert.Equal(0, buffer.Count);
        Assert.True(buffer.After(30_002, events[3].Seq + 3, _ => true).Resync);
    }

    [Theory]
    [InlineData("1795960031123-42", true)]
    [InlineData("0-0", true)]
    [InlineData("abc", false)]
    [InlineData("-1-2", false)]
    [InlineData("12-", false)]
    [InlineData("1 2-3", false)]
    public void Event_ids_are_ms_dash_seq(string id, bool valid) => Assert.Equal(valid, EventBuffer.TryParseId(id, out _, out _));
}
