using System.ComponentModel.DataAnnotations;

namespace Orleans.GoalGpt.Grains.Audit;

/// <summary>The audit's retention (section <c>Audit</c>, e.g. <c>Audit__Retention=30.00:00:00</c>).</summary>
public sealed class AuditOptions
{
    public const string Section = "Audit";

    /// <summary>Events older than this (by the time they were written) are deleted; the contract keeps them at least 14 days.</summary>
    [Range(typeof(TimeSpan), "14.00:00:00", "3650.00:00:00", ErrorMessage = "Audit__Retention must be between 14.00:00:00 (the contract's 14 days) and 3650.00:00:00.")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(14);

    /// <summary>How often each silo runs the retention delete.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00", ErrorMessage = "Audit__RetentionInterval must be between 00:00:01 and 1.00:00:00.")]
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(1);
}
