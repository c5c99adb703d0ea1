using System.ComponentModel.DataAnnotations;

namespace Orleans.GoalGpt.Silo.Api;

/// <summary>The change stream (section <c>Stream</c>): heartbeats, the resume buffer, slow clients.</summary>
public sealed class StreamOptions
{
    public const string Section = "Stream";

    /// <summary>How often every client gets a <c>: ping</c> comment (the contract: at least every 15 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:00:15")]
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long events stay buffered for a <c>Last-Event-ID</c> resume (the contract: at least 60 s).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "01:00:00")]
    public TimeSpan BufferRetention { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>
    /// Most events buffered, whatever their age: memory stays bounded (~0.8 KiB an event) also when changes
    /// come faster than <see cref="BufferCapacity"/> per <see cref="BufferRetention"/>; a resume from before
    /// the oldest buffered event gets <c>resync</c>.
    /// </summary>
    [Range(100, 10_000_000)]
    public int BufferCapacity { get; set; } = 100_000;

    /// <summary>Events a client may have waiting; a client that falls this far behind is dropped.</summary>
    [Range(16, 1_000_000)]
    public int ClientQueueCapacity { get; set; } = 1_024;
}
