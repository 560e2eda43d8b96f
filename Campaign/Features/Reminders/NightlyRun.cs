using Marten;

namespace Campaign.Features.Reminders;

/// <summary>
/// One night's batch, recorded in PostgreSQL: whether it is complete, and how far it got (the
/// last entrant handled, in id order), so that a run stopped anywhere resumes where it stopped.
/// </summary>
public sealed class NightlyRun
{
    /// <summary>The campaign-local date, like 2026-12-01.</summary>
    public required string Id { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    public Guid Cursor { get; set; }
    public int Enqueued { get; set; }

    public static string IdOf(DateOnly night) => night.ToString("yyyy-MM-dd");

    public static void Configure(StoreOptions options) => options.Schema.For<NightlyRun>();
}
