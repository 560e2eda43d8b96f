using Campaign.Features.Ops;
using Campaign.Features.Photos;
using Campaign.Features.Privacy;
using Campaign.Features.Reminders;
using Campaign.Mail;
using Coravel.Scheduling.Schedule.Interfaces;

namespace Campaign.Clock;

/// <summary>
/// THE schedule: every piece of timed work, on one screen. Only the clock process (one dyno) runs
/// it; the work itself is recorded in PostgreSQL, so a restart at any moment loses nothing. Each
/// job runs through <see cref="ClockJob{T}"/>, which names it in the log; <c>./Campaign clock run
/// NAME</c> runs one now, in the same container (a one-off dyno: <c>heroku run</c>).
/// </summary>
public static class Schedule
{
    public static void Define(IScheduler scheduler)
    {
        // The nightly reminder: checked every minute, sent once a night (see NightlyMailJob).
        scheduler
            .Schedule<ClockJob<NightlyMailJob>>()
            .EveryMinute()
            .PreventOverlapping(nameof(NightlyMailJob));

        // The outbox's safety net: whatever the web processes' fast path did not send.
        scheduler
            .Schedule<ClockJob<SweepOutbox>>()
            .EveryMinute()
            .PreventOverlapping(nameof(SweepOutbox));

        // Photos signed for but never attached: their objects are deleted.
        scheduler
            .Schedule<ClockJob<SweepPhotoUploads>>()
            .EveryTenMinutes()
            .PreventOverlapping(nameof(SweepPhotoUploads));

        // The dashboard's unique visitors: Redis's hourly HyperLogLogs counted into PostgreSQL.
        scheduler
            .Schedule<ClockJob<RollUpVisitors>>()
            .EveryFiveMinutes()
            .PreventOverlapping(nameof(RollUpVisitors));

        // Retention: unconfirmed entries after a week, everything once the campaign is long over.
        scheduler
            .Schedule<ClockJob<PurgeExpiredData>>()
            .Hourly()
            .PreventOverlapping(nameof(PurgeExpiredData));
    }

    /// <summary>The jobs above, by the name the log and <c>clock run</c> give them.</summary>
    public static readonly IReadOnlyList<Type> Jobs =
    [
        typeof(NightlyMailJob),
        typeof(SweepOutbox),
        typeof(SweepPhotoUploads),
        typeof(RollUpVisitors),
        typeof(PurgeExpiredData),
    ];
}
